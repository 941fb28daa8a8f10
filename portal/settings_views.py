"""Workspace settings pages: members and roles (with their linked accounts),
teams, secrets, integrations, API keys, tokens, the IP allowlist and the
outbound allowlist.

Each section needs one permission (personal access tokens need none); its GET
pages and POST actions check it with `require_permission`, and the navigation
lists only the sections the current member may use. Objects are looked up
with `get_in_workspace`, so another workspace's ids answer 404.
"""

from dataclasses import dataclass
from secrets import token_hex

from django.conf import settings
from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from catalog.models import Team
from workflows.models import (
    Integration,
    LinkedAccount,
    OutboundAllowlistEntry,
    Secret,
    SigningSecret,
)

from . import services
from .api import address_allowed, client_ip
from .forms import (
    INTEGRATION_DEFAULT_BASE_URLS,
    ApiKeyForm,
    IntegrationForm,
    IpAllowlistForm,
    LinkedAccountsForm,
    MemberAddForm,
    MemberRolesForm,
    OutboundAllowlistForm,
    RoleForm,
    SecretCreateForm,
    SecretEditForm,
    SigningSecretForm,
    TeamCreateForm,
    TeamEditForm,
    TokenForm,
)
from .models import ApiKey, IpAllowlistEntry, Membership, Role
from .permissions import Permission
from .tenancy import get_in_workspace, require_permission, workspace_required

P = Permission


@dataclass(frozen=True)
class Section:
    key: str
    label: str
    url_name: str
    permission: str | None  # None: every member
    description: str
    icon: str


SECTIONS = [
    Section(
        "members",
        "Members & roles",
        "settings:members",
        P.MANAGE_MEMBERS,
        "Add people to the workspace, choose their roles and define custom roles.",
        "users",
    ),
    Section(
        "teams",
        "Teams",
        "settings:teams",
        P.MANAGE_TEAMS,
        "Group members into teams that own entities and approve workflow steps.",
        "user-group",
    ),
    Section(
        "secrets",
        "Secrets",
        "settings:secrets",
        P.MANAGE_SECRETS,
        "Tokens and passwords for workflow blocks, stored encrypted and masked in runs.",
        "lock-closed",
    ),
    Section(
        "integrations",
        "Integrations",
        "settings:integrations",
        P.MANAGE_SECRETS,
        "Slack, Microsoft Teams, GitHub, PagerDuty, Jira and GitLab connections that blocks call through.",
        "puzzle-piece",
    ),
    Section(
        "api-keys",
        "Workspace API keys",
        "settings:api-keys",
        P.MANAGE_API_KEYS,
        "Keys with roles for CI/CD, scripts and the Cortex CLI.",
        "key",
    ),
    Section(
        "tokens",
        "Personal access tokens",
        "settings:tokens",
        None,
        "Your own tokens for the API; they act as you.",
        "finger-print",
    ),
    Section(
        "accounts",
        "Linked accounts",
        "settings:accounts",
        None,
        "Your accounts in the workspace's integrations, as workflows see them.",
        "link",
    ),
    Section(
        "ip-allowlist",
        "IP allowlist",
        "settings:ip-allowlist",
        P.CONFIGURE_IP_ALLOWLIST,
        "Limit API calls to addresses and ranges you trust.",
        "shield-check",
    ),
    Section(
        "outbound-allowlist",
        "Outbound allowlist",
        "settings:outbound-allowlist",
        P.CONFIGURE_IP_ALLOWLIST,
        "Internal hosts and ranges that HTTP blocks may call.",
        "globe-alt",
    ),
]


def _sections(request: HttpRequest) -> list[Section]:
    return [
        s for s in SECTIONS if s.permission is None or s.permission in request.ws_perms
    ]


def _render(
    request: HttpRequest,
    template: str,
    context: dict,
    *,
    section: str,
    status: int = 200,
) -> HttpResponse:
    context = {"sections": _sections(request), "section": section, **context}
    return render(request, template, context, status=status)


@require_GET
@workspace_required
def index(request: HttpRequest) -> HttpResponse:
    return _render(request, "settings/index.html", {}, section="")


# Members


def _members_page(
    request: HttpRequest, form: MemberAddForm | None = None
) -> HttpResponse:
    # Not "memberships": base.html's workspace switcher reads that name.
    member_rows = (
        Membership.objects.filter(workspace=request.workspace)
        .select_related("user")
        .prefetch_related("roles")
    )
    context = {
        "member_rows": member_rows,
        "form": form or MemberAddForm(workspace=request.workspace),
    }
    status = 400 if form is not None else 200
    return _render(
        request, "settings/members.html", context, section="members", status=status
    )


@require_GET
@require_permission(P.MANAGE_MEMBERS)
def members(request: HttpRequest) -> HttpResponse:
    return _members_page(request)


@require_POST
@require_permission(P.MANAGE_MEMBERS)
def member_add(request: HttpRequest) -> HttpResponse:
    form = MemberAddForm(request.POST, workspace=request.workspace)
    if form.is_valid():
        user = form.cleaned_data["email"]
        try:
            services.member_add(
                workspace=request.workspace,
                user=user,
                roles=form.cleaned_data["roles"],
                by_perms=request.ws_perms,
            )
        except services.ChangeRefused as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request, f"{user.email} is now a member of {request.workspace}."
            )
            return redirect("settings:members")
    return _members_page(request, form)


def _membership(request: HttpRequest, pk: int) -> Membership:
    qs = Membership.objects.select_related("user", "workspace").prefetch_related(
        "roles"
    )
    return get_in_workspace(request, qs, pk=pk)


def _linked(membership: Membership) -> dict[int, str]:
    """The member's account by integration id."""
    return dict(
        LinkedAccount.objects.filter(membership=membership).values_list(
            "integration_id", "account"
        )
    )


def _accounts_form(membership: Membership, data=None) -> LinkedAccountsForm:
    return LinkedAccountsForm(
        data,
        integrations=list(Integration.objects.filter(workspace=membership.workspace)),
        linked=_linked(membership),
    )


def _member_edit_page(
    request: HttpRequest,
    membership: Membership,
    form: MemberRolesForm | None = None,
    accounts_form: LinkedAccountsForm | None = None,
    status: int = 200,
) -> HttpResponse:
    if form is None:
        form = MemberRolesForm(
            workspace=request.workspace, initial={"roles": list(membership.roles.all())}
        )
    context = {
        "membership": membership,
        "form": form,
        "accounts_form": accounts_form or _accounts_form(membership),
    }
    return _render(
        request, "settings/member_edit.html", context, section="members", status=status
    )


@require_GET
@require_permission(P.MANAGE_MEMBERS)
def member_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _member_edit_page(request, _membership(request, pk))


@require_POST
@require_permission(P.MANAGE_MEMBERS)
def member_update(request: HttpRequest, pk: int) -> HttpResponse:
    membership = _membership(request, pk)
    form = MemberRolesForm(request.POST, workspace=request.workspace)
    if form.is_valid():
        roles = list(form.cleaned_data["roles"])
        try:
            services.member_set_roles(
                membership=membership, roles=roles, by_perms=request.ws_perms
            )
        except services.ChangeRefused as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Roles of {membership.user.email} saved.")
            still_manager = any(P.MANAGE_MEMBERS in r.permissions for r in roles)
            if membership.user_id == request.user.pk and not still_manager:
                return redirect("settings:index")
            return redirect("settings:members")
    return _member_edit_page(request, membership, form, status=400)


@require_POST
@require_permission(P.MANAGE_MEMBERS)
def member_accounts_update(request: HttpRequest, pk: int) -> HttpResponse:
    """Set a member's linked accounts. Only those who manage members do (for
    members with no permission they lack): an account people typed for
    themselves would be unchecked, and a workflow could then act on someone
    else's account in their name."""
    membership = _membership(request, pk)
    form = _accounts_form(membership, request.POST)
    if form.is_valid():
        try:
            services.linked_accounts_set(
                membership=membership,
                accounts=form.accounts(),
                by_perms=request.ws_perms,
            )
        except services.ChangeRefused as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request, f"Linked accounts of {membership.user.email} saved."
            )
            return redirect("settings:member-edit", membership.pk)
    return _member_edit_page(request, membership, accounts_form=form, status=400)


@require_GET
@workspace_required
def accounts(request: HttpRequest) -> HttpResponse:
    """The current member's linked accounts, read only (see member_accounts_update)."""
    membership = request.membership
    linked = _linked(membership)
    rows = [
        (integration, linked.get(integration.pk, ""))
        for integration in Integration.objects.filter(workspace=request.workspace)
    ]
    context = {
        "rows": rows,
        "membership": membership,
        "can_edit": P.MANAGE_MEMBERS in request.ws_perms,
    }
    return _render(request, "settings/accounts.html", context, section="accounts")


@require_POST
@require_permission(P.MANAGE_MEMBERS)
def member_remove(request: HttpRequest, pk: int) -> HttpResponse:
    membership = _membership(request, pk)
    email = membership.user.email
    try:
        services.member_remove(
            membership=membership, by=request.user, by_perms=request.ws_perms
        )
    except services.ChangeRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{email} was removed from the workspace.")
    return redirect("settings:members")


# Roles


def _roles_page(request: HttpRequest, form: RoleForm | None = None) -> HttpResponse:
    roles = Role.objects.filter(workspace=request.workspace).annotate(
        member_count=Count("memberships", distinct=True),
        key_count=Count("api_keys", distinct=True),
    )
    context = {"roles": roles, "form": form or RoleForm(workspace=request.workspace)}
    status = 400 if form is not None else 200
    return _render(
        request, "settings/roles.html", context, section="members", status=status
    )


@require_GET
@require_permission(P.MANAGE_MEMBERS)
def roles(request: HttpRequest) -> HttpResponse:
    return _roles_page(request)


@require_POST
@require_permission(P.MANAGE_MEMBERS)
def role_add(request: HttpRequest) -> HttpResponse:
    form = RoleForm(request.POST, workspace=request.workspace)
    if not form.is_valid():
        return _roles_page(request, form)
    try:
        role = services.role_create(
            workspace=request.workspace,
            name=form.cleaned_data["name"],
            permissions=form.cleaned_data["permissions"],
            by_perms=request.ws_perms,
        )
    except services.ChangeRefused as exc:
        form.add_error(None, str(exc))
        return _roles_page(request, form)
    messages.success(request, f"Role “{role.name}” created.")
    return redirect("settings:roles")


def _custom_role(request: HttpRequest, pk: int) -> Role:
    # Built-in roles are read-only, so they have no edit or delete pages:
    return get_in_workspace(request, Role.objects.filter(is_builtin=False), pk=pk)


@require_GET
@require_permission(P.MANAGE_MEMBERS)
def role_edit(request: HttpRequest, pk: int) -> HttpResponse:
    role = _custom_role(request, pk)
    form = RoleForm(
        workspace=request.workspace,
        role=role,
        initial={"name": role.name, "permissions": role.permissions},
    )
    context = {"role": role, "form": form}
    return _render(request, "settings/role_edit.html", context, section="members")


@require_POST
@require_permission(P.MANAGE_MEMBERS)
def role_update(request: HttpRequest, pk: int) -> HttpResponse:
    role = _custom_role(request, pk)
    form = RoleForm(request.POST, workspace=request.workspace, role=role)
    if form.is_valid():
        try:
            services.role_update(
                role=role,
                name=form.cleaned_data["name"],
                permissions=form.cleaned_data["permissions"],
                by_perms=request.ws_perms,
            )
        except services.ChangeRefused as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Role “{role.name}” saved.")
            return redirect("settings:roles")
    # The service may have changed the instance before the transaction rolled back:
    role.refresh_from_db()
    context = {"role": role, "form": form}
    return _render(
        request, "settings/role_edit.html", context, section="members", status=400
    )


@require_POST
@require_permission(P.MANAGE_MEMBERS)
def role_delete(request: HttpRequest, pk: int) -> HttpResponse:
    role = _custom_role(request, pk)
    try:
        member_count, key_count = services.role_delete(
            role=role, by_perms=request.ws_perms
        )
    except services.ChangeRefused as exc:
        messages.error(request, f"Role “{role.name}” was not deleted. {exc}")
    else:
        lost = []
        if member_count:
            lost.append(f"{member_count} member{'s' if member_count != 1 else ''}")
        if key_count:
            lost.append(f"{key_count} API key{'s' if key_count != 1 else ''}")
        text = f"Role “{role.name}” deleted."
        if lost:
            text += f" {' and '.join(lost)} no longer have it."
        messages.success(request, text)
    return redirect("settings:roles")


# Teams


def _teams_page(
    request: HttpRequest, form: TeamCreateForm | None = None
) -> HttpResponse:
    teams = Team.objects.filter(workspace=request.workspace).annotate(
        member_count=Count("members")
    )
    context = {
        "teams": teams,
        "form": form or TeamCreateForm(workspace=request.workspace),
    }
    status = 400 if form is not None else 200
    return _render(
        request, "settings/teams.html", context, section="teams", status=status
    )


@require_GET
@require_permission(P.MANAGE_TEAMS)
def teams(request: HttpRequest) -> HttpResponse:
    return _teams_page(request)


@require_POST
@require_permission(P.MANAGE_TEAMS)
def team_add(request: HttpRequest) -> HttpResponse:
    form = TeamCreateForm(request.POST, workspace=request.workspace)
    if not form.is_valid():
        return _teams_page(request, form)
    team = services.team_create(workspace=request.workspace, **form.cleaned_data)
    messages.success(request, f"Team “{team.name}” created. Add its members here.")
    return redirect("settings:team-edit", team.pk)


@require_GET
@require_permission(P.MANAGE_TEAMS)
def team_edit(request: HttpRequest, pk: int) -> HttpResponse:
    team = get_in_workspace(request, Team, pk=pk)
    form = TeamEditForm(
        workspace=request.workspace,
        initial={
            "name": team.name,
            "description": team.description,
            "members": list(team.members.all()),
        },
    )
    return _render(
        request,
        "settings/team_edit.html",
        {"team": team, "form": form},
        section="teams",
    )


@require_POST
@require_permission(P.MANAGE_TEAMS)
def team_update(request: HttpRequest, pk: int) -> HttpResponse:
    team = get_in_workspace(request, Team, pk=pk)
    form = TeamEditForm(request.POST, workspace=request.workspace)
    if not form.is_valid():
        context = {"team": team, "form": form}
        return _render(
            request, "settings/team_edit.html", context, section="teams", status=400
        )
    services.team_update(team=team, **form.cleaned_data)
    messages.success(request, f"Team “{team.name}” saved.")
    return redirect("settings:teams")


@require_POST
@require_permission(P.MANAGE_TEAMS)
def team_delete(request: HttpRequest, pk: int) -> HttpResponse:
    team = get_in_workspace(request, Team, pk=pk)
    services.team_delete(team=team)
    messages.success(request, f"Team “{team.name}” deleted.")
    return redirect("settings:teams")


# Workspace API keys


def _workspace_keys():
    # Personal access tokens are managed by their owners, on the tokens page:
    return ApiKey.objects.filter(user__isnull=True)


# Refreshing the page that shows a new key sends its form again. Each form
# carries a one-time value (`once`); the session remembers the ones sent, with
# the key each made, so a second send says that key was already shown instead
# of making another. The raw key itself is only ever in the first response:
# never in the session or a URL.
SENT_KEY_FORMS = "sent_key_forms"


def _once(request: HttpRequest) -> str:
    return request.POST.get("once") or token_hex(16)


def _already_sent(request: HttpRequest, keys) -> ApiKey | None:
    """The key the form with this `once` made before, if it was sent before."""
    pk = request.session.get(SENT_KEY_FORMS, {}).get(request.POST.get("once", ""))
    return get_in_workspace(request, keys, pk=pk) if pk else None


def _remember_sent(request: HttpRequest, key: ApiKey) -> None:
    once = request.POST.get("once")
    if once:
        sent = list(request.session.get(SENT_KEY_FORMS, {}).items())[-19:]
        request.session[SENT_KEY_FORMS] = dict([*sent, (once, key.pk)])


def _key_created(request, key: ApiKey, raw: str | None, *, section: str):
    context = {
        "key": key,
        "raw": raw,  # None: the form was sent again, the key was shown then
        "kind": "token" if key.is_personal else "API key",
        "back_url_name": "settings:tokens" if key.is_personal else "settings:api-keys",
    }
    return _render(request, "settings/key_created.html", context, section=section)


def _api_keys_page(
    request: HttpRequest, form: ApiKeyForm | None = None
) -> HttpResponse:
    keys = (
        _workspace_keys()
        .filter(workspace=request.workspace)
        .select_related("created_by")
        .prefetch_related("roles")
    )
    for key in keys:  # Revoke is offered where the service would allow it
        key.revocable = services.may_revoke(key, request.ws_perms)
    status = 400 if form is not None else 200
    form = form or ApiKeyForm(
        workspace=request.workspace, granter_perms=request.ws_perms
    )
    context = {"keys": keys, "form": form, "once": _once(request)}
    return _render(
        request, "settings/api_keys.html", context, section="api-keys", status=status
    )


@require_GET
@require_permission(P.MANAGE_API_KEYS)
def api_keys(request: HttpRequest) -> HttpResponse:
    return _api_keys_page(request)


@require_POST
@never_cache
@require_permission(P.MANAGE_API_KEYS)
def api_key_add(request: HttpRequest) -> HttpResponse:
    if key := _already_sent(request, _workspace_keys()):
        return _key_created(request, key, None, section="api-keys")
    form = ApiKeyForm(
        request.POST, workspace=request.workspace, granter_perms=request.ws_perms
    )
    if not form.is_valid():
        return _api_keys_page(request, form)
    key, raw = services.api_key_create(
        workspace=request.workspace,
        name=form.cleaned_data["name"],
        description=form.cleaned_data["description"],
        roles=form.cleaned_data["roles"],
        created_by=request.user,
    )
    _remember_sent(request, key)
    return _key_created(request, key, raw, section="api-keys")


@require_POST
@require_permission(P.MANAGE_API_KEYS)
def api_key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    key = get_in_workspace(request, _workspace_keys(), pk=pk)
    try:
        services.api_key_revoke(key=key, by_perms=request.ws_perms)
    except services.ChangeRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"API key “{key.name}” revoked.")
    return redirect("settings:api-keys")


# Personal access tokens


def _own_tokens(request: HttpRequest):
    return ApiKey.objects.filter(user=request.user)


def _tokens_page(request: HttpRequest, form: TokenForm | None = None) -> HttpResponse:
    tokens = _own_tokens(request).filter(workspace=request.workspace)
    context = {"tokens": tokens, "form": form or TokenForm(), "once": _once(request)}
    status = 400 if form is not None else 200
    return _render(
        request, "settings/tokens.html", context, section="tokens", status=status
    )


@require_GET
@workspace_required
def tokens(request: HttpRequest) -> HttpResponse:
    return _tokens_page(request)


@require_POST
@never_cache
@workspace_required
def token_add(request: HttpRequest) -> HttpResponse:
    if token := _already_sent(request, _own_tokens(request)):
        return _key_created(request, token, None, section="tokens")
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _tokens_page(request, form)
    key, raw = services.api_key_create(
        workspace=request.workspace, name=form.cleaned_data["name"], user=request.user
    )
    _remember_sent(request, key)
    return _key_created(request, key, raw, section="tokens")


@require_POST
@workspace_required
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    # Another member's token answers 404, like a missing one:
    token = get_in_workspace(request, _own_tokens(request), pk=pk)
    services.api_key_revoke(key=token)
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("settings:tokens")


# IP allowlist


def _ip_allowlist_page(
    request: HttpRequest, form: IpAllowlistForm | None = None
) -> HttpResponse:
    entries = IpAllowlistEntry.objects.filter(workspace=request.workspace)
    context = {
        "entries": entries,
        "form": form or IpAllowlistForm(workspace=request.workspace),
        "worker_egress_ip": settings.WORKER_EGRESS_IP,
    }
    status = 400 if form is not None else 200
    return _render(
        request,
        "settings/ip_allowlist.html",
        context,
        section="ip-allowlist",
        status=status,
    )


@require_GET
@require_permission(P.CONFIGURE_IP_ALLOWLIST)
def ip_allowlist(request: HttpRequest) -> HttpResponse:
    return _ip_allowlist_page(request)


@require_POST
@require_permission(P.CONFIGURE_IP_ALLOWLIST)
def ip_allowlist_add(request: HttpRequest) -> HttpResponse:
    form = IpAllowlistForm(request.POST, workspace=request.workspace)
    if not form.is_valid():
        return _ip_allowlist_page(request, form)
    entry = services.ip_allowlist_add(workspace=request.workspace, **form.cleaned_data)
    messages.success(request, f"{entry.address} added to the IP allowlist.")
    _warn_of_shut_out_addresses(request)
    return redirect("settings:ip-allowlist")


def _warn_of_shut_out_addresses(request: HttpRequest) -> None:
    """Say which of the workers' address and the admin's own the list now
    shuts out of the API (the API itself refuses, without force=true, a list
    that shuts out the address it is called from)."""
    addresses = list(request.workspace.ip_allowlist.values_list("address", flat=True))
    workers, yours = settings.WORKER_EGRESS_IP, client_ip(request)
    if not address_allowed(addresses, workers):
        messages.warning(
            request,
            f"The workers' address ({workers}) is not on the list: workflow blocks"
            " that act on the portal itself will get 403 Forbidden IP address."
            " Add it too.",
        )
    if yours != workers and not address_allowed(addresses, yours):
        messages.warning(
            request,
            f"Your address ({yours}) is not on the list: API calls from it will"
            " get 403 Forbidden IP address. These pages still work.",
        )


@require_POST
@require_permission(P.CONFIGURE_IP_ALLOWLIST)
def ip_allowlist_remove(request: HttpRequest, pk: int) -> HttpResponse:
    entry = get_in_workspace(request, IpAllowlistEntry, pk=pk)
    services.ip_allowlist_remove(entry=entry)
    messages.success(request, f"{entry.address} removed from the IP allowlist.")
    _warn_of_shut_out_addresses(request)  # an emptied list allows everyone
    return redirect("settings:ip-allowlist")


# Secrets


def _secrets_page(
    request: HttpRequest,
    form: SecretCreateForm | None = None,
    signing_form: SigningSecretForm | None = None,
) -> HttpResponse:
    secrets = Secret.objects.filter(workspace=request.workspace).only(
        "tag", "name", "updated_at"
    )
    context = {
        "secrets": secrets,
        "form": form or SecretCreateForm(workspace=request.workspace),
        "signing_form": signing_form or SigningSecretForm(),
        "signing_since": SigningSecret.objects.filter(workspace=request.workspace)
        .values_list("updated_at", flat=True)
        .first(),
    }
    status = 400 if form is not None or signing_form is not None else 200
    return _render(
        request, "settings/secrets.html", context, section="secrets", status=status
    )


@require_GET
@require_permission(P.MANAGE_SECRETS)
def secrets(request: HttpRequest) -> HttpResponse:
    return _secrets_page(request)


@require_POST
@require_permission(P.MANAGE_SECRETS)
def secret_add(request: HttpRequest) -> HttpResponse:
    form = SecretCreateForm(request.POST, workspace=request.workspace)
    if form.is_valid():
        try:
            secret = services.secret_create(
                workspace=request.workspace, **form.cleaned_data
            )
        except services.ChangeRefused as exc:
            form.add_error("tag", str(exc))
        else:
            messages.success(request, f"Secret “{secret.tag}” created.")
            return redirect("settings:secrets")
    return _secrets_page(request, form)


def _secret(request: HttpRequest, pk: int) -> Secret:
    # The encrypted value is not needed to show or rename a secret:
    return get_in_workspace(request, Secret.objects.defer("encrypted_value"), pk=pk)


def _secret_edit_page(
    request: HttpRequest, secret: Secret, form: SecretEditForm, status: int = 200
) -> HttpResponse:
    context = {"secret": secret, "form": form}
    return _render(
        request, "settings/secret_edit.html", context, section="secrets", status=status
    )


@require_GET
@require_permission(P.MANAGE_SECRETS)
def secret_edit(request: HttpRequest, pk: int) -> HttpResponse:
    secret = _secret(request, pk)
    # Only the name: the value is never sent back to the browser.
    form = SecretEditForm(initial={"name": secret.name})
    return _secret_edit_page(request, secret, form)


@require_POST
@require_permission(P.MANAGE_SECRETS)
def secret_update(request: HttpRequest, pk: int) -> HttpResponse:
    secret = _secret(request, pk)
    form = SecretEditForm(request.POST)
    if not form.is_valid():
        return _secret_edit_page(request, secret, form, status=400)
    services.secret_update(secret=secret, **form.cleaned_data)
    if form.cleaned_data["value"]:
        messages.success(request, f"Secret “{secret.tag}” saved with its new value.")
    else:
        messages.success(request, f"Secret “{secret.tag}” saved.")
    return redirect("settings:secrets")


@require_POST
@require_permission(P.MANAGE_SECRETS)
def secret_delete(request: HttpRequest, pk: int) -> HttpResponse:
    secret = _secret(request, pk)
    services.secret_delete(secret=secret)
    messages.success(request, f"Secret “{secret.tag}” deleted.")
    return redirect("settings:secrets")


@require_POST
@require_permission(P.MANAGE_SECRETS)
def signing_secret_set(request: HttpRequest) -> HttpResponse:
    form = SigningSecretForm(request.POST)
    if not form.is_valid():
        return _secrets_page(request, signing_form=form)
    services.signing_secret_set(
        workspace=request.workspace, value=form.cleaned_data["value"]
    )
    messages.success(
        request, "Request signing secret saved: HTTP blocks now sign their requests."
    )
    return redirect("settings:secrets")


@require_POST
@require_permission(P.MANAGE_SECRETS)
def signing_secret_remove(request: HttpRequest) -> HttpResponse:
    if services.signing_secret_remove(workspace=request.workspace):
        messages.success(
            request,
            "Request signing secret removed: HTTP blocks no longer sign their requests.",
        )
    return redirect("settings:secrets")


# Integrations


def _integrations_page(
    request: HttpRequest, form: IntegrationForm | None = None
) -> HttpResponse:
    integrations = Integration.objects.filter(workspace=request.workspace)
    context = {
        "integrations": integrations,
        "form": form or IntegrationForm(workspace=request.workspace),
        "default_base_urls": INTEGRATION_DEFAULT_BASE_URLS,
    }
    status = 400 if form is not None else 200
    return _render(
        request,
        "settings/integrations.html",
        context,
        section="integrations",
        status=status,
    )


@require_GET
@require_permission(P.MANAGE_SECRETS)
def integrations(request: HttpRequest) -> HttpResponse:
    return _integrations_page(request)


@require_POST
@require_permission(P.MANAGE_SECRETS)
def integration_add(request: HttpRequest) -> HttpResponse:
    form = IntegrationForm(request.POST, workspace=request.workspace)
    if form.is_valid():
        try:
            integration = services.integration_create(
                workspace=request.workspace, **form.cleaned_data
            )
        except services.ChangeRefused as exc:
            form.add_error("alias", str(exc))
        else:
            messages.success(request, f"Integration {integration} created.")
            return redirect("settings:integrations")
    return _integrations_page(request, form)


def _integration_edit_page(
    request: HttpRequest,
    integration: Integration,
    form: IntegrationForm,
    status: int = 200,
) -> HttpResponse:
    context = {"integration": integration, "form": form}
    return _render(
        request,
        "settings/integration_edit.html",
        context,
        section="integrations",
        status=status,
    )


@require_GET
@require_permission(P.MANAGE_SECRETS)
def integration_edit(request: HttpRequest, pk: int) -> HttpResponse:
    integration = get_in_workspace(request, Integration, pk=pk)
    form = IntegrationForm(
        workspace=request.workspace,
        integration=integration,
        initial={"alias": integration.alias, "base_url": integration.base_url},
    )
    return _integration_edit_page(request, integration, form)


@require_POST
@require_permission(P.MANAGE_SECRETS)
def integration_update(request: HttpRequest, pk: int) -> HttpResponse:
    integration = get_in_workspace(request, Integration, pk=pk)
    form = IntegrationForm(
        request.POST, workspace=request.workspace, integration=integration
    )
    if form.is_valid():
        try:
            services.integration_update(integration=integration, **form.cleaned_data)
        except services.ChangeRefused as exc:
            form.add_error("alias", str(exc))
            # The service changed the instance before the save failed:
            integration.refresh_from_db()
        else:
            messages.success(request, f"Integration {integration} saved.")
            return redirect("settings:integrations")
    return _integration_edit_page(request, integration, form, status=400)


@require_POST
@require_permission(P.MANAGE_SECRETS)
def integration_delete(request: HttpRequest, pk: int) -> HttpResponse:
    integration = get_in_workspace(request, Integration, pk=pk)
    services.integration_delete(integration=integration)
    messages.success(request, f"Integration {integration} deleted.")
    return redirect("settings:integrations")


# Outbound allowlist


def _server_allowed_hosts() -> list[str]:
    """HTTP_BLOCK_ALLOWED_HOSTS as a list, whether it is configured as one or not."""
    configured = settings.HTTP_BLOCK_ALLOWED_HOSTS
    if isinstance(configured, str):
        configured = configured.split(",")
    return [h.strip() for h in configured if h.strip()]


def _outbound_allowlist_page(
    request: HttpRequest, form: OutboundAllowlistForm | None = None
) -> HttpResponse:
    entries = OutboundAllowlistEntry.objects.filter(workspace=request.workspace)
    context = {
        "entries": entries,
        "form": form or OutboundAllowlistForm(workspace=request.workspace),
        "server_allowed_hosts": _server_allowed_hosts(),
    }
    status = 400 if form is not None else 200
    return _render(
        request,
        "settings/outbound_allowlist.html",
        context,
        section="outbound-allowlist",
        status=status,
    )


@require_GET
@require_permission(P.CONFIGURE_IP_ALLOWLIST)
def outbound_allowlist(request: HttpRequest) -> HttpResponse:
    return _outbound_allowlist_page(request)


@require_POST
@require_permission(P.CONFIGURE_IP_ALLOWLIST)
def outbound_allowlist_add(request: HttpRequest) -> HttpResponse:
    form = OutboundAllowlistForm(request.POST, workspace=request.workspace)
    if form.is_valid():
        try:
            entry = services.outbound_allowlist_add(
                workspace=request.workspace, **form.cleaned_data
            )
        except services.ChangeRefused as exc:
            form.add_error("host", str(exc))
        else:
            messages.success(request, f"{entry.host} added to the outbound allowlist.")
            return redirect("settings:outbound-allowlist")
    return _outbound_allowlist_page(request, form)


@require_POST
@require_permission(P.CONFIGURE_IP_ALLOWLIST)
def outbound_allowlist_remove(request: HttpRequest, pk: int) -> HttpResponse:
    entry = get_in_workspace(request, OutboundAllowlistEntry, pk=pk)
    services.outbound_allowlist_remove(entry=entry)
    messages.success(request, f"{entry.host} removed from the outbound allowlist.")
    return redirect("settings:outbound-allowlist")
