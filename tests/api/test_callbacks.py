"""POST /workflows/{tagOrId}/callback/{callbackId}: an async HTTP block reports back."""

from urllib.parse import urlsplit

import pytest

from tests.api.conftest import save
from tests.factories import api_key
from workflows import engine, services
from workflows.models import Run, Step, Workflow

DISPATCH = """
tag: deploy
name: Deploy
isRunnableViaApi: true
filter: {type: GLOBAL}
runResponseTemplate: "Deployed {{actions.dispatch.outputs.response.version}}"
actions:
  - slug: dispatch
    name: Dispatch
    isRootAction: true
    outgoingActions: [after]
    schema:
      type: HTTP_REQUEST_ASYNC
      httpMethod: POST
      url: URL/dispatch
      headers: {Content-Type: application/json}
      payload: '{"callback": "{{{callbackUrl}}}"}'
  - slug: after
    name: After
    isRootAction: false
    outgoingActions: []
    schema: {type: JQ, expression: '.actions.dispatch.outputs.message'}
"""


pytestmark = pytest.mark.usefixtures("loopback_allowed")


@pytest.fixture
def waiting(ws, ada_api, http_server):
    """A run paused on its HTTP_REQUEST_ASYNC block; returns (run, callback path)."""
    http_server.route("POST", "/dispatch", status=202, json={"queued": True})
    save(ws, DISPATCH.replace("URL", http_server.url("")))
    run_id = ada_api.post("/workflows/deploy/runs", {}).json()["id"]
    run = Run.objects.get(uid=run_id)
    engine.advance(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.PAUSED
    callback_url = http_server.requests[0].json()["callback"]
    path = urlsplit(callback_url).path.removeprefix("/api/v1")
    return run, path


def advance(run: Run) -> Run:
    engine.advance(run.pk)
    run.refresh_from_db()
    return run


def test_success_completes_the_block_and_the_run_goes_on(ada_api, waiting):
    run, path = waiting
    r = ada_api.post(
        path,
        {"status": "SUCCESS", "message": "Deployed", "response": {"version": "1.2"}},
    )
    assert r.status_code == 200, r.content
    assert r.json() == {"message": "Successfully received Workflow callback"}
    run = advance(run)
    assert run.status == Run.Status.COMPLETED
    assert run.response == "Deployed 1.2"
    body = ada_api.get(f"/workflows/deploy/runs/{run.uid}").json()
    dispatch, after = body["steps"]
    assert dispatch["status"] == "COMPLETED"
    assert dispatch["outputs"]["response"] == {"version": "1.2"}
    assert after["outputs"] == {"result": "Deployed"}


def test_a_callback_with_fields_of_the_callers_own_is_taken_and_keeps_them(
    ada_api, waiting
):
    """Cortex's schema doesn't forbid other fields; a CI job may add its own."""
    run, path = waiting
    body = {
        "status": "SUCCESS",
        "message": "Deployed",
        "jobUrl": "https://ci/42",
        "messageId": "m-1",
        "runStatus": "green",
        "outputUrl": "https://ci/42/out",
    }
    r = ada_api.post(path, body)
    assert r.status_code == 200, r.content
    run = advance(run)
    assert run.status == Run.Status.COMPLETED
    dispatch = ada_api.get(f"/workflows/deploy/runs/{run.uid}").json()["steps"][0]
    assert dispatch["outputs"]["result"]["jobUrl"] == "https://ci/42"


def test_a_callback_still_reaches_a_run_whose_workflow_changed_its_tag(
    ws, ada, ada_api, waiting
):
    run, path = waiting  # the callback URL the callee got names "deploy"
    descriptor = {**run.workflow.descriptor, "tag": "ship"}
    services.workflow_save(workflow=run.workflow, descriptor=descriptor, created_by=ada)

    r = ada_api.post(path, {"status": "SUCCESS", "message": "Done"})

    assert r.status_code == 200, r.content
    assert advance(run).status == Run.Status.COMPLETED
    late = {"status": "SUCCESS", "message": "Again"}
    assert ada_api.post(path.replace("/deploy/", "/ship/"), late).status_code == 406
    assert ada_api.post(path.replace("/deploy/", "/other/"), late).status_code == 404


def test_a_callback_url_sent_under_a_tag_in_between_two_renames_still_works(
    ws, ada, ada_api, waiting
):
    run, path = waiting
    for tag in ("ship", "ship-it"):
        workflow = Workflow.objects.get(pk=run.workflow_id)
        services.workflow_save(
            workflow=workflow,
            descriptor={**workflow.descriptor, "tag": tag},
            created_by=ada,
        )

    # As if the block had sent its URL while the tag was "ship":
    r = ada_api.post(
        path.replace("/deploy/", "/ship/"), {"status": "SUCCESS", "message": "ok"}
    )

    assert r.status_code == 200, r.content
    assert advance(run).status == Run.Status.COMPLETED


def test_failure_fails_the_block_and_the_run_with_the_message(ada_api, waiting):
    run, path = waiting
    r = ada_api.post(path, {"status": "FAILURE", "message": "Pipeline broke"})
    assert r.status_code == 200
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED
    assert "Pipeline broke" in run.error
    body = ada_api.get(f"/workflows/deploy/runs/{run.uid}").json()
    assert body["status"] == "FAILED"
    assert body["steps"][0]["error"] == "Pipeline broke"


def test_update_keeps_the_block_waiting_and_records_the_message(ada_api, waiting):
    run, path = waiting
    r = ada_api.post(path, {"status": "UPDATE", "message": "Building…"})
    assert r.status_code == 200
    run.refresh_from_db()
    step = Step.objects.get(run=run, slug="dispatch")
    assert run.status == Run.Status.PAUSED
    assert step.status == Step.Status.WAITING
    assert step.outputs["message"] == "Building…"
    done = ada_api.post(path, {"status": "SUCCESS", "message": "Done"})
    assert done.status_code == 200
    assert advance(run).status == Run.Status.COMPLETED


def test_a_callback_once_the_block_no_longer_waits_is_a_406(ada_api, waiting):
    run, path = waiting
    assert ada_api.post(path, {"status": "SUCCESS", "message": "ok"}).status_code == 200
    again = ada_api.post(path, {"status": "SUCCESS", "message": "ok"})
    assert again.status_code == 406
    assert again.json()["message"] == "Workflow block is not waiting for callback"


def test_a_callback_for_a_cancelled_run_is_a_406(ada_api, waiting):
    run, path = waiting
    engine.cancel(run, by=None)
    r = ada_api.post(path, {"status": "SUCCESS", "message": "late"})
    assert r.status_code == 406


@pytest.mark.parametrize(
    "body, field",
    [
        ({"message": "no status"}, "status"),
        ({"status": "DONE", "message": "x"}, "status"),
        ({"status": "SUCCESS"}, "message"),
        ({"status": "SUCCESS", "message": "x", "response": [1]}, "response"),
        (["SUCCESS"], "JSON object"),
        (
            {"status": "UPDATE", "message": "m", "respones": {}},
            "'respones': not a field of a callback; did you mean 'response'? (it"
            " takes status, message and response, or output for response)",
        ),
    ],
    ids=[
        "no-status",
        "unknown-status",
        "no-message",
        "response-not-object",
        "list",
        "misspelt-field",
    ],
)
def test_a_malformed_callback_is_a_400_and_the_block_keeps_waiting(
    ada_api, waiting, body, field
):
    run, path = waiting
    r = ada_api.post(path, body)
    assert r.status_code == 400
    assert field in r.json()["message"]
    assert Step.objects.get(run=run, slug="dispatch").status == Step.Status.WAITING


def test_an_unknown_callback_id_or_another_workflows_tag_is_a_404(ada_api, waiting, ws):
    run, path = waiting
    save(ws, DISPATCH.replace("tag: deploy", "tag: other"))
    callback_id = path.rsplit("/", 1)[1]
    for wrong in (
        "/workflows/deploy/callback/0b6c6a3e-0000-4000-8000-000000000000",
        "/workflows/deploy/callback/not-a-uuid",
        f"/workflows/other/callback/{callback_id}",
    ):
        r = ada_api.post(wrong, {"status": "SUCCESS", "message": "x"})
        assert r.status_code == 404, wrong
        assert r.json()["message"] == "Workflow run or block not found"


def test_the_callback_needs_edit_workflow_runs(ws, as_key, waiting):
    run, path = waiting
    user_key = as_key(api_key(ws, "User")[1])
    r = user_key.post(path, {"status": "SUCCESS", "message": "x"})
    assert r.status_code == 403
    assert "EDIT_WORKFLOW_RUNS" in r.json()["message"]
    assert Step.objects.get(run=run, slug="dispatch").status == Step.Status.WAITING


def test_cortexs_own_callers_output_and_cancelled_are_understood(ada_api, waiting):
    run, path = waiting
    r = ada_api.post(path, {"status": "CANCELLED", "message": "Stopped", "output": {}})
    assert r.status_code == 200
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED


def test_a_callback_while_the_block_is_still_calling_out_is_kept_not_refused(
    ada_api, waiting
):
    run, path = waiting
    step = Step.objects.get(run=run, slug="dispatch")
    # As if the request were still in flight (or its worker had died mid-call):
    Step.objects.filter(pk=step.pk).update(status=Step.Status.RUNNING)

    r = ada_api.post(path, {"status": "SUCCESS", "message": "Deployed"})
    later = ada_api.post(path, {"status": "FAILURE", "message": "second thoughts"})

    assert r.status_code == 200
    # Refused as it would be once the SUCCESS had ended the wait:
    assert later.status_code == 406
    assert later.json()["message"] == "Workflow block is not waiting for callback"
    step.refresh_from_db()
    assert [k["callback"] for k in step.early_callback] == [
        {"status": "SUCCESS", "message": "Deployed"}
    ]


def test_updates_that_come_while_the_block_is_still_calling_out_are_all_kept_in_order(
    ada_api, waiting
):
    run, path = waiting
    step = Step.objects.get(run=run, slug="dispatch")
    Step.objects.filter(pk=step.pk).update(status=Step.Status.RUNNING)  # in flight
    for body in (
        {"status": "UPDATE", "message": "queued"},
        {"status": "UPDATE", "message": "runner picked", "response": {"runner": 7}},
        {"status": "SUCCESS", "message": "Deployed", "response": {"version": "1.2"}},
    ):
        assert ada_api.post(path, body).status_code == 200
    late = {"status": "UPDATE", "message": "too late to matter"}
    assert ada_api.post(path, late).status_code == 406
    # The request returns; the block waits and the worker applies what came:
    Step.objects.filter(pk=step.pk).update(status=Step.Status.WAITING)
    engine._apply_early_callback(step.pk)

    run = advance(run)
    assert run.status == Run.Status.COMPLETED, run.error
    outputs = Step.objects.get(pk=step.pk).outputs
    assert [u["message"] for u in outputs["updates"]] == ["queued", "runner picked"]
    assert outputs["updates"][1]["response"] == {"runner": 7}
    assert (outputs["message"], run.response) == ("Deployed", "Deployed 1.2")
    assert Step.objects.get(pk=step.pk).early_callback is None
