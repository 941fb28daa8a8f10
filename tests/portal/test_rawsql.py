"""portal.rawsql: hand-written statements, and together() sending them in one round trip."""

import uuid

import pytest
from django.db import IntegrityError, transaction

from portal import rawsql
from portal.models import Workspace

pytestmark = pytest.mark.django_db


def test_inserts_inside_together_get_their_pks_when_the_block_ends():
    rows = [Workspace(slug="a", name="A"), Workspace(slug="b", name="B")]

    with rawsql.together():
        rawsql.insert(rows)
        rawsql.insert([Workspace(slug="c", name="C")], pks=False)

    assert [w.pk for w in rows] == list(
        Workspace.objects.filter(slug__in=["a", "b"])
        .order_by("slug")
        .values_list("pk", flat=True)
    )
    assert not rows[0]._state.adding
    assert Workspace.objects.filter(slug="c").exists()


def test_an_update_sent_later_says_how_many_rows_it_changed_once_the_block_ends():
    Workspace.objects.create(slug="a", name="A")

    with rawsql.together():
        changed = rawsql.update_later(Workspace, {"name": "Z"}, slug="a")
        unchanged = rawsql.update_later(Workspace, {"name": "Z"}, slug="nobody")
        with pytest.raises(RuntimeError, match="once the together"):
            changed.rowcount  # noqa: B018 - not there yet

    assert (changed.rowcount, unchanged.rowcount) == (1, 0)
    assert Workspace.objects.get(slug="a").name == "Z"


def test_a_block_inside_another_is_read_when_the_outer_one_ends():
    Workspace.objects.create(slug="a", name="A")
    read = []

    with rawsql.together():
        with rawsql.together():
            changed = rawsql.update_later(Workspace, {"name": "Z"}, slug="a")
            rawsql.after(lambda: read.append("inner"))
        assert read == []  # the inner block sent nothing on its own
        with pytest.raises(RuntimeError):
            changed.rowcount  # noqa: B018
        rawsql.after(lambda: read.append("outer"))

    assert read == ["inner", "outer"]  # in the order they were sent
    assert changed.rowcount == 1


def test_after_outside_a_block_reads_at_once():
    read = []
    rawsql.after(lambda: read.append(1))
    assert read == [1]


def test_a_statement_that_fails_inside_the_block_raises_djangos_error_and_reads_nothing():
    Workspace.objects.create(slug="a", name="A")
    read = []

    with pytest.raises(IntegrityError), transaction.atomic(), rawsql.together():
        rawsql.insert([Workspace(slug="a", name="Again")])
        rawsql.after(lambda: read.append(1))

    assert read == []
    assert list(Workspace.objects.values_list("name", flat=True)) == ["A"]


def test_several_rows_are_stored_as_the_orm_stores_them_with_their_pks_in_order(ws):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from tests.workflows.enginekit import chain, make_workflow
    from workflows import engine
    from workflows.models import Step

    run = engine.start(workflow=make_workflow(ws, chain("a")), initiator=None)
    now = timezone.now()
    every_kind = {
        "inputs": {"list": [1, "two", None], "nested": {"ü": True}},
        "outputs": {},
        "started_at": now,
        "early_callback": None,  # NULL, in every row
    }

    def rows(count):
        return [
            Step(run=run, slug=f"s{count}-{i}", position=i, **every_kind)
            for i in range(count)
        ]

    with CaptureQueriesContext(connection) as two_rows, rawsql.together():
        two = rows(2)
        two[1].callback_id = uuid.uuid4()  # NULL in one row, a UUID in the other
        rawsql.insert(two)
    with CaptureQueriesContext(connection) as five_rows, rawsql.together():
        five = rows(5)
        rawsql.insert(five)

    stored = Step.objects.filter(run=run).order_by("pk")
    assert [s.pk for s in stored] == [s.pk for s in two + five]
    assert [s.slug for s in stored] == [s.slug for s in two + five]
    for s in stored:
        assert (s.inputs, s.outputs, s.started_at, s.early_callback) == (
            every_kind["inputs"],
            {},
            now,
            None,
        )
    assert [s.callback_id for s in stored[:2]] == [None, two[1].callback_id]
    if connection.vendor == "postgresql":
        # One statement whatever the number of rows: parsed and planned once.
        assert (
            two_rows[0]["sql"].split("SELECT")[0]
            == five_rows[0]["sql"].split("SELECT")[0]
        )
        assert "UNNEST" in two_rows[0]["sql"]
