"""MS_TEAMS_SEND_MESSAGE: post a message to a Teams channel through the workspace's
Microsoft Teams integration.

Schema (Cortex): `teamId`, `channelId`, `message`; all Mustache-rendered.
`integrationAlias` picks the integration as for SLACK; whether it exists is
checked when the block runs.

The block posts Microsoft Graph's chatMessage shape (`{"body": {"content":
message}}`) to `{base_url}/teams/{teamId}/channels/{channelId}/messages` with
the integration's token as a bearer token, through `workflows.outbound`
(base URL `https://graph.microsoft.com/v1.0` for the real service).

outputs: `{id, teamId, channelId}`, `id` being the message's id from Graph.
"""

from __future__ import annotations

from urllib.parse import quote

from workflows import outbound
from workflows.integrations import IntegrationError
from workflows.models import Integration

from .base import Block, BlockContext, Outcome
from .http_request import ConfigError
from .integration import bearer, integration_for, post_json, required_text


def _graph_error(response: outbound.Response) -> str:
    """Graph's `{"error": {"code", "message"}}` as "code: message", else the body."""
    body = response.body
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and (error.get("code") or error.get("message")):
        return ": ".join(str(p) for p in (error.get("code"), error.get("message")) if p)
    return response.short_body()


class MsTeams(Block):
    type = "MS_TEAMS_SEND_MESSAGE"
    integration = Integration.Kind.MS_TEAMS

    def execute(self, ctx: BlockContext) -> Outcome:
        try:
            team = required_text(ctx, "teamId")
            channel = required_text(ctx, "channelId")
            text = required_text(ctx, "message")
        except ConfigError as exc:
            return Outcome.failed(f"Bad configuration: {exc}")
        inputs = {"teamId": team, "channelId": channel, "message": text}
        try:
            integration, token = integration_for(ctx, Integration.Kind.MS_TEAMS)
            # Channel ids look like 19:abc@thread.tacv2; ':' and '@' may stay, '/' may not.
            path = f"/teams/{quote(team, safe=':@')}/channels/{quote(channel, safe=':@')}/messages"
            url = integration.base_url.rstrip("/") + path
            response = post_json(url, {"body": {"content": text}}, ctx, bearer(token))
        except (IntegrationError, outbound.OutboundError) as exc:
            return Outcome.failed(str(exc), inputs=inputs)
        if not response.ok:
            return Outcome.failed(
                f"HTTP {response.status} from Microsoft Teams: {_graph_error(response)}",
                inputs=inputs,
            )
        answer = response.body if isinstance(response.body, dict) else {}
        outputs = {"id": answer.get("id"), "teamId": team, "channelId": channel}
        return Outcome.completed(outputs, inputs=inputs)
