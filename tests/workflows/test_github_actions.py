"""ADVANCED_HTTP_REQUEST with `github.*` actions, against a local server playing GitHub's API.

Input names are those of Cortex's own descriptors for these actions; outputs are
GitHub's parsed answer under `response` and spread out (a list as `{"items": [...]}`, no body as `{}`).
"""

import base64
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.workflows.blockctx import make_ctx
from tests.workflows.conftest import GITHUB_TOKEN as TOKEN
from tests.workflows.test_engine import run_to_rest
from workflows import descriptor, engine, github_actions
from workflows.blocks.advanced_http_request import AdvancedHttpRequest
from workflows.models import Integration, Run
from workflows.secrets import encrypt
from workflows.services import workflow_upsert

STATE = {"context": {}, "actions": {}, "variables": {"repo": "acme/payments"}}


pytestmark = pytest.mark.usefixtures("loopback_allowed")


def run(identifier: str, inputs: dict, ws, *, alias=None, state=None):
    schema = {
        "type": "ADVANCED_HTTP_REQUEST",
        "actionIdentifier": identifier,
        "inputs": inputs,
        "integrationAlias": alias,
    }
    return AdvancedHttpRequest().execute(make_ctx(schema, state or STATE, workspace=ws))


# --- each action: the request GitHub receives and the outputs -----------------------


def spread(outputs: dict) -> dict:
    """The outputs less `response` (the answer as it is, checked on its own)."""
    return {k: v for k, v in outputs.items() if k != "response"}


@dataclass
class Case:
    action: str
    inputs: dict
    method: str
    path: str
    body: Any = None  # the JSON GitHub receives; None: no body
    query: dict = field(default_factory=dict)
    status: int = 200
    answer: Any = None  # GitHub's JSON; None: an empty body
    outputs: Any = None  # None: the answer as it is


BRANCH = {"name": "feature/x", "commit": {"sha": "abc123"}}
REF = {"ref": "refs/heads/feature/x", "object": {"sha": "abc123"}}
PULL = {"number": 7, "html_url": "https://github.com/acme/payments/pull/7"}
RELEASE = {"id": 1, "tag_name": "v1.2.0"}
TEAM = {"id": 5, "slug": "platform"}
MEMBERSHIP = {"state": "active", "role": "member"}
COMMIT = {"sha": "abc123", "commit": {"message": "Fix"}}
REPOSITORY = {"id": 9, "full_name": "acme/billing"}
ORG_MEMBERSHIP = {"state": "pending", "role": "member", "user": {"login": "octocat"}}
RULES = {  # the rules of Cortex's functional test, as GitHub wants them
    "required_status_checks": None,
    "enforce_admins": True,
    "required_pull_request_reviews": None,
    "restrictions": None,
}
PROTECTION = {
    "url": "https://api.github.com/repos/acme/payments/branches/main/protection",
    "enforce_admins": {"enabled": True},
}
PROPERTY_VALUES = [{"property_name": "tier", "value": "gold"}]

CASES = {
    "createBranch posts a ref for the new branch at the sha": Case(
        "createBranch",
        {"repo": "{{variables.repo}}", "new_branch": "feature/x", "sha": "abc123"},
        "POST",
        "/repos/acme/payments/git/refs",
        body={"ref": "refs/heads/feature/x", "sha": "abc123"},
        status=201,
        answer=REF,
    ),
    "createReference posts the full ref at the sha": Case(
        "createReference",
        {"repo": "acme/payments", "ref": "refs/tags/v1", "sha": "abc123"},
        "POST",
        "/repos/acme/payments/git/refs",
        body={"ref": "refs/tags/v1", "sha": "abc123"},
        status=201,
        answer={"ref": "refs/tags/v1"},
    ),
    "deleteBranch deletes the branch's ref and outputs nothing": Case(
        "deleteBranch",
        {"repo": "acme/payments", "branch": "feature/x"},
        "DELETE",
        "/repos/acme/payments/git/refs/heads/feature/x",
        status=204,
        outputs={},
    ),
    "getBranch gets the branch": Case(
        "getBranch",
        {"repo": "acme/payments", "branch": "feature/x"},
        "GET",
        "/repos/acme/payments/branches/feature/x",
        answer=BRANCH,
    ),
    "listBranches lists the branches as items": Case(
        "listBranches",
        {"repo": "acme/payments"},
        "GET",
        "/repos/acme/payments/branches",
        query={"per_page": ["100"]},
        answer=[BRANCH],
        outputs={"items": [BRANCH]},
    ),
    "renameBranch posts the new name": Case(
        "renameBranch",
        {"repo": "acme/payments", "current_branch": "old", "new_branch": "new"},
        "POST",
        "/repos/acme/payments/branches/old/rename",
        body={"new_name": "new"},
        status=201,
        answer={"name": "new"},
    ),
    "mergeBranch posts base and head to merges": Case(
        "mergeBranch",
        {"repo": "acme/payments", "base_branch": "main", "head_branch": "feature/x"},
        "POST",
        "/repos/acme/payments/merges",
        body={"base": "main", "head": "feature/x"},
        status=201,
        answer=COMMIT,
    ),
    "updateBranchProtectionRules puts the rules given as JSON text": Case(
        "updateBranchProtectionRules",
        {
            "repo": "acme/payments",
            "branch": "main",
            "rules": '{"required_status_checks":null,"enforce_admins":true,'
            '"required_pull_request_reviews":null,"restrictions":null}',
        },
        "PUT",
        "/repos/acme/payments/branches/main/protection",
        body=RULES,
        answer=PROTECTION,
    ),
    "updateBranchProtectionRules puts rules given as an object as they are": Case(
        "updateBranchProtectionRules",
        {
            "repo": "acme/payments",
            "branch": "release/1.x",
            "rules": {**RULES, "allow_force_pushes": False},
        },
        "PUT",
        "/repos/acme/payments/branches/release/1.x/protection",
        body={**RULES, "allow_force_pushes": False},
        answer=PROTECTION,
    ),
    "getBranchProtectionRules gets the branch's protection": Case(
        "getBranchProtectionRules",
        {"repo": "acme/payments", "branch": "main"},
        "GET",
        "/repos/acme/payments/branches/main/protection",
        answer=PROTECTION,
    ),
    "deleteBranchProtectionRules deletes the branch's protection": Case(
        "deleteBranchProtectionRules",
        {"repo": "acme/payments", "branch": "main"},
        "DELETE",
        "/repos/acme/payments/branches/main/protection",
        status=204,
        outputs={},
    ),
    "createPullRequest posts title, head, base and the optional fields given": Case(
        "createPullRequest",
        {
            "repo": "acme/payments",
            "title": "Bump",
            "head": "feature/x",
            "base": "main",
            "body": "Please review",
            "draft": "true",
        },
        "POST",
        "/repos/acme/payments/pulls",
        body={
            "title": "Bump",
            "head": "feature/x",
            "base": "main",
            "body": "Please review",
            "draft": True,
        },
        status=201,
        answer=PULL,
    ),
    "createPullRequestComment comments on the pull request's issue": Case(
        "createPullRequestComment",
        {"repo": "acme/payments", "pull_number": "7", "body": "LGTM"},
        "POST",
        "/repos/acme/payments/issues/7/comments",
        body={"body": "LGTM"},
        status=201,
        answer={"id": 3, "body": "LGTM"},
    ),
    "addLabelToPullRequest adds the label and outputs the labels as items": Case(
        "addLabelToPullRequest",
        {"repo": "acme/payments", "pull_number": 7, "label": "deploy"},
        "POST",
        "/repos/acme/payments/issues/7/labels",
        body={"labels": ["deploy"]},
        answer=[{"name": "deploy"}],
        outputs={"items": [{"name": "deploy"}]},
    ),
    "createRelease posts the tag and the optional fields given": Case(
        "createRelease",
        {
            "repo": "acme/payments",
            "tag_name": "v1.2.0",
            "name": "",
            "prerelease": False,
        },
        "POST",
        "/repos/acme/payments/releases",
        body={"tag_name": "v1.2.0", "prerelease": False},
        status=201,
        answer=RELEASE,
    ),
    "getReleaseByTag gets the release of the tag": Case(
        "getReleaseByTag",
        {"repo": "acme/payments", "tag": "v1.2.0"},
        "GET",
        "/repos/acme/payments/releases/tags/v1.2.0",
        answer=RELEASE,
    ),
    "listReleases lists the releases as items": Case(
        "listReleases",
        {"repo": "acme/payments"},
        "GET",
        "/repos/acme/payments/releases",
        query={"per_page": ["100"]},
        answer=[RELEASE],
        outputs={"items": [RELEASE]},
    ),
    "createWorkflowDispatchEvent dispatches the workflow on the ref with its inputs": Case(
        "createWorkflowDispatchEvent",
        {
            "repo": "acme/payments",
            "ref": "main",
            "workflow_id": "deploy.yml",
            "inputs": '{"environment": "prod"}',
        },
        "POST",
        "/repos/acme/payments/actions/workflows/deploy.yml/dispatches",
        body={"ref": "main", "inputs": {"environment": "prod"}},
        status=204,
        outputs={},
    ),
    "deleteFile deletes the file with its message and sha": Case(
        "deleteFile",
        {
            "repo": "acme/payments",
            "path": "docs/old.md",
            "message": "Remove",
            "sha": "f00",
        },
        "DELETE",
        "/repos/acme/payments/contents/docs/old.md",
        body={"message": "Remove", "sha": "f00"},
        answer={"content": None, "commit": {"sha": "c1"}},
    ),
    "findFile searches code with the query": Case(
        "findFile",
        {"query": "cairn repo:acme/payments"},
        "GET",
        "/search/code",
        query={"q": ["cairn repo:acme/payments"], "per_page": ["100"]},
        answer={"total_count": 1, "items": [{"path": "cairn.yaml"}]},
    ),
    "createRepository creates the repository in the organization": Case(
        "createRepository",
        {"org": "acme", "repo_name": "billing", "private": "true"},
        "POST",
        "/orgs/acme/repos",
        body={"name": "billing", "private": True},
        status=201,
        answer=REPOSITORY,
    ),
    "updateRepository patches only the fields given": Case(
        "updateRepository",
        {"repo": "acme/billing", "description": "Invoices", "homepage": ""},
        "PATCH",
        "/repos/acme/billing",
        body={"description": "Invoices"},
        answer=REPOSITORY,
    ),
    "updateRepository with only the repository patches nothing": Case(
        "updateRepository",
        {"repo": "acme/billing"},
        "PATCH",
        "/repos/acme/billing",
        body={},
        answer=REPOSITORY,
    ),
    "createOrUpdateCustomPropertyValues patches the values given as GitHub's body": Case(
        "createOrUpdateCustomPropertyValues",
        {
            "repo": "acme/payments",
            "properties": '{"properties":[{"property_name":"tier","value":"gold"}]}',
        },
        "PATCH",
        "/repos/acme/payments/properties/values",
        body={"properties": PROPERTY_VALUES},
        status=204,
        outputs={},
    ),
    "createOrUpdateCustomPropertyValues patches the values given as a list": Case(
        "createOrUpdateCustomPropertyValues",
        {
            "repo": "acme/payments",
            "properties": [
                {"property_name": "tier", "value": "gold"},
                {"property_name": "teams", "value": ["a", "b"]},
                {"property_name": "legacy", "value": None},
            ],
        },
        "PATCH",
        "/repos/acme/payments/properties/values",
        body={
            "properties": [
                {"property_name": "tier", "value": "gold"},
                {"property_name": "teams", "value": ["a", "b"]},
                {"property_name": "legacy", "value": None},
            ]
        },
        status=204,
        outputs={},
    ),
    "listRepositories lists the organization's repositories as items": Case(
        "listRepositories",
        {"org": "acme"},
        "GET",
        "/orgs/acme/repos",
        query={"per_page": ["100"]},
        answer=[REPOSITORY],
        outputs={"items": [REPOSITORY]},
    ),
    "addUserToTeam puts the user's team membership": Case(
        "addUserToTeam",
        {"org": "acme", "team": "platform", "username": "octocat"},
        "PUT",
        "/orgs/acme/teams/platform/memberships/octocat",
        body={},
        answer=MEMBERSHIP,
    ),
    "getTeamMembership gets the user's team membership": Case(
        "getTeamMembership",
        {"org": "acme", "team": "platform", "username": "octocat"},
        "GET",
        "/orgs/acme/teams/platform/memberships/octocat",
        answer=MEMBERSHIP,
    ),
    "removeUserFromTeam deletes the user's team membership": Case(
        "removeUserFromTeam",
        {"org": "acme", "team": "platform", "username": "octocat"},
        "DELETE",
        "/orgs/acme/teams/platform/memberships/octocat",
        status=204,
        outputs={},
    ),
    "createTeam creates the team with the optional fields given": Case(
        "createTeam",
        {"org": "acme", "team_name": "Platform", "privacy": "closed"},
        "POST",
        "/orgs/acme/teams",
        body={"name": "Platform", "privacy": "closed"},
        status=201,
        answer=TEAM,
    ),
    "getTeam gets the team by slug": Case(
        "getTeam",
        {"org": "acme", "team": "platform"},
        "GET",
        "/orgs/acme/teams/platform",
        answer=TEAM,
    ),
    "deleteTeam deletes the team": Case(
        "deleteTeam",
        {"org": "acme", "team": "platform"},
        "DELETE",
        "/orgs/acme/teams/platform",
        status=204,
        outputs={},
    ),
    "listTeams lists the organization's teams as items": Case(
        "listTeams",
        {"org": "acme"},
        "GET",
        "/orgs/acme/teams",
        query={"per_page": ["100"]},
        answer=[TEAM],
        outputs={"items": [TEAM]},
    ),
    "listTeamMembers lists the team's members as items": Case(
        "listTeamMembers",
        {"org": "acme", "team": "platform"},
        "GET",
        "/orgs/acme/teams/platform/members",
        query={"per_page": ["100"]},
        answer=[{"login": "octocat"}],
        outputs={"items": [{"login": "octocat"}]},
    ),
    "listOrgMembers lists the organization's members as items": Case(
        "listOrgMembers",
        {"org": "acme"},
        "GET",
        "/orgs/acme/members",
        query={"per_page": ["100"]},
        answer=[{"login": "octocat"}],
        outputs={"items": [{"login": "octocat"}]},
    ),
    "addUserToOrg puts the user's organization membership": Case(
        "addUserToOrg",
        {"org": "acme", "username": "octocat"},
        "PUT",
        "/orgs/acme/memberships/octocat",
        body={},
        answer=ORG_MEMBERSHIP,
    ),
    "addUserToOrg sends the role when one is given": Case(
        "addUserToOrg",
        {"org": "acme", "username": "octocat", "role": "admin"},
        "PUT",
        "/orgs/acme/memberships/octocat",
        body={"role": "admin"},
        answer={**ORG_MEMBERSHIP, "role": "admin"},
    ),
    "removeUserFromOrg deletes the user's organization membership": Case(
        "removeUserFromOrg",
        {"org": "acme", "username": "octocat"},
        "DELETE",
        "/orgs/acme/memberships/octocat",
        status=204,
        outputs={},
    ),
    "createDeployment creates a deployment of the ref": Case(
        "createDeployment",
        {
            "repo": "acme/payments",
            "ref": "main",
            "environment": "staging",
            "required_contexts": [],
            "payload": {"version": "1.2.0"},
        },
        "POST",
        "/repos/acme/payments/deployments",
        body={
            "ref": "main",
            "environment": "staging",
            "required_contexts": [],
            "payload": {"version": "1.2.0"},
        },
        status=201,
        answer={"id": 42, "ref": "main"},
    ),
    "getDeployment gets the deployment by id": Case(
        "getDeployment",
        {"repo": "acme/payments", "deployment_id": "42"},
        "GET",
        "/repos/acme/payments/deployments/42",
        answer={"id": 42},
    ),
    "listDeployments lists the deployments, filtered, as items": Case(
        "listDeployments",
        {"repo": "acme/payments", "environment": "prod"},
        "GET",
        "/repos/acme/payments/deployments",
        query={"per_page": ["100"], "environment": ["prod"]},
        answer=[{"id": 42}],
        outputs={"items": [{"id": 42}]},
    ),
    "getCommit gets the commit": Case(
        "getCommit",
        {"repo": "acme/payments", "commit_sha": "abc123"},
        "GET",
        "/repos/acme/payments/commits/abc123",
        answer=COMMIT,
    ),
    "listCommits lists the commits of a branch as items": Case(
        "listCommits",
        {"repo": "acme/payments", "branch": "main"},
        "GET",
        "/repos/acme/payments/commits",
        query={"per_page": ["100"], "sha": ["main"]},
        answer=[COMMIT],
        outputs={"items": [COMMIT]},
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_each_action_sends_githubs_request_with_the_token_and_outputs_its_answer(
    case, github, ws
):
    reply = {"status": case.status}
    if case.answer is not None:
        reply["json"] = case.answer
    github.route(case.method, case.path, **reply)

    outcome = run(f"github.{case.action}", case.inputs, ws)

    assert outcome.status == "COMPLETED", outcome.error
    [request] = github.requests
    assert (request.method, request.path) == (case.method, case.path)
    assert request.query == case.query
    if case.body is None:
        assert request.body == b""
    else:
        assert request.json() == case.body
        assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["accept"] == "application/vnd.github+json"
    assert request.headers["x-github-api-version"] == "2022-11-28"
    expected = case.outputs if case.outputs is not None else case.answer
    assert spread(outcome.outputs) == expected
    assert (
        outcome.outputs["response"] == case.answer
    )  # where Cortex's descriptors read it
    assert TOKEN not in str(outcome.inputs) + str(outcome.outputs)


def test_the_most_used_cortex_github_actions_are_all_registered():
    wanted = [
        "createBranch",
        "deleteBranch",
        "getBranch",
        "listBranches",
        "createPullRequest",
        "createPullRequestComment",
        "addLabelToPullRequest",
        "mergeBranch",
        "createRelease",
        "getReleaseByTag",
        "listReleases",
        "createWorkflowDispatchEvent",
        "getFile",
        "createOrUpdateFile",
        "deleteFile",
        "createRepository",
        "updateRepository",
        "listRepositories",
        "addUserToTeam",
        "removeUserFromTeam",
        "createTeam",
        "getTeam",
        "listTeamMembers",
        "createDeployment",
        "getCommit",
        "listCommits",
    ]
    assert {f"github.{name}" for name in wanted} <= set(github_actions.ACTIONS)


def test_every_github_action_of_cortexs_functional_descriptors_is_registered():
    cortex_actions = [
        "createBranch",
        "getBranch",
        "listBranches",
        "renameBranch",
        "mergeBranch",
        "deleteBranch",
        "createReference",
        "createPullRequest",
        "createPullRequestComment",
        "addLabelToPullRequest",
        "createRepository",
        "updateRepository",
        "listRepositories",
        "createRelease",
        "getReleaseByTag",
        "listReleases",
        "createDeployment",
        "getDeployment",
        "listDeployments",
        "createTeam",
        "getTeam",
        "listTeams",
        "listTeamMembers",
        "deleteTeam",
        "addUserToTeam",
        "getTeamMembership",
        "removeUserFromTeam",
        "addUserToOrg",
        "listOrgMembers",
        "removeUserFromOrg",
        "getFile",
        "findFile",
        "deleteFile",
        "updateBranchProtectionRules",
        "getBranchProtectionRules",
        "deleteBranchProtectionRules",
        "getCommit",
        "listCommits",
        "createOrUpdateCustomPropertyValues",
        "createWorkflowDispatchEvent",
    ]
    assert len(cortex_actions) == 40
    assert {f"github.{name}" for name in cortex_actions} <= set(github_actions.ACTIONS)


# --- actions with more to them -------------------------------------------------------


@pytest.mark.parametrize(
    ("identifier", "inputs", "method", "path", "body"),
    [
        (
            "github.updateBranchProtectionRules",
            {
                "repo": "{{variables.repo}}",
                "branch": "{{variables.branch}}",
                "rules": "{{{variables.rules}}}",
            },
            "PUT",
            "/repos/acme/payments/branches/main/protection",
            RULES,
        ),
        (
            "github.createOrUpdateCustomPropertyValues",
            {"repo": "{{variables.repo}}", "properties": "{{{variables.properties}}}"},
            "PATCH",
            "/repos/acme/payments/properties/values",
            {"properties": [{"property_name": "owner's team", "value": "a & b"}]},
        ),
    ],
    ids=["branch protection rules", "custom property values"],
)
def test_json_text_rendered_raw_as_cortexs_descriptors_do_becomes_githubs_body(
    identifier, inputs, method, path, body, github, ws
):
    import json

    github.route(method, path, status=200 if method == "PUT" else 204)
    variables = {
        "repo": "acme/payments",
        "branch": "main",
        "rules": json.dumps(RULES),
        "properties": json.dumps(
            {"properties": [{"property_name": "owner's team", "value": "a & b"}]}
        ),
    }

    outcome = run(identifier, inputs, ws, state={**STATE, "variables": variables})

    assert outcome.status == "COMPLETED", outcome.error
    [request] = github.requests
    assert (request.method, request.path) == (method, path)
    assert request.json() == body


def test_get_file_outputs_githubs_answer_and_the_decoded_text(github, ws):
    answer = {
        "path": "catalog/cortex.yaml",
        "sha": "f00",
        "encoding": "base64",
        "content": base64.encodebytes(b"info:\n  x-cortex-tag: payments\n").decode(),
    }
    github.route(
        "GET", "/repos/acme/payments/contents/catalog/cortex.yaml", json=answer
    )

    outcome = run(
        "github.getFile",
        {"repo": "acme/payments", "path": "catalog/cortex.yaml", "ref": "develop"},
        ws,
    )

    assert outcome.status == "COMPLETED", outcome.error
    assert github.requests[0].query == {"ref": ["develop"]}
    assert spread(outcome.outputs) == {
        **answer,
        "decodedContent": "info:\n  x-cortex-tag: payments\n",
    }


def test_create_or_update_file_creates_a_new_file_with_its_text_encoded(github, ws):
    github.route(
        "GET",
        "/repos/acme/payments/contents/docs/a.md",
        status=404,
        json={"message": "Not Found"},
    )
    github.route(
        "PUT",
        "/repos/acme/payments/contents/docs/a.md",
        status=201,
        json={"content": {"sha": "new"}, "commit": {"sha": "c1"}},
    )

    outcome = run(
        "github.createOrUpdateFile",
        {
            "repo": "acme/payments",
            "path": "docs/a.md",
            "content": "# Hello\n",
            "message": "Add docs",
            "branch": "docs",
        },
        ws,
    )

    assert outcome.status == "COMPLETED", outcome.error
    lookup, put = github.requests
    assert (lookup.method, lookup.query) == ("GET", {"ref": ["docs"]})
    assert put.json() == {
        "message": "Add docs",
        "content": base64.b64encode(b"# Hello\n").decode(),
        "branch": "docs",
    }
    assert put.headers["authorization"] == f"Bearer {TOKEN}"
    assert spread(outcome.outputs) == {
        "content": {"sha": "new"},
        "commit": {"sha": "c1"},
    }


def test_create_or_update_file_updates_an_existing_file_with_its_current_sha(
    github, ws
):
    github.route(
        "GET", "/repos/acme/payments/contents/README.md", json={"sha": "old-blob"}
    )
    github.route(
        "PUT", "/repos/acme/payments/contents/README.md", json={"commit": {"sha": "c2"}}
    )

    outcome = run(
        "github.createOrUpdateFile",
        {
            "repo": "acme/payments",
            "path": "README.md",
            "content": "v2",
            "commit_message": "Update",
        },
        ws,
    )

    assert outcome.status == "COMPLETED", outcome.error
    put = github.requests[1]
    assert put.json()["sha"] == "old-blob"
    assert put.json()["message"] == "Update"


def test_create_or_update_file_with_a_sha_does_not_look_the_file_up(github, ws):
    github.route("PUT", "/repos/acme/payments/contents/a.txt", json={"commit": {}})

    outcome = run(
        "github.createOrUpdateFile",
        {
            "repo": "acme/payments",
            "path": "a.txt",
            "content": "",
            "message": "Empty",
            "sha": "given",
        },
        ws,
    )

    assert outcome.status == "COMPLETED", outcome.error
    [put] = github.requests
    assert put.json() == {"message": "Empty", "content": "", "sha": "given"}


def test_a_list_follows_githubs_next_pages_on_the_integrations_address(github, ws):
    def first(request):
        from tests.workflows.httpserver import make_reply

        if request.query.get("page") == ["2"]:
            return make_reply(json=[{"name": "b"}])
        return make_reply(
            json=[{"name": "a"}],
            headers={
                "Link": f"<{github.url('/repos/acme/payments/branches')}"
                '?per_page=100&page=2>; rel="next"'
            },
        )

    github.route("GET", "/repos/acme/payments/branches", handler=first)

    outcome = run("github.listBranches", {"repo": "acme/payments"}, ws)

    assert outcome.status == "COMPLETED", outcome.error
    assert spread(outcome.outputs) == {"items": [{"name": "a"}, {"name": "b"}]}
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in github.requests)


def test_a_next_page_elsewhere_is_not_followed_so_the_token_stays_home(github, ws):
    github.route(
        "GET",
        "/orgs/acme/repos",
        json=[REPOSITORY],
        headers={"Link": '<https://evil.example/steal?page=2>; rel="next"'},
    )

    outcome = run("github.listRepositories", {"org": "acme"}, ws)

    assert outcome.status == "COMPLETED", outcome.error
    assert spread(outcome.outputs) == {"items": [REPOSITORY]}
    assert len(github.requests) == 1


def test_a_repository_name_and_an_org_make_the_full_name(github, ws):
    github.route("GET", "/repos/acme/payments/releases", json=[])

    outcome = run("github.listReleases", {"org": "acme", "repo": "payments"}, ws)

    assert outcome.status == "COMPLETED", outcome.error
    assert spread(outcome.outputs) == {"items": []}


def test_path_parts_are_escaped_so_an_input_cannot_reach_another_endpoint(github, ws):
    github.route("GET", "/orgs/acme/teams/a%3Fb%2Fc", json=TEAM)

    outcome = run("github.getTeam", {"org": "acme", "team": "a?b/c"}, ws)

    assert outcome.status == "COMPLETED", outcome.error
    assert github.requests[0].target == "/orgs/acme/teams/a%3Fb%2Fc"


def test_a_dot_dot_segment_in_a_branch_fails_without_calling_github(github, ws):
    outcome = run(
        "github.getBranch", {"repo": "acme/payments", "branch": "../../orgs/acme"}, ws
    )

    assert outcome.status == "FAILED"
    assert outcome.error == (
        "github.getBranch: inputs.branch has an empty, '.' or '..' path segment"
    )
    assert github.requests == []


# --- bad inputs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identifier", "inputs", "error"),
    [
        (
            "github.createBranch",
            {"repo": "acme/payments", "new_branch": "x"},
            "github.createBranch: inputs.sha is required "
            "(the commit the branch starts at)",
        ),
        (
            "github.createPullRequest",
            {
                "repo": "acme/payments",
                "title": "T",
                "head": "{{variables.nothing}}",
                "base": "main",
            },
            "github.createPullRequest: inputs.head is required "
            "(the branch with the changes)",
        ),
        (
            "github.getBranch",
            {"repo": "payments", "branch": "main"},
            "github.getBranch: inputs.repo must be a repository's full name, "
            "owner/name, not 'payments'",
        ),
        (
            "github.createPullRequestComment",
            {"repo": "acme/payments", "pull_number": "seven", "body": "Hi"},
            "github.createPullRequestComment: inputs.pull_number must be a positive "
            "whole number, not 'seven'",
        ),
        (
            "github.createRelease",
            {"repo": "acme/payments", "tag_name": "v1", "draft": "maybe"},
            "github.createRelease: inputs.draft must be true or false, not 'maybe'",
        ),
        (
            "github.createWorkflowDispatchEvent",
            {
                "repo": "acme/payments",
                "ref": "main",
                "workflow_id": "d.yml",
                "inputs": "not json",
            },
            "github.createWorkflowDispatchEvent: inputs.inputs must be an object "
            "(or JSON text of one)",
        ),
        (
            "github.getTeam",
            {"org": {"login": "acme"}, "team": "platform"},
            "github.getTeam: inputs.org must be a string, not an object",
        ),
        (
            "github.addUserToOrg",
            {"org": "acme", "username": ""},
            "github.addUserToOrg: inputs.username is required "
            "(the GitHub user's login)",
        ),
        (
            "github.addUserToOrg",
            {"org": "acme", "username": "octocat", "role": ["admin"]},
            "github.addUserToOrg: inputs.role must be a string, not a list",
        ),
        (
            "github.removeUserFromOrg",
            {"username": "octocat"},
            "github.removeUserFromOrg: inputs.org is required (the organization)",
        ),
        (
            "github.removeUserFromOrg",
            {"org": "acme", "username": ".."},
            "github.removeUserFromOrg: inputs.username has an empty, '.' or '..' "
            "path segment",
        ),
        (
            "github.updateBranchProtectionRules",
            {"repo": "acme/payments", "branch": "main"},
            "github.updateBranchProtectionRules: inputs.rules is required "
            "(GitHub's branch protection settings)",
        ),
        (
            "github.updateBranchProtectionRules",
            {"repo": "acme/payments", "branch": "main", "rules": "{enforce_admins}"},
            "github.updateBranchProtectionRules: inputs.rules must be an object "
            "(or JSON text of one)",
        ),
        (
            "github.updateBranchProtectionRules",
            {"repo": "acme/payments", "branch": "main", "rules": "[]"},
            "github.updateBranchProtectionRules: inputs.rules must be an object, "
            "not a list",
        ),
        (
            "github.updateBranchProtectionRules",
            {"repo": "acme/payments", "rules": RULES},
            "github.updateBranchProtectionRules: inputs.branch is required "
            "(the protected branch)",
        ),
        (
            "github.getBranchProtectionRules",
            {"repo": "acme/payments"},
            "github.getBranchProtectionRules: inputs.branch is required "
            "(the protected branch)",
        ),
        (
            "github.getBranchProtectionRules",
            {"branch": "main"},
            "github.getBranchProtectionRules: inputs.repo is required "
            "(the repository's full name, owner/name)",
        ),
        (
            "github.deleteBranchProtectionRules",
            {"repo": "payments", "branch": "main"},
            "github.deleteBranchProtectionRules: inputs.repo must be a repository's "
            "full name, owner/name, not 'payments'",
        ),
        (
            "github.deleteBranchProtectionRules",
            {"repo": "acme/payments", "branch": "main/../../../orgs"},
            "github.deleteBranchProtectionRules: inputs.branch has an empty, '.' "
            "or '..' path segment",
        ),
        (
            "github.createOrUpdateCustomPropertyValues",
            {"repo": "acme/payments", "properties": " "},
            "github.createOrUpdateCustomPropertyValues: inputs.properties is "
            'required (a list of {"property_name", "value"} objects, or an object '
            "with that list as properties)",
        ),
        (
            "github.createOrUpdateCustomPropertyValues",
            {"repo": "acme/payments", "properties": "tier=gold"},
            "github.createOrUpdateCustomPropertyValues: inputs.properties must be "
            'a list of {"property_name", "value"} objects, or an object with that '
            "list as properties (or JSON text of one)",
        ),
        (
            "github.createOrUpdateCustomPropertyValues",
            {"repo": "acme/payments", "properties": {"tier": "gold"}},
            "github.createOrUpdateCustomPropertyValues: inputs.properties must be "
            'a list of {"property_name", "value"} objects, or an object with that '
            "list as properties",
        ),
        (
            "github.createOrUpdateCustomPropertyValues",
            {"repo": "acme/payments", "properties": '{"properties": []}'},
            "github.createOrUpdateCustomPropertyValues: inputs.properties must be "
            'a list of {"property_name", "value"} objects, or an object with that '
            "list as properties",
        ),
        (
            "github.createOrUpdateCustomPropertyValues",
            {"repo": "acme/payments", "properties": [{"name": "tier"}]},
            "github.createOrUpdateCustomPropertyValues: inputs.properties must name "
            'each property: {"property_name": …, "value": …}, '
            "not {'name': 'tier'}",
        ),
        (
            "github.createOrUpdateCustomPropertyValues",
            {"properties": PROPERTY_VALUES},
            "github.createOrUpdateCustomPropertyValues: inputs.repo is required "
            "(the repository's full name, owner/name)",
        ),
    ],
    ids=[
        "a missing sha",
        "an input that renders empty",
        "a repository without its owner",
        "a pull number that is not a number",
        "a flag that is not true or false",
        "workflow inputs that are not an object",
        "an object where a string belongs",
        "an org membership without a username",
        "an org role that is not a string",
        "an org membership without an org",
        "a username that is a dot-dot segment",
        "branch protection without rules",
        "branch protection rules that are not JSON",
        "branch protection rules that are a list",
        "branch protection rules without a branch",
        "reading branch protection without a branch",
        "reading branch protection without a repository",
        "deleting branch protection of a repository without its owner",
        "deleting branch protection of a dot-dot branch",
        "custom property values that render blank",
        "custom property values that are not JSON",
        "custom property values as a plain mapping",
        "an empty list of custom property values",
        "a custom property value without its property name",
        "custom property values without a repository",
    ],
)
def test_bad_inputs_fail_the_step_naming_the_action_and_input_without_calling_github(
    identifier, inputs, error, github, ws
):
    outcome = run(identifier, inputs, ws)

    assert outcome.status == "FAILED"
    assert outcome.error == error
    assert outcome.inputs  # the rendered inputs are kept on the step
    assert github.requests == []


# --- integrations ---------------------------------------------------------------------


def test_without_a_github_integration_the_action_fails_saying_so(http_server, ws):
    outcome = run("github.listBranches", {"repo": "acme/payments"}, ws)

    assert outcome.status == "FAILED"
    assert outcome.error == (
        "github.listBranches: No GitHub integration is configured in this workspace"
    )
    assert http_server.requests == []


def test_another_workspaces_github_integration_is_not_used(http_server, ws, other_ws):
    Integration.objects.create(
        workspace=other_ws,
        kind=Integration.Kind.GITHUB,
        base_url=http_server.url(""),
        encrypted_token=encrypt("ghp-other-workspace"),
    )

    outcome = run("github.listBranches", {"repo": "acme/payments"}, ws)

    assert outcome.status == "FAILED"
    assert "No GitHub integration is configured in this workspace" in outcome.error
    assert http_server.requests == []


def test_the_integration_alias_is_rendered_and_picks_the_integration(github, ws):
    Integration.objects.create(
        workspace=ws,
        kind=Integration.Kind.GITHUB,
        alias="enterprise",
        base_url=github.url("/api/v3"),
        encrypted_token=encrypt("ghp-enterprise"),
    )
    github.route("GET", "/api/v3/repos/acme/payments/branches", json=[])
    state = {**STATE, "variables": {"gh": "enterprise"}}

    outcome = run(
        "github.listBranches",
        {"repo": "acme/payments"},
        ws,
        alias="{{variables.gh}}",
        state=state,
    )

    assert outcome.status == "COMPLETED", outcome.error
    [request] = github.requests
    assert request.path == "/api/v3/repos/acme/payments/branches"
    assert request.headers["authorization"] == "Bearer ghp-enterprise"


def test_an_unknown_alias_fails_naming_it(github, ws):
    outcome = run("github.listBranches", {"repo": "acme/payments"}, ws, alias="nope")

    assert outcome.status == "FAILED"
    assert outcome.error == (
        "github.listBranches: No GitHub integration with alias 'nope' is configured "
        "in this workspace"
    )


# --- GitHub's errors ------------------------------------------------------------------


def test_a_github_error_fails_the_step_with_its_message_and_details(github, ws):
    answer = {
        "message": "Validation Failed",
        "errors": [
            {
                "resource": "PullRequest",
                "code": "custom",
                "message": "A pull request already exists for acme:feature/x.",
            }
        ],
        "documentation_url": "https://docs.github.com/rest/pulls/pulls",
    }
    github.route("POST", "/repos/acme/payments/pulls", status=422, json=answer)

    outcome = run(
        "github.createPullRequest",
        {"repo": "acme/payments", "title": "T", "head": "feature/x", "base": "main"},
        ws,
    )

    assert outcome.status == "FAILED"
    assert outcome.error == (
        "github.createPullRequest: GitHub answered 422: Validation Failed "
        "(A pull request already exists for acme:feature/x.)"
    )
    assert spread(outcome.outputs) == {"status": 422, "body": answer}
    assert TOKEN not in outcome.error


def test_a_missing_branch_fails_with_githubs_not_found(github, ws):
    github.route(
        "GET",
        "/repos/acme/payments/branches/nope",
        status=404,
        json={"message": "Branch not found"},
    )

    outcome = run("github.getBranch", {"repo": "acme/payments", "branch": "nope"}, ws)

    assert outcome.status == "FAILED"
    assert outcome.error == "github.getBranch: GitHub answered 404: Branch not found"


@pytest.mark.parametrize(
    ("identifier", "inputs", "method", "path", "status", "answer", "error"),
    [
        (
            "github.addUserToOrg",
            {"org": "acme", "username": "octocat", "role": "owner"},
            "PUT",
            "/orgs/acme/memberships/octocat",
            422,
            {
                "message": "Validation Failed",
                "errors": [
                    {"resource": "Membership", "field": "role", "code": "invalid"}
                ],
            },
            "GitHub answered 422: Validation Failed (Membership role invalid)",
        ),
        (
            "github.removeUserFromOrg",
            {"org": "acme", "username": "octocat"},
            "DELETE",
            "/orgs/acme/memberships/octocat",
            403,
            {"message": "You must be an admin to remove a member."},
            "GitHub answered 403: You must be an admin to remove a member.",
        ),
        (
            "github.updateBranchProtectionRules",
            {"repo": "acme/payments", "branch": "main", "rules": {}},
            "PUT",
            "/repos/acme/payments/branches/main/protection",
            422,
            {
                "message": "Invalid request.",
                "errors": [
                    '"enforce_admins", "required_pull_request_reviews", '
                    '"required_status_checks", "restrictions" weren\'t supplied.'
                ],
            },
            "GitHub answered 422: Invalid request. "
            '("enforce_admins", "required_pull_request_reviews", '
            '"required_status_checks", "restrictions" weren\'t supplied.)',
        ),
        (
            "github.getBranchProtectionRules",
            {"repo": "acme/payments", "branch": "main"},
            "GET",
            "/repos/acme/payments/branches/main/protection",
            404,
            {"message": "Branch not protected"},
            "GitHub answered 404: Branch not protected",
        ),
        (
            "github.deleteBranchProtectionRules",
            {"repo": "acme/payments", "branch": "main"},
            "DELETE",
            "/repos/acme/payments/branches/main/protection",
            403,
            {
                "message": "Upgrade to GitHub Pro or make this repository public "
                "to enable this feature."
            },
            "GitHub answered 403: Upgrade to GitHub Pro or make this repository "
            "public to enable this feature.",
        ),
        (
            "github.createOrUpdateCustomPropertyValues",
            {"repo": "acme/payments", "properties": PROPERTY_VALUES},
            "PATCH",
            "/repos/acme/payments/properties/values",
            422,
            {"message": "Property name tier is not defined for the organization"},
            "GitHub answered 422: Property name tier is not defined for the "
            "organization",
        ),
    ],
    ids=[
        "adding a user to an organization with a bad role",
        "removing a user without being an admin",
        "updating branch protection without GitHub's required settings",
        "reading the protection of an unprotected branch",
        "deleting branch protection where the plan has none",
        "setting a custom property the organization does not define",
    ],
)
def test_a_github_refusal_fails_the_step_with_the_action_and_githubs_message(
    identifier, inputs, method, path, status, answer, error, github, ws
):
    github.route(method, path, status=status, json=answer)

    outcome = run(identifier, inputs, ws)

    assert outcome.status == "FAILED"
    assert outcome.error == f"{identifier}: {error}"
    assert spread(outcome.outputs) == {"status": status, "body": answer}
    [request] = github.requests
    assert (request.method, request.path) == (method, path)
    assert TOKEN not in outcome.error


def test_an_error_without_json_shows_the_start_of_the_body(github, ws):
    github.route("POST", "/repos/acme/payments/merges", status=502, body="Bad gateway")

    outcome = run(
        "github.mergeBranch",
        {"repo": "acme/payments", "base_branch": "main", "head_branch": "x"},
        ws,
    )

    assert outcome.error == "github.mergeBranch: GitHub answered 502: Bad gateway"


def test_a_refused_address_fails_with_outbounds_message(github, ws, settings):
    settings.HTTP_BLOCK_ALLOWED_HOSTS = []

    outcome = run("github.listBranches", {"repo": "acme/payments"}, ws)

    assert outcome.status == "FAILED"
    assert outcome.error.startswith("github.listBranches: ")
    assert "127.0.0.1" in outcome.error
    assert github.requests == []


def test_unknown_github_and_gitlab_actions_still_fail_by_name(github, ws):
    for identifier in ("github.createPipelineSchedule", "gitlab.createMergeRequest"):
        outcome = run(identifier, {"repo": "acme/payments"}, ws)
        assert outcome.error == f"Cairn cannot execute action '{identifier}' yet"
    assert github.requests == []


# --- through the engine ---------------------------------------------------------------

BRANCH_AND_PULL_REQUEST = """\
name: Open a pull request
tag: open-a-pull-request
description: Branch off main and open a pull request
isDraft: false
filter:
  type: GLOBAL
variables:
- slug: repo
  type: STRING
actions:
- name: Create branch
  slug: create-branch
  schema:
    type: ADVANCED_HTTP_REQUEST
    actionIdentifier: github.createBranch
    integrationAlias: null
    inputs:
      repo: "{{context.initialContext.repo}}"
      new_branch: "{{context.initialContext.branch}}"
      sha: "{{context.initialContext.sha}}"
  outgoingActions:
  - create-pull-request
  isRootAction: true
- name: Create pull request
  slug: create-pull-request
  schema:
    type: ADVANCED_HTTP_REQUEST
    actionIdentifier: github.createPullRequest
    integrationAlias: null
    inputs:
      repo: "{{context.initialContext.repo}}"
      title: "Work on {{context.initialContext.branch}}"
      head: "{{context.initialContext.branch}}"
      base: main
  outgoingActions: []
  isRootAction: false
runResponseTemplate: "Opened {{actions.create-pull-request.outputs.html_url}} \
from {{actions.create-branch.outputs.ref}}"
"""


def test_a_cortex_style_descriptor_creates_a_branch_then_a_pull_request(
    github, ws, grace
):
    github.route(
        "POST",
        "/repos/acme/payments/git/refs",
        status=201,
        json={"ref": "refs/heads/feature/x", "object": {"sha": "abc123"}},
    )
    github.route("POST", "/repos/acme/payments/pulls", status=201, json=PULL)
    wf, _ = workflow_upsert(
        workspace=ws,
        descriptor=descriptor.validate(descriptor.parse(BRANCH_AND_PULL_REQUEST)),
    )

    run_ = run_to_rest(
        engine.start(
            workflow=wf,
            initiator=grace,
            initial_context={
                "repo": "acme/payments",
                "branch": "feature/x",
                "sha": "abc123",
            },
        )
    )

    assert run_.status == Run.Status.COMPLETED, list(
        run_.steps.values_list("slug", "error")
    )
    branch_call, pull_call = github.requests
    assert branch_call.json() == {"ref": "refs/heads/feature/x", "sha": "abc123"}
    assert pull_call.json() == {
        "title": "Work on feature/x",
        "head": "feature/x",
        "base": "main",
    }
    assert run_.response.strip() == (
        "Opened https://github.com/acme/payments/pull/7 from refs/heads/feature/x"
    )
    assert TOKEN not in str(run_.state)
