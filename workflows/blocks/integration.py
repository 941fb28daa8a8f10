"""What the blocks that call a workspace integration share (SLACK,
MS_TEAMS_SEND_MESSAGE, PAGERDUTY_CREATE_INCIDENT, JIRA_CREATE_ISSUE): finding the
integration, posting JSON to it within the block limits, reading required
schema text. Not a block itself.
"""

from __future__ import annotations

import json

from workflows import outbound
from workflows.integrations import find_integration
from workflows.models import Integration

from .base import BlockContext
from .http_request import ConfigError, block_max_bytes, block_timeout


def integration_for(ctx: BlockContext, kind: str) -> tuple[Integration, str]:
    """The workspace integration of `kind` the block names, and its decrypted token."""
    alias = ctx.schema.get("integrationAlias") or ""
    return find_integration(ctx.workspace, kind, alias)


def post_json(
    url: str, document: dict, ctx: BlockContext, headers: dict[str, str]
) -> outbound.Response:
    """POST `document` as JSON with `headers` (those that sign it, at least) to an
    integration, within the block limits; raises outbound.OutboundError."""
    return outbound.send(
        "POST",
        url,
        headers={"Content-Type": "application/json; charset=utf-8", **headers},
        content=json.dumps(document),
        workspace=ctx.workspace,
        timeout=block_timeout(),
        max_bytes=block_max_bytes(),
        secrets=ctx.secret_values,
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def required_text(ctx: BlockContext, key: str) -> str:
    """A required schema string, rendered; raises ConfigError naming it."""
    template = ctx.schema.get(key)
    if template is None or not isinstance(template, str | int) or template == "":
        raise ConfigError(f"{key} is required")
    value = ctx.render(str(template)).strip()
    if not value:
        raise ConfigError(f"{key} is empty once rendered (template: {template})")
    return value
