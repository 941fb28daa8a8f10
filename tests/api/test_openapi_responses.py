"""The workflow and run endpoints answer what /api/v1/openapi.json documents.

The views build their JSON by hand (workflows.api.run_out) and Ninja does not
check an HttpResponse against its schema, so these tests do: real answers of
each documented status, validated against the published document.
"""

import jsonschema
import pytest

from tests.api.conftest import ASK, HELLO, ON_ENTITY, save
from tests.factories import EntityFactory
from workflows import engine
from workflows.models import Run

RUNS = "/api/v1/workflows/{tagOrId}/runs"
RUN = "/api/v1/workflows/{tagOrId}/runs/{runId}"
CANCEL = "/api/v1/workflows/{tagOrId}/runs/{runId}/cancel"
RUN_LIST = "/api/v1/workflows/runs"


@pytest.fixture
def document(admin_api):
    r = admin_api.get("/openapi.json")
    assert r.status_code == 200
    return r.json()


def conforms(document, path: str, method: str, response) -> None:
    """Fail, naming the field, unless `response` matches what `document` says
    `method path` answers with its status."""
    answers = document["paths"][path][method]["responses"]
    status = str(response.status_code)
    assert status in answers, f"{method.upper()} {path} does not document {status}"
    schema = answers[status]["content"]["application/json"]["schema"]
    # The schema's $refs point into the document's components:
    jsonschema.validate(
        response.json(),
        {**schema, "components": document["components"]},
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def test_a_run_started_followed_listed_and_cancelled_answers_as_documented(
    document, admin_api, ada_api, ws
):
    save(ws, HELLO)
    save(ws, ASK)
    save(ws, ON_ENTITY)
    EntityFactory(workspace=ws, tag="ledger")

    started = ada_api.post("/workflows/hello/runs", {"initialContext": {"who": "x"}})
    assert started.status_code == 201
    conforms(document, RUNS, "post", started)
    run_id = started.json()["id"]
    engine.advance(Run.objects.get(uid=run_id).pk)
    done = ada_api.get(f"/workflows/hello/runs/{run_id}")
    assert done.json()["status"] == "COMPLETED" and done.json()["steps"]
    conforms(document, RUN, "get", done)

    on_entity = admin_api.post(
        "/workflows/restart/runs",
        {"scope": {"type": "ENTITY", "entityId": "ledger"}, "runAs": "ada@example.com"},
    )
    conforms(document, RUNS, "post", on_entity)

    # A workspace key's run without runAs (initiatedBy names the key), then
    # a form that waits, cancelled:
    by_key = admin_api.post("/workflows/hello/runs")
    assert by_key.json()["initiatedBy"]["type"] == "API_KEY"
    conforms(document, RUNS, "post", by_key)
    waiting = ada_api.post("/workflows/ask/runs").json()["id"]
    engine.advance(Run.objects.get(uid=waiting).pk)
    paused = ada_api.get(f"/workflows/ask/runs/{waiting}")
    assert paused.json()["waitingFor"] == "USER_INPUT"
    conforms(document, RUN, "get", paused)
    cancelled = admin_api.post(f"/workflows/ask/runs/{waiting}/cancel")
    assert cancelled.json()["status"] == "CANCELLED"
    conforms(document, CANCEL, "post", cancelled)

    for params in ({}, {"includeContext": "true"}):
        listed = admin_api.get("/workflows/runs", params)
        assert listed.json()["total"] == 4
        conforms(document, RUN_LIST, "get", listed)


def test_refusals_of_the_run_endpoints_answer_as_documented(
    document, admin_api, ada_api, ws
):
    save(ws, HELLO)
    bad_body = ada_api.post("/workflows/hello/runs", {"initialContext": []})
    assert bad_body.status_code == 400
    conforms(document, RUNS, "post", bad_body)
    missing = ada_api.post("/workflows/nope/runs")
    assert missing.status_code == 404
    conforms(document, RUNS, "post", missing)
    unknown_run = ada_api.get("/workflows/hello/runs/nope")
    assert unknown_run.status_code == 404
    conforms(document, RUN, "get", unknown_run)
    run_id = admin_api.post("/workflows/hello/runs").json()["id"]
    admin_api.post(f"/workflows/hello/runs/{run_id}/cancel")
    again = admin_api.post(f"/workflows/hello/runs/{run_id}/cancel")
    assert again.status_code == 409
    conforms(document, CANCEL, "post", again)
    bad_filter = admin_api.get("/workflows/runs", {"status": "DONE"})
    assert bad_filter.status_code == 400
    conforms(document, RUN_LIST, "get", bad_filter)


def test_a_response_missing_a_documented_field_does_not_conform(document, ada_api, ws):
    """The check itself can fail: a run without its status is refused."""
    save(ws, HELLO)
    started = ada_api.post("/workflows/hello/runs")

    class Broken:
        status_code = 201

        @staticmethod
        def json():
            return {k: v for k, v in started.json().items() if k != "status"}

    with pytest.raises(jsonschema.ValidationError, match="'status' is a required"):
        conforms(document, RUNS, "post", Broken)


def test_refusals_of_the_workflow_endpoints_answer_as_documented(
    document, admin_api, ws
):
    save(ws, HELLO)
    one = "/api/v1/workflows/{tagOrId}"
    conforms(document, one, "get", admin_api.get("/workflows/nope"))
    conforms(document, one, "delete", admin_api.delete("/workflows/nope"))
    bad = admin_api.post("/workflows", "tag: x\n", content_type="application/yaml")
    conforms(document, "/api/v1/workflows", "post", bad)
    conforms(
        document, "/api/v1/workflows", "get", admin_api.get("/workflows?pageSize=x")
    )


def test_the_document_says_which_bodies_the_workflow_endpoints_read(document):
    paths = document["paths"]
    for path, method in (
        ("/api/v1/workflows", "post"),
        ("/api/v1/workflows/validate", "post"),
        (RUNS, "post"),
    ):
        content = paths[path][method]["requestBody"]["content"]
        assert {"application/json", "application/yaml"} <= set(content), path
