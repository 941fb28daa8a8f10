"""manage.py find_stored: where a value is kept in clear (portal.dbscan)."""

import io

import pytest
from django.core.management import CommandError, call_command

from portal.dbscan import places_holding
from tests.workflows.enginekit import action, make_workflow
from workflows import engine
from workflows.models import Secret, Step
from workflows.secrets import encrypt

VALUE = "hunter2-Ünïcode"


def find(monkeypatch, value: str) -> tuple[str, int]:
    monkeypatch.setattr("sys.stdin", io.StringIO(value + "\n"))
    out = io.StringIO()
    try:
        call_command("find_stored", stdout=out)
    except SystemExit as exc:
        return out.getvalue(), exc.code
    return out.getvalue(), 0


def test_a_value_kept_only_encrypted_is_found_nowhere(monkeypatch, ws):
    Secret.objects.create(
        workspace=ws, tag="t", name="T", encrypted_value=encrypt(VALUE)
    )
    out, status = find(monkeypatch, VALUE)
    assert (out.strip(), status) == (
        "Found nowhere: no text or JSON column holds it.",
        0,
    )


def test_a_value_in_a_text_or_json_column_is_found_with_its_rows(
    monkeypatch, ws, grace
):
    run = engine.start(
        workflow=make_workflow(ws, [action("a", root=True)]), initiator=grace
    )
    Secret.objects.create(
        workspace=ws, tag="t", name=f"named {VALUE}", encrypted_value="x"
    )
    Step.objects.create(run=run, slug="s", outputs={"deep": [{"k": VALUE}]})

    out, status = find(monkeypatch, VALUE)

    assert status == 1
    assert "workflows_secret.name: 1 row" in out
    assert "workflows_step.outputs: 1 row" in out
    assert set(places_holding(VALUE)) == {
        "workflows_secret.name",
        "workflows_step.outputs",
    }


def test_a_json_key_and_its_escaped_form_are_found(ws, grace):
    run = engine.start(
        workflow=make_workflow(ws, [action("a", root=True)]), initiator=grace
    )
    Step.objects.create(run=run, slug="s", outputs={VALUE: 1})
    assert list(places_holding(VALUE)) == ["workflows_step.outputs"]
    assert list(places_holding("hunter2-\\u00dcn")) == ["workflows_step.outputs"]


def test_an_empty_value_is_refused(monkeypatch, db):
    with pytest.raises(CommandError, match="on stdin"):
        find(monkeypatch, "  ")


def test_what_only_python_would_show_is_not_reported(ws, grace):
    run = engine.start(
        workflow=make_workflow(ws, [action("a", root=True)]), initiator=grace
    )
    Step.objects.create(
        run=run, slug="s", outputs={"branch": None, "ok": True, "at": "y"}
    )
    for shown_by_python_only in ("None", "True", "'at': 'y'"):
        assert places_holding(shown_by_python_only) == {}, shown_by_python_only
    assert list(places_holding('"at": "y"')) == ["workflows_step.outputs"]
