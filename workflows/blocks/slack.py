"""SLACK: post a message to a channel through the workspace's Slack integration.

Schema (Cortex): `channel` (without the `#`), `message`; both Mustache-rendered.
`integrationAlias` picks the integration (default: the one called "default",
or the only one there is). Whether it exists is checked when the block runs.

The block posts Slack's `chat.postMessage` (`{channel, text}`) to
`{base_url}/api/chat.postMessage` with the integration's token as a bearer
token, through `workflows.outbound`, so the base URL can point at a Slack
proxy or a test server. Slack answers errors with 200 and
`{"ok": false, "error": "channel_not_found"}`; that fails the step with the error.

outputs: `{ok, channel, ts}` from Slack's answer.
"""

from __future__ import annotations

from workflows import outbound
from workflows.integrations import IntegrationError
from workflows.models import Integration

from .base import Block, BlockContext, Outcome
from .http_request import ConfigError
from .integration import bearer, integration_for, post_json, required_text


class Slack(Block):
    type = "SLACK"
    integration = Integration.Kind.SLACK

    def execute(self, ctx: BlockContext) -> Outcome:
        try:
            channel = required_text(ctx, "channel").lstrip("#")
            text = required_text(ctx, "message")
        except ConfigError as exc:
            return Outcome.failed(f"Bad configuration: {exc}")
        inputs = {"channel": channel, "message": text}
        try:
            integration, token = integration_for(ctx, Integration.Kind.SLACK)
            url = f"{integration.base_url.rstrip('/')}/api/chat.postMessage"
            response = post_json(
                url, {"channel": channel, "text": text}, ctx, bearer(token)
            )
        except (IntegrationError, outbound.OutboundError) as exc:
            return Outcome.failed(str(exc), inputs=inputs)
        answer = response.body
        if not response.ok:
            return Outcome.failed(
                f"HTTP {response.status} from Slack: {response.short_body()}",
                inputs=inputs,
            )
        if not isinstance(answer, dict):
            return Outcome.failed(
                f"Slack's answer is not JSON: {response.short_body()}", inputs=inputs
            )
        if not answer.get("ok"):
            error = answer.get("error") or "unknown error"
            return Outcome.failed(f"Slack refused the message: {error}", inputs=inputs)
        outputs = {
            "ok": True,
            "channel": answer.get("channel", channel),
            "ts": answer.get("ts"),
        }
        return Outcome.completed(outputs, inputs=inputs)
