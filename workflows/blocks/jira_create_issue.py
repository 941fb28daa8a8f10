"""JIRA_CREATE_ISSUE: create an issue in a Jira project through the workspace's
Jira integration.

Schema (Cortex): `alias` (which Jira integration; empty for the default one),
`projectKey`, `issueType` (such as Bug or Task), `issueSummary`, `description`,
`labels` and `components` (lists of names), `fields` (more fields by their Jira
id, such as `customfield_10010`, sent as given), and optionally `assignee`,
`reporter` and `priority`. Every string is Mustache-rendered.

The block posts Jira's REST API v2 create-issue request (whose `description` is
plain text on Jira Cloud and Data Center alike) to `{base_url}/rest/api/2/issue`
through `workflows.outbound`. The integration's token is an `email:API token`
pair (Jira Cloud, sent as Basic credentials) or a personal access token (Jira
Data Center, sent as a bearer token). `assignee` and `reporter` are account ids
on Jira Cloud (a site under atlassian.net) and user names elsewhere. `fields`
adds fields; it does not replace the ones the block sets. Jira's errors
(`errorMessages`, and `errors` by field) fail the step with their messages.

outputs: `id`, `key`, `self` (Jira's answer) and `url`, the issue's page.
"""

from __future__ import annotations

import base64
from urllib.parse import urlsplit

from workflows import outbound
from workflows.integrations import IntegrationError, find_integration
from workflows.models import Integration

from .base import Block, BlockContext, Outcome
from .http_request import ConfigError
from .integration import post_json, required_text


def _names(ctx: BlockContext, key: str) -> list[str]:
    """A list of names (labels, components), rendered, empty ones dropped."""
    value = ctx.schema.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key} must be a list of names")
    return [name for name in (ctx.render(v).strip() for v in value) if name]


def _optional_text(ctx: BlockContext, key: str) -> str:
    value = ctx.schema.get(key)
    if value in (None, ""):
        return ""
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be text")
    return ctx.render(value).strip()


def _inputs(ctx: BlockContext) -> dict:
    """The rendered fields; raises ConfigError naming a bad one."""
    inputs = {
        key: required_text(ctx, key)
        for key in ("projectKey", "issueType", "issueSummary")
    }
    description = ctx.schema.get("description")
    if description is not None and not isinstance(description, str):
        raise ConfigError("description must be text")
    inputs["description"] = ctx.render(description or "")
    inputs["labels"] = _names(ctx, "labels")
    if any(" " in label for label in inputs["labels"]):
        raise ConfigError("labels can't contain spaces (Jira refuses them)")
    inputs["components"] = _names(ctx, "components")
    for key in ("assignee", "reporter", "priority"):
        if value := _optional_text(ctx, key):
            inputs[key] = value
    extra = ctx.schema.get("fields")
    if extra is not None and not isinstance(extra, dict):
        raise ConfigError("fields must map Jira field ids to values")
    inputs["fields"] = ctx.render(extra or {})
    return inputs


def _request(inputs: dict, *, cloud: bool) -> dict:
    """Jira's create-issue body."""
    person = "accountId" if cloud else "name"
    fields = {
        "project": {"key": inputs["projectKey"]},
        "issuetype": {"name": inputs["issueType"]},
        "summary": inputs["issueSummary"],
        "description": inputs["description"],
        "labels": inputs["labels"],
        "components": [{"name": name} for name in inputs["components"]],
    }
    if "priority" in inputs:
        fields["priority"] = {"name": inputs["priority"]}
    for key in ("assignee", "reporter"):
        if key in inputs:
            fields[key] = {person: inputs[key]}
    for key, value in inputs["fields"].items():
        fields.setdefault(key, value)
    return {"fields": fields}


def _authorization(token: str) -> str:
    if ":" in token:  # email:API token (Jira Cloud)
        return "Basic " + base64.b64encode(token.encode()).decode()
    return f"Bearer {token}"


def _error(response: outbound.Response) -> str:
    """Jira's `errorMessages` and `errors` (by field), else the start of the body."""
    body = response.body
    if not isinstance(body, dict):
        return response.short_body()
    messages = [str(m) for m in body.get("errorMessages") or [] if m]
    errors = body.get("errors")
    if isinstance(errors, dict):
        messages += [f"{field}: {message}" for field, message in errors.items()]
    return "; ".join(messages) or response.short_body()


class JiraCreateIssue(Block):
    type = "JIRA_CREATE_ISSUE"
    integration = Integration.Kind.JIRA

    def execute(self, ctx: BlockContext) -> Outcome:
        try:
            inputs = _inputs(ctx)
            alias = _optional_text(ctx, "alias")
        except ConfigError as exc:
            return Outcome.failed(f"Bad configuration: {exc}")
        try:
            integration, token = find_integration(
                ctx.workspace, Integration.Kind.JIRA, alias
            )
            site = integration.base_url.rstrip("/")
            cloud = (urlsplit(site).hostname or "").endswith(".atlassian.net")
            response = post_json(
                f"{site}/rest/api/2/issue",
                _request(inputs, cloud=cloud),
                ctx,
                {"Authorization": _authorization(token), "Accept": "application/json"},
            )
        except (IntegrationError, outbound.OutboundError) as exc:
            return Outcome.failed(str(exc), inputs=inputs)
        if not response.ok:
            return Outcome.failed(
                f"HTTP {response.status} from Jira: {_error(response)}", inputs=inputs
            )
        answer = response.body
        if not isinstance(answer, dict) or not answer.get("key"):
            return Outcome.failed(
                f"Jira's answer has no issue key: {response.short_body()}",
                inputs=inputs,
            )
        outputs = {
            "id": answer.get("id"),
            "key": answer["key"],
            "self": answer.get("self"),
            "url": f"{site}/browse/{answer['key']}",
        }
        return Outcome.completed(outputs, inputs=inputs)
