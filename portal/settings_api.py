"""Workspace settings in Cortex's API shapes (`cortex secrets …`, `cortex ip-allowlist …`).

- `GET /secrets`, `GET /secrets/{tagOrId}`, `POST /secrets` (`name`, `secret`,
  `tag`), `PUT /secrets/{tagOrId}` (`name` and/or `secret`), `DELETE
  /secrets/{tagOrId}`: MANAGE_SECRETS. A value goes in and never comes out:
  answers hold the id, name and tag only.
- `GET /ip-allowlist`, `PUT /ip-allowlist` (replaces the list; refused when the
  new list would shut out the caller's own address, unless `force=true`),
  `POST /ip-allowlist/validate`: CONFIGURE_IP_ALLOWLIST.

The same rules as the Settings pages (the forms and services they use). These
writes take no Idempotency-Key: sending the same one twice changes nothing
(a second create is a 409), and a key's record would keep a digest of a body
that holds a secret's value.
"""

from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError

from portal.api import (
    IDEMPOTENT_ERRORS,
    PageParams,
    RequestBody,
    address_allowed,
    client_ip,
    cortex_page,
    errors,
    json_response,
    require,
)
from portal.idempotency import OPENAPI_HEADER, idempotent
from portal.ids import parse_id
from portal.permissions import Permission
from workflows.models import Secret

from . import services
from .forms import SecretCreateForm, SecretEditForm
from .models import IpAllowlistEntry, Workspace

secrets_router = Router(tags=["secrets"])
ip_allowlist_router = Router(tags=["ip-allowlist"])

MAX_ENTRIES = 1000


# --- secrets -----------------------------------------------------------------


class SecretOut(Schema):
    id: str
    name: str
    tag: str


class SecretList(Schema):
    secrets: list[SecretOut]
    page: int
    total: int
    totalPages: int


class SecretCreate(RequestBody):
    name: str = Field(description="What the secret is for")
    secret: str = Field(description="The value; stored encrypted, never returned")
    tag: str = Field(description="Letters, digits, hyphens and underscores")


class SecretChange(RequestBody):
    name: str | None = None
    secret: str | None = Field(None, description="A new value; omit to keep it")


def _secret_out(secret: Secret) -> dict:
    return {"id": str(secret.pk), "name": secret.name, "tag": secret.tag}


def _secrets(workspace: Workspace):
    # Listing and naming secrets never needs their encrypted values:
    return Secret.objects.filter(workspace=workspace).defer("encrypted_value")


def _find_secret(workspace: Workspace, tag_or_id: str) -> Secret:
    qs = _secrets(workspace)
    # A tag first: a tag that is all digits wins over an id.
    found = qs.filter(tag=tag_or_id).first()
    if found is None and (pk := parse_id(tag_or_id)) is not None:
        found = qs.filter(pk=pk).first()
    if found is None:
        raise HttpError(404, f"could not find secret with tag or id: {tag_or_id}")
    return found


def _refuse(form) -> None:
    """A 400 naming each field of the body that is wrong (the form's rules)."""
    body_name = {"value": "secret"}  # the forms' field names, as the body spells them
    problems = [
        f"{body_name.get(field, field)}: {' '.join(messages)}"
        for field, messages in form.errors.items()
    ]
    raise HttpError(400, "; ".join(problems))


@secrets_router.get("", response={200: SecretList, **errors()}, summary="List secrets")
def secret_list(request, params: Query[PageParams]):
    require(request.auth, Permission.MANAGE_SECRETS)
    qs = _secrets(request.auth.workspace).order_by("tag")
    return cortex_page(qs, params.page, params.pageSize, "secrets", _secret_out)


@secrets_router.get(
    "/{tagOrId}",
    response={200: SecretOut, **errors(404)},
    summary="Retrieve secret",
)
def secret_get(request, tagOrId: str):
    require(request.auth, Permission.MANAGE_SECRETS)
    return _secret_out(_find_secret(request.auth.workspace, tagOrId))


@secrets_router.post(
    "", response={200: SecretOut, **errors(409, 413)}, summary="Create secret"
)
def secret_create(request, payload: SecretCreate):
    require(request.auth, Permission.MANAGE_SECRETS)
    workspace = request.auth.workspace
    if Secret.objects.filter(workspace=workspace, tag=payload.tag).exists():
        raise HttpError(409, f"A secret with the tag “{payload.tag}” already exists")
    form = SecretCreateForm(
        {"tag": payload.tag, "name": payload.name, "value": payload.secret},
        workspace=workspace,
    )
    if not form.is_valid():
        _refuse(form)
    try:
        secret = services.secret_create(workspace=workspace, **form.cleaned_data)
    except services.ChangeRefused as exc:  # created by another request meanwhile
        raise HttpError(409, str(exc)) from None
    return _secret_out(secret)


@secrets_router.put(
    "/{tagOrId}",
    response={200: SecretOut, **errors(404, 413)},
    summary="Update secret",
)
def secret_update(request, tagOrId: str, payload: SecretChange):
    """Rename the secret and/or replace its value; what the body leaves out stays."""
    require(request.auth, Permission.MANAGE_SECRETS)
    secret = _find_secret(request.auth.workspace, tagOrId)
    if payload.name is None and payload.secret is None:
        raise HttpError(400, "Give name or secret (or both) to change")
    form = SecretEditForm(
        {
            "name": secret.name if payload.name is None else payload.name,
            "value": payload.secret or "",
        }
    )
    if payload.secret == "":
        form.add_error("value", "The value can't be empty.")
    if not form.is_valid():
        _refuse(form)
    services.secret_update(secret=secret, **form.cleaned_data)
    return _secret_out(secret)


@secrets_router.delete(
    "/{tagOrId}", response={200: dict, **errors(404)}, summary="Delete secret"
)
def secret_delete(request, tagOrId: str):
    require(request.auth, Permission.MANAGE_SECRETS)
    services.secret_delete(secret=_find_secret(request.auth.workspace, tagOrId))
    return {"message": "Secret deleted successfully"}


# --- the IP allowlist --------------------------------------------------------


class EntryIn(RequestBody):
    address: str = Field(description="An IP address or CIDR range")
    description: str | None = Field(None, max_length=200)


class EntriesIn(RequestBody):
    entries: list[EntryIn] = Field(max_length=MAX_ENTRIES)


class EntryOut(Schema):
    address: str
    description: str | None


class EntryList(Schema):
    entries: list[EntryOut]
    page: int
    total: int
    totalPages: int


class EntryChecked(EntryOut):
    valid: bool
    message: str | None = Field(None, description="Why the entry is not valid")


class EntriesChecked(Schema):
    entries: list[EntryChecked]


class ReplaceParams(Schema):
    force: bool = Field(
        False,
        description="Replace the list even if it doesn't allow the caller's own address",
    )


def _entry_out(entry: IpAllowlistEntry) -> dict:
    return {"address": entry.address, "description": entry.description or None}


def _checked(entries: list[EntryIn]) -> list[tuple[str | None, str | None]]:
    """Each entry's canonical address and, if it has one, what is wrong with it."""
    seen: dict[str, int] = {}
    out = []
    for index, entry in enumerate(entries):
        try:
            address = IpAllowlistEntry.canonical(entry.address)
        except ValueError:
            out.append(
                (None, f"“{entry.address}” is not a valid IP address or CIDR range")
            )
            continue
        if address in seen:
            out.append((address, f"{address} is also entries[{seen[address]}]"))
            continue
        seen[address] = index
        out.append((address, None))
    return out


def _entries_page(workspace: Workspace, page: int, size: int) -> dict:
    qs = workspace.ip_allowlist.order_by("address")
    return cortex_page(qs, page, size, "entries", _entry_out)


@ip_allowlist_router.get(
    "", response={200: EntryList, **errors()}, summary="Get the IP allowlist"
)
def ip_allowlist_get(request, params: Query[PageParams]):
    require(request.auth, Permission.CONFIGURE_IP_ALLOWLIST)
    return _entries_page(request.auth.workspace, params.page, params.pageSize)


@ip_allowlist_router.post(
    "/validate",
    response={200: EntriesChecked, **errors(413)},
    summary="Validate IP addresses and ranges",
)
def ip_allowlist_validate(request, payload: EntriesIn):
    """Each entry with `valid` and, when it is not, a `message`; nothing is saved."""
    require(request.auth, Permission.CONFIGURE_IP_ALLOWLIST)
    return {
        "entries": [
            {
                "address": address or entry.address,
                "description": entry.description,
                "valid": problem is None,
                "message": problem,
            }
            for entry, (address, problem) in zip(
                payload.entries, _checked(payload.entries), strict=True
            )
        ]
    }


@ip_allowlist_router.put(
    "",
    response={200: EntryList, **errors(*IDEMPOTENT_ERRORS)},
    summary="Replace the IP allowlist",
    openapi_extra=OPENAPI_HEADER,
)
@idempotent
def ip_allowlist_replace(request, payload: EntriesIn, params: Query[ReplaceParams]):
    """The list becomes `entries` (an empty list allows every address). Addresses
    are kept in canonical form (`10.1.2.3/8` is `10.0.0.0/8`)."""
    require(request.auth, Permission.CONFIGURE_IP_ALLOWLIST)
    checked = _checked(payload.entries)
    problems = [
        f"entries[{i}].address: {problem}"
        for i, (_, problem) in enumerate(checked)
        if problem
    ]
    if problems:
        raise HttpError(400, "; ".join(problems))
    addresses = [address for address, _ in checked]
    caller = client_ip(request)
    if addresses and not params.force and not address_allowed(addresses, caller):
        raise HttpError(
            400,
            f"The new list doesn't allow your own address ({caller}), so this key "
            "could not call the API again; add it, or send force=true",
        )
    workspace = request.auth.workspace
    services.ip_allowlist_replace(
        workspace=workspace,
        entries=[
            (address, entry.description or "")
            for address, entry in zip(addresses, payload.entries, strict=True)
        ],
    )
    return json_response(request, _entries_page(workspace, 0, MAX_ENTRIES))
