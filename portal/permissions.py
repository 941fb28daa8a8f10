"""Workspace permissions and the built-in roles that bundle them.

A member's permissions are the union of their roles' permissions. Views check
them with `require_permission`; templates read `perms_ws` to hide controls.
"""

from django.db import models


class Permission(models.TextChoices):
    VIEW_WORKFLOWS = "VIEW_WORKFLOWS", "View workflows"
    EDIT_WORKFLOWS = "EDIT_WORKFLOWS", "Edit workflows"
    EXECUTE_WORKFLOW_RUNS = "EXECUTE_WORKFLOW_RUNS", "Run workflows"
    VIEW_WORKFLOW_RUNS = "VIEW_WORKFLOW_RUNS", "View workflow runs"
    EDIT_WORKFLOW_RUNS = "EDIT_WORKFLOW_RUNS", "Cancel and edit workflow runs"
    EDIT_ENTITIES = "EDIT_ENTITIES", "Edit entities"
    CONFIGURE_CUSTOM_METRICS = "CONFIGURE_CUSTOM_METRICS", "Configure custom metrics"
    MANAGE_SECRETS = "MANAGE_SECRETS", "Manage secrets"
    MANAGE_API_KEYS = "MANAGE_API_KEYS", "Manage workspace API keys"
    CONFIGURE_IP_ALLOWLIST = "CONFIGURE_IP_ALLOWLIST", "Configure the IP allowlist"
    MANAGE_TEAMS = "MANAGE_TEAMS", "Manage teams"
    MANAGE_MEMBERS = "MANAGE_MEMBERS", "Manage members and roles"


P = Permission
_VIEWER = {P.VIEW_WORKFLOWS, P.VIEW_WORKFLOW_RUNS}
_USER = _VIEWER | {P.EXECUTE_WORKFLOW_RUNS}
_MANAGER = _USER | {
    P.EDIT_WORKFLOWS,
    P.EDIT_WORKFLOW_RUNS,
    P.EDIT_ENTITIES,
    P.CONFIGURE_CUSTOM_METRICS,
    P.MANAGE_SECRETS,
    P.MANAGE_TEAMS,
}
_ADMIN = set(Permission)

# Name -> permissions; every workspace gets these roles, and they can't be edited.
BUILTIN_ROLES: dict[str, set[str]] = {
    "Viewer": {str(p) for p in _VIEWER},
    "User": {str(p) for p in _USER},
    "Manager": {str(p) for p in _MANAGER},
    "Admin": {str(p) for p in _ADMIN},
}
