"""PAGERDUTY_CREATE_INCIDENT: open an incident on a PagerDuty service through the
workspace's PagerDuty integration.

Schema (Cortex): `serviceId`, `title`, `body`, `fromEmail` (a PagerDuty user of the
account, whom PagerDuty records as the requester), `urgency` (`HIGH` or `LOW`) and
optionally `incidentTypeName`; strings are Mustache-rendered. `integrationAlias`
picks the integration as for SLACK (Cortex's schema has no alias field, so the
default one is used unless a descriptor names one).

The block posts PagerDuty's REST API v2 create-incident request
(https://developer.pagerduty.com/api-reference/) to `{base_url}/incidents`, with
the REST API key as `Authorization: Token token=…` and `fromEmail` in the `From`
header, through `workflows.outbound` (base URL `https://api.pagerduty.com` for
the real service). PagerDuty's errors (`{"error": {"message", "errors"}}`) fail
the step with their messages.

outputs: PagerDuty's incident: `id`, `incidentNumber`, `status`, `urgency`,
`htmlUrl`, `title`, and `incident`, the whole object as PagerDuty answered.
"""

from __future__ import annotations

import re

from workflows import outbound
from workflows.integrations import IntegrationError
from workflows.models import Integration

from .base import Block, BlockContext, Outcome
from .http_request import ConfigError
from .integration import integration_for, post_json, required_text

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URGENCIES = ("HIGH", "LOW")


def _request(ctx: BlockContext) -> tuple[dict, dict]:
    """The step's inputs and PagerDuty's request body; raises ConfigError."""
    inputs = {
        key: required_text(ctx, key)
        for key in ("serviceId", "title", "body", "fromEmail", "urgency")
    }
    if not _EMAIL.match(inputs["fromEmail"]):
        raise ConfigError(
            f"fromEmail must be an email address, not {inputs['fromEmail']!r}"
        )
    urgency = inputs["urgency"].upper()
    if urgency not in _URGENCIES:
        raise ConfigError(f"urgency must be HIGH or LOW, not {inputs['urgency']!r}")
    inputs["urgency"] = urgency
    incident = {
        "type": "incident",
        "title": inputs["title"],
        "service": {"id": inputs["serviceId"], "type": "service_reference"},
        "urgency": urgency.lower(),
        "body": {"type": "incident_body", "details": inputs["body"]},
    }
    if ctx.schema.get("incidentTypeName"):
        inputs["incidentTypeName"] = required_text(ctx, "incidentTypeName")
        incident["incident_type"] = {"name": inputs["incidentTypeName"]}
    return inputs, {"incident": incident}


def _error(response: outbound.Response) -> str:
    """PagerDuty's error message and its details, else the start of the body."""
    body = response.body
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return response.short_body()
    details = [str(e) for e in error.get("errors") or [] if e]
    message = str(error.get("message") or "error")
    return f"{message} ({'; '.join(details)})" if details else message


class PagerDutyCreateIncident(Block):
    type = "PAGERDUTY_CREATE_INCIDENT"
    integration = Integration.Kind.PAGERDUTY

    def execute(self, ctx: BlockContext) -> Outcome:
        try:
            inputs, request = _request(ctx)
        except ConfigError as exc:
            return Outcome.failed(f"Bad configuration: {exc}")
        try:
            integration, token = integration_for(ctx, Integration.Kind.PAGERDUTY)
            response = post_json(
                f"{integration.base_url.rstrip('/')}/incidents",
                request,
                ctx,
                {
                    "Authorization": f"Token token={token}",
                    "Accept": "application/vnd.pagerduty+json;version=2",
                    "From": inputs["fromEmail"],
                },
            )
        except (IntegrationError, outbound.OutboundError) as exc:
            return Outcome.failed(str(exc), inputs=inputs)
        if not response.ok:
            return Outcome.failed(
                f"HTTP {response.status} from PagerDuty: {_error(response)}",
                inputs=inputs,
            )
        answer = response.body
        incident = answer.get("incident") if isinstance(answer, dict) else None
        if not isinstance(incident, dict):
            return Outcome.failed(
                f"PagerDuty's answer has no incident: {response.short_body()}",
                inputs=inputs,
            )
        outputs = {
            "id": incident.get("id"),
            "incidentNumber": incident.get("incident_number"),
            "status": incident.get("status"),
            "urgency": incident.get("urgency"),
            "htmlUrl": incident.get("html_url"),
            "title": incident.get("title"),
            "incident": incident,
        }
        return Outcome.completed(outputs, inputs=inputs)
