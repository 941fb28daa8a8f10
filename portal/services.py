"""Writes to tenancy and access that touch several rows (HackSoft-style services)."""

from django.db import transaction
from django.utils import timezone

from .models import ApiKey, Role, User, Workspace


@transaction.atomic
def api_key_create(
    *,
    workspace: Workspace,
    name: str,
    roles: list[Role] | None = None,
    user: User | None = None,
    created_by: User | None = None,
    description: str = "",
) -> tuple[ApiKey, str]:
    """Create a workspace key (with `roles`) or a personal token (with `user`).

    Returns the key and the raw secret, which is not stored and can't be shown again.
    """
    if (user is None) == (not roles):
        raise ValueError("Give roles for a workspace key, or a user for a personal token")
    raw, prefix, digest = ApiKey.generate()
    key = ApiKey.objects.create(
        workspace=workspace,
        name=name,
        description=description,
        prefix=prefix,
        key_hash=digest,
        user=user,
        created_by=created_by or user,
    )
    if roles:
        key.roles.set(roles)
    return key, raw


def api_key_revoke(*, key: ApiKey) -> None:
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
