"""How many statements one run start through the API costs (a regression guard).

POST /workflows/{tag}/runs is the API's busiest path (bench/api.py), and on it
the ORM costs more CPU than the database. With a personal access token, an
Idempotency-Key and a run admitted at once, the API's own statements are:

Before the view, each committing by itself (portal.api, portal.idempotency):
 1. SELECT the key with its workspace, user, membership, role permissions and
    the workspace's IP allowlist;
 2. INSERT … ON CONFLICT the rate-limit counter (the database cache; Redis
    when the cache is Redis);
 3. INSERT the Idempotency-Key record (the claim).
In the view (workflows.api.run_create):
 4. SELECT the workflow with its current version;
 5. BEGIN (SQLite: BEGIN IMMEDIATE), then engine.start's statements;
 6. UPDATE the Idempotency-Key record with the answer (the run is not re-read);
 7. COMMIT.

engine.start's own (counted apart, the engine's to cut): SELECT the
initiator's role names with the workspace's secret tags, INSERT the run,
INSERT its "created" event, and the admission, one round trip: (PostgreSQL:
SELECT … FOR NO KEY UPDATE the workspace, then, in the same pipeline) UPDATE …
RETURNING the runs admitted. No SAVEPOINT: start() joins the view's transaction.

last_used_at adds an UPDATE to the first request of each minute only.
"""

from datetime import timedelta

import pytest
from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portal.models import ApiKey
from tests.api.conftest import HELLO, save
from tests.factories import api_key
from workflows import engine
from workflows.models import Run

# The rate-limit counter is a statement with the database cache (SQLite runs),
# a Redis round trip otherwise (CI's PostgreSQL run):
RATE_LIMIT = 1 if isinstance(caches["default"], DatabaseCache) else 0
API_STATEMENTS = 6 + RATE_LIMIT
# The admission is two statements in one round trip on PostgreSQL:
ENGINE_STATEMENTS_AT_MOST = 5 if connection.vendor == "postgresql" else 4


@pytest.fixture
def engine_span(monkeypatch):
    """[start, end) of engine.start's statements among those captured."""
    span = []
    start = engine.start

    def recording(**kwargs):
        span.append(len(connection.queries_log))
        try:
            return start(**kwargs)
        finally:
            span.append(len(connection.queries_log))

    monkeypatch.setattr(engine, "start", recording)
    return span


def _start(client, raw: str, key: str):
    return client.post(
        "/api/v1/workflows/hello/runs",
        {"initialContext": {"who": "Ada"}},
        content_type="application/json",
        headers={"Authorization": f"Bearer {raw}", "Idempotency-Key": key},
    )


def _split(queries, engine_span) -> tuple[list[str], list[str], str]:
    """(the API's own statements, engine.start's, all of them for a message)."""
    begin, end = (i - queries.initial_queries for i in engine_span)
    statements = [q["sql"] for q in queries.captured_queries]
    own = statements[:begin] + statements[end:]
    return own, statements[begin:end], "\n".join(statements)


def _recently_used(key: ApiKey) -> None:
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())


# transaction=True: the statements are those of a real request, not savepoints
# inside the test's transaction.
@pytest.mark.django_db(transaction=True)
def test_a_run_start_with_an_idempotency_key_makes_six_statements_and_the_rate_limit(
    client, ws, ada, engine_span
):
    save(ws, HELLO)
    key, raw = api_key(ws, user=ada)
    _recently_used(key)

    with CaptureQueriesContext(connection) as queries:
        r = _start(client, raw, "once")

    assert r.status_code == 201, r.content
    assert Run.objects.get().status == Run.Status.IN_PROGRESS
    own, engine_statements, listing = _split(queries, engine_span)
    assert len(own) == API_STATEMENTS, listing
    assert own[3 + RATE_LIMIT].upper().startswith("BEGIN"), listing
    assert own[-1].upper() == "COMMIT", listing
    assert len(engine_statements) <= ENGINE_STATEMENTS_AT_MOST, listing


@pytest.mark.django_db(transaction=True)
def test_a_run_start_without_an_idempotency_key_makes_two_fewer(
    client, ws, ada, engine_span
):
    save(ws, HELLO)
    key, raw = api_key(ws, user=ada)
    _recently_used(key)

    with CaptureQueriesContext(connection) as queries:
        r = client.post(
            "/api/v1/workflows/hello/runs",
            {},
            content_type="application/json",
            headers={"Authorization": f"Bearer {raw}"},
        )

    assert r.status_code == 201, r.content
    # No claim, no answer stored: key, rate limit, workflow, BEGIN, COMMIT.
    own, _, listing = _split(queries, engine_span)
    assert len(own) == API_STATEMENTS - 2, listing


@pytest.mark.django_db(transaction=True)
def test_a_replayed_run_start_makes_three_statements_and_the_rate_limit(
    client, ws, ada
):
    save(ws, HELLO)
    key, raw = api_key(ws, user=ada)
    assert _start(client, raw, "once").status_code == 201
    _recently_used(key)

    with CaptureQueriesContext(connection) as queries:
        r = _start(client, raw, "once")

    assert r.status_code == 201 and r["Idempotent-Replayed"] == "true"
    # The key, the rate-limit counter, the INSERT that finds the key taken, and
    # the record whose answer is replayed:
    statements = [q["sql"] for q in queries.captured_queries]
    assert len(statements) == 3 + RATE_LIMIT, "\n".join(statements)


@pytest.mark.django_db(transaction=True)
def test_last_used_is_written_by_the_first_request_of_the_minute_only(client, ws, ada):
    save(ws, HELLO)
    key, raw = api_key(ws, user=ada)
    stale = timezone.now() - timedelta(minutes=2)
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=stale)

    with CaptureQueriesContext(connection) as first:
        assert _start(client, raw, "one").status_code == 201
    with CaptureQueriesContext(connection) as second:
        assert _start(client, raw, "two").status_code == 201

    updates = [q["sql"] for q in first.captured_queries if "portal_apikey" in q["sql"]]
    assert len(updates) == 2 and updates[1].startswith("UPDATE"), updates
    assert not any(
        q["sql"].startswith("UPDATE") and "portal_apikey" in q["sql"]
        for q in second.captured_queries
    )
    assert ApiKey.objects.get(pk=key.pk).last_used_at > stale
