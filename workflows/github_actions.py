"""The `github.*` actions of ADVANCED_HTTP_REQUEST blocks, through the workspace's GitHub integration.

`ACTIONS` maps each identifier to a handler `(inputs, github) -> outputs`; `run_action`
finds the integration (`integrationAlias`, empty for the default, as
`workflows.integrations.find_integration` does), then lets the handler call
GitHub's REST API (https://docs.github.com/en/rest) through `workflows.outbound`,
so the outbound rules (timeout, size cap, refused private addresses) hold.

Inputs use the names of Cortex's own descriptors for these actions (its CLI's
functional tests, `data/functional/workflows/gh-*.yaml`): `repo` is the
repository's full name `owner/name`, `org` an organization's login, `team` a
team's slug, `pull_number` a number (a string is fine). `rules` (branch
protection) is GitHub's request body and `properties` (custom property values)
GitHub's `{"properties": [...]}` or just its list, each given as it is or as
JSON text (what Cortex's descriptors render with `{{{…}}}`). Optional inputs
that Cortex's descriptors don't show are GitHub's own field names (`body`,
`draft`, `role`, …) and are sent only when given and not empty.

Outputs: Cortex doesn't document what these actions output, so they are
GitHub's parsed JSON answer: an object as it is, a list as `{"items": [...]}`
(lists follow GitHub's `Link: rel="next"` pages, at most `MAX_PAGES` of 100),
and `{}` when GitHub answers with no body (204). `getFile` adds
`decodedContent`, the file's text, next to GitHub's base64 `content`.

A missing or malformed input, no GitHub integration, a refused or failed call
and a non-2xx answer (with GitHub's `message` and the messages of its `errors`)
each fail the step with a message naming the action. The token goes only in the
Authorization header of requests to the integration's base URL; it is never in
the step's inputs, outputs or messages.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

from workflows import outbound, service_actions
from workflows.integrations import github_headers

if TYPE_CHECKING:
    pass

MAX_PAGES = service_actions.MAX_PAGES


class GitHubActionError(service_actions.ActionError):
    """The action can't run or GitHub refused it; the message is shown on the step."""


# Inputs ----------------------------------------------------------------------------


class Inputs(service_actions.Inputs):
    """The shared checked inputs, failing with GitHubActionError, plus a repository."""

    error = GitHubActionError

    def repo(self) -> str:
        """`repo` as the path `owner/name` (an `owner` or `org` input may supply the owner)."""
        name = self.text("repo", "the repository's full name, owner/name")
        if "/" not in name:
            owner = self.optional_text("owner") or self.optional_text("org")
            if owner:
                name = f"{owner}/{name}"
        parts = name.strip("/").split("/")
        if len(parts) != 2 or not all(parts):
            raise self.fail(
                f"inputs.repo must be a repository's full name, owner/name, not {name!r}"
            )
        return "/".join(self._quoted("repo", part) for part in parts)


# The integration -------------------------------------------------------------------


class GitHub(service_actions.Client):
    """Calls GitHub's REST API (the integration's base URL) for one action."""

    service = "GitHub"
    error = GitHubActionError

    def headers(self) -> dict[str, str]:
        return github_headers(self.token)

    def problem(self, response: outbound.Response) -> str:
        """GitHub's `message`, and the messages (or codes) of its `errors`."""
        body = response.body
        if not isinstance(body, dict) or not body.get("message"):
            return response.short_body() or "(no message)"
        message = str(body["message"])
        details = []
        for error in body.get("errors") or []:
            if isinstance(error, dict):
                detail = error.get("message") or " ".join(
                    str(error[k]) for k in ("resource", "field", "code") if error.get(k)
                )
            else:
                detail = str(error)
            if detail:
                details.append(detail)
        return f"{message} ({'; '.join(details)})" if details else message


_outputs = service_actions.outputs

# Actions ---------------------------------------------------------------------------

_actions = service_actions.Actions("github", "GITHUB", GitHub, Inputs)
ACTIONS = _actions.handlers
action = _actions.action
run_action = _actions.run


# Branches and references


@action("createBranch")
def create_branch(inputs: Inputs, gh: GitHub) -> dict:
    repo = inputs.repo()
    branch = inputs.text("new_branch", "the name of the branch to create")
    sha = inputs.text("sha", "the commit the branch starts at")
    body = {"ref": f"refs/heads/{branch.removeprefix('refs/heads/')}", "sha": sha}
    return _outputs(gh.call("POST", f"/repos/{repo}/git/refs", body=body))


@action("createReference")
def create_reference(inputs: Inputs, gh: GitHub) -> dict:
    repo = inputs.repo()
    ref = inputs.text(
        "ref", "the full reference, e.g. refs/heads/feature or refs/tags/v1"
    )
    if not ref.startswith("refs/"):
        raise inputs.fail(f"inputs.ref must start with refs/, not {ref!r}")
    sha = inputs.text("sha", "the commit the reference points at")
    return _outputs(
        gh.call("POST", f"/repos/{repo}/git/refs", body={"ref": ref, "sha": sha})
    )


@action("deleteBranch")
def delete_branch(inputs: Inputs, gh: GitHub) -> dict:
    repo = inputs.repo()
    branch = inputs.path("branch", "the branch to delete")
    return _outputs(gh.call("DELETE", f"/repos/{repo}/git/refs/heads/{branch}"))


@action("getBranch")
def get_branch(inputs: Inputs, gh: GitHub) -> dict:
    repo = inputs.repo()
    branch = inputs.path("branch")
    return _outputs(gh.call("GET", f"/repos/{repo}/branches/{branch}"))


@action("listBranches")
def list_branches(inputs: Inputs, gh: GitHub) -> dict:
    repo = inputs.repo()
    return _outputs(gh.list(f"/repos/{repo}/branches"))


@action("renameBranch")
def rename_branch(inputs: Inputs, gh: GitHub) -> dict:
    repo = inputs.repo()
    branch = inputs.path("current_branch", "the branch to rename")
    new_name = inputs.text("new_branch", "the branch's new name")
    return _outputs(
        gh.call(
            "POST",
            f"/repos/{repo}/branches/{branch}/rename",
            body={"new_name": new_name},
        )
    )


@action("mergeBranch")
def merge_branch(inputs: Inputs, gh: GitHub) -> dict:
    repo = inputs.repo()
    body = {
        "base": inputs.text("base_branch", "the branch to merge into"),
        "head": inputs.text("head_branch", "the branch or commit to merge"),
        **inputs.optional_fields({"commit_message": "text"}),
    }
    return _outputs(gh.call("POST", f"/repos/{repo}/merges", body=body))


# Branch protection


def _protection(inputs: Inputs) -> str:
    repo = inputs.repo()
    branch = inputs.path("branch", "the protected branch")
    return f"/repos/{repo}/branches/{branch}/protection"


@action("updateBranchProtectionRules")
def update_branch_protection_rules(inputs: Inputs, gh: GitHub) -> dict:
    """`rules` is GitHub's body, sent as it is. GitHub wants
    `required_status_checks`, `enforce_admins`, `required_pull_request_reviews`
    and `restrictions` in it (each may be null), and answers 422 without them."""
    path = _protection(inputs)
    rules = inputs.required_mapping("rules", "GitHub's branch protection settings")
    return _outputs(gh.call("PUT", path, body=rules))


@action("getBranchProtectionRules")
def get_branch_protection_rules(inputs: Inputs, gh: GitHub) -> dict:
    return _outputs(gh.call("GET", _protection(inputs)))


@action("deleteBranchProtectionRules")
def delete_branch_protection_rules(inputs: Inputs, gh: GitHub) -> dict:
    return _outputs(gh.call("DELETE", _protection(inputs)))


# Pull requests


@action("createPullRequest")
def create_pull_request(inputs: Inputs, gh: GitHub) -> dict:
    repo = inputs.repo()
    body = {
        "title": inputs.text("title"),
        "head": inputs.text("head", "the branch with the changes"),
        "base": inputs.text("base", "the branch to merge into"),
        **inputs.optional_fields(
            {"body": "text", "draft": "flag", "maintainer_can_modify": "flag"}
        ),
    }
    return _outputs(gh.call("POST", f"/repos/{repo}/pulls", body=body))


@action("createPullRequestComment")
def create_pull_request_comment(inputs: Inputs, gh: GitHub) -> dict:
    repo = inputs.repo()
    number = inputs.number("pull_number", "the pull request's number")
    body = {"body": inputs.text("body", "the comment's text")}
    return _outputs(
        gh.call("POST", f"/repos/{repo}/issues/{number}/comments", body=body)
    )


@action("addLabelToPullRequest")
def add_label_to_pull_request(inputs: Inputs, gh: GitHub) -> dict:
    repo = inputs.repo()
    number = inputs.number("pull_number", "the pull request's number")
    key = "labels" if inputs.given("labels") and not inputs.given("label") else "label"
    labels = inputs.strings(key, "the label to add")
    return _outputs(
        gh.call(
            "POST", f"/repos/{repo}/issues/{number}/labels", body={"labels": labels}
        )
    )


# Releases


@action("createRelease")
def create_release(inputs: Inputs, gh: GitHub) -> dict:
    repo = inputs.repo()
    body = {
        "tag_name": inputs.text("tag_name"),
        **inputs.optional_fields(
            {
                "target_commitish": "text",
                "name": "text",
                "body": "text",
                "draft": "flag",
                "prerelease": "flag",
                "generate_release_notes": "flag",
                "make_latest": "text",
            }
        ),
    }
    return _outputs(gh.call("POST", f"/repos/{repo}/releases", body=body))


@action("getReleaseByTag")
def get_release_by_tag(inputs: Inputs, gh: GitHub) -> dict:
    repo = inputs.repo()
    tag = inputs.path("tag", "the release's tag")
    return _outputs(gh.call("GET", f"/repos/{repo}/releases/tags/{tag}"))


@action("listReleases")
def list_releases(inputs: Inputs, gh: GitHub) -> dict:
    return _outputs(gh.list(f"/repos/{inputs.repo()}/releases"))


# GitHub Actions


@action("createWorkflowDispatchEvent")
def create_workflow_dispatch_event(inputs: Inputs, gh: GitHub) -> dict:
    repo = inputs.repo()
    workflow = inputs.segment(
        "workflow_id", "the workflow's file name, e.g. deploy.yml, or its id"
    )
    body: dict[str, Any] = {"ref": inputs.text("ref", "the branch or tag to run on")}
    workflow_inputs = inputs.mapping("inputs")
    if workflow_inputs is not None:
        body["inputs"] = workflow_inputs
    return _outputs(
        gh.call(
            "POST", f"/repos/{repo}/actions/workflows/{workflow}/dispatches", body=body
        )
    )


# Files


@action("getFile")
def get_file(inputs: Inputs, gh: GitHub) -> dict:
    repo = inputs.repo()
    path = inputs.path("path", "the file's path in the repository")
    ref = inputs.optional_text("ref") or inputs.optional_text("branch")
    outputs = _outputs(
        gh.call("GET", f"/repos/{repo}/contents/{path}", query={"ref": ref})
    )
    if outputs.get("encoding") == "base64" and isinstance(outputs.get("content"), str):
        try:
            outputs["decodedContent"] = base64.b64decode(outputs["content"]).decode()
        except (binascii.Error, UnicodeDecodeError):
            pass  # binary: GitHub's base64 is all there is
    return outputs


@action("createOrUpdateFile")
def create_or_update_file(inputs: Inputs, gh: GitHub) -> dict:
    """`content` is the file's text (Cairn encodes it); without `sha`, the file's
    current blob on `branch` (if there is one) is looked up, so it updates."""
    repo = inputs.repo()
    path = inputs.path("path", "the file's path in the repository")
    message_key = next(
        (k for k in ("message", "commit_message", "commitMessage") if inputs.given(k)),
        "message",
    )
    if "content" not in inputs.raw or inputs.raw["content"] is None:
        raise inputs.fail("inputs.content is required (the file's text)")
    content = inputs.raw["content"]
    if not isinstance(content, str):
        raise inputs.fail(
            f"inputs.content must be a string, not {service_actions.kind(content)}"
        )
    body: dict[str, Any] = {
        "message": inputs.text(message_key, "the commit message"),
        "content": base64.b64encode(content.encode()).decode(),
        **inputs.optional_fields(
            {"branch": "text", "sha": "text", "author": "object", "committer": "object"}
        ),
    }
    if "sha" not in body:
        existing = gh.call(
            "GET",
            f"/repos/{repo}/contents/{path}",
            query={"ref": body.get("branch")},
            missing_ok=True,
        )
        if isinstance(existing, dict) and existing.get("sha"):
            body["sha"] = existing["sha"]
    return _outputs(gh.call("PUT", f"/repos/{repo}/contents/{path}", body=body))


@action("deleteFile")
def delete_file(inputs: Inputs, gh: GitHub) -> dict:
    repo = inputs.repo()
    path = inputs.path("path", "the file's path in the repository")
    body = {
        "message": inputs.text("message", "the commit message"),
        "sha": inputs.text("sha", "the blob SHA of the file being deleted"),
        **inputs.optional_fields(
            {"branch": "text", "author": "object", "committer": "object"}
        ),
    }
    return _outputs(gh.call("DELETE", f"/repos/{repo}/contents/{path}", body=body))


@action("findFile")
def find_file(inputs: Inputs, gh: GitHub) -> dict:
    query = inputs.text("query", "a GitHub code search query, e.g. 'name repo:o/r'")
    return _outputs(
        gh.call(
            "GET",
            "/search/code",
            query={"q": query, "per_page": service_actions.PER_PAGE},
        )
    )


# Repositories

_REPOSITORY_FIELDS = {
    "description": "text",
    "homepage": "text",
    "private": "flag",
    "visibility": "text",
    "has_issues": "flag",
    "has_projects": "flag",
    "has_wiki": "flag",
    "is_template": "flag",
    "allow_squash_merge": "flag",
    "allow_merge_commit": "flag",
    "allow_rebase_merge": "flag",
    "allow_auto_merge": "flag",
    "delete_branch_on_merge": "flag",
}


@action("createRepository")
def create_repository(inputs: Inputs, gh: GitHub) -> dict:
    org = inputs.segment("org", "the organization to create it in")
    body = {
        "name": inputs.text("repo_name", "the new repository's name"),
        **inputs.optional_fields(
            {
                **_REPOSITORY_FIELDS,
                "auto_init": "flag",
                "gitignore_template": "text",
                "license_template": "text",
                "team_id": "number",
            }
        ),
    }
    return _outputs(gh.call("POST", f"/orgs/{org}/repos", body=body))


@action("updateRepository")
def update_repository(inputs: Inputs, gh: GitHub) -> dict:
    repo = inputs.repo()
    body = inputs.optional_fields(
        {
            **_REPOSITORY_FIELDS,
            "name": "text",
            "default_branch": "text",
            "archived": "flag",
        }
    )
    return _outputs(gh.call("PATCH", f"/repos/{repo}", body=body))


@action("listRepositories")
def list_repositories(inputs: Inputs, gh: GitHub) -> dict:
    org = inputs.segment("org", "the organization")
    return _outputs(
        gh.list(f"/orgs/{org}/repos", inputs.optional_fields({"type": "text"}))
    )


@action("createOrUpdateCustomPropertyValues")
def create_or_update_custom_property_values(inputs: Inputs, gh: GitHub) -> dict:
    """`properties` is GitHub's body (as Cortex's descriptors give it),
    `{"properties": [{"property_name": …, "value": …}]}`, or just its list."""
    repo = inputs.repo()
    properties = _property_values(inputs)
    return _outputs(
        gh.call(
            "PATCH",
            f"/repos/{repo}/properties/values",
            body={"properties": properties},
        )
    )


def _property_values(inputs: Inputs) -> list[dict]:
    shape = (
        'a list of {"property_name", "value"} objects, or an object with that list '
        "as properties"
    )
    if not inputs.given("properties"):
        raise inputs.fail(f"inputs.properties is required ({shape})")
    value = inputs.raw["properties"]
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise inputs.fail(
                f"inputs.properties must be {shape} (or JSON text of one)"
            ) from None
    if isinstance(value, dict) and set(value) == {"properties"}:
        value = value["properties"]
    if not isinstance(value, list) or not value:
        raise inputs.fail(f"inputs.properties must be {shape}")
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("property_name"), str):
            raise inputs.fail(
                "inputs.properties must name each property: "
                f'{{"property_name": …, "value": …}}, not {item!r}'
            )
    return value


# Teams and organization members


def _team(inputs: Inputs) -> str:
    org = inputs.segment("org", "the organization")
    team = inputs.segment("team", "the team's slug")
    return f"/orgs/{org}/teams/{team}"


@action("createTeam")
def create_team(inputs: Inputs, gh: GitHub) -> dict:
    org = inputs.segment("org", "the organization")
    body = {
        "name": inputs.text("team_name", "the new team's name"),
        **inputs.optional_fields(
            {
                "description": "text",
                "privacy": "text",
                "notification_setting": "text",
                "parent_team_id": "number",
                "maintainers": "list",
                "repo_names": "list",
            }
        ),
    }
    return _outputs(gh.call("POST", f"/orgs/{org}/teams", body=body))


@action("getTeam")
def get_team(inputs: Inputs, gh: GitHub) -> dict:
    return _outputs(gh.call("GET", _team(inputs)))


@action("deleteTeam")
def delete_team(inputs: Inputs, gh: GitHub) -> dict:
    return _outputs(gh.call("DELETE", _team(inputs)))


@action("listTeams")
def list_teams(inputs: Inputs, gh: GitHub) -> dict:
    org = inputs.segment("org", "the organization")
    return _outputs(gh.list(f"/orgs/{org}/teams"))


@action("listTeamMembers")
def list_team_members(inputs: Inputs, gh: GitHub) -> dict:
    team = _team(inputs)
    return _outputs(
        gh.list(f"{team}/members", inputs.optional_fields({"role": "text"}))
    )


@action("addUserToTeam")
def add_user_to_team(inputs: Inputs, gh: GitHub) -> dict:
    team = _team(inputs)
    user = inputs.segment("username", "the GitHub user's login")
    body = inputs.optional_fields({"role": "text"})
    return _outputs(gh.call("PUT", f"{team}/memberships/{user}", body=body))


@action("getTeamMembership")
def get_team_membership(inputs: Inputs, gh: GitHub) -> dict:
    team = _team(inputs)
    user = inputs.segment("username", "the GitHub user's login")
    return _outputs(gh.call("GET", f"{team}/memberships/{user}"))


@action("removeUserFromTeam")
def remove_user_from_team(inputs: Inputs, gh: GitHub) -> dict:
    team = _team(inputs)
    user = inputs.segment("username", "the GitHub user's login")
    return _outputs(gh.call("DELETE", f"{team}/memberships/{user}"))


@action("listOrgMembers")
def list_org_members(inputs: Inputs, gh: GitHub) -> dict:
    org = inputs.segment("org", "the organization")
    return _outputs(
        gh.list(f"/orgs/{org}/members", inputs.optional_fields({"role": "text"}))
    )


def _org_membership(inputs: Inputs) -> str:
    org = inputs.segment("org", "the organization")
    user = inputs.segment("username", "the GitHub user's login")
    return f"/orgs/{org}/memberships/{user}"


@action("addUserToOrg")
def add_user_to_org(inputs: Inputs, gh: GitHub) -> dict:
    """Invites the user (or changes an existing member's `role`: member or admin)."""
    path = _org_membership(inputs)
    body = inputs.optional_fields({"role": "text"})
    return _outputs(gh.call("PUT", path, body=body))


@action("removeUserFromOrg")
def remove_user_from_org(inputs: Inputs, gh: GitHub) -> dict:
    """Removes the member, or cancels the user's pending invitation."""
    return _outputs(gh.call("DELETE", _org_membership(inputs)))


# Deployments


@action("createDeployment")
def create_deployment(inputs: Inputs, gh: GitHub) -> dict:
    repo = inputs.repo()
    body = {
        "ref": inputs.text("ref", "the branch, tag or commit to deploy"),
        **inputs.optional_fields(
            {
                "environment": "text",
                "description": "text",
                "task": "text",
                "auto_merge": "flag",
                "required_contexts": "list",
                "payload": "object",
                "transient_environment": "flag",
                "production_environment": "flag",
            }
        ),
    }
    return _outputs(gh.call("POST", f"/repos/{repo}/deployments", body=body))


@action("getDeployment")
def get_deployment(inputs: Inputs, gh: GitHub) -> dict:
    repo = inputs.repo()
    number = inputs.number("deployment_id", "the deployment's id")
    return _outputs(gh.call("GET", f"/repos/{repo}/deployments/{number}"))


@action("listDeployments")
def list_deployments(inputs: Inputs, gh: GitHub) -> dict:
    repo = inputs.repo()
    query = inputs.optional_fields(
        {"sha": "text", "ref": "text", "task": "text", "environment": "text"}
    )
    return _outputs(gh.list(f"/repos/{repo}/deployments", query))


# Commits


@action("getCommit")
def get_commit(inputs: Inputs, gh: GitHub) -> dict:
    repo = inputs.repo()
    sha = inputs.segment("commit_sha", "the commit's SHA (or a branch or tag)")
    return _outputs(gh.call("GET", f"/repos/{repo}/commits/{sha}"))


@action("listCommits")
def list_commits(inputs: Inputs, gh: GitHub) -> dict:
    repo = inputs.repo()
    query = inputs.optional_fields(
        {
            "sha": "text",
            "path": "text",
            "author": "text",
            "committer": "text",
            "since": "text",
            "until": "text",
        }
    )
    if "sha" not in query and inputs.given("branch"):
        query["sha"] = inputs.text("branch")
    return _outputs(gh.list(f"/repos/{repo}/commits", query))
