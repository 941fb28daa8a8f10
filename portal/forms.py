"""Forms of the workspace settings pages: they validate and clean, services save."""

import ipaddress
import re
from urllib.parse import urlsplit

from crispy_forms.bootstrap import InlineCheckboxes
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Layout
from django import forms
from django.core.validators import validate_slug
from django.utils.html import format_html, format_html_join

from catalog.models import Team
from workflows.models import Integration, OutboundAllowlistEntry, Secret

from .models import IpAllowlistEntry, Membership, Role, User, Workspace
from .permissions import Permission


class CrispyMixin:
    """Render with `{% crispy form %}` inside the template's own <form>."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True


class RolesField(forms.ModelMultipleChoiceField):
    """Checkboxes of the workspace's roles; at least one must be ticked."""

    widget = forms.CheckboxSelectMultiple

    def __init__(self, **kwargs):
        kwargs.setdefault("error_messages", {"required": "Choose at least one role."})
        super().__init__(queryset=Role.objects.none(), **kwargs)


class MemberAddForm(CrispyMixin, forms.Form):
    email = forms.EmailField(
        label="Email address", help_text="The person must already have an account."
    )
    roles = RolesField()

    def __init__(self, *args, workspace: Workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace = workspace
        self.fields["roles"].queryset = workspace.roles.all()
        self.helper.layout = Layout("email", InlineCheckboxes("roles"))

    def clean_email(self) -> User:
        """Return the user with this email, who must not be a member yet."""
        email = self.cleaned_data["email"]
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            raise forms.ValidationError(f"No user has the email address {email}.")
        if Membership.objects.filter(workspace=self.workspace, user=user).exists():
            raise forms.ValidationError(
                f"{user.email} is already a member of this workspace."
            )
        return user


class MemberRolesForm(CrispyMixin, forms.Form):
    roles = RolesField()

    def __init__(self, *args, workspace: Workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["roles"].queryset = workspace.roles.all()
        self.helper.layout = Layout(InlineCheckboxes("roles"))


# Each kind's account: a pattern and what to write. Workflows put accounts in
# URLs (`…/memberships/{{context.initiatedBy.identityMappings.github}}`), so no
# pattern lets through a slash, `?`, `#` or `..`.
_AN_ID_OR_EMAIL = r"[A-Za-z0-9_@+:-](?:[A-Za-z0-9_@+:-]|\.(?!\.))*"
_ACCOUNTS = {
    Integration.Kind.GITHUB: (
        r"[A-Za-z0-9][A-Za-z0-9_-]{0,38}",
        "a GitHub login: letters, digits, hyphens and underscores, at most 39, such as octocat",
    ),
    Integration.Kind.GITLAB: (
        r"(?!.*(?:\.|\.git|\.atom)$)[A-Za-z0-9_](?:[A-Za-z0-9_-]|\.(?!\.))*",
        "a GitLab username: letters, digits, _, - and single dots, not ending in ., .git or .atom",
    ),
    Integration.Kind.SLACK: (
        r"[A-Z0-9]{2,}",
        "a Slack member ID: capital letters and digits, such as U024BE7LH",
    ),
    Integration.Kind.MS_TEAMS: (
        _AN_ID_OR_EMAIL,
        "a Microsoft Teams user: an email or an Azure AD object ID",
    ),
    Integration.Kind.PAGERDUTY: (
        _AN_ID_OR_EMAIL,
        "a PagerDuty login email or user ID, such as PXPGF42",
    ),
    Integration.Kind.JIRA: (
        _AN_ID_OR_EMAIL,
        "a Jira account ID (Cloud) or user name (Data Center)",
    ),
}


def _first_up(text: str) -> str:
    return text[:1].upper() + text[1:]  # str.capitalize() lowers the rest: U024BE7LH


class LinkedAccountsForm(CrispyMixin, forms.Form):
    """A member's account in each of the workspace's integrations, one field
    per integration; `accounts()` gives what to save."""

    def __init__(self, *args, integrations: list[Integration], linked: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.integrations = {f"account_{i.pk}": i for i in integrations}
        for name, integration in self.integrations.items():
            self.fields[name] = forms.CharField(
                label=str(integration),
                max_length=200,
                required=False,
                initial=linked.get(integration.pk, ""),
                help_text=f"{_first_up(_ACCOUNTS[integration.kind][1])}. Empty: none.",
            )

    def clean(self):
        data = super().clean()
        for name, integration in self.integrations.items():
            value = (data.get(name) or "").strip()
            pattern, what = _ACCOUNTS[integration.kind]
            if value and not re.fullmatch(pattern, value):
                self.add_error(name, f"The {integration} account must be {what}.")
            data[name] = value
        return data

    def accounts(self) -> dict[Integration, str]:
        return {i: self.cleaned_data[name] for name, i in self.integrations.items()}


class RoleForm(CrispyMixin, forms.Form):
    name = forms.CharField(max_length=60)
    permissions = forms.MultipleChoiceField(
        choices=Permission.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one permission."},
    )

    def __init__(self, *args, workspace: Workspace, role: Role | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace = workspace
        self.role = role

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        same_name = Role.objects.filter(workspace=self.workspace, name__iexact=name)
        if self.role is not None:
            same_name = same_name.exclude(pk=self.role.pk)
        if existing := same_name.first():
            raise forms.ValidationError(
                f"The role “{existing.name}” already exists; role names are unique, whatever their case."
            )
        return name


class TeamCreateForm(CrispyMixin, forms.Form):
    tag = forms.CharField(
        max_length=100,
        validators=[validate_slug],
        help_text="Letters, numbers, hyphens and underscores; used to refer to the team in workflows. It can't be changed later.",
    )
    name = forms.CharField(max_length=100)
    description = forms.CharField(max_length=300, required=False)

    def __init__(self, *args, workspace: Workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace = workspace

    def clean_tag(self) -> str:
        tag = self.cleaned_data["tag"]
        if tag.isascii() and tag.isdigit():
            # approvingTeamIds and the API read a number as a team's id:
            raise forms.ValidationError(
                f"“{tag}” is only digits, which workflows and the API read as a"
                " team's id; add a letter."
            )
        if Team.objects.filter(workspace=self.workspace, tag=tag).exists():
            raise forms.ValidationError(f"A team with the tag “{tag}” already exists.")
        return tag


class TeamEditForm(CrispyMixin, forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(max_length=300, required=False)
    members = forms.ModelMultipleChoiceField(
        queryset=User.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Only members of this workspace can join its teams.",
    )

    def __init__(self, *args, workspace: Workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["members"].queryset = User.objects.filter(
            memberships__workspace=workspace
        )
        self.fields["members"].label_from_instance = _user_label


def _user_label(user: User) -> str:
    name = user.get_full_name()
    return f"{name} ({user.email})" if name else user.email


class ApiKeyForm(CrispyMixin, forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(max_length=300, required=False)
    roles = RolesField(help_text="The key acts with the permissions of these roles.")

    def __init__(
        self, *args, workspace: Workspace, granter_perms: frozenset[str], **kwargs
    ):
        super().__init__(*args, **kwargs)
        self.fields["roles"].queryset = workspace.roles.all()
        self.granter_perms = granter_perms
        self.helper.layout = Layout("name", "description", InlineCheckboxes("roles"))

    def clean_roles(self) -> list[Role]:
        # A key must not let its creator do more than they can do themselves:
        roles = list(self.cleaned_data["roles"])
        extra = {p for role in roles for p in role.permissions} - self.granter_perms
        if extra:
            labels = ", ".join(Permission(p).label for p in sorted(extra))
            raise forms.ValidationError(
                f"You can't give a key permissions you don't have: {labels}."
            )
        return roles


class TokenForm(CrispyMixin, forms.Form):
    name = forms.CharField(
        max_length=100, help_text="What the token is for, e.g. “laptop CLI”."
    )


class IpAllowlistForm(CrispyMixin, forms.Form):
    address = forms.CharField(
        max_length=64,
        label="Address or range",
        help_text="An IPv4 or IPv6 address (192.168.1.7) or a CIDR range (10.0.0.0/8, 2001:db8::/32).",
    )
    description = forms.CharField(max_length=200, required=False)

    def __init__(self, *args, workspace: Workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace = workspace

    def clean_address(self) -> str:
        """Return the canonical form: a bare address, or the range's network address."""
        value = self.cleaned_data["address"].strip()
        try:
            address = IpAllowlistEntry.canonical(value)
        except ValueError:
            raise forms.ValidationError(
                f"“{value}” is not a valid IP address or CIDR range."
            ) from None
        if IpAllowlistEntry.objects.filter(
            workspace=self.workspace, address=address
        ).exists():
            if address == value:
                raise forms.ValidationError(f"{address} is already on the allowlist.")
            raise forms.ValidationError(
                f"{value} means {address}, which is already on the allowlist."
            )
        return address


# Secrets, integrations and the outbound allowlist (models of the workflows app)


def _secret_input() -> forms.PasswordInput:
    # Never render a value back, and keep browsers from filling in the login password:
    return forms.PasswordInput(
        render_value=False,
        attrs={"autocomplete": "new-password", "spellcheck": "false"},
    )


class SecretValueField(forms.CharField):
    """A write-only value: typed in, stored encrypted, never shown again."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 10_000)
        # Kept exactly as typed: spaces can be part of a password.
        super().__init__(strip=False, widget=_secret_input(), **kwargs)

    def clean(self, value):
        value = super().clean(value)
        if value and not value.strip():
            raise forms.ValidationError("The value can't be only spaces.")
        return value


KEEP_CURRENT_VALUE = "Leave empty to keep the current value."


class SecretCreateForm(CrispyMixin, forms.Form):
    tag = forms.CharField(
        max_length=100,
        validators=[validate_slug],
        help_text="Letters, numbers, hyphens and underscores; blocks refer to the secret by its tag. It can't be changed later.",
    )
    name = forms.CharField(max_length=200, help_text="What the secret is for.")
    value = SecretValueField(
        help_text="Stored encrypted; nobody can read it here again."
    )

    def __init__(self, *args, workspace: Workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace = workspace

    def clean_tag(self) -> str:
        tag = self.cleaned_data["tag"]
        if tag.isascii() and tag.isdigit():
            # /secrets/{tagOrId} would read it as another secret's id:
            raise forms.ValidationError(
                f"“{tag}” is only digits, which the API reads as a secret's id;"
                " add a letter."
            )
        if Secret.objects.filter(workspace=self.workspace, tag=tag).exists():
            raise forms.ValidationError(
                f"A secret with the tag “{tag}” already exists."
            )
        return tag


class SecretEditForm(CrispyMixin, forms.Form):
    name = forms.CharField(max_length=200)
    value = SecretValueField(
        required=False, label="New value", help_text=KEEP_CURRENT_VALUE
    )


class SigningSecretForm(CrispyMixin, forms.Form):
    # Beside the new-secret form on one page: its own ids (id_signing-value).
    prefix = "signing"

    value = SecretValueField(
        label="Request signing secret",
        max_length=200,
        help_text="At least 16 characters: letters, digits, special characters and"
        " hyphens, no spaces. Keep a copy for the systems that check the signatures:"
        " it can't be shown again.",
    )

    def clean_value(self):
        value = self.cleaned_data["value"]
        if any(c.isspace() for c in value):
            raise forms.ValidationError("The signing secret can't contain spaces.")
        if len(value) < 16:
            raise forms.ValidationError(
                f"The signing secret needs at least 16 characters (it has {len(value)})."
            )
        return value


# What each kind's Base URL and Token fields want, shown under them (for the
# chosen kind only, where the page has JavaScript):
_INTEGRATION_HINTS = {
    Integration.Kind.SLACK: (
        "Leave empty for https://slack.com.",
        "A bot token (xoxb-…) that may post to the channels blocks name.",
    ),
    Integration.Kind.MS_TEAMS: (
        "Leave empty for https://graph.microsoft.com/v1.0.",
        "A Microsoft Graph access token that may send channel messages.",
    ),
    Integration.Kind.GITHUB: (
        "Leave empty for https://api.github.com; for GitHub Enterprise give its API address, such as https://github.example.com/api/v3.",
        "A personal access token or an app installation token.",
    ),
    Integration.Kind.PAGERDUTY: (
        "Leave empty for https://api.pagerduty.com.",
        "A REST API key.",
    ),
    Integration.Kind.JIRA: (
        "Required: your site's address, such as https://acme.atlassian.net.",
        "For Jira Cloud, email:API token; for Jira Data Center, a personal access token.",
    ),
    Integration.Kind.GITLAB: (
        "Leave empty for https://gitlab.com; for a self-managed instance give its address, such as https://gitlab.example.com (Cairn calls its API at /api/v4).",
        "A personal, group or project access token with the api scope.",
    ),
}


def _hints(kinds, which: int, suffix: str = "") -> str:
    """Each kind's hint in a span the page shows only for the chosen kind."""
    return format_html_join(
        " ",
        '<span data-kind-hint="{}">{}</span>',
        ((kind, _INTEGRATION_HINTS[kind][which]) for kind in kinds),
    ) + (format_html(" {}", suffix) if suffix else "")


INTEGRATION_DEFAULT_BASE_URLS = {
    Integration.Kind.SLACK: "https://slack.com",
    Integration.Kind.MS_TEAMS: "https://graph.microsoft.com/v1.0",
    Integration.Kind.GITHUB: "https://api.github.com",
    Integration.Kind.PAGERDUTY: "https://api.pagerduty.com",
    Integration.Kind.GITLAB: "https://gitlab.com",
}

_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def host_name(value: str) -> str | None:
    """The lowercased RFC 1123 host name in `value` ("ci.internal"), or None.

    Non-ASCII names are converted to their IDNA (punycode) form. A name whose
    last label is all digits is refused: it is a mistyped IP address.
    """
    host = value.strip().lower().rstrip(".")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    labels = host.split(".")
    if not host or len(host) > 253 or (labels[-1].isascii() and labels[-1].isdigit()):
        return None
    if not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return None
    return host


def _http_url(value: str) -> str | None:
    """`value` as an http(s) URL without a trailing slash, or None if it isn't one."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or parts.query or parts.fragment:
        return None
    if parts.username is not None or not parts.hostname:
        return None
    if host_name(parts.hostname) is None:
        try:
            ipaddress.ip_address(parts.hostname)
        except ValueError:
            return None
    return value.rstrip("/")


class IntegrationForm(CrispyMixin, forms.Form):
    """Create an integration, or edit one (`integration`): its kind then stays."""

    kind = forms.ChoiceField(choices=Integration.Kind.choices)
    alias = forms.CharField(
        max_length=100,
        required=False,
        validators=[validate_slug],
        help_text="Tells several integrations of one kind apart; blocks that name none use “default”. Letters, numbers, hyphens and underscores.",
    )
    base_url = forms.CharField(max_length=200, required=False, label="Base URL")
    token = forms.CharField(max_length=4000, widget=_secret_input())

    def __init__(
        self,
        *args,
        workspace: Workspace,
        integration: Integration | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.workspace = workspace
        self.integration = integration
        kinds = list(Integration.Kind) if integration is None else [integration.kind]
        self.fields["base_url"].help_text = _hints(kinds, 0)
        if Integration.Kind.JIRA in kinds:  # the one kind without a default address
            self.fields["base_url"].label = format_html(
                'Base URL<span class="asteriskField" data-kind-hint="{}">*</span>',
                Integration.Kind.JIRA,
            )
        self.fields["token"].help_text = _hints(
            kinds, 1, "Stored encrypted; nobody can read it here again."
        )
        if integration is None:
            self.fields["alias"].initial = "default"
        else:
            del self.fields["kind"]
            self.fields["token"].required = False
            self.fields["token"].label = "New token"
            self.fields["token"].help_text = _hints(kinds, 1, KEEP_CURRENT_VALUE)

    def clean_base_url(self) -> str:
        value = self.cleaned_data["base_url"].strip()
        if not value:
            return ""
        url = _http_url(value)
        if url is None:
            raise forms.ValidationError(
                f"“{value}” is not an http or https URL, such as https://slack.com."
            )
        return url

    def clean(self) -> dict:
        data = super().clean()
        kind = self.integration.kind if self.integration else data.get("kind")
        if kind is None:
            return data
        data["alias"] = alias = data.get("alias") or "default"
        if "base_url" in data and not data["base_url"]:
            data["base_url"] = INTEGRATION_DEFAULT_BASE_URLS.get(kind, "")
            if not data["base_url"]:
                label = Integration.Kind(kind).label
                self.add_error(
                    "base_url",
                    f"{label} has no default address: give your site's, such as https://acme.atlassian.net.",
                )
        same = Integration.objects.filter(
            workspace=self.workspace, kind=kind, alias=alias
        )
        if self.integration is not None:
            same = same.exclude(pk=self.integration.pk)
        if "alias" not in self.errors and same.exists():
            label = Integration.Kind(kind).label
            self.add_error(
                "alias",
                f"A {label} integration with the alias “{alias}” already exists.",
            )
        return data


class OutboundAllowlistForm(CrispyMixin, forms.Form):
    host = forms.CharField(
        max_length=255,
        label="Host, address or range",
        help_text="A host name (ci.internal), an IPv4 or IPv6 address (10.0.0.7, fd00::7) or a CIDR range (10.0.0.0/8, fd00::/8). No scheme, port or path.",
    )

    def __init__(self, *args, workspace: Workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace = workspace

    def clean_host(self) -> str:
        """Return the canonical form: a lowercase host name, an address or a range."""
        value = self.cleaned_data["host"].strip()
        host = _outbound_host(value)
        if host is None:
            hint = ""
            if re.search(r"://|:\d*$|:\d+/", value):
                hint = " Enter the host alone, without a scheme, port or path."
            raise forms.ValidationError(
                f"“{value}” is not a valid host name, IP address or CIDR range.{hint}"
            )
        if OutboundAllowlistEntry.objects.filter(
            workspace=self.workspace, host=host
        ).exists():
            if host == value:
                raise forms.ValidationError(
                    f"{host} is already on the outbound allowlist."
                )
            raise forms.ValidationError(
                f"{value} means {host}, which is already on the outbound allowlist."
            )
        return host


def _outbound_host(value: str) -> str | None:
    try:
        network = ipaddress.ip_network(value.strip("[]"), strict=False)
    except ValueError:
        return host_name(value)
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)
