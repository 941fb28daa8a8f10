"""POST /workflows/{tagOrId}/runs, GET …/runs/{runId}, GET /workflows/runs, cancel."""

import uuid

import pytest
from django.core import mail

from portal.mail import wait_until_sent
from portal.permissions import BUILTIN_ROLES
from tests.api.conftest import ASK, HELLO, ON_ENTITY, save
from tests.factories import (
    EntityFactory,
    UserFactory,
    WorkspaceFactory,
    api_key,
    member,
)
from workflows import engine
from workflows.models import Notification, Run

S = Run.Status
ON_ENTITY_FILTER = {
    "type": "ENTITY",
    "entityFilter": {"typeFilter": {"types": ["service"]}},
}
HELLO_SCHEMA = "schema: {type: JQ, expression: '\"Hello, \" + .variables.who'}"


def start(api, tag="hello", body=None, **kwargs):
    return api.post(
        f"/workflows/{tag}/runs", body if body is not None else {}, **kwargs
    )


def finish(run_id: str) -> Run:
    """Do what a worker would: advance the run until it stops."""
    run = Run.objects.get(uid=run_id)
    engine.advance(run.pk)
    run.refresh_from_db()
    return run


# Starting a run


def test_a_started_run_holds_the_initiators_roles_in_order_and_its_secrets_masked(
    ada_api, ws, ada
):
    # engine.start reads these with hand-written SQL; they must match what the
    # engine shows elsewhere (_person) and the models' order.
    from portal.models import Role
    from workflows.models import Secret
    from workflows.secrets import MASK, encrypt

    custom = Role.objects.create(workspace=ws, name="Deployer", permissions=[])
    member(ws, ada, "Admin", "User").roles.add(custom)
    for tag in ["zeta", "alpha", "mid"]:
        Secret.objects.create(
            workspace=ws, tag=tag, name=tag, encrypted_value=encrypt("x")
        )
    Secret.objects.create(
        workspace=WorkspaceFactory(slug="elsewhere"),
        tag="other-workspace",
        name="Other",
        encrypted_value=encrypt("x"),
    )
    save(ws, HELLO)

    r = start(ada_api)

    assert r.status_code == 201, r.content
    context = Run.objects.get(uid=r.json()["id"]).state["context"]
    assert context["initiatedBy"] == engine._person(ada, ws)
    assert [role["name"] for role in context["initiatedBy"]["roles"]] == [
        "Admin",
        "User",
        "Deployer",
    ]
    # (PostgreSQL's jsonb keeps object keys in an order of its own)
    assert context["secrets"] == {"alpha": MASK, "mid": MASK, "zeta": MASK}


def test_a_personal_token_starts_a_run_as_its_user_and_answers_201_with_the_run(
    ada_api, ws, ada
):
    save(ws, HELLO)
    r = start(ada_api, body={"scope": {"type": "GLOBAL"}})
    assert r.status_code == 201, r.content
    body = r.json()
    run = Run.objects.get()
    assert body["id"] == str(run.uid)
    assert (body["workflowTag"], body["workflowName"]) == ("hello", "Hello")
    assert body["status"] == "IN_PROGRESS"
    assert body["scope"] == {"type": "GLOBAL"}
    assert body["initiatedBy"] == {
        "type": "USER",
        "name": ada.display_name,
        "email": ada.email,
    }
    assert body["runAs"] is None
    assert body["source"] == "API"
    assert body["apiKey"]["name"] == "key"
    assert body["context"]["workflowRunId"] == str(run.uid)
    assert body["dateCreated"] and body["dateCompleted"] is None
    assert run.initiator == ada and run.source == Run.Source.API


def test_the_start_answer_gives_the_start_time_that_was_stored(ada_api, ws):
    save(ws, HELLO)
    answer = start(ada_api).json()
    stored = ada_api.get(f"/workflows/hello/runs/{answer['id']}").json()
    assert answer["dateStarted"]
    assert answer["dateStarted"] == stored["dateStarted"]


def test_a_run_can_be_followed_until_it_completes_with_steps_and_response(ada_api, ws):
    save(ws, HELLO)
    run_id = start(ada_api).json()["id"]
    finish(run_id)
    body = ada_api.get(f"/workflows/hello/runs/{run_id}").json()
    assert body["status"] == "COMPLETED"
    [step] = body["steps"]
    assert (step["slug"], step["type"], step["status"]) == ("greet", "JQ", "COMPLETED")
    assert step["outputs"] == {"result": "Hello, world"}
    assert body["response"] == "Hello, world"
    assert body["dateCompleted"]


def test_a_run_keeps_the_name_and_scope_of_the_version_it_ran(ada_api, ws):
    save(ws, HELLO)
    run_id = start(ada_api).json()["id"]
    save(ws, HELLO, name="Greet everyone", filter={"type": "ENTITY"})

    for body in (
        ada_api.get(f"/workflows/hello/runs/{run_id}").json(),
        ada_api.get("/workflows/runs").json()["runs"][0],
    ):
        assert body["workflowName"] == "Hello"
        assert body["scope"] == {"type": "GLOBAL"}


def test_an_empty_body_starts_a_global_run(ada_api, ws):
    save(ws, HELLO)
    r = ada_api.post("/workflows/hello/runs", None)
    assert r.status_code == 201


def test_initial_context_sets_declared_variables_and_is_kept_in_the_context(
    ada_api, ws
):
    save(ws, HELLO)
    context = {"who": "Ada", "times": 3, "ticket": "OPS-1"}
    body = start(ada_api, body={"initialContext": context}).json()
    assert body["variables"] == {"who": "Ada", "times": 3}
    assert body["context"]["initialContext"] == context
    assert finish(body["id"]).response == "Hello, Ada"


def test_a_null_in_initial_context_keeps_the_variables_default(ada_api, ws):
    """null reads as "not given", as it does in descriptors."""
    save(ws, HELLO)
    body = start(ada_api, body={"initialContext": {"who": None}}).json()
    assert body["variables"]["who"] == "world"
    assert body["context"]["initialContext"] == {"who": None}


@pytest.mark.parametrize(
    "body, field",
    [
        ({"initialContext": {"times": "three"}}, "initialContext.times"),
        ({"initialContext": ["who"]}, "initialContext"),
        ({"scope": {"type": "SOMEWHERE"}}, "scope.type"),
        ({"scope": "GLOBAL"}, "scope"),
        ({"runAs": 42}, "runAs"),
        ({"runAs": ""}, "runAs: must be a member's email"),
        ({"runAs": "  "}, "runAs: must be a member's email"),
        ({"notificationRecipients": "ada@example.com"}, "notificationRecipients"),
        (
            {"notificationRecipients": ["ada@example.com", "nope"]},
            "notificationRecipients[1]",
        ),
        ({"runas": "ada@example.com"}, "runas"),
        ({"scope": {"type": "GLOBAL", "entity": "x"}}, "scope.entity"),
    ],
    ids=[
        "variable-of-the-wrong-type",
        "context-not-an-object",
        "unknown-scope-type",
        "scope-not-an-object",
        "run-as-not-a-string",
        "run-as-empty",
        "run-as-blank",
        "recipients-not-a-list",
        "recipient-not-an-email",
        "unknown-field",
        "unknown-scope-field",
    ],
)
def test_a_bad_run_request_is_a_400_naming_the_field_and_starts_nothing(
    ada_api, ws, body, field
):
    save(ws, HELLO)
    r = start(ada_api, body=body)
    assert r.status_code == 400, r.content
    assert field in r.json()["message"]
    assert not Run.objects.exists()


def test_starting_a_workflow_without_blocks_is_a_400_saying_so(ada_api, ws):
    save(ws, HELLO, actions=[])
    r = start(ada_api, headers={"Idempotency-Key": "stub-1"})
    assert r.status_code == 400, r.content
    assert r.json()["message"] == (
        "This workflow has no blocks yet: add one before running it"
    )
    assert not Run.objects.exists()


@pytest.mark.parametrize(
    "body",
    ['{"scope": ', "scope: [", "\xff\xfe"],
    ids=["bad-json", "yaml-as-json", "not-utf8"],
)
def test_an_unreadable_body_is_a_400_saying_why(ada_api, ws, body):
    save(ws, HELLO)
    r = ada_api.post("/workflows/hello/runs", body.encode("latin-1"))
    assert r.status_code == 400
    assert "not valid JSON" in r.json()["message"] or "UTF-8" in r.json()["message"]


def test_a_compressed_body_is_a_400_saying_to_send_it_uncompressed(ada_api, ws):
    import gzip

    save(ws, HELLO)
    r = ada_api.post(
        "/workflows/hello/runs",
        gzip.compress(b'{"initialContext": {}}'),
        headers={"Content-Encoding": "gzip"},
    )
    assert r.status_code == 400, r.content
    assert r.json()["message"] == (
        "Content-Encoding gzip is not supported: send the body uncompressed"
    )
    assert not Run.objects.exists()
    # A request without a body has nothing to decode:
    r = ada_api.get("/workflows/hello", headers={"Content-Encoding": "gzip"})
    assert r.status_code == 200, r.content
    # "identity" is no encoding at all:
    r = ada_api.post(
        "/workflows/hello/runs", {}, headers={"Content-Encoding": "identity"}
    )
    assert r.status_code == 201, r.content


@pytest.mark.parametrize(
    ("body", "kind"),
    [("[]", "a list"), ('"GLOBAL"', "a string"), ("42", "a number")],
)
def test_a_body_that_is_not_an_object_is_a_400_saying_what_it_is(
    ada_api, ws, body, kind
):
    save(ws, HELLO)
    r = ada_api.post("/workflows/hello/runs", body)
    assert r.status_code == 400, r.content
    assert r.json()["message"] == f"The request body must be a JSON object, not {kind}"
    assert not Run.objects.exists()


def test_a_yaml_body_that_is_not_a_mapping_is_a_400_saying_so(ada_api, ws):
    save(ws, HELLO)
    r = ada_api.post(
        "/workflows/hello/runs", "- a\n- b\n", content_type="application/yaml"
    )
    assert r.status_code == 400, r.content
    assert r.json()["message"] == "The request body must be a mapping, not a list"
    assert not Run.objects.exists()


def test_a_form_encoded_body_is_a_400_saying_to_send_json(ada_api, ws):
    save(ws, HELLO)
    r = ada_api.post(
        "/workflows/hello/runs",
        "runAs=ada%40example.com",
        content_type="application/x-www-form-urlencoded",
    )
    assert r.status_code == 400
    assert r.json()["message"].startswith(
        "The request body is not valid JSON (it was sent as"
        " application/x-www-form-urlencoded: send JSON with Content-Type:"
        " application/json, or YAML with Content-Type: application/yaml): line 1,"
        " column 1"
    )


def test_json_sent_as_a_form_is_read_as_json(ada_api, ws):
    """What `curl -d '{…}'` sends without a Content-Type header."""
    save(ws, HELLO)
    r = ada_api.post(
        "/workflows/hello/runs",
        '{"initialContext": {"who": "curl"}}',
        content_type="application/x-www-form-urlencoded",
    )
    assert r.status_code == 201, r.content
    assert r.json()["variables"]["who"] == "curl"


def test_a_yaml_body_is_read_when_the_content_type_says_yaml(ada_api, ws):
    save(ws, HELLO)
    r = ada_api.post(
        "/workflows/hello/runs",
        "initialContext: {who: YAML}\n",
        content_type="application/yaml",
    )
    assert r.status_code == 201
    assert r.json()["variables"]["who"] == "YAML"


def test_a_yaml_body_reads_yes_and_no_as_text_and_refuses_keys_that_are_not_text(
    ada_api, ws
):
    """As descriptors are read (QA: `who: no` was false, a 400 for STRING)."""
    save(ws, HELLO)
    r = ada_api.post(
        "/workflows/hello/runs",
        "initialContext: {who: no}\n",
        content_type="application/yaml",
    )
    assert r.status_code == 201, r.content
    assert r.json()["variables"]["who"] == "no"
    bad = ada_api.post(
        "/workflows/hello/runs",
        "initialContext: {true: x}\n",
        content_type="application/yaml",
    )
    assert bad.status_code == 400
    assert "keys must be strings, not True" in bad.json()["message"]


def test_a_workflow_not_runnable_via_the_api_is_a_403_that_says_so(ada_api, ws):
    save(ws, HELLO, isRunnableViaApi=False)
    r = start(ada_api)
    assert r.status_code == 403
    assert "not runnable via the API" in r.json()["message"]
    assert not Run.objects.exists()


def test_a_draft_can_be_run_via_the_api(ada_api, ws):
    save(ws, HELLO, isDraft=True)
    assert start(ada_api).status_code == 201


def test_a_draft_is_not_found_by_a_key_that_may_run_but_not_edit_workflows(ws, as_key):
    """As GET /workflows/{tag} answers it: drafts are for those who edit them."""
    save(ws, HELLO, isDraft=True)
    user_api = as_key(api_key(ws, "User")[1])
    r = start(user_api)
    assert r.status_code == 404
    assert r.json()["message"] == "could not find workflow with id: hello"
    assert user_api.get("/workflows/hello").status_code == 404
    assert not Run.objects.exists()


# Entity scope


def test_an_entity_workflow_runs_on_the_entity_named_by_tag_or_id(ada_api, ws):
    save(ws, ON_ENTITY)
    ledger = EntityFactory(workspace=ws, tag="ledger", name="Ledger")
    by_tag = start(
        ada_api, "restart", {"scope": {"type": "ENTITY", "entityId": "ledger"}}
    )
    by_id = start(
        ada_api, "restart", {"scope": {"type": "entity", "entityId": str(ledger.pk)}}
    )
    assert by_tag.status_code == by_id.status_code == 201
    assert by_tag.json()["scope"] == {
        "type": "ENTITY",
        "entityId": "ledger",
        "entityName": "Ledger",
    }
    assert by_tag.json()["context"]["entity"]["tag"] == "ledger"
    assert finish(by_tag.json()["id"]).state["actions"]["note"]["outputs"] == {
        "result": "ledger"
    }


@pytest.mark.parametrize(
    "tag, scope, status, message",
    [
        ("restart", {"type": "GLOBAL"}, 400, "runs on an entity"),
        ("restart", {"type": "ENTITY"}, 400, "runs on an entity"),
        (
            "restart",
            {"type": "ENTITY", "entityId": "nope"},
            404,
            "could not find entity",
        ),
        ("hello", {"type": "ENTITY", "entityId": "ledger"}, 400, "is GLOBAL"),
    ],
    ids=["global-scope", "no-entity", "unknown-entity", "entity-for-global"],
)
def test_a_scope_that_does_not_fit_the_workflow_is_refused(
    ada_api, ws, tag, scope, status, message
):
    save(ws, HELLO)
    save(ws, ON_ENTITY)
    EntityFactory(workspace=ws, tag="ledger")
    r = start(ada_api, tag, {"scope": scope})
    assert r.status_code == status
    assert message in r.json()["message"]
    assert not Run.objects.exists()


def test_a_run_still_names_its_entity_after_the_entity_is_deleted(ada_api, ws):
    save(ws, ON_ENTITY)
    ledger = EntityFactory(workspace=ws, tag="ledger", name="Ledger")
    run_id = start(
        ada_api, "restart", {"scope": {"type": "ENTITY", "entityId": "ledger"}}
    ).json()["id"]
    ledger.delete()
    scope = ada_api.get(f"/workflows/restart/runs/{run_id}").json()["scope"]
    assert scope == {"type": "ENTITY", "entityId": "ledger", "entityName": "Ledger"}
    listed = ada_api.get("/workflows/runs", {"entityId": "ledger"}).json()
    assert [r["id"] for r in listed["runs"]] == [run_id]


def test_an_owner_scoped_run_without_run_as_is_told_to_name_an_owner(admin_api, ws):
    save(ws, ON_ENTITY, filter={**ON_ENTITY_FILTER, "ownershipScope": "OWNER"})
    EntityFactory(workspace=ws, tag="ledger")
    r = start(admin_api, "restart", {"scope": {"type": "ENTITY", "entityId": "ledger"}})
    assert r.status_code == 403
    assert r.json()["message"] == (
        "This workflow can't run on ledger: it runs only on entities its initiating"
        " user owns; send runAs with the email of an owner of ledger"
    )
    assert not Run.objects.exists()


def test_an_entity_outside_the_workflows_filter_is_a_403(ada_api, ws):
    save(ws, ON_ENTITY)
    from tests.factories import EntityTypeFactory

    library = EntityTypeFactory(workspace=ws, tag="library")
    EntityFactory(workspace=ws, tag="money", type=library)
    r = start(
        ada_api,
        "restart",
        {"scope": {"type": "ENTITY", "entityId": "money"}, "runAs": "ada@example.com"},
    )
    assert r.status_code == 403
    # About the entity, not about runAs:
    assert r.json()["message"] == (
        "This workflow can't run on money: it runs on entities of type service,"
        " and money is of type library"
    )


# runAs


def test_a_workspace_key_without_run_as_starts_a_run_with_no_initiator(admin_api, ws):
    """As Cortex's own CLI tests do (`cortex workflows run -t TAG --wait`)."""
    save(ws, HELLO)
    r = start(admin_api)
    assert r.status_code == 201
    body = r.json()
    assert body["status"] == "IN_PROGRESS"
    key = Run.objects.get().api_key
    assert body["initiatedBy"] == {"type": "API_KEY", "name": key.name, "email": None}
    assert body["runAs"] is None
    assert Run.objects.get().status == S.IN_PROGRESS


def test_a_workspace_key_without_run_as_waits_for_an_initiator_when_the_workflow_needs_a_person(
    admin_api, ws, ada
):
    save(ws, HELLO, restrictActionCompletionToRunnerUser=True)
    body = start(admin_api).json()
    assert body["status"] == "PAUSED"
    assert body["waitingFor"] == "INITIATOR"  # a script polling sees why
    assert body["initiatedBy"]["type"] == "API_KEY"
    run = Run.objects.get()
    engine.set_initiator(run, user=ada, by=ada, perms=frozenset(BUILTIN_ROLES["Admin"]))
    run.refresh_from_db()
    assert run.status == S.IN_PROGRESS and run.initiator == ada


def test_a_workspace_key_with_run_as_starts_the_run_as_that_member(
    admin_api, ws, grace
):
    save(ws, HELLO)
    body = start(admin_api, body={"runAs": "GRACE@example.com"}).json()
    assert body["status"] == "IN_PROGRESS"
    assert body["runAs"] == "grace@example.com"
    assert body["initiatedBy"]["email"] == "grace@example.com"
    assert body["context"]["initiatedBy"]["email"] == "grace@example.com"
    assert Run.objects.get().initiator == grace


def test_run_as_someone_outside_the_workspace_is_a_400(admin_api, ws, ted):
    save(ws, HELLO)
    UserFactory(email="stranger@example.com")
    for email in ("ted@example.com", "stranger@example.com", "nobody@example.com"):
        r = start(admin_api, body={"runAs": email})
        assert r.status_code == 400
        assert r.json()["message"].startswith("runAs:")
    assert not Run.objects.exists()


def test_a_personal_token_may_not_run_as_someone_else(ada_api, ws, ada, grace):
    save(ws, HELLO)
    r = start(ada_api, body={"runAs": "grace@example.com"})
    assert r.status_code == 403
    assert "own user" in r.json()["message"]
    assert start(ada_api, body={"runAs": "ada@example.com"}).status_code == 201


def test_run_as_a_member_who_may_not_run_workflows_is_a_403(admin_api, ws, vera):
    save(ws, HELLO)
    r = start(admin_api, body={"runAs": "vera@example.com"})
    assert r.status_code == 403
    assert "vera@example.com" in r.json()["message"]


def test_run_as_is_checked_against_the_workflows_run_restrictions(
    admin_api, ws, grace, mona
):
    save(ws, HELLO, runRestrictionPolicies=[{"type": "USER", "id": "mona@example.com"}])
    refused = start(admin_api, body={"runAs": "grace@example.com"})
    assert refused.status_code == 403
    assert refused.json()["message"].startswith(
        "runAs: You may not run this workflow: grace@example.com"
    )
    no_run_as = start(admin_api)
    assert no_run_as.status_code == 403
    assert "runAs" in no_run_as.json()["message"]
    assert start(admin_api, body={"runAs": "mona@example.com"}).status_code == 201


def test_a_workflow_restricting_completion_to_the_runner_waits_for_an_initiator(
    admin_api, ada_api, ws
):
    save(ws, ASK, restrictActionCompletionToRunnerUser=True)
    assert start(admin_api, "ask").json()["status"] == "PAUSED"
    assert start(admin_api, "ask", {"runAs": "ada@example.com"}).json()["status"] == (
        "IN_PROGRESS"
    )
    assert start(ada_api, "ask").json()["status"] == "IN_PROGRESS"


def test_a_workflow_with_a_scaffolder_block_waits_for_an_initiator_without_run_as(
    admin_api, ws, grace
):
    scaffold = "schema: {type: SCAFFOLDER, scaffolderTemplateId: service}"
    workflow = save(ws, HELLO.replace(HELLO_SCHEMA, scaffold))
    assert workflow.descriptor["actions"][0]["schema"]["type"] == "SCAFFOLDER"
    assert start(admin_api).json()["status"] == "PAUSED"
    with_run_as = start(admin_api, body={"runAs": "grace@example.com"}).json()
    assert with_run_as["status"] == "IN_PROGRESS"


# notificationRecipients


def test_notification_recipients_are_told_when_the_run_ends(
    ada_api, ws, grace, django_capture_on_commit_callbacks
):
    save(ws, HELLO)
    recipients = ["grace@example.com", "ops@example.org"]
    body = start(ada_api, body={"notificationRecipients": recipients}).json()
    assert body["notificationRecipients"] == recipients
    with django_capture_on_commit_callbacks(execute=True):
        finish(body["id"])
    assert Notification.objects.filter(user=grace, kind="RUN_COMPLETED").exists()
    assert wait_until_sent()
    told = {address for message in mail.outbox for address in message.to}
    assert {"grace@example.com", "ops@example.org", "ada@example.com"} <= told


def test_notification_recipients_are_told_when_the_run_needs_an_initiator(
    admin_api, ws, grace, django_capture_on_commit_callbacks
):
    save(ws, HELLO, restrictActionCompletionToRunnerUser=True)
    with django_capture_on_commit_callbacks(execute=True):
        start(admin_api, body={"notificationRecipients": ["grace@example.com"]})
    assert Notification.objects.filter(user=grace, kind="NEEDS_INITIATOR").exists()
    assert wait_until_sent()
    assert any("grace@example.com" in m.to for m in mail.outbox)


# The concurrency cap


def test_a_run_over_the_concurrency_cap_answers_201_queued(ada_api, ws, settings):
    settings.MAX_CONCURRENT_RUNS = 2
    save(ws, HELLO)
    statuses = [start(ada_api).json()["status"] for _ in range(3)]
    assert statuses == ["IN_PROGRESS", "IN_PROGRESS", "QUEUED"]
    first = Run.objects.order_by("pk").first()
    finish(str(first.uid))
    queued = Run.objects.order_by("pk").last()
    queued.refresh_from_db()
    assert queued.status == S.IN_PROGRESS


# Getting and listing runs


def test_a_run_is_found_by_its_uuid_or_its_number_under_its_workflow_only(ada_api, ws):
    save(ws, HELLO)
    save(ws, HELLO, tag="other")
    run_id = start(ada_api).json()["id"]
    pk = Run.objects.get().pk
    assert ada_api.get(f"/workflows/hello/runs/{run_id}").json()["id"] == run_id
    assert ada_api.get(f"/workflows/hello/runs/{pk}").json()["id"] == run_id
    for path in (
        f"/workflows/other/runs/{run_id}",
        f"/workflows/hello/runs/{uuid.uuid4()}",
        "/workflows/hello/runs/not-a-run",
        "/workflows/hello/runs/99999999999999999999999",
    ):
        r = ada_api.get(path)
        assert r.status_code == 404, path


def test_the_run_list_is_newest_first_in_cortexs_envelope(ada_api, ws):
    save(ws, HELLO)
    ids = [start(ada_api).json()["id"] for _ in range(3)]
    body = ada_api.get("/workflows/runs").json()
    assert (body["page"], body["total"], body["totalPages"]) == (0, 3, 1)
    assert [r["id"] for r in body["runs"]] == ids[::-1]
    assert "steps" not in body["runs"][0]
    detailed = ada_api.get("/workflows/runs", {"includeContext": "true"}).json()
    assert "context" in detailed["runs"][0]
    page = ada_api.get("/workflows/runs", {"page": 1, "pageSize": 2}).json()
    assert [r["id"] for r in page["runs"]] == [ids[0]]


def test_the_run_list_takes_cortexs_size_and_sort(ada_api, ws):
    save(ws, HELLO)
    ids = [start(ada_api).json()["id"] for _ in range(3)]
    finish(ids[1])  # the only one started and completed

    def listed(**params):
        body = ada_api.get("/workflows/runs", params).json()
        return [r["id"] for r in body["runs"]]

    assert listed(sort="dateCreated,asc") == ids
    assert listed(sort="dateCreated") == ids  # ascending unless told
    assert listed(sort="dateCreated,desc", size=2) == ids[:0:-1]
    assert listed(sort="dateCompleted,desc")[0] == ids[1]  # then not finished
    assert listed(sort="dateCompleted,asc")[0] == ids[1]


@pytest.mark.parametrize(
    "sort, message",
    [
        (
            "name,asc",
            "sort: 'name' is not one of dateCreated, dateStarted, dateCompleted",
        ),
        ("dateCreated,up", "sort: the direction 'up' is not asc or desc"),
    ],
)
def test_a_bad_sort_is_a_400_naming_it(ada_api, ws, sort, message):
    r = ada_api.get("/workflows/runs", {"sort": sort})
    assert r.status_code == 400
    assert r.json()["message"] == message


def test_the_run_list_filters_by_workflow_entity_initiator_status_and_date(
    ada_api, admin_api, ws, grace
):
    save(ws, HELLO)
    save(ws, ON_ENTITY)
    EntityFactory(workspace=ws, tag="ledger")
    hello = start(ada_api).json()["id"]
    on_ledger = start(
        ada_api, "restart", {"scope": {"type": "ENTITY", "entityId": "ledger"}}
    ).json()["id"]
    by_grace = start(admin_api, body={"runAs": "grace@example.com"}).json()["id"]
    finish(hello)
    restart = str(Run.objects.get(uid=on_ledger).workflow.pk)

    def ids(**params):
        r = ada_api.get("/workflows/runs", params)
        assert r.status_code == 200, r.content
        return {run["id"] for run in r.json()["runs"]}

    assert ids(workflow="restart") == {on_ledger}
    assert ids(workflowIds=restart) == {on_ledger}
    assert ids(workflow="hello,restart") == {hello, on_ledger, by_grace}
    assert ids(entityId="ledger") == {on_ledger}
    assert ids(initiatedBy="grace@example.com") == {by_grace}
    assert ids(status="COMPLETED") == {hello}
    assert ids(status=["COMPLETED", "IN_PROGRESS"]) == {hello, on_ledger, by_grace}
    assert ids(startedAfter="2000-01-01T00:00:00Z") == {hello, on_ledger, by_grace}
    assert ids(startedBefore="2000-01-01T00:00:00") == set()
    assert ids(source="api") == {hello, on_ledger, by_grace}
    # Several values, repeated or comma-separated, for every filter:
    both = ids(initiatedBy="ada@example.com") | {by_grace}
    assert len(both) == 3
    assert ids(initiatedBy="grace@example.com,ada@example.com") == both
    assert ids(initiatedBy=["grace@example.com", "ADA@example.com"]) == both
    assert ids(entityId="no-such,ledger") == {on_ledger}
    assert ids(entityId=["no-such", "ledger"]) == {on_ledger}
    assert ids(source="API,UI") == ids(source=["UI", "API"]) == both
    assert ids(source="UI") == set()
    # Repeats count once; past 100 values a filter is a 400 naming it (review:
    # 1,000 of them made SQLite refuse the statement, a 500):
    assert ids(initiatedBy=",".join(["grace@example.com"] * 150)) == {by_grace}
    many = ",".join(f"e{i}" for i in range(1500))
    for field in ("entityId", "initiatedBy", "workflow", "status", "source"):
        r = ada_api.get("/workflows/runs", {field: many})
        assert r.status_code == 400
        assert r.json()["message"] == f"{field}: at most 100 values, not 1500"


@pytest.mark.parametrize(
    "params, field",
    [
        ({"status": "DONE"}, "status"),
        ({"startedAfter": "yesterday"}, "startedAfter"),
        ({"startedAfter": "0001-01-01T00:00:00+14:00"}, "startedAfter"),
        ({"pageSize": 5000}, "pageSize"),
        ({"source": "CRON"}, "source"),
    ],
)
def test_a_bad_run_list_filter_is_a_400_naming_it(ada_api, ws, params, field):
    r = ada_api.get("/workflows/runs", params)
    assert r.status_code == 400
    assert field in r.json()["message"]


# Cancel


def test_cancel_stops_a_paused_run_and_a_second_cancel_is_a_409(admin_api, ws):
    save(ws, HELLO)
    run_id = start(admin_api).json()["id"]  # paused: no initiator
    r = admin_api.post(f"/workflows/hello/runs/{run_id}/cancel")
    assert r.status_code == 200
    assert r.json()["status"] == "CANCELLED"
    again = admin_api.post(f"/workflows/hello/runs/{run_id}/cancel")
    assert again.status_code == 409
    assert again.json()["message"] == (
        "The run is CANCELLED: only QUEUED, IN_PROGRESS and PAUSED runs can be cancelled"
    )


def test_the_initiator_may_cancel_their_own_run_without_edit_workflow_runs(
    ws, grace, as_key
):
    save(ws, HELLO)
    own = as_key(api_key(ws, user=grace)[1])
    run_id = start(own).json()["id"]
    assert own.post(f"/workflows/hello/runs/{run_id}/cancel").status_code == 200
    someone = UserFactory(email="sam@example.com")
    member(ws, someone, "User")
    other = as_key(api_key(ws, user=someone)[1])
    second = start(own).json()["id"]
    r = other.post(f"/workflows/hello/runs/{second}/cancel")
    assert r.status_code == 403
    assert "EDIT_WORKFLOW_RUNS" in r.json()["message"]


def test_an_initiator_demoted_to_viewer_no_longer_cancels_their_run_as_on_the_page(
    ws, grace, as_key
):
    save(ws, HELLO)
    own = as_key(api_key(ws, user=grace)[1])
    run_id = start(own).json()["id"]
    membership = grace.memberships.get(workspace=ws)
    membership.roles.set([ws.roles.get(name="Viewer")])

    r = own.post(f"/workflows/hello/runs/{run_id}/cancel")

    assert r.status_code == 403
    assert "EDIT_WORKFLOW_RUNS" in r.json()["message"]
    assert own.get(f"/workflows/hello/runs/{run_id}").json()["status"] != "CANCELLED"


def test_a_key_that_may_cancel_but_not_view_runs_gets_no_steps_context_or_variables(
    admin_api, ws, as_key
):
    from portal.models import Role

    save(ws, HELLO)
    run_id = start(admin_api).json()["id"]
    Role.objects.create(
        workspace=ws, name="Canceller", permissions=["EDIT_WORKFLOW_RUNS"]
    )
    cancel_only = as_key(api_key(ws, "Canceller")[1])
    assert cancel_only.get(f"/workflows/hello/runs/{run_id}").status_code == 403

    r = cancel_only.post(f"/workflows/hello/runs/{run_id}/cancel")

    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "CANCELLED"
    assert body.get("steps") is None
    assert body.get("context") is None and body.get("variables") is None
    # A key that may view runs gets them:
    again = admin_api.post(
        f"/workflows/hello/runs/{start(admin_api).json()['id']}/cancel"
    )
    assert again.json()["context"] is not None


SECRET_FORM = """
tag: token
name: Token
isRunnableViaApi: true
filter: {type: GLOBAL}
actions:
  - slug: form
    name: Form
    isRootAction: true
    outgoingActions: [echo]
    schema:
      type: USER_INPUT
      inputs:
        - {key: token, name: Token, type: SECRET_FIELD, required: true}
  - slug: echo
    name: Echo
    isRootAction: false
    outgoingActions: []
    schema: {type: JQ, expression: '"used " + .actions.form.outputs.token'}
"""


def test_secrets_are_masked_in_the_runs_json(ada_api, ws, ada):
    from workflows.models import Secret
    from workflows.secrets import encrypt

    Secret.objects.create(
        workspace=ws,
        tag="deploy-token",
        name="Deploy",
        encrypted_value=encrypt("ws-s3cr3t"),
    )
    save(ws, SECRET_FORM)
    run_id = start(ada_api, "token").json()["id"]
    run = finish(run_id)
    engine.submit_input(
        run, run.steps.get(slug="form"), values={"token": "hunter2-s3cr3t"}, by=ada
    )
    run = finish(run_id)
    r = ada_api.get(f"/workflows/token/runs/{run_id}")
    body = r.json()
    assert body["status"] == "COMPLETED", body
    form, echo = body["steps"]
    assert form["outputs"]["token"] == "********"
    assert echo["outputs"]["result"] == "used ********"
    assert body["context"]["secrets"] == {"deploy-token": "********"}
    assert b"hunter2-s3cr3t" not in r.content and b"ws-s3cr3t" not in r.content
    listed = ada_api.get("/workflows/runs", {"includeContext": "true"})
    assert b"hunter2-s3cr3t" not in listed.content


def test_a_step_says_what_it_waits_for_only_while_it_waits(ada_api, ws):
    from workflows.models import Step

    save(ws, ASK)
    run_id = start(ada_api, "ask").json()["id"]
    finish(run_id)
    [step] = ada_api.get(f"/workflows/ask/runs/{run_id}").json()["steps"]
    assert (step["status"], step["waitingFor"]) == ("WAITING", "USER_INPUT")
    ada_api.post(f"/workflows/ask/runs/{run_id}/cancel")
    # Also a step cancelled before the engine cleared it:
    Step.objects.filter(run__uid=run_id).update(waiting_for="USER_INPUT")
    [step] = ada_api.get(f"/workflows/ask/runs/{run_id}").json()["steps"]
    assert (step["status"], step["waitingFor"]) == ("CANCELLED", None)


def test_a_user_role_key_may_not_run_as_an_admin(ws, as_key, ada, grace):
    save(ws, HELLO)
    user_key = as_key(api_key(ws, "User")[1])

    r = start(user_key, body={"runAs": "ada@example.com"})

    assert r.status_code == 403
    message = r.json()["message"]
    assert message.startswith("runAs: ada@example.com has permissions this key's")
    assert "EDIT_ENTITIES" in message
    assert not Run.objects.exists()
    # Someone with no more rights than the key is fine:
    assert start(user_key, body={"runAs": "grace@example.com"}).status_code == 201


def test_a_bad_item_of_a_list_is_named_by_its_index_as_the_other_messages_do(
    ada_api, ws
):
    save(ws, HELLO)
    r = start(ada_api, body={"notificationRecipients": ["a@example.com", 7]})
    assert r.status_code == 400
    assert r.json()["message"].startswith("notificationRecipients[1]: ")
