"""The `gitlab.*` actions of ADVANCED_HTTP_REQUEST blocks, through the workspace's GitLab integration.

`ACTIONS` maps each identifier to a handler `(inputs, gitlab) -> outputs`; `run_action`
finds the integration (`integrationAlias`, empty for the default, as
`workflows.integrations.find_integration` does), then lets the handler call
GitLab's REST API v4 (https://docs.gitlab.com/ee/api/) at `{base URL}/api/v4`
through `workflows.outbound`, so the outbound rules (timeout, size cap, refused
private addresses) hold. The integration's base URL is the instance's address
(https://gitlab.com by default); one that already ends in `/api/v4` is used as is.

Inputs use the names of Cortex's own descriptors for these actions (its CLI's
functional tests, `data/functional/workflows/gl-*.yaml`), which mix snake_case
and camelCase: `project` is a project's numeric id or its full path
`group/project` (sent URL-encoded, `group%2Fproject`); `branch_name` names a
protected branch (`getProtectedBranch` reads `branchName`); `approvalRuleId` and
`pipeline_schedule_id` are numbers (a string is fine); `message` is a commit
message; `rule_name`, `project_name`, `project_description` and
`pipeline_description` are GitLab's `name` and `description`. Optional inputs
that Cortex's descriptors don't show are GitLab's own field names
(`visibility`, `protected`, `cron_timezone`, …) and are sent only when given
and not empty. Inputs are read with `service_actions.Inputs`, so the checks and
their messages are the same as for the `github.*` actions.

Outputs: Cortex doesn't document what these actions output, so they are
GitLab's parsed JSON answer: an object as it is, a list as `{"items": [...]}`
(lists follow GitLab's `Link: rel="next"` or `X-Next-Page`, at most `MAX_PAGES`
of 100), and `{}` when GitLab answers with no body (204). `getFile` adds
`decodedContent`, the file's text, next to GitLab's base64 `content`.

A missing or malformed input, no GitLab integration, a refused or failed call
and a non-2xx answer (with GitLab's `message` or `error`) each fail the step with
a message naming the action. The token goes only in the PRIVATE-TOKEN header of
requests to the integration's API; it is never in the step's inputs, outputs or
messages.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from workflows import outbound, service_actions
from workflows.integrations import gitlab_api_url, gitlab_headers

if TYPE_CHECKING:
    pass

MAX_PAGES = service_actions.MAX_PAGES
_outputs = service_actions.outputs


class GitLabActionError(service_actions.ActionError):
    """The action can't run or GitLab refused it; the message is shown on the step."""


# Inputs ----------------------------------------------------------------------------


class Inputs(service_actions.Inputs):
    """The shared checked inputs, failing with GitLabActionError, plus GitLab's parts."""

    error = GitLabActionError

    def project(self) -> str:
        """`project` as a path segment: a numeric id, or the full path URL-encoded."""
        value = self.text("project", "the project's id or full path, group/project")
        parts = value.strip("/").split("/")
        if any(part in ("", ".", "..") for part in parts):
            raise self.fail(
                "inputs.project must be a project's id or full path, group/project, "
                f"not {value!r}"
            )
        return quote("/".join(parts), safe="")

    def encoded(self, key: str, what: str = "") -> str:
        """A required input sent as one URL-encoded path segment (slashes as %2F)."""
        value = self.text(key, what)
        if any(part in ("", ".", "..") for part in value.split("/")):
            raise self.fail(f"inputs.{key} has an empty, '.' or '..' path segment")
        return quote(value, safe="")

    def first_given(self, *keys: str) -> str:
        """The first of `keys` that is given (the first key if none is)."""
        return next((key for key in keys if self.given(key)), keys[0])


# The integration -------------------------------------------------------------------


class GitLab(service_actions.Client):
    """Calls GitLab's REST API v4 (under the integration's base URL) for one action."""

    service = "GitLab"
    error = GitLabActionError

    @property
    def api(self) -> str:
        return gitlab_api_url(self.base_url)

    def headers(self) -> dict[str, str]:
        return gitlab_headers(self.token)

    def problem(self, response: outbound.Response) -> str:
        return _problem(response)

    def next_page(self, url: str, headers: dict[str, str]) -> str | None:
        """`Link: rel="next"` (on the integration's own address, so the token
        stays home), else `X-Next-Page` (empty on the last page) on `url`."""
        if re.search(r'rel="?next"?', headers.get("link", "")):
            return super().next_page(url, headers)
        page = headers.get("x-next-page", "").strip()
        if not (page.isascii() and page.isdigit()):
            return None
        parts = urlsplit(url)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "page"]
        return urlunsplit(parts._replace(query=urlencode([*query, ("page", page)])))


def _problem(response: outbound.Response) -> str:
    """GitLab's `message` (text, or field → messages), else its `error`."""
    body = response.body
    if isinstance(body, dict) and body.get("message"):
        return _message(body["message"])
    if isinstance(body, dict) and body.get("error"):
        error = str(body["error"])
        detail = body.get("error_description")
        return f"{error} ({detail})" if detail else error
    return response.short_body() or "(no message)"


def _message(message: Any) -> str:
    if isinstance(message, dict):
        return "; ".join(
            f"{name} {_message(detail)}" if name != "base" else _message(detail)
            for name, detail in message.items()
        )
    if isinstance(message, list):
        return ", ".join(_message(item) for item in message)
    return str(message)


# Actions ---------------------------------------------------------------------------

_actions = service_actions.Actions("gitlab", "GITLAB", GitLab, Inputs)
ACTIONS = _actions.handlers
action = _actions.action
run_action = _actions.run


def _renamed(inputs: Inputs, names: dict[str, str]) -> dict:
    """GitLab fields from Cortex's input names (`rule_name` → `name`), when given."""
    return {name: inputs.text(key) for key, name in names.items() if inputs.given(key)}


# Projects

_PROJECT_FIELDS = {
    "path": "text",
    "description": "text",
    "visibility": "text",
    "default_branch": "text",
    "topics": "list",
    "issues_enabled": "flag",
    "merge_requests_enabled": "flag",
    "wiki_enabled": "flag",
    "lfs_enabled": "flag",
    "request_access_enabled": "flag",
    "only_allow_merge_if_pipeline_succeeds": "flag",
    "only_allow_merge_if_all_discussions_are_resolved": "flag",
    "remove_source_branch_after_merge": "flag",
    "merge_method": "text",
    "squash_option": "text",
}


@action("createProject")
def create_project(inputs: Inputs, gl: GitLab) -> dict:
    body = {
        "name": inputs.text("project_name", "the new project's name"),
        **_renamed(inputs, {"project_description": "description"}),
        **inputs.optional_fields(
            {
                **_PROJECT_FIELDS,
                "namespace_id": "number",
                "initialize_with_readme": "flag",
            }
        ),
    }
    return _outputs(gl.call("POST", "/projects", body=body))


@action("getProject")
def get_project(inputs: Inputs, gl: GitLab) -> dict:
    return _outputs(gl.call("GET", f"/projects/{inputs.project()}"))


@action("updateProject")
def update_project(inputs: Inputs, gl: GitLab) -> dict:
    project = inputs.project()
    body = {
        **_renamed(
            inputs, {"project_name": "name", "project_description": "description"}
        ),
        **inputs.optional_fields({**_PROJECT_FIELDS, "name": "text"}),
    }
    return _outputs(gl.call("PUT", f"/projects/{project}", body=body))


@action("archiveProject")
def archive_project(inputs: Inputs, gl: GitLab) -> dict:
    return _outputs(gl.call("POST", f"/projects/{inputs.project()}/archive"))


@action("unarchiveProject")
def unarchive_project(inputs: Inputs, gl: GitLab) -> dict:
    return _outputs(gl.call("POST", f"/projects/{inputs.project()}/unarchive"))


@action("deleteProject")
def delete_project(inputs: Inputs, gl: GitLab) -> dict:
    return _outputs(gl.call("DELETE", f"/projects/{inputs.project()}"))


# Files


def _file(inputs: Inputs) -> str:
    project = inputs.project()
    path = inputs.encoded("path", "the file's path in the repository")
    return f"/projects/{project}/repository/files/{path}"


def _commit(inputs: Inputs) -> dict:
    """The branch and commit message of a file change (`message`, as Cortex names it)."""
    message_key = inputs.first_given("message", "commit_message")
    return {
        "branch": inputs.text("branch", "the branch to commit to"),
        "commit_message": inputs.text(message_key, "the commit message"),
        **inputs.optional_fields(
            {
                "start_branch": "text",
                "author_email": "text",
                "author_name": "text",
                "last_commit_id": "text",
            }
        ),
    }


def _file_change(inputs: Inputs) -> tuple[str, dict]:
    """A file's address and new content: as given, or base64 when `encoding` says so."""
    path = _file(inputs)
    if "content" not in inputs.raw or inputs.raw["content"] is None:
        raise inputs.fail("inputs.content is required (the file's content)")
    content = inputs.raw["content"]
    if not isinstance(content, str):
        raise inputs.fail(
            f"inputs.content must be a string, not {service_actions.kind(content)}"
        )
    body = {**_commit(inputs), "content": content}
    encoding = inputs.optional_text("encoding")
    if encoding is not None:
        if encoding not in ("text", "base64"):
            raise inputs.fail(
                f"inputs.encoding must be text or base64, not {encoding!r}"
            )
        body["encoding"] = encoding
    body.update(inputs.optional_fields({"execute_filemode": "flag"}))
    return path, body


@action("getFile")
def get_file(inputs: Inputs, gl: GitLab) -> dict:
    path = _file(inputs)
    ref = inputs.text(inputs.first_given("ref", "branch"), "the branch, tag or commit")
    outputs = _outputs(gl.call("GET", path, query={"ref": ref}))
    if outputs.get("encoding") == "base64" and isinstance(outputs.get("content"), str):
        try:
            outputs["decodedContent"] = base64.b64decode(outputs["content"]).decode()
        except (binascii.Error, UnicodeDecodeError):
            pass  # binary: GitLab's base64 is all there is
    return outputs


@action("createFile")
def create_file(inputs: Inputs, gl: GitLab) -> dict:
    path, body = _file_change(inputs)
    return _outputs(gl.call("POST", path, body=body))


@action("updateFile")
def update_file(inputs: Inputs, gl: GitLab) -> dict:
    path, body = _file_change(inputs)
    return _outputs(gl.call("PUT", path, body=body))


@action("deleteFile")
def delete_file(inputs: Inputs, gl: GitLab) -> dict:
    path = _file(inputs)
    return _outputs(gl.call("DELETE", path, body=_commit(inputs)))


# Protected branches

_PROTECTION_FIELDS = {
    "push_access_level": "count",
    "merge_access_level": "count",
    "unprotect_access_level": "count",
    "allow_force_push": "flag",
    "code_owner_approval_required": "flag",
}


def _protected_branch(inputs: Inputs) -> str:
    project = inputs.project()
    key = inputs.first_given("branch_name", "branchName")
    branch = inputs.encoded(key, "the protected branch's name or wildcard")
    return f"/projects/{project}/protected_branches/{branch}"


@action("createBranchProtection")
def create_branch_protection(inputs: Inputs, gl: GitLab) -> dict:
    project = inputs.project()
    key = inputs.first_given("branch_name", "branchName")
    body = {
        "name": inputs.text(key, "the branch's name or wildcard to protect"),
        **inputs.optional_fields(_PROTECTION_FIELDS),
    }
    return _outputs(
        gl.call("POST", f"/projects/{project}/protected_branches", body=body)
    )


@action("getProtectedBranch")
def get_protected_branch(inputs: Inputs, gl: GitLab) -> dict:
    return _outputs(gl.call("GET", _protected_branch(inputs)))


@action("listProtectedBranches")
def list_protected_branches(inputs: Inputs, gl: GitLab) -> dict:
    project = inputs.project()
    query = inputs.optional_fields({"search": "text"})
    return _outputs(gl.list(f"/projects/{project}/protected_branches", query))


@action("updateBranchProtection")
def update_branch_protection(inputs: Inputs, gl: GitLab) -> dict:
    path = _protected_branch(inputs)
    body = inputs.optional_fields(
        {"allow_force_push": "flag", "code_owner_approval_required": "flag"}
    )
    return _outputs(gl.call("PATCH", path, body=body))


@action("deleteBranchProtection")
def delete_branch_protection(inputs: Inputs, gl: GitLab) -> dict:
    return _outputs(gl.call("DELETE", _protected_branch(inputs)))


# CI/CD variables

_VARIABLE_FIELDS = {
    "variable_type": "text",
    "protected": "flag",
    "masked": "flag",
    "raw": "flag",
    "environment_scope": "text",
    "description": "text",
}


def _variable(inputs: Inputs) -> str:
    project = inputs.project()
    key = inputs.segment("key", "the variable's key")
    return f"/projects/{project}/variables/{key}"


def _scope(inputs: Inputs) -> dict | None:
    """The `filter[environment_scope]` that picks one of several same-key variables."""
    scope = inputs.optional_text("environment_scope")
    return {"filter[environment_scope]": scope} if scope else None


@action("createProjectVariable")
def create_project_variable(inputs: Inputs, gl: GitLab) -> dict:
    project = inputs.project()
    body = {
        "key": inputs.text("key", "the variable's key"),
        "value": inputs.text("value", "the variable's value"),
        **inputs.optional_fields(_VARIABLE_FIELDS),
    }
    return _outputs(gl.call("POST", f"/projects/{project}/variables", body=body))


@action("getProjectVariable")
def get_project_variable(inputs: Inputs, gl: GitLab) -> dict:
    return _outputs(gl.call("GET", _variable(inputs), query=_scope(inputs)))


@action("listProjectVariables")
def list_project_variables(inputs: Inputs, gl: GitLab) -> dict:
    return _outputs(gl.list(f"/projects/{inputs.project()}/variables"))


@action("updateProjectVariable")
def update_project_variable(inputs: Inputs, gl: GitLab) -> dict:
    path = _variable(inputs)
    body = {
        "value": inputs.text("value", "the variable's new value"),
        **inputs.optional_fields(_VARIABLE_FIELDS),
    }
    return _outputs(gl.call("PUT", path, body=body, query=_scope(inputs)))


@action("deleteProjectVariable")
def delete_project_variable(inputs: Inputs, gl: GitLab) -> dict:
    return _outputs(gl.call("DELETE", _variable(inputs), query=_scope(inputs)))


# Pipeline schedules


def _schedule(inputs: Inputs) -> str:
    project = inputs.project()
    number = inputs.number("pipeline_schedule_id", "the pipeline schedule's id")
    return f"/projects/{project}/pipeline_schedules/{number}"


_SCHEDULE_FIELDS = {"cron_timezone": "text", "active": "flag"}


@action("createPipelineSchedule")
def create_pipeline_schedule(inputs: Inputs, gl: GitLab) -> dict:
    project = inputs.project()
    description = inputs.first_given("pipeline_description", "description")
    body = {
        "description": inputs.text(description, "what the schedule is for"),
        "ref": inputs.text("ref", "the branch or tag to run the pipeline on"),
        "cron": inputs.text("cron", "when to run, e.g. 0 1 * * *"),
        **inputs.optional_fields(_SCHEDULE_FIELDS),
    }
    return _outputs(
        gl.call("POST", f"/projects/{project}/pipeline_schedules", body=body)
    )


@action("getPipelineSchedule")
def get_pipeline_schedule(inputs: Inputs, gl: GitLab) -> dict:
    return _outputs(gl.call("GET", _schedule(inputs)))


@action("listPipelineSchedules")
def list_pipeline_schedules(inputs: Inputs, gl: GitLab) -> dict:
    project = inputs.project()
    query = inputs.optional_fields({"scope": "text"})
    return _outputs(gl.list(f"/projects/{project}/pipeline_schedules", query))


@action("updatePipelineSchedule")
def update_pipeline_schedule(inputs: Inputs, gl: GitLab) -> dict:
    path = _schedule(inputs)
    body = {
        **_renamed(inputs, {"pipeline_description": "description"}),
        **inputs.optional_fields(
            {"description": "text", "ref": "text", "cron": "text", **_SCHEDULE_FIELDS}
        ),
    }
    return _outputs(gl.call("PUT", path, body=body))


@action("deletePipelineSchedule")
def delete_pipeline_schedule(inputs: Inputs, gl: GitLab) -> dict:
    return _outputs(gl.call("DELETE", _schedule(inputs)))


# Merge request approval rules and settings (GitLab Premium)

_RULE_FIELDS = {
    "user_ids": "numbers",
    "group_ids": "numbers",
    "usernames": "list",
    "protected_branch_ids": "numbers",
    "applies_to_all_protected_branches": "flag",
    "rule_type": "text",
    "report_type": "text",
}


def _approval_rule(inputs: Inputs) -> str:
    project = inputs.project()
    number = inputs.number("approvalRuleId", "the approval rule's id")
    return f"/projects/{project}/approval_rules/{number}"


@action("createApprovalRule")
def create_approval_rule(inputs: Inputs, gl: GitLab) -> dict:
    project = inputs.project()
    body = {
        "name": inputs.text("rule_name", "the approval rule's name"),
        "approvals_required": inputs.count(
            "approvals_required", "how many approvals the rule needs"
        ),
        **inputs.optional_fields(_RULE_FIELDS),
    }
    return _outputs(gl.call("POST", f"/projects/{project}/approval_rules", body=body))


@action("getApprovalRule")
def get_approval_rule(inputs: Inputs, gl: GitLab) -> dict:
    return _outputs(gl.call("GET", _approval_rule(inputs)))


@action("listApprovalRules")
def list_approval_rules(inputs: Inputs, gl: GitLab) -> dict:
    return _outputs(gl.list(f"/projects/{inputs.project()}/approval_rules"))


@action("updateApprovalRule")
def update_approval_rule(inputs: Inputs, gl: GitLab) -> dict:
    path = _approval_rule(inputs)
    body = {
        **_renamed(inputs, {"rule_name": "name"}),
        **inputs.optional_fields({"approvals_required": "count", **_RULE_FIELDS}),
    }
    return _outputs(gl.call("PUT", path, body=body))


@action("deleteApprovalRule")
def delete_approval_rule(inputs: Inputs, gl: GitLab) -> dict:
    return _outputs(gl.call("DELETE", _approval_rule(inputs)))


@action("getApprovalConfiguration")
def get_approval_configuration(inputs: Inputs, gl: GitLab) -> dict:
    return _outputs(gl.call("GET", f"/projects/{inputs.project()}/approvals"))


@action("updateApprovalConfiguration")
def update_approval_configuration(inputs: Inputs, gl: GitLab) -> dict:
    project = inputs.project()
    body = inputs.optional_fields(
        {
            "approvals_before_merge": "count",
            "reset_approvals_on_push": "flag",
            "selective_code_owner_removals": "flag",
            "disable_overriding_approvers_per_merge_request": "flag",
            "merge_requests_author_approval": "flag",
            "merge_requests_disable_committers_approval": "flag",
            "require_password_to_approve": "flag",
            "require_reauthentication_to_approve": "flag",
        }
    )
    return _outputs(gl.call("POST", f"/projects/{project}/approvals", body=body))


# Push rules (GitLab Premium)

_PUSH_RULE_FIELDS = {
    "deny_delete_tag": "flag",
    "member_check": "flag",
    "prevent_secrets": "flag",
    "commit_committer_check": "flag",
    "commit_committer_name_check": "flag",
    "reject_unsigned_commits": "flag",
    "reject_non_dco_commits": "flag",
    "commit_message_regex": "text",
    "commit_message_negative_regex": "text",
    "branch_name_regex": "text",
    "author_email_regex": "text",
    "file_name_regex": "text",
    "max_file_size": "count",
}


@action("createPushRule")
def create_push_rule(inputs: Inputs, gl: GitLab) -> dict:
    project = inputs.project()
    body = inputs.optional_fields(_PUSH_RULE_FIELDS)
    return _outputs(gl.call("POST", f"/projects/{project}/push_rule", body=body))


@action("updatePushRule")
def update_push_rule(inputs: Inputs, gl: GitLab) -> dict:
    project = inputs.project()
    body = inputs.optional_fields(_PUSH_RULE_FIELDS)
    return _outputs(gl.call("PUT", f"/projects/{project}/push_rule", body=body))


@action("getPushRule")
def get_push_rule(inputs: Inputs, gl: GitLab) -> dict:
    return _outputs(gl.call("GET", f"/projects/{inputs.project()}/push_rule"))


@action("deletePushRule")
def delete_push_rule(inputs: Inputs, gl: GitLab) -> dict:
    return _outputs(gl.call("DELETE", f"/projects/{inputs.project()}/push_rule"))
