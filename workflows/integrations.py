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
