"""ADVANCED_HTTP_REQUEST with `gitlab.*` actions, against a local server playing GitLab's API.

Input names are those of Cortex's own descriptors for these actions; outputs are
GitLab's parsed answer (a list as `{"items": [...]}`, no body as `{}`).
"""

import base64
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from tests.workflows.blockctx import make_ctx
from tests.workflows.httpserver import make_reply
from tests.workflows.test_engine import run_to_rest
from workflows import descriptor, engine, gitlab_actions
from workflows.blocks.advanced_http_request import AdvancedHttpRequest
from workflows.models import Integration, Run
from workflows.secrets import encrypt
from workflows.services import workflow_upsert

TOKEN = "glpat-default-token"
STATE = {"context": {}, "actions": {}, "variables": {"project": "acme/payments"}}
API = "/api/v4"
PROJECT = f"{API}/projects/acme%2Fpayments"

pytestmark = pytest.mark.usefixtures("loopback_allowed")


@pytest.fixture
def gitlab(http_server, ws):
    """The workspace's default GitLab integration, whose instance is the test server."""
    Integration.objects.create(
        workspace=ws,
        kind=Integration.Kind.GITLAB,
        base_url=http_server.url(""),
        encrypted_token=encrypt(TOKEN),
    )
    return http_server


def run(identifier: str, inputs: dict, ws, *, alias=None, state=None):
    schema = {
        "type": "ADVANCED_HTTP_REQUEST",
        "actionIdentifier": identifier,
        "inputs": inputs,
        "integrationAlias": alias,
    }
    return AdvancedHttpRequest().execute(make_ctx(schema, state or STATE, workspace=ws))


# --- each action: the request GitLab receives and the outputs -----------------------


def spread(outputs: dict) -> dict:
    """The outputs less `response` (the answer as it is, checked on its own)."""
    return {k: v for k, v in outputs.items() if k != "response"}


@dataclass
class Case:
    action: str
    inputs: dict
    method: str
    path: str
    body: Any = None  # the JSON GitLab receives; None: no body
    query: dict = field(default_factory=dict)
    status: int = 200
    answer: Any = None  # GitLab's JSON; None: an empty body
    outputs: Any = None  # None: the answer as it is


P = {"project": "acme/payments"}
PROJECT_ANSWER = {"id": 42, "path_with_namespace": "acme/payments"}
FILE = {"file_path": "docs/a.md", "branch": "main"}
PROTECTED = {"id": 1, "name": "main", "allow_force_push": False}
VARIABLE = {"key": "DEPLOY_ENV", "value": "staging", "protected": False}
SCHEDULE = {"id": 13, "description": "Nightly", "ref": "main", "cron": "0 1 * * *"}
RULE = {"id": 7, "name": "Security", "approvals_required": 1}
APPROVALS = {"approvals_before_merge": 1, "reset_approvals_on_push": True}
PUSH_RULE = {"id": 3, "prevent_secrets": True}

CASES = {
    # Projects
    "createProject posts the project's name": Case(
        "createProject",
        {"project_name": "billing", "visibility": "private"},
        "POST",
        f"{API}/projects",
        body={"name": "billing", "visibility": "private"},
        status=201,
        answer=PROJECT_ANSWER,
    ),
    "getProject gets the project by its URL-encoded full path": Case(
        "getProject",
        {"project": "{{variables.project}}"},
        "GET",
        PROJECT,
        answer=PROJECT_ANSWER,
    ),
    "getProject gets the project by its numeric id": Case(
        "getProject",
        {"project": 42},
        "GET",
        f"{API}/projects/42",
        answer=PROJECT_ANSWER,
    ),
    "updateProject puts the project's description": Case(
        "updateProject",
        {**P, "project_description": "Invoices", "default_branch": ""},
        "PUT",
        PROJECT,
        body={"description": "Invoices"},
        answer=PROJECT_ANSWER,
    ),
    "archiveProject posts to archive": Case(
        "archiveProject",
        P,
        "POST",
        f"{PROJECT}/archive",
        status=201,
        answer={**PROJECT_ANSWER, "archived": True},
    ),
    "unarchiveProject posts to unarchive": Case(
        "unarchiveProject",
        P,
        "POST",
        f"{PROJECT}/unarchive",
        status=201,
        answer={**PROJECT_ANSWER, "archived": False},
    ),
    "deleteProject deletes the project": Case(
        "deleteProject",
        P,
        "DELETE",
        PROJECT,
        status=202,
        answer={"message": "202 Accepted"},
    ),
    # Files
    "getFile gets the file at the ref": Case(
        "getFile",
        {**P, "path": "docs/a.md", "ref": "main"},
        "GET",
        f"{PROJECT}/repository/files/docs%2Fa.md",
        query={"ref": ["main"]},
        answer={"file_path": "docs/a.md", "encoding": "text", "content": "hi"},
    ),
    "createFile posts the content to the branch with the message": Case(
        "createFile",
        {
            **P,
            "path": "docs/a.md",
            "branch": "main",
            "message": "Add docs",
            "content": "# Hello\n",
        },
        "POST",
        f"{PROJECT}/repository/files/docs%2Fa.md",
        body={"branch": "main", "commit_message": "Add docs", "content": "# Hello\n"},
        status=201,
        answer=FILE,
    ),
    "updateFile puts the content to the branch with the message": Case(
        "updateFile",
        {
            **P,
            "path": "docs/a.md",
            "branch": "main",
            "message": "Update docs",
            "content": "SGk=",
            "encoding": "base64",
        },
        "PUT",
        f"{PROJECT}/repository/files/docs%2Fa.md",
        body={
            "branch": "main",
            "commit_message": "Update docs",
            "content": "SGk=",
            "encoding": "base64",
        },
        answer=FILE,
    ),
    "deleteFile deletes the file on the branch with the message": Case(
        "deleteFile",
        {**P, "path": "docs/a.md", "branch": "main", "message": "Remove docs"},
        "DELETE",
        f"{PROJECT}/repository/files/docs%2Fa.md",
        body={"branch": "main", "commit_message": "Remove docs"},
        status=204,
        outputs={},
    ),
    # Protected branches
    "createBranchProtection protects the branch by name": Case(
        "createBranchProtection",
        {**P, "branch_name": "main", "push_access_level": "0"},
        "POST",
        f"{PROJECT}/protected_branches",
        body={"name": "main", "push_access_level": 0},
        status=201,
        answer=PROTECTED,
    ),
    "getProtectedBranch gets the protected branch by branchName": Case(
        "getProtectedBranch",
        {**P, "branchName": "release/*"},
        "GET",
        f"{PROJECT}/protected_branches/release%2F%2A",
        answer={**PROTECTED, "name": "release/*"},
    ),
    "listProtectedBranches lists the protected branches as items": Case(
        "listProtectedBranches",
        P,
        "GET",
        f"{PROJECT}/protected_branches",
        query={"per_page": ["100"]},
        answer=[PROTECTED],
        outputs={"items": [PROTECTED]},
    ),
    "updateBranchProtection patches allow_force_push": Case(
        "updateBranchProtection",
        {**P, "branch_name": "main", "allow_force_push": "true"},
        "PATCH",
        f"{PROJECT}/protected_branches/main",
        body={"allow_force_push": True},
        answer={**PROTECTED, "allow_force_push": True},
    ),
    "deleteBranchProtection unprotects the branch": Case(
        "deleteBranchProtection",
        {**P, "branch_name": "main"},
        "DELETE",
        f"{PROJECT}/protected_branches/main",
        status=204,
        outputs={},
    ),
    # CI/CD variables
    "createProjectVariable posts the key and value": Case(
        "createProjectVariable",
        {**P, "key": "DEPLOY_ENV", "value": "staging", "masked": False},
        "POST",
        f"{PROJECT}/variables",
        body={"key": "DEPLOY_ENV", "value": "staging", "masked": False},
        status=201,
        answer=VARIABLE,
    ),
    "getProjectVariable gets the variable by key": Case(
        "getProjectVariable",
        {**P, "key": "DEPLOY_ENV"},
        "GET",
        f"{PROJECT}/variables/DEPLOY_ENV",
        answer=VARIABLE,
    ),
    "listProjectVariables lists the variables as items": Case(
        "listProjectVariables",
        P,
        "GET",
        f"{PROJECT}/variables",
        query={"per_page": ["100"]},
        answer=[VARIABLE],
        outputs={"items": [VARIABLE]},
    ),
    "updateProjectVariable puts the new value": Case(
        "updateProjectVariable",
        {**P, "key": "DEPLOY_ENV", "value": "production"},
        "PUT",
        f"{PROJECT}/variables/DEPLOY_ENV",
        body={"value": "production"},
        answer={**VARIABLE, "value": "production"},
    ),
    "deleteProjectVariable deletes the variable of the environment scope": Case(
        "deleteProjectVariable",
        {**P, "key": "DEPLOY_ENV", "environment_scope": "prod"},
        "DELETE",
        f"{PROJECT}/variables/DEPLOY_ENV",
        query={"filter[environment_scope]": ["prod"]},
        status=204,
        outputs={},
    ),
    # Pipeline schedules
    "createPipelineSchedule posts the description, ref and cron": Case(
        "createPipelineSchedule",
        {
            **P,
            "cron": "0 1 * * *",
            "pipeline_description": "Nightly",
            "ref": "main",
        },
        "POST",
        f"{PROJECT}/pipeline_schedules",
        body={"description": "Nightly", "ref": "main", "cron": "0 1 * * *"},
        status=201,
        answer=SCHEDULE,
    ),
    "getPipelineSchedule gets the schedule by id": Case(
        "getPipelineSchedule",
        {**P, "pipeline_schedule_id": "13"},
        "GET",
        f"{PROJECT}/pipeline_schedules/13",
        answer=SCHEDULE,
    ),
    "listPipelineSchedules lists the schedules as items": Case(
        "listPipelineSchedules",
        P,
        "GET",
        f"{PROJECT}/pipeline_schedules",
        query={"per_page": ["100"]},
        answer=[SCHEDULE],
        outputs={"items": [SCHEDULE]},
    ),
    "updatePipelineSchedule puts only the fields given": Case(
        "updatePipelineSchedule",
        {**P, "pipeline_schedule_id": 13, "cron": "0 2 * * *"},
        "PUT",
        f"{PROJECT}/pipeline_schedules/13",
        body={"cron": "0 2 * * *"},
        answer={**SCHEDULE, "cron": "0 2 * * *"},
    ),
    "deletePipelineSchedule deletes the schedule": Case(
        "deletePipelineSchedule",
        {**P, "pipeline_schedule_id": "13"},
        "DELETE",
        f"{PROJECT}/pipeline_schedules/13",
        status=204,
        outputs={},
    ),
    # Approval rules and settings
    "createApprovalRule posts the rule's name and approvals required": Case(
        "createApprovalRule",
        {**P, "rule_name": "Security", "approvals_required": "1", "user_ids": "4,5"},
        "POST",
        f"{PROJECT}/approval_rules",
        body={"name": "Security", "approvals_required": 1, "user_ids": [4, 5]},
        status=201,
        answer=RULE,
    ),
    "getApprovalRule gets the rule by approvalRuleId": Case(
        "getApprovalRule",
        {**P, "approvalRuleId": "7"},
        "GET",
        f"{PROJECT}/approval_rules/7",
        answer=RULE,
    ),
    "listApprovalRules lists the rules as items": Case(
        "listApprovalRules",
        P,
        "GET",
        f"{PROJECT}/approval_rules",
        query={"per_page": ["100"]},
        answer=[RULE],
        outputs={"items": [RULE]},
    ),
    "updateApprovalRule puts the rule's name and approvals required": Case(
        "updateApprovalRule",
        {**P, "approvalRuleId": "7", "rule_name": "Security", "approvals_required": 2},
        "PUT",
        f"{PROJECT}/approval_rules/7",
        body={"name": "Security", "approvals_required": 2},
        answer={**RULE, "approvals_required": 2},
    ),
    "deleteApprovalRule deletes the rule": Case(
        "deleteApprovalRule",
        {**P, "approvalRuleId": "7"},
        "DELETE",
        f"{PROJECT}/approval_rules/7",
        status=204,
        outputs={},
    ),
    "getApprovalConfiguration gets the project's approval settings": Case(
        "getApprovalConfiguration",
        P,
        "GET",
        f"{PROJECT}/approvals",
        answer=APPROVALS,
    ),
    "updateApprovalConfiguration posts the settings given": Case(
        "updateApprovalConfiguration",
        {**P, "approvals_before_merge": 1, "reset_approvals_on_push": "true"},
        "POST",
        f"{PROJECT}/approvals",
        body={"approvals_before_merge": 1, "reset_approvals_on_push": True},
        status=201,
        answer=APPROVALS,
    ),
    # Push rules
    "createPushRule posts the rules given": Case(
        "createPushRule",
        {**P, "prevent_secrets": "true"},
        "POST",
        f"{PROJECT}/push_rule",
        body={"prevent_secrets": True},
        status=201,
        answer=PUSH_RULE,
    ),
    "updatePushRule puts the rules given": Case(
        "updatePushRule",
        {**P, "max_file_size": "50", "branch_name_regex": "^(main|feat/.*)$"},
        "PUT",
        f"{PROJECT}/push_rule",
        body={"max_file_size": 50, "branch_name_regex": "^(main|feat/.*)$"},
        answer=PUSH_RULE,
    ),
    "getPushRule gets the project's push rule": Case(
        "getPushRule", P, "GET", f"{PROJECT}/push_rule", answer=PUSH_RULE
    ),
    "deletePushRule deletes the project's push rule": Case(
        "deletePushRule",
        P,
        "DELETE",
        f"{PROJECT}/push_rule",
        status=204,
        outputs={},
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_each_action_sends_gitlabs_request_with_the_token_and_outputs_its_answer(
    case, gitlab, ws
):
    reply = {"status": case.status}
    if case.answer is not None:
        reply["json"] = case.answer
    gitlab.route(case.method, case.path, **reply)

    outcome = run(f"gitlab.{case.action}", case.inputs, ws)

    assert outcome.status == "COMPLETED", outcome.error
    [request] = gitlab.requests
    assert (request.method, request.path) == (case.method, case.path)
    assert request.query == case.query
    if case.body is None:
        assert request.body == b""
    else:
        assert request.json() == case.body
        assert request.headers["content-type"] == "application/json"
    assert request.headers["private-token"] == TOKEN
    assert "authorization" not in request.headers
    expected = case.outputs if case.outputs is not None else case.answer
    assert spread(outcome.outputs) == expected
    assert (
        outcome.outputs["response"] == case.answer
    )  # where Cortex's descriptors read it
    assert TOKEN not in str(outcome.inputs) + str(outcome.outputs)


def test_every_action_of_cortexs_gitlab_descriptors_is_registered():
    wanted = [
        "archiveProject",
        "createApprovalRule",
        "createBranchProtection",
        "createFile",
        "createPipelineSchedule",
        "createProjectVariable",
        "createProject",
        "createPushRule",
        "deleteApprovalRule",
        "deleteBranchProtection",
        "deleteFile",
        "deletePipelineSchedule",
        "deleteProjectVariable",
        "deleteProject",
        "deletePushRule",
        "getApprovalConfiguration",
        "getApprovalRule",
        "getFile",
        "getPipelineSchedule",
        "getProjectVariable",
        "getProject",
        "getProtectedBranch",
        "getPushRule",
        "listApprovalRules",
        "listPipelineSchedules",
        "listProjectVariables",
        "listProtectedBranches",
        "unarchiveProject",
        "updateApprovalConfiguration",
        "updateApprovalRule",
        "updateBranchProtection",
        "updateFile",
        "updatePipelineSchedule",
        "updateProjectVariable",
        "updateProject",
        "updatePushRule",  # in Cortex's CLI tests, "not yet published" by Cortex
    ]
    assert set(gitlab_actions.ACTIONS) == {f"gitlab.{name}" for name in wanted}
    tested = {case.action for case in CASES.values()}
    assert tested == set(wanted)


# --- actions with more to them -------------------------------------------------------


def test_get_file_outputs_gitlabs_answer_and_the_decoded_text(gitlab, ws):
    answer = {
        "file_path": "catalog/cortex.yaml",
        "ref": "develop",
        "encoding": "base64",
        "content": base64.b64encode(b"info:\n  x-cortex-tag: payments\n").decode(),
    }
    gitlab.route(
        "GET", f"{PROJECT}/repository/files/catalog%2Fcortex.yaml", json=answer
    )

    outcome = run(
        "gitlab.getFile",
        {"project": "acme/payments", "path": "catalog/cortex.yaml", "ref": "develop"},
        ws,
    )

    assert outcome.status == "COMPLETED", outcome.error
    assert gitlab.requests[0].query == {"ref": ["develop"]}
    assert spread(outcome.outputs) == {
        **answer,
        "decodedContent": "info:\n  x-cortex-tag: payments\n",
    }


def test_a_project_in_a_subgroup_is_one_encoded_path_segment(gitlab, ws):
    gitlab.route("GET", f"{API}/projects/acme%2Fplatform%2Fpayments", json={})

    outcome = run("gitlab.getProject", {"project": "acme/platform/payments"}, ws)

    assert outcome.status == "COMPLETED", outcome.error
    assert gitlab.requests[0].target == f"{API}/projects/acme%2Fplatform%2Fpayments"


def test_path_inputs_are_escaped_so_an_input_cannot_reach_another_endpoint(gitlab, ws):
    gitlab.route("GET", f"{PROJECT}/variables/A%3FB%23C", json=VARIABLE)

    outcome = run("gitlab.getProjectVariable", {**P, "key": "A?B#C"}, ws)

    assert outcome.status == "COMPLETED", outcome.error
    assert gitlab.requests[0].target == f"{PROJECT}/variables/A%3FB%23C"


@pytest.mark.parametrize(
    ("identifier", "inputs", "error"),
    [
        (
            "gitlab.getProject",
            {"project": "acme/../admin"},
            "gitlab.getProject: inputs.project must be a project's id or full path, "
            "group/project, not 'acme/../admin'",
        ),
        (
            "gitlab.getFile",
            {**P, "path": "../../../users", "ref": "main"},
            "gitlab.getFile: inputs.path has an empty, '.' or '..' path segment",
        ),
    ],
    ids=["in the project", "in a file path"],
)
def test_a_dot_dot_segment_fails_without_calling_gitlab(
    identifier, inputs, error, gitlab, ws
):
    outcome = run(identifier, inputs, ws)

    assert outcome.status == "FAILED"
    assert outcome.error == error
    assert gitlab.requests == []


def test_a_list_follows_gitlabs_x_next_page_header(gitlab, ws):
    def pages(request):
        page = request.query.get("page", ["1"])[0]
        following = {"1": "2", "2": "3", "3": ""}[page]
        return make_reply(
            json=[{"key": f"V{page}"}], headers={"X-Next-Page": following}
        )

    gitlab.route("GET", f"{PROJECT}/variables", handler=pages)

    outcome = run("gitlab.listProjectVariables", P, ws)

    assert outcome.status == "COMPLETED", outcome.error
    assert spread(outcome.outputs) == {
        "items": [{"key": "V1"}, {"key": "V2"}, {"key": "V3"}]
    }
    assert [r.query for r in gitlab.requests] == [
        {"per_page": ["100"]},
        {"per_page": ["100"], "page": ["2"]},
        {"per_page": ["100"], "page": ["3"]},
    ]
    assert all(r.headers["private-token"] == TOKEN for r in gitlab.requests)


def test_a_list_follows_a_link_next_page_on_the_integrations_address(gitlab, ws):
    def pages(request):
        if request.query.get("page") == ["2"]:
            return make_reply(json=[{"id": 2}])
        link = gitlab.url(f"{PROJECT}/approval_rules?per_page=100&page=2")
        return make_reply(json=[{"id": 1}], headers={"Link": f'<{link}>; rel="next"'})

    gitlab.route("GET", f"{PROJECT}/approval_rules", handler=pages)

    outcome = run("gitlab.listApprovalRules", P, ws)

    assert outcome.status == "COMPLETED", outcome.error
    assert spread(outcome.outputs) == {"items": [{"id": 1}, {"id": 2}]}


def test_a_next_page_elsewhere_is_not_followed_so_the_token_stays_home(gitlab, ws):
    gitlab.route(
        "GET",
        f"{PROJECT}/protected_branches",
        json=[PROTECTED],
        headers={"Link": '<https://evil.example/steal?page=2>; rel="next"'},
    )

    outcome = run("gitlab.listProtectedBranches", P, ws)

    assert outcome.status == "COMPLETED", outcome.error
    assert spread(outcome.outputs) == {"items": [PROTECTED]}
    assert len(gitlab.requests) == 1


def test_a_list_stops_at_the_page_cap(gitlab, ws):
    def endless(request):
        page = int(request.query.get("page", ["1"])[0])
        return make_reply(json=[{"id": page}], headers={"X-Next-Page": str(page + 1)})

    gitlab.route("GET", f"{PROJECT}/pipeline_schedules", handler=endless)

    outcome = run("gitlab.listPipelineSchedules", P, ws)

    assert outcome.status == "COMPLETED", outcome.error
    assert len(gitlab.requests) == gitlab_actions.MAX_PAGES
    assert len(outcome.outputs["items"]) == gitlab_actions.MAX_PAGES


def test_a_list_answered_with_an_object_fails_saying_so(gitlab, ws):
    gitlab.route("GET", f"{PROJECT}/variables", json={"key": "not a list"})

    outcome = run("gitlab.listProjectVariables", P, ws)

    assert outcome.status == "FAILED"
    assert outcome.error.startswith("gitlab.listProjectVariables: GitLab answered ")
    assert outcome.error.endswith("with an object where a list was expected")


def test_a_base_url_that_is_already_the_api_is_not_extended(http_server, ws):
    Integration.objects.create(
        workspace=ws,
        kind=Integration.Kind.GITLAB,
        base_url=http_server.url("/gitlab/api/v4/"),
        encrypted_token=encrypt(TOKEN),
    )
    http_server.route("GET", "/gitlab/api/v4/projects/42", json=PROJECT_ANSWER)

    outcome = run("gitlab.getProject", {"project": "42"}, ws)

    assert outcome.status == "COMPLETED", outcome.error
    assert http_server.requests[0].path == "/gitlab/api/v4/projects/42"


# --- bad inputs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identifier", "inputs", "error"),
    [
        (
            "gitlab.getProject",
            {},
            "gitlab.getProject: inputs.project is required "
            "(the project's id or full path, group/project)",
        ),
        (
            "gitlab.createProject",
            {"project_name": "{{variables.nothing}}"},
            "gitlab.createProject: inputs.project_name is required "
            "(the new project's name)",
        ),
        (
            "gitlab.createFile",
            {**P, "path": "a.md", "branch": "main", "message": "Add"},
            "gitlab.createFile: inputs.content is required (the file's content)",
        ),
        (
            "gitlab.updateFile",
            {**P, "path": "a.md", "branch": "main", "content": "x"},
            "gitlab.updateFile: inputs.message is required (the commit message)",
        ),
        (
            "gitlab.createFile",
            {
                **P,
                "path": "a.md",
                "branch": "main",
                "message": "Add",
                "content": "x",
                "encoding": "utf-8",
            },
            "gitlab.createFile: inputs.encoding must be text or base64, not 'utf-8'",
        ),
        (
            "gitlab.getFile",
            {**P, "path": "a.md"},
            "gitlab.getFile: inputs.ref is required (the branch, tag or commit)",
        ),
        (
            "gitlab.deleteFile",
            {**P, "path": "a.md", "message": "Remove"},
            "gitlab.deleteFile: inputs.branch is required (the branch to commit to)",
        ),
        (
            "gitlab.createBranchProtection",
            P,
            "gitlab.createBranchProtection: inputs.branch_name is required "
            "(the branch's name or wildcard to protect)",
        ),
        (
            "gitlab.getProtectedBranch",
            P,
            "gitlab.getProtectedBranch: inputs.branch_name is required "
            "(the protected branch's name or wildcard)",
        ),
        (
            "gitlab.updateBranchProtection",
            {**P, "branch_name": "main", "allow_force_push": "sometimes"},
            "gitlab.updateBranchProtection: inputs.allow_force_push must be true or "
            "false, not 'sometimes'",
        ),
        (
            "gitlab.createProjectVariable",
            {**P, "key": "DEPLOY_ENV"},
            "gitlab.createProjectVariable: inputs.value is required "
            "(the variable's value)",
        ),
        (
            "gitlab.deleteProjectVariable",
            P,
            "gitlab.deleteProjectVariable: inputs.key is required (the variable's key)",
        ),
        (
            "gitlab.createPipelineSchedule",
            {**P, "pipeline_description": "Nightly", "ref": "main"},
            "gitlab.createPipelineSchedule: inputs.cron is required "
            "(when to run, e.g. 0 1 * * *)",
        ),
        (
            "gitlab.getPipelineSchedule",
            {**P, "pipeline_schedule_id": "thirteen"},
            "gitlab.getPipelineSchedule: inputs.pipeline_schedule_id must be a "
            "positive whole number, not 'thirteen'",
        ),
        (
            "gitlab.createApprovalRule",
            {**P, "rule_name": "Security", "approvals_required": "-1"},
            "gitlab.createApprovalRule: inputs.approvals_required must be a whole "
            "number, not '-1'",
        ),
        (
            "gitlab.createApprovalRule",
            {**P, "rule_name": "S", "approvals_required": 1, "user_ids": "ada"},
            "gitlab.createApprovalRule: inputs.user_ids must be a list of ids",
        ),
        (
            "gitlab.deleteApprovalRule",
            P,
            "gitlab.deleteApprovalRule: inputs.approvalRuleId is required "
            "(the approval rule's id)",
        ),
        (
            "gitlab.updateApprovalConfiguration",
            {**P, "approvals_before_merge": "one"},
            "gitlab.updateApprovalConfiguration: inputs.approvals_before_merge must "
            "be a whole number, not 'one'",
        ),
        (
            "gitlab.createPushRule",
            {**P, "commit_message_regex": {"pattern": "x"}},
            "gitlab.createPushRule: inputs.commit_message_regex must be a string, "
            "not an object",
        ),
        (
            "gitlab.archiveProject",
            {"project": ["acme/payments"]},
            "gitlab.archiveProject: inputs.project must be a string, not a list",
        ),
    ],
    ids=[
        "no project",
        "a name that renders empty",
        "a file without content",
        "a file change without a message",
        "an unknown content encoding",
        "a file read without a ref",
        "a file deletion without a branch",
        "a protection without a branch",
        "a protected branch read without branchName",
        "a flag that is not true or false",
        "a variable without a value",
        "a variable deletion without a key",
        "a schedule without cron",
        "a schedule id that is not a number",
        "a negative approval count",
        "user ids that are not ids",
        "a rule deletion without its id",
        "an approval setting that is not a number",
        "an object where a string belongs",
        "a list for the project",
    ],
)
def test_bad_inputs_fail_the_step_naming_the_action_and_input_without_calling_gitlab(
    identifier, inputs, error, gitlab, ws
):
    outcome = run(identifier, inputs, ws)

    assert outcome.status == "FAILED"
    assert outcome.error == error
    assert outcome.inputs == make_ctx({}, STATE).render(inputs)
    assert gitlab.requests == []


# --- integrations ---------------------------------------------------------------------


def test_without_a_gitlab_integration_the_action_fails_saying_so(http_server, ws):
    Integration.objects.create(
        workspace=ws,
        kind=Integration.Kind.GITHUB,
        base_url=http_server.url(""),
        encrypted_token=encrypt("ghp-a-github-token"),
    )

    outcome = run("gitlab.getProject", P, ws)

    assert outcome.status == "FAILED"
    assert outcome.error == (
        "gitlab.getProject: No GitLab integration is configured in this workspace"
    )
    assert http_server.requests == []


def test_another_workspaces_gitlab_integration_is_not_used(http_server, ws, other_ws):
    Integration.objects.create(
        workspace=other_ws,
        kind=Integration.Kind.GITLAB,
        base_url=http_server.url(""),
        encrypted_token=encrypt("glpat-other-workspace"),
    )

    outcome = run("gitlab.getProject", P, ws)

    assert outcome.status == "FAILED"
    assert "No GitLab integration is configured in this workspace" in outcome.error
    assert http_server.requests == []


def test_the_integration_alias_is_rendered_and_picks_the_integration(gitlab, ws):
    Integration.objects.create(
        workspace=ws,
        kind=Integration.Kind.GITLAB,
        alias="self-managed",
        base_url=gitlab.url("/gitlab"),
        encrypted_token=encrypt("glpat-self-managed"),
    )
    gitlab.route("GET", f"/gitlab{PROJECT}", json=PROJECT_ANSWER)
    state = {**STATE, "variables": {"gl": "self-managed"}}

    outcome = run("gitlab.getProject", P, ws, alias="{{variables.gl}}", state=state)

    assert outcome.status == "COMPLETED", outcome.error
    [request] = gitlab.requests
    assert request.path == f"/gitlab{PROJECT}"
    assert request.headers["private-token"] == "glpat-self-managed"


def test_an_unknown_alias_fails_naming_it(gitlab, ws):
    outcome = run("gitlab.getProject", P, ws, alias="nope")

    assert outcome.status == "FAILED"
    assert outcome.error == (
        "gitlab.getProject: No GitLab integration with alias 'nope' is configured "
        "in this workspace"
    )
    assert gitlab.requests == []


def test_an_unknown_gitlab_action_fails_by_name(gitlab, ws):
    outcome = run("gitlab.createMergeRequest", P, ws)

    assert outcome.status == "FAILED"
    assert (
        outcome.error == "Cairn cannot execute action 'gitlab.createMergeRequest' yet"
    )
    assert gitlab.requests == []


# --- GitLab's errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "answer", "message"),
    [
        (404, {"message": "404 Project Not Found"}, "404 Project Not Found"),
        (
            400,
            {"message": {"name": ["has already been taken"], "path": ["is too long"]}},
            "name has already been taken; path is too long",
        ),
        (400, {"error": "branch is missing"}, "branch is missing"),
        (
            401,
            {"error": "invalid_token", "error_description": "Token was revoked."},
            "invalid_token (Token was revoked.)",
        ),
    ],
    ids=["a text message", "messages per field", "an error", "an OAuth error"],
)
def test_a_gitlab_error_fails_the_step_with_its_message(
    status, answer, message, gitlab, ws
):
    gitlab.route("POST", f"{API}/projects", status=status, json=answer)

    outcome = run("gitlab.createProject", {"project_name": "payments"}, ws)

    assert outcome.status == "FAILED"
    assert outcome.error == f"gitlab.createProject: GitLab answered {status}: {message}"
    assert spread(outcome.outputs) == {"status": status, "body": answer}
    assert TOKEN not in outcome.error


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_each_action_fails_with_gitlabs_message_on_a_non_2xx_answer(case, gitlab, ws):
    gitlab.route(case.method, case.path, status=403, json={"message": "403 Forbidden"})

    outcome = run(f"gitlab.{case.action}", case.inputs, ws)

    assert outcome.status == "FAILED"
    assert outcome.error == f"gitlab.{case.action}: GitLab answered 403: 403 Forbidden"
    assert len(gitlab.requests) == 1


def test_an_error_without_json_shows_the_start_of_the_body(gitlab, ws):
    gitlab.route("POST", f"{PROJECT}/archive", status=502, body="Bad gateway")

    outcome = run("gitlab.archiveProject", P, ws)

    assert outcome.error == "gitlab.archiveProject: GitLab answered 502: Bad gateway"


def test_a_refused_address_fails_with_outbounds_message(gitlab, ws, settings):
    settings.HTTP_BLOCK_ALLOWED_HOSTS = []

    outcome = run("gitlab.getProject", P, ws)

    assert outcome.status == "FAILED"
    assert outcome.error.startswith("gitlab.getProject: ")
    assert "127.0.0.1" in outcome.error
    assert gitlab.requests == []


# --- through the engine ---------------------------------------------------------------

PROTECT_AND_SCHEDULE = """\
name: Protect main and schedule nightly pipelines
tag: protect-and-schedule
description: Protect a project's main branch, then schedule a nightly pipeline
isDraft: false
filter:
  type: GLOBAL
actions:
- name: Create Branch Protection
  slug: create-branch-protection
  schema:
    type: ADVANCED_HTTP_REQUEST
    actionIdentifier: gitlab.createBranchProtection
    integrationAlias: null
    inputs:
      project: "{{context.initialContext.project}}"
      branch_name: main
  outgoingActions:
  - create-pipeline-schedule
  isRootAction: true
- name: Create Pipeline Schedule
  slug: create-pipeline-schedule
  schema:
    type: ADVANCED_HTTP_REQUEST
    actionIdentifier: gitlab.createPipelineSchedule
    integrationAlias: null
    inputs:
      project: "{{context.initialContext.project}}"
      cron: "0 1 * * *"
      pipeline_description: "Nightly on {{actions.create-branch-protection.outputs.name}}"
      ref: "{{actions.create-branch-protection.outputs.name}}"
  outgoingActions: []
  isRootAction: false
runResponseTemplate: "Schedule {{actions.create-pipeline-schedule.outputs.id}} \
runs {{actions.create-pipeline-schedule.outputs.description}}"
"""


def test_a_cortex_style_descriptor_protects_a_branch_then_schedules_a_pipeline(
    gitlab, ws, grace
):
    gitlab.route("POST", f"{PROJECT}/protected_branches", status=201, json=PROTECTED)
    gitlab.route(
        "POST",
        f"{PROJECT}/pipeline_schedules",
        status=201,
        json={**SCHEDULE, "description": "Nightly on main"},
    )
    wf, _ = workflow_upsert(
        workspace=ws,
        descriptor=descriptor.validate(descriptor.parse(PROTECT_AND_SCHEDULE)),
    )

    run_ = run_to_rest(
        engine.start(
            workflow=wf, initiator=grace, initial_context={"project": "acme/payments"}
        )
    )

    assert run_.status == Run.Status.COMPLETED, list(
        run_.steps.values_list("slug", "error")
    )
    protect_call, schedule_call = gitlab.requests
    assert protect_call.json() == {"name": "main"}
    assert schedule_call.json() == {
        "description": "Nightly on main",
        "ref": "main",
        "cron": "0 1 * * *",
    }
    assert run_.response.strip() == "Schedule 13 runs Nightly on main"
    assert TOKEN not in str(run_.state)


def test_an_error_quoting_a_secret_masks_it_before_the_answer_is_cut_or_squeezed(
    gitlab, ws
):
    secret = "my  spaced\tsecret 4242 " + "x" * 300
    gitlab.route(
        "POST",
        f"{PROJECT}/variables",
        handler=lambda request: make_reply(
            status=400, body=f"bad value {request.json()['value']}"
        ),
    )
    schema = {
        "type": "ADVANCED_HTTP_REQUEST",
        "actionIdentifier": "gitlab.createProjectVariable",
        "inputs": {**P, "key": "TOKEN", "value": secret},
    }
    ctx = replace(make_ctx(schema, STATE, workspace=ws), secret_values=(secret,))
    outcome = AdvancedHttpRequest().execute(ctx)

    assert outcome.status == "FAILED"
    assert outcome.error.endswith("bad value ********"), outcome.error
