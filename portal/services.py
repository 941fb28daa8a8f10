"""Writes to tenancy and access that touch several rows (HackSoft-style services)."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.models import Team
from workflows import notify
from workflows.models import (
    Integration,
    LinkedAccount,
    OutboundAllowlistEntry,
    Secret,
    SigningSecret,
)
from workflows.secrets import encrypt

from .models import ApiKey, IpAllowlistEntry, Membership, Role, User, Workspace
from .permissions import Permission


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
        raise ValueError(
            "Give roles for a workspace key, or a user for a personal token"
        )
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


def may_revoke(key: ApiKey, by_perms: frozenset[str]) -> bool:
    """A member (`by_perms`, their permissions) may revoke only workspace keys
    whose permissions they hold too, as they may only create such keys."""
    return key.user_id is not None or _perms_of(key.roles.all()) <= by_perms


def api_key_revoke(*, key: ApiKey, by_perms: frozenset[str] | None = None) -> None:
    """Revoke a key; with `by_perms`, only one the member `may_revoke`."""
    if by_perms is not None and not may_revoke(key, by_perms):
        _refuse_beyond(by_perms, _perms_of(key.roles.all()), "revoke a key with")
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


# Members, roles, teams and the IP allowlist (the workspace settings pages)


class ChangeRefused(Exception):
    """A settings change the workspace's rules don't allow; the message is for the user."""


def _ensure_someone_manages_members(workspace: Workspace) -> None:
    """Raise ChangeRefused if no member is left who can manage members.

    Callers run inside a transaction, so raising rolls the change back.
    """
    # `permissions` is a JSON list, and SQLite has no JSON containment lookup,
    # so pick the roles in Python (a workspace has a handful):
    roles = [
        r.pk
        for r in workspace.roles.all()
        if Permission.MANAGE_MEMBERS in r.permissions
    ]
    if not Membership.objects.filter(workspace=workspace, roles__in=roles).exists():
        raise ChangeRefused(
            "The workspace must keep at least one member who can manage members "
            "(for example an Admin)."
        )


def _refuse_beyond(by_perms: frozenset[str], perms, doing: str) -> None:
    """Whoever manages members may not hand out, or take away, permissions they
    lack: else a member with only "Manage members and roles" could make
    themselves Admin. `by_perms` are the acting member's permissions."""
    if extra := set(perms) - by_perms:
        labels = ", ".join(Permission(p).label for p in sorted(extra))
        raise ChangeRefused(f"You can't {doing} permissions you don't have: {labels}.")


def _perms_of(roles) -> set[str]:
    return {p for role in roles for p in role.permissions}


@transaction.atomic
def member_add(
    *, workspace: Workspace, user: User, roles: list[Role], by_perms: frozenset[str]
) -> Membership:
    _refuse_beyond(by_perms, _perms_of(roles), "give a member")
    if Membership.objects.filter(workspace=workspace, user=user).exists():
        raise ChangeRefused(f"{user.email} is already a member of this workspace.")
    membership = Membership.objects.create(workspace=workspace, user=user)
    membership.roles.set(roles)
    return membership


@transaction.atomic
def member_set_roles(
    *, membership: Membership, roles: list[Role], by_perms: frozenset[str]
) -> None:
    if not roles:
        raise ChangeRefused("A member needs at least one role.")
    changed = set(roles) ^ set(membership.roles.all())
    _refuse_beyond(by_perms, _perms_of(changed), "give or take away")
    membership.roles.set(roles)
    _ensure_someone_manages_members(membership.workspace)


@transaction.atomic
def member_remove(
    *, membership: Membership, by: User, by_perms: frozenset[str]
) -> None:
    """Remove a member, take them off the workspace's teams and revoke their tokens there."""
    if membership.user_id == by.pk:
        raise ChangeRefused("You can't remove yourself from the workspace.")
    _refuse_beyond(by_perms, membership.permission_set(), "remove a member with")
    workspace, user = membership.workspace, membership.user
    membership.delete()
    _ensure_someone_manages_members(workspace)
    Team.members.through.objects.filter(team__workspace=workspace, user=user).delete()
    ApiKey.objects.active().filter(workspace=workspace, user=user).update(
        revoked_at=timezone.now()
    )


def role_create(
    *, workspace: Workspace, name: str, permissions: list[str], by_perms: frozenset[str]
) -> Role:
    _refuse_beyond(by_perms, permissions, "give a role")
    return Role.objects.create(
        workspace=workspace, name=name, permissions=sorted(permissions)
    )


@transaction.atomic
def role_update(
    *, role: Role, name: str, permissions: list[str], by_perms: frozenset[str]
) -> None:
    if role.is_builtin:
        raise ChangeRefused("Built-in roles can't be changed.")
    _refuse_beyond(
        by_perms, set(permissions) ^ set(role.permissions), "give or take away"
    )
    role.name = name
    role.permissions = sorted(permissions)
    role.save(update_fields=["name", "permissions"])
    _ensure_someone_manages_members(role.workspace)


@transaction.atomic
def role_delete(*, role: Role, by_perms: frozenset[str]) -> tuple[int, int]:
    """Delete a custom role; members and API keys that had it lose it.

    Returns how many members and API keys had the role.
    """
    if role.is_builtin:
        raise ChangeRefused("Built-in roles can't be deleted.")
    _refuse_beyond(by_perms, role.permissions, "delete a role with")
    counts = (role.memberships.count(), role.api_keys.count())
    role.delete()
    _ensure_someone_manages_members(role.workspace)
    return counts


def team_create(
    *, workspace: Workspace, tag: str, name: str, description: str = ""
) -> Team:
    return Team.objects.create(
        workspace=workspace, tag=tag, name=name, description=description
    )


@transaction.atomic
def team_update(
    *, team: Team, name: str, description: str, members: list[User]
) -> None:
    team.name = name
    team.description = description
    team.save(update_fields=["name", "description"])
    before = set(team.members.values_list("pk", flat=True))
    team.members.set(members)
    notify.approvers_joined(team, [u for u in members if u.pk not in before])


def team_delete(*, team: Team) -> None:
    team.delete()


def ip_allowlist_add(
    *, workspace: Workspace, address: str, description: str = ""
) -> IpAllowlistEntry:
    """Add a normalised address or CIDR range (see IpAllowlistForm)."""
    return IpAllowlistEntry.objects.create(
        workspace=workspace, address=address, description=description
    )


def ip_allowlist_remove(*, entry: IpAllowlistEntry) -> None:
    entry.delete()


@transaction.atomic
def ip_allowlist_replace(
    *, workspace: Workspace, entries: list[tuple[str, str]]
) -> None:
    """Make the list exactly `entries` (canonical, distinct addresses with
    their descriptions), in one transaction: no request sees it half-changed."""
    workspace.ip_allowlist.all().delete()
    IpAllowlistEntry.objects.bulk_create(
        IpAllowlistEntry(workspace=workspace, address=a, description=d)
        for a, d in entries
    )


# Secrets, integrations and the outbound allowlist (models of the workflows app).
# Forms check uniqueness first; the IntegrityError branches cover a concurrent
# request that got there in between.


def secret_create(*, workspace: Workspace, tag: str, name: str, value: str) -> Secret:
    """Store a workspace secret; only the encrypted value is kept."""
    try:
        with transaction.atomic():
            return Secret.objects.create(
                workspace=workspace, tag=tag, name=name, encrypted_value=encrypt(value)
            )
    except IntegrityError:
        raise ChangeRefused(f"A secret with the tag “{tag}” already exists.") from None


def secret_update(*, secret: Secret, name: str, value: str = "") -> None:
    """Rename a secret and, if `value` is not empty, replace its value."""
    secret.name = name
    fields = ["name", "updated_at"]
    if value:
        secret.encrypted_value = encrypt(value)
        fields.append("encrypted_value")
    secret.updated_at = timezone.now()
    secret.save(update_fields=fields)


def secret_delete(*, secret: Secret) -> None:
    secret.delete()


def signing_secret_set(*, workspace: Workspace, value: str) -> None:
    """Set or replace the secret HTTP blocks sign their requests with."""
    SigningSecret.objects.update_or_create(
        workspace=workspace,
        defaults={"encrypted_value": encrypt(value), "updated_at": timezone.now()},
    )


def signing_secret_remove(*, workspace: Workspace) -> bool:
    """Stop signing; False when there was no signing secret."""
    return SigningSecret.objects.filter(workspace=workspace).delete()[0] > 0


def _integration_taken(kind: str, alias: str) -> ChangeRefused:
    label = Integration.Kind(kind).label
    return ChangeRefused(
        f"A {label} integration with the alias “{alias}” already exists."
    )


def integration_create(
    *, workspace: Workspace, kind: str, alias: str, base_url: str, token: str
) -> Integration:
    try:
        with transaction.atomic():
            return Integration.objects.create(
                workspace=workspace,
                kind=kind,
                alias=alias,
                base_url=base_url,
                encrypted_token=encrypt(token),
            )
    except IntegrityError:
        raise _integration_taken(kind, alias) from None


def integration_update(
    *, integration: Integration, alias: str, base_url: str, token: str = ""
) -> None:
    """Change the alias and base URL and, if `token` is not empty, the token."""
    integration.alias = alias
    integration.base_url = base_url
    fields = ["alias", "base_url"]
    if token:
        integration.encrypted_token = encrypt(token)
        fields.append("encrypted_token")
    try:
        with transaction.atomic():
            integration.save(update_fields=fields)
    except IntegrityError:
        raise _integration_taken(integration.kind, alias) from None


def integration_delete(*, integration: Integration) -> None:
    integration.delete()  # and the members' accounts linked through it


@transaction.atomic
def linked_accounts_set(
    *,
    membership: Membership,
    accounts: dict[Integration, str],
    by_perms: frozenset[str],
) -> None:
    """Set the member's account in each integration given; an empty account
    unlinks it. Integrations not given keep theirs.

    Runs act on these accounts in the member's name, so whoever manages
    members may not change those of a member with permissions they lack, and
    one account (in any case) is never linked to two members."""
    _refuse_beyond(
        by_perms,
        membership.permission_set(),
        "change the linked accounts of a member with",
    )
    for integration, account in accounts.items():
        if integration.workspace_id != membership.workspace_id:
            raise ValueError(f"{integration} is not in {membership.workspace}")
        if not account:
            LinkedAccount.objects.filter(
                membership=membership, integration=integration
            ).delete()
            continue
        taken = (
            LinkedAccount.objects.filter(
                integration=integration, account__iexact=account
            )
            .exclude(membership=membership)
            .select_related("membership__user")
            .first()
        )
        if taken:
            raise ChangeRefused(
                f"{account} is already linked to {taken.membership.user.email} in {integration}."
            )
        try:
            with transaction.atomic():  # a save at the same moment may win
                LinkedAccount.objects.update_or_create(
                    membership=membership,
                    integration=integration,
                    defaults={"account": account},
                )
        except IntegrityError:
            raise ChangeRefused(
                f"{account} was just linked to another member in {integration}."
            ) from None


def outbound_allowlist_add(
    *, workspace: Workspace, host: str
) -> OutboundAllowlistEntry:
    """Add a normalised host, address or range (see OutboundAllowlistForm)."""
    try:
        with transaction.atomic():
            return OutboundAllowlistEntry.objects.create(workspace=workspace, host=host)
    except IntegrityError:
        raise ChangeRefused(f"{host} is already on the outbound allowlist.") from None


def outbound_allowlist_remove(*, entry: OutboundAllowlistEntry) -> None:
    entry.delete()
