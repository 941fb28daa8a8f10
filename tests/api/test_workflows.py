"""GET/POST /workflows, GET/DELETE /workflows/{tagOrId}, POST /workflows/validate."""

import json

import pytest
import yaml

from tests.api.conftest import HELLO, save
from tests.factories import api_key
from tests.workflows.test_descriptor import REAL_DESCRIPTORS
from workflows import descriptor
from workflows.models import Workflow


def test_the_list_has_cortexs_envelope_and_leaves_out_actions_unless_asked(
    admin_api, ws
):
    save(ws, HELLO)
    body = admin_api.get("/workflows").json()
    assert (body["page"], body["total"], body["totalPages"]) == (0, 1, 1)
    [item] = body["workflows"]
    assert (item["tag"], item["name"], item["isRunnableViaApi"]) == (
        "hello",
        "Hello",
        True,
    )
    assert "actions" not in item
    with_actions = admin_api.get("/workflows", {"includeActions": "true"}).json()
    assert with_actions["workflows"][0]["actions"][0]["slug"] == "greet"


def test_the_list_pages_from_zero_and_searches_names_and_descriptions(admin_api, ws):
    for i in range(5):
        save(ws, HELLO, tag=f"wf-{i}", name=f"Workflow {i}", description="")
    save(ws, HELLO, tag="other", name="Other", description="rotates the keys")
    page = admin_api.get("/workflows", {"page": 2, "pageSize": 2}).json()
    # By name: Other, Workflow 0 … Workflow 4
    assert [w["tag"] for w in page["workflows"]] == ["wf-3", "wf-4"]
    assert (page["page"], page["total"], page["totalPages"]) == (2, 6, 3)
    found = admin_api.get("/workflows", {"searchQuery": "ROTATES"}).json()
    assert [w["tag"] for w in found["workflows"]] == ["other"]


@pytest.mark.parametrize(
    "params",
    [{"pageSize": 0}, {"pageSize": 1001}, {"page": -1}, {"page": "first"}],
    ids=["zero-page-size", "huge-page-size", "negative-page", "word-page"],
)
def test_a_bad_page_is_a_400_naming_the_parameter(admin_api, ws, params):
    r = admin_api.get("/workflows", params)
    assert r.status_code == 400
    assert next(iter(params)) in r.json()["message"]


def test_drafts_are_listed_only_for_keys_that_may_edit_workflows(ws, as_key):
    save(ws, HELLO, tag="draft", isDraft=True)
    save(ws, HELLO)
    viewer = as_key(api_key(ws, "Viewer")[1])
    manager = as_key(api_key(ws, "Manager")[1])
    assert [w["tag"] for w in viewer.get("/workflows").json()["workflows"]] == ["hello"]
    assert viewer.get("/workflows/draft").status_code == 404
    assert len(manager.get("/workflows").json()["workflows"]) == 2
    assert manager.get("/workflows/draft").status_code == 200


def test_a_workflow_is_found_by_tag_or_by_id(admin_api, ws):
    workflow = save(ws, HELLO)
    by_tag = admin_api.get("/workflows/hello")
    by_id = admin_api.get(f"/workflows/{workflow.pk}")
    assert by_tag.status_code == by_id.status_code == 200
    assert by_tag.json() == by_id.json() == workflow.descriptor


def test_accept_yaml_answers_the_descriptor_as_yaml_that_imports_unchanged(
    admin_api, ws
):
    workflow = save(ws, HELLO)
    r = admin_api.get("/workflows/hello", headers={"Accept": "application/yaml"})
    assert r.status_code == 200
    assert r["Content-Type"].startswith("application/yaml")
    assert r.content.decode() == descriptor.export(workflow.descriptor, "yaml")
    assert descriptor.parse(r.content) == workflow.descriptor


@pytest.mark.parametrize(
    "accept, yaml",
    [
        ("application/yaml;q=0.1, application/json;q=0.9", False),
        ("application/json;q=0.5, text/yaml", True),
        ("application/x-yaml", True),
        ("application/yaml; charset=utf-8", True),
        ("text/yaml;charset=utf-8, application/json;q=0.5", True),
        ("application/json, application/yaml", False),
        ("application/yaml;q=0, application/json", False),
        ("*/*", False),
    ],
)
def test_accept_with_q_values_gets_the_type_it_prefers(admin_api, ws, accept, yaml):
    save(ws, HELLO)
    r = admin_api.get("/workflows/hello", headers={"Accept": accept})
    assert r.status_code == 200
    assert r["Content-Type"].startswith("application/yaml") == yaml


def test_an_unknown_workflow_is_a_404_with_cortexs_message(admin_api, ws):
    r = admin_api.get("/workflows/nope")
    assert r.status_code == 404
    assert r.json()["message"] == "could not find workflow with id: nope"
    assert r.json()["type"] == "NOT_FOUND"


def test_a_yaml_body_creates_a_workflow_and_answers_its_descriptor(admin_api, ws):
    r = admin_api.post("/workflows", HELLO, content_type="application/yaml")
    assert r.status_code == 200, r.content
    workflow = Workflow.objects.get(workspace=ws, tag="hello")
    assert r.json() == workflow.descriptor
    assert workflow.is_runnable_via_api and workflow.versions.count() == 1


def test_a_json_body_upserts_by_tag_making_a_new_version(admin_api, ws):
    first = yaml.safe_load(HELLO)
    assert admin_api.post("/workflows", first).status_code == 200
    changed = {**first, "name": "Hello again"}
    r = admin_api.post("/workflows", changed)
    assert r.status_code == 200
    workflow = Workflow.objects.get(workspace=ws, tag="hello")
    assert workflow.name == "Hello again"
    assert workflow.versions.count() == 2
    assert Workflow.objects.filter(workspace=ws).count() == 1


def test_a_descriptor_with_problems_is_a_400_listing_every_one(admin_api, ws):
    bad = yaml.safe_load(HELLO)
    bad["actions"][0]["schema"] = {"type": "HTTP_REQUEST"}
    del bad["name"]
    r = admin_api.post("/workflows", bad)
    assert r.status_code == 400
    message = r.json()["message"]
    assert message.startswith("Invalid workflow descriptor: ")
    assert "name" in message
    assert "actions['greet'].schema.url" in message
    assert "actions['greet'].schema.httpMethod" in message
    assert not Workflow.objects.exists()


@pytest.mark.parametrize(
    "body, content_type, expected",
    [
        ("tag: [hello", "application/yaml", "invalid YAML"),
        ('{"tag": "x",', "application/json", "invalid JSON"),
        ("", "application/json", "empty"),
        ("- just\n- a list\n", "application/yaml", "mapping"),
        (
            '{"tag": "x\\u0000y", "name": "n", "filter": {"type": "GLOBAL"}, "actions": []}',
            "application/json",
            "",
        ),
    ],
    ids=["bad-yaml", "bad-json", "empty", "not-a-mapping", "nul-character"],
)
def test_an_unreadable_descriptor_is_a_400_never_a_500(
    admin_api, ws, body, content_type, expected
):
    r = admin_api.post("/workflows", body, content_type=content_type)
    assert r.status_code == 400
    assert expected in r.json()["message"]


def test_validate_answers_ok_or_the_violations_without_saving(admin_api, ws):
    good = admin_api.post("/workflows/validate", HELLO, content_type="application/yaml")
    assert good.json() == {"ok": True, "violations": []}
    bad = admin_api.post(
        "/workflows/validate",
        HELLO.replace("tag: hello", "tag: 'a b'"),
        content_type="application/yaml",
    )
    assert bad.status_code == 200
    body = bad.json()
    assert body["ok"] is False
    [violation] = body["violations"]
    assert violation["pointer"] == "tag" and "tag" in violation["description"]
    assert not Workflow.objects.exists()


def test_validate_gives_one_violation_per_problem_even_when_its_message_has_a_semicolon(
    admin_api, ws
):
    two_roots = HELLO + (
        "  - {slug: again, name: Again, isRootAction: true, outgoingActions: [],"
        " schema: {type: JQ, expression: '.'}}\n"
    )
    r = admin_api.post(
        "/workflows/validate", two_roots, content_type="application/yaml"
    )
    descriptions = [v["description"] for v in r.json()["violations"]]
    assert len(descriptions) == 1 and "; " in descriptions[0], descriptions
    assert r.json()["violations"][0]["pointer"] == "actions"


def test_a_violation_that_names_no_place_has_no_pointer_rather_than_a_null(admin_api):
    r = admin_api.post(
        "/workflows/validate", "- a list", content_type="application/yaml"
    )
    [violation] = r.json()["violations"]
    assert violation["paths"] == [] and "pointer" not in violation


@pytest.mark.parametrize(
    "content_type, problem",
    [
        ("application/yaml", "invalid YAML: line 1"),
        ("application/json", "invalid JSON"),
    ],
)
def test_a_broken_descriptor_is_told_in_the_language_its_sender_named(
    admin_api, ws, content_type, problem
):
    r = admin_api.post("/workflows/validate", "{{{{", content_type=content_type)
    [violation] = r.json()["violations"]
    assert violation["description"].startswith(problem)


def test_delete_removes_the_workflow_and_then_it_is_a_404(admin_api, ws):
    save(ws, HELLO)
    r = admin_api.delete("/workflows/hello")
    assert r.status_code == 200
    assert r.json()["message"] == "Workflow deleted successfully"
    assert not Workflow.objects.filter(tag="hello").exists()
    assert admin_api.delete("/workflows/hello").status_code == 404


@pytest.mark.parametrize(
    "role, method, path, permission",
    [
        ("Viewer", "post", "/workflows", "EDIT_WORKFLOWS"),
        ("Viewer", "delete", "/workflows/hello", "EDIT_WORKFLOWS"),
        ("Viewer", "post", "/workflows/hello/runs", "EXECUTE_WORKFLOW_RUNS"),
        ("User", "post", "/workflows/hello/callback/x", "EDIT_WORKFLOW_RUNS"),
    ],
)
def test_each_endpoint_needs_its_permission_and_says_which(
    ws, as_key, role, method, path, permission
):
    save(ws, HELLO)
    api = as_key(api_key(ws, role)[1])
    r = getattr(api, method)(path) if method == "delete" else api.post(path, {})
    assert r.status_code == 403
    assert permission in r.json()["message"]
    assert Workflow.objects.filter(tag="hello").exists()


def test_a_key_without_roles_may_not_read_workflows_or_runs(ws, as_key):
    key, raw = api_key(ws, "Viewer")
    key.roles.clear()
    api = as_key(raw)
    assert "VIEW_WORKFLOWS" in api.get("/workflows").json()["message"]
    assert "VIEW_WORKFLOW_RUNS" in api.get("/workflows/runs").json()["message"]


def test_a_created_workflow_is_listed_by_the_key_that_made_it(admin_api, ws):
    admin_api.post("/workflows", json.loads(json.dumps(yaml.safe_load(HELLO))))
    assert admin_api.get("/workflows").json()["total"] == 1


# Real Cortex descriptors, and round trips through the API


@pytest.mark.parametrize("name", sorted(REAL_DESCRIPTORS))
def test_real_cortex_descriptors_import_through_the_api_and_round_trip(
    admin_api, ws, name
):
    text = REAL_DESCRIPTORS[name]
    created = admin_api.post("/workflows", text, content_type="application/yaml")
    assert created.status_code == 200, created.content
    tag = created.json()["tag"]
    workflow = Workflow.objects.get(workspace=ws, tag=tag)

    # What GET answers can be sent back unchanged, as JSON or as YAML:
    as_json = admin_api.get(f"/workflows/{tag}").json()
    as_yaml = admin_api.get(f"/workflows/{tag}", headers={"Accept": "application/yaml"})
    assert admin_api.post("/workflows", as_json).status_code == 200
    again = admin_api.post(
        "/workflows", as_yaml.content, content_type="application/yaml"
    )
    assert again.status_code == 200
    assert workflow.versions.count() == 1  # nothing changed
    assert again.json() == as_json == workflow.descriptor


def test_a_reserved_tag_is_a_400_naming_the_tag(admin_api, ws):
    hello = yaml.safe_load(HELLO)
    r = admin_api.post("/workflows", {**hello, "tag": "runs"})
    assert r.status_code == 400
    assert "tag: 'runs' is reserved" in r.json()["message"]
    assert not Workflow.objects.exists()
