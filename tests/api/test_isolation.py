"""A key of one workspace never sees or touches another's: every id of workspace
two, used with a key of workspace one, is a 404 exactly like a missing id."""

import pytest

from catalog.models import Entity
from tests.api.conftest import HELLO, ON_ENTITY, save
from tests.factories import EntityFactory, api_key
from workflows import engine
from workflows.models import Run, Step, Workflow


@pytest.fixture
def theirs(other_ws, ted):
    """Workspace two's workflow, entity, run (waiting for a callback) and ids."""
    workflow = save(other_ws, HELLO, tag="secret-plan", name="Secret plan")
    save(other_ws, ON_ENTITY)
    entity = EntityFactory(workspace=other_ws, tag="vault", name="Vault")
    run = engine.start(workflow=workflow, initiator=ted)
    step = Step.objects.create(
        run=run,
        slug="greet",
        type="HTTP_REQUEST_ASYNC",
        status=Step.Status.WAITING,
        waiting_for="CALLBACK",
        callback_id="0b6c6a3e-1111-4000-8000-000000000000",
    )
    return {"workflow": workflow, "entity": entity, "run": run, "step": step}


@pytest.fixture
def mine(ws, as_key):
    save(ws, HELLO)
    save(ws, ON_ENTITY)
    EntityFactory(workspace=ws, tag="ledger")
    return as_key(api_key(ws, "Admin")[1])


def requests_for(t):
    wf, run, entity = t["workflow"], t["run"], t["entity"]
    callback = f"callback/{t['step'].callback_id}"
    return [
        ("get", "/workflows/secret-plan", None),
        ("get", f"/workflows/{wf.pk}", None),
        ("delete", "/workflows/secret-plan", None),
        ("delete", f"/workflows/{wf.pk}", None),
        ("post", "/workflows/secret-plan/runs", {"runAs": "ted@example.com"}),
        ("post", f"/workflows/{wf.pk}/runs", {}),
        ("get", f"/workflows/secret-plan/runs/{run.uid}", None),
        ("get", f"/workflows/hello/runs/{run.uid}", None),
        ("get", f"/workflows/hello/runs/{run.pk}", None),
        ("post", f"/workflows/secret-plan/runs/{run.uid}/cancel", None),
        ("post", f"/workflows/hello/runs/{run.uid}/cancel", None),
        (
            "post",
            f"/workflows/secret-plan/{callback}",
            {"status": "SUCCESS", "message": "x"},
        ),
        ("post", f"/workflows/hello/{callback}", {"status": "SUCCESS", "message": "x"}),
        (
            "post",
            "/workflows/restart/runs",
            {"scope": {"type": "ENTITY", "entityId": "vault"}},
        ),
        (
            "post",
            "/workflows/restart/runs",
            {"scope": {"type": "ENTITY", "entityId": str(entity.pk)}},
        ),
        ("get", "/catalog/vault", None),
        ("get", f"/catalog/{entity.pk}", None),
        ("get", "/catalog/vault/openapi", None),
        ("get", "/catalog/vault/custom-data", None),
        ("get", "/catalog/vault/custom-data/tier", None),
        ("delete", "/catalog/vault", None),
        ("put", "/catalog/vault/archive", None),
        ("put", f"/catalog/{entity.pk}/unarchive", None),
    ]


def test_every_endpoint_with_another_workspaces_ids_is_a_404(mine, theirs):
    for method, path, body in requests_for(theirs):
        if method == "post":
            r = mine.post(path, body)
        else:
            r = getattr(mine, method)(path)
        assert r.status_code == 404, (method, path, r.content)
        assert set(r.json()) >= {
            "type",
            "message",
            "details",
            "httpStatus",
            "requestId",
        }
    # …and nothing of theirs changed:
    run, step = theirs["run"], theirs["step"]
    run.refresh_from_db()
    step.refresh_from_db()
    assert run.status == Run.Status.IN_PROGRESS
    assert step.status == Step.Status.WAITING
    assert Workflow.objects.filter(pk=theirs["workflow"].pk).exists()
    assert Entity.objects.filter(pk=theirs["entity"].pk, archived=False).exists()
    assert (
        Run.objects.filter(workflow__workspace=theirs["workflow"].workspace).count()
        == 1
    )


def test_another_workspaces_workflow_answers_cortexs_message(mine, theirs):
    r = mine.post("/workflows/secret-plan/runs", {})
    assert r.json()["message"] == "could not find workflow with id: secret-plan"
    missing = mine.post("/workflows/no-such-plan/runs", {})
    assert missing.json()["message"] == "could not find workflow with id: no-such-plan"
    shape = {k for k in r.json() if k not in ("message", "requestId")}
    assert shape == {k for k in missing.json() if k not in ("message", "requestId")}


def test_lists_show_only_the_keys_workspace(mine, theirs, ws):
    assert [w["tag"] for w in mine.get("/workflows").json()["workflows"]] == [
        "hello",
        "restart",
    ]
    assert mine.get("/workflows", {"searchQuery": "secret"}).json()["total"] == 0
    assert mine.get("/workflows/runs").json()["total"] == 0
    assert mine.get("/workflows/runs", {"workflow": "secret-plan"}).json()["total"] == 0
    assert mine.get("/workflows/runs", {"entityId": "vault"}).json()["total"] == 0
    assert [e["tag"] for e in mine.get("/catalog").json()["entities"]] == ["ledger"]


def test_writes_by_tag_land_in_the_keys_own_workspace(mine, theirs, ws):
    r = mine.post(
        "/workflows",
        HELLO.replace("hello", "secret-plan"),
        content_type="application/yaml",
    )
    assert r.status_code == 200
    assert Workflow.objects.filter(tag="secret-plan").count() == 2
    theirs["workflow"].refresh_from_db()
    assert theirs["workflow"].name == "Secret plan"
    mine.delete("/catalog", params={"ids": ["vault", str(theirs["entity"].pk)]})
    assert Entity.objects.filter(pk=theirs["entity"].pk).exists()
    patch = "openapi: 3.0.1\ninfo: {title: Mine, x-cortex-tag: vault}\n"
    failing = mine.patch("/open-api?failIfEntityDoesNotExist=true", patch)
    assert failing.status_code == 404
    assert mine.patch("/open-api", patch).status_code == 200
    assert Entity.objects.get(pk=theirs["entity"].pk).name == "Vault"
    assert Entity.objects.get(workspace=ws, tag="vault").name == "Mine"
