"""Forms of the workspace settings pages: they validate and clean, services save."""

import ipaddress

from crispy_forms.bootstrap import InlineCheckboxes
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Layout
from django import forms
from django.core.validators import validate_slug

from catalog.models import Team

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
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise forms.ValidationError(
                f"“{value}” is not a valid IP address or CIDR range."
            ) from None
        if network.prefixlen == network.max_prefixlen:
            address = str(network.network_address)
        else:
            address = str(network)
        if IpAllowlistEntry.objects.filter(
            workspace=self.workspace, address=address
        ).exists():
            if address == value:
                raise forms.ValidationError(f"{address} is already on the allowlist.")
            raise forms.ValidationError(
                f"{value} means {address}, which is already on the allowlist."
            )
        return address
