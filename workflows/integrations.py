"""Finding a workspace integration by kind and alias, with its decrypted token.

Blocks name an integration by alias (`integrationAlias`); none means the one
called "default", or the only one of that kind there is. Whether it exists is
checked when a block runs, not when the workflow is saved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workflows.models import Integration
from workflows.secrets import decrypt

if TYPE_CHECKING:
    from portal.models import Workspace


class IntegrationError(Exception):
    """No usable integration; the message says what to configure."""


def find_integration(
    workspace: Workspace, kind: str, alias: str = ""
) -> tuple[Integration, str]:
    """The workspace's integration of `kind` called `alias`, and its decrypted token."""
    label = Integration.Kind(kind).label
    integrations = Integration.objects.filter(workspace=workspace, kind=kind)
    if alias:
        integration = integrations.filter(alias=alias).first()
    else:
        integration = integrations.filter(alias="default").first()
        if integration is None and len(candidates := list(integrations[:2])) == 1:
            integration = candidates[0]
    if integration is None:
        if alias and integrations.exists():
            raise IntegrationError(
                f"No {label} integration with alias {alias!r} is configured in this workspace"
            )
        raise IntegrationError(
            f"No {label} integration is configured in this workspace"
        )
    try:
        token = decrypt(integration.encrypted_token)
    except ValueError as exc:
        raise IntegrationError(
            f"The {label} integration {integration.alias!r}: {exc}"
        ) from None
    if not token:
        raise IntegrationError(
            f"The {label} integration {integration.alias!r} has no token"
        )
    return integration, str(token)


def missing_integrations(descriptor: dict, workspace: Workspace) -> list[str]:
    """The labels of the integration kinds the workflow's blocks use and the
    workspace has none of ("Slack"): a run would fail at those blocks. Aliases
    are left to the blocks (they may be templates)."""
    from workflows.blocks import get_block
    from workflows.blocks.base import BlockFailed

    needed = set()
    for action in descriptor.get("actions") or []:
        schema = action.get("schema") if isinstance(action, dict) else None
        if not isinstance(schema, dict):
            continue
        try:
            kind = get_block(schema.get("type")).integration_kind(schema)
        except BlockFailed:  # a type Cairn can't run says so when it runs
            continue
        if kind:
            needed.add(kind)
    if not needed:
        return []
    present = set(
        Integration.objects.filter(workspace=workspace, kind__in=needed).values_list(
            "kind", flat=True
        )
    )
    return sorted(Integration.Kind(k).label for k in needed - present)


def github_headers(token: str) -> dict[str, str]:
    """The headers that sign a request to GitHub's REST API with `token`."""
    return {
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }


def gitlab_api_url(base_url: str) -> str:
    """The REST API v4 address of a GitLab instance at `base_url`; a base URL
    that already ends in /api/v4 is used as is."""
    base = base_url.rstrip("/")
    return base if base.endswith("/api/v4") else base + "/api/v4"


def gitlab_headers(token: str) -> dict[str, str]:
    """The headers that sign a request to GitLab's REST API with `token`."""
    return {"PRIVATE-TOKEN": token, "Accept": "application/json"}
