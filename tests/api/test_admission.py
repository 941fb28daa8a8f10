"""How a run start through the API takes its workspace's admission lock (the
concurrency cap; the cap itself is tested in tests/workflows)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.api.conftest import HELLO, save
from workflows import engine
from workflows.models import Run

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite admits without a row lock"
)


def _admission_statements(queries) -> list[str]:
    return [
        q["sql"]
        for q in queries.captured_queries
        if "FOR NO KEY UPDATE" in q["sql"] or "WITH candidates" in q["sql"]
    ]


@pytest.fixture
def client_side_binding(monkeypatch):
    """The connection as with DATABASE_PREPARED_STATEMENTS=false (Django's default)."""
    options = connection.settings_dict["OPTIONS"]
    monkeypatch.setitem(
        connection.settings_dict,
        "OPTIONS",
        {
            k: v
            for k, v in options.items()
            if k not in ("server_side_binding", "prepare_threshold")
        },
    )
    connection.close()  # the next connection takes the options
    yield
    connection.close()


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_created_event_the_lock_and_the_promotion_go_to_postgresql_in_one_pipeline(
    ws, ada, pipelines
):
    workflow = save(ws, HELLO)

    with CaptureQueriesContext(connection) as queries:
        run = engine.start(workflow=workflow, initiator=ada)

    lock, promotion = _admission_statements(queries)
    assert "FOR NO KEY UPDATE" in lock and "WITH candidates" not in lock
    assert "WITH candidates" in promotion
    [[event, *admission]] = pipelines  # sent together: one round trip
    assert event.startswith('INSERT INTO "workflows_runevent"')
    assert admission == [lock, promotion]
    assert run.status == Run.Status.IN_PROGRESS
    assert Run.objects.get(pk=run.pk).started_at is not None


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_with_client_side_binding_the_lock_and_the_promotion_are_one_statement(
    ws, ada, client_side_binding
):
    workflow = save(ws, HELLO)

    with CaptureQueriesContext(connection) as queries:
        run = engine.start(workflow=workflow, initiator=ada)

    (both,) = _admission_statements(queries)
    assert both.index("FOR NO KEY UPDATE") < both.index("WITH candidates")
    assert Run.objects.get(pk=run.pk).status == Run.Status.IN_PROGRESS
