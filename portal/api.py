"""The API root: one NinjaAPI under /api/v1/, bearer keys, IP allowlist, Cortex errors.

Every request with a valid key passes, in order: the workspace's IP allowlist
(403 "Forbidden IP address"), the key's rate limit (429 with Retry-After), and a
check that the path and query hold no NUL character (400; databases can't store
it). Bodies are JSON, or YAML when the Content-Type says so (`CairnParser`); a
body that can't be read is a 400 saying why. Errors use Cortex's ErrorResponse
shape (`error_response`).
"""

import ipaddress
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any, ClassVar, Literal

import yaml
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.db import connections
from django.db.models import Q
from django.http import Http404, HttpRequest, UnreadablePostError
from django.utils import timezone
from ninja import Field, NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.parser import Parser
from ninja.security import HttpBearer
from pydantic import ConfigDict, model_validator

from . import ratelimit, storable, yamlload
from .models import ApiKey, IpAllowlistEntry, User, Workspace, hash_key
from .rawsql import columns, from_row, split_row

log = logging.getLogger(__name__)

# A key's last_used_at is written at most this often:
LAST_USED_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a workspace, the acting user (None for a workspace key), permissions."""

    workspace: Workspace
    user: User | None
    permissions: frozenset[str]
    api_key: ApiKey


class ForbiddenIP(Exception):
    pass


class RateLimited(Exception):
    def __init__(self, retry_after: int):
        super().__init__(retry_after)
        self.retry_after = retry_after


class BodyError(ValueError):
    """A request body that can't be read; the message says why (a 400)."""


def check_storable(value: Any, where: str = "body") -> None:
    """Raise BodyError if the databases can't store value as JSON (portal/storable.py)."""
    try:
        storable.check_storable(value, where)
    except storable.Unstorable as exc:
        raise BodyError(str(exc)) from None


def read_body(request: HttpRequest) -> Any:
    """The request body: YAML when the Content-Type names YAML, else JSON.

    An empty body is None. Raises BodyError with a message fit for a 400.
    """
    raw = request.body
    if not raw.strip():
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BodyError("The request body is not UTF-8 text") from None
    if "yaml" in (request.content_type or "").lower():
        try:
            data = yamlload.load(text, yamlload.StrictLoader)  # read as descriptors are
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problem = ", ".join(  # "expected a single document…, but found another"
                p
                for p in (getattr(exc, "context", None), getattr(exc, "problem", None))
                if p
            )
            where = (
                f" at line {mark.line + 1}, column {mark.column + 1}"
                + (f": {problem}" if problem else "")
                if mark
                else f": {exc}"  # nested too deeply, a number too long
            )
            raise BodyError(f"The request body is not valid YAML{where}") from None
    else:
        try:
            data = json.loads(
                text, parse_constant=_no_constant, parse_int=storable.read_int
            )
        except json.JSONDecodeError as exc:
            sent_as = (request.content_type or "").lower()
            hint = (
                f" (it was sent as {sent_as}: send JSON with Content-Type:"
                " application/json, or YAML with Content-Type: application/yaml)"
                if sent_as.startswith(("application/x-www-form", "multipart/"))
                else ""
            )
            raise BodyError(
                f"The request body is not valid JSON{hint}: line {exc.lineno}, "
                f"column {exc.colno}: {exc.msg}"
            ) from None
        except ValueError as exc:
            raise BodyError(f"The request body is not valid JSON: {exc}") from None
        except RecursionError:
            raise BodyError(
                "The request body is not valid JSON: nested too deeply"
            ) from None
    check_storable(data)
    return data


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON can store")


class CairnParser(Parser):
    """Ninja's body parser, reading YAML too and saying what is wrong (BodyError)."""

    def parse_body(self, request: HttpRequest):
        return read_body(request)


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR, or the first untrusted hop of X-Forwarded-For behind trusted proxies."""
    remote = request.META.get("REMOTE_ADDR", "")
    trusted = [ipaddress.ip_network(p, strict=False) for p in settings.TRUSTED_PROXIES]

    def is_trusted(addr: str) -> bool:
        ip = _parse_ip(addr)
        return ip is not None and any(ip in net for net in trusted)

    if not is_trusted(remote):
        return remote
    hops = [
        h.strip()
        for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if h.strip()
    ]
    for hop in reversed(hops):
        if not is_trusted(hop):
            return hop
    return remote


def _parse_ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address, with IPv4-mapped IPv6 (`::ffff:10.1.2.3`, from dual-stack servers) as IPv4."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def ip_allowed(workspace: Workspace, address: str) -> bool:
    addresses = workspace.ip_allowlist.values_list("address", flat=True)
    return address_allowed(list(addresses), address)


def address_allowed(allowlist: list[str], address: str) -> bool:
    """An empty allowlist allows every address; else `address` must be in an entry."""
    if not allowlist:
        return True
    ip = _parse_ip(address)
    if ip is None:
        return False
    for entry in allowlist:
        try:
            network = IpAllowlistEntry.parse(
                entry
            )  # entries saved before it was canonical too
        except ValueError:
            continue  # a malformed entry allows nothing
        if ip in network:
            return True
    return False


# --- hand-written queries on the hot paths (see portal.rawsql) ---------------


# Everything authentication needs, in one statement: the active key with its
# workspace and user, whether that user is still a member, the permissions of
# the roles (the key's own for a workspace key, the member's for a personal
# access token; a JSON array of each role's list), and the workspace's IP
# allowlist (a JSON array of addresses).
_KEY_SQL = """
SELECT {key}, {workspace}, {user},
  CASE WHEN EXISTS (
    SELECT 1 FROM portal_membership m
    WHERE m.workspace_id = k.workspace_id AND m.user_id = k.user_id
  ) THEN 1 ELSE 0 END,
  (SELECT {permissions} FROM portal_role r WHERE r.id IN (
    SELECT kr.role_id FROM portal_apikey_roles kr
    WHERE kr.apikey_id = k.id AND k.user_id IS NULL
    UNION ALL
    SELECT mr.role_id FROM portal_membership_roles mr
    JOIN portal_membership m ON m.id = mr.membership_id
    WHERE m.workspace_id = k.workspace_id AND m.user_id = k.user_id
  )),
  (SELECT {addresses} FROM portal_ipallowlistentry a
   WHERE a.workspace_id = k.workspace_id)
FROM portal_apikey k
JOIN portal_workspace w ON w.id = k.workspace_id
LEFT JOIN portal_user u ON u.id = k.user_id
WHERE k.key_hash = %s AND k.revoked_at IS NULL
"""
# A JSON array of the rows' values, as text ('[]' for no rows):
_JSON_ARRAY = {
    "sqlite": "json_group_array({})",
    "postgresql": "CAST(COALESCE(json_agg({}), '[]') AS TEXT)",
}
_key_sql_cache: dict[str, str] = {}


def _key_sql(connection) -> str:
    sql = _key_sql_cache.get(connection.vendor)
    if sql is None:
        array = _JSON_ARRAY[connection.vendor]
        # SQLite keeps JSON as text: json() makes each list an array, not a string.
        role = (
            "json(r.permissions)" if connection.vendor == "sqlite" else "r.permissions"
        )
        sql = _key_sql_cache[connection.vendor] = _KEY_SQL.format(
            key=columns(ApiKey, "k", connection),
            workspace=columns(Workspace, "w", connection),
            user=columns(User, "u", connection),
            permissions=array.format(role),
            addresses=array.format("a.address"),
        )
    return sql


@dataclass(frozen=True)
class _KeyRow:
    key: ApiKey  # with .workspace and .user loaded
    is_member: bool  # the key's user (if any) belongs to the key's workspace
    role_permissions: list[list[str]]
    allowlist: list[str]


def _load_key(key_hash: str) -> _KeyRow | None:
    """The active key with this hash, its workspace, its user and their rules."""
    connection = connections[ApiKey.objects.db]
    with connection.cursor() as cursor:
        cursor.execute(_key_sql(connection), [key_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    key, workspace, user, is_member, permissions, addresses = split_row(
        row, ApiKey, Workspace, User
    )
    key = from_row(ApiKey, connection, key)
    key.workspace = from_row(Workspace, connection, workspace)
    key.user = from_row(User, connection, user)
    return _KeyRow(
        key=key,
        is_member=bool(is_member),
        role_permissions=json.loads(permissions),
        allowlist=json.loads(addresses),
    )


class ApiKeyAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Principal | None:
        key_hash = hash_key(token.strip())  # "Bearer  <key>" is the same key
        found = _load_key(key_hash)
        if found is None:
            # The failure path only: say why, without saying whose it was.
            if ApiKey.objects.filter(
                key_hash=key_hash, revoked_at__isnull=False
            ).exists():
                request.cairn_unauthorized = "This API key was revoked"
            return None
        key = found.key
        if not address_allowed(found.allowlist, client_ip(request)):
            raise ForbiddenIP
        wait = ratelimit.hit(f"api-key:{key_hash[:32]}", settings.API_RATE_LIMIT)
        if wait is not None:
            raise RateLimited(wait)
        _check_path_and_query(request)
        if key.user is not None and not (found.is_member and key.user.is_active):
            # The token's owner left the workspace (or was deactivated):
            request.cairn_unauthorized = (
                "This personal access token's owner is no longer an active member"
                " of its workspace"
            )
            return None
        perms = frozenset(
            p
            for permissions in found.role_permissions
            if permissions
            for p in permissions
        )
        now = timezone.now()
        if key.last_used_at is None or key.last_used_at < now - LAST_USED_EVERY:
            # Record successful use, writing last_used_at at most once a minute
            # (the condition again, so concurrent requests write it once):
            ApiKey.objects.filter(
                Q(last_used_at__isnull=True)
                | Q(last_used_at__lt=now - LAST_USED_EVERY),
                pk=key.pk,
            ).update(last_used_at=now)
        return Principal(
            workspace=key.workspace, user=key.user, permissions=perms, api_key=key
        )


def utc(value: datetime, name: str) -> datetime:
    """`value` in UTC (naive: taken as UTC); 400 naming `name` when UTC can't
    hold it (0001-01-01T00:00+05:00)."""
    try:
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except (OverflowError, ValueError):
        raise HttpError(400, f"{name}: the date is out of range") from None


def _check_path_and_query(request: HttpRequest) -> None:
    values = [request.path] + [
        text for key, items in request.GET.lists() for text in (key, *items)
    ]
    if any("\x00" in value for value in values):
        raise HttpError(400, "The path and query must not contain NUL characters")


api = NinjaAPI(
    title="Cairn API",
    version="1",
    description=(
        "Cortex-compatible API for the catalog and workflows. Authenticate with "
        "`Authorization: Bearer <key>` (a workspace API key or a personal access "
        "token). Errors are Cortex's ErrorResponse: `{type, message, details, "
        "httpStatus, requestId}`."
    ),
    auth=ApiKeyAuth(),
    urls_namespace="api",
    parser=CairnParser(),
)


# `type` by status, from the enum of Cortex's ErrorResponse, so that a client generated from Cortex's document reads every error; the
# enum has no type of its own for some statuses, and `httpStatus` is exact.
_ERROR_TYPES = {
    400: "BAD_REQUEST",
    401: "UNCATEGORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "BAD_REQUEST",
    406: "BAD_REQUEST",
    408: "REQUEST_TIMEOUT",
    409: "CONFLICT",
    413: "BAD_REQUEST",
    422: "ILLEGAL_ARGUMENT_ERROR",
    429: "UNCATEGORIZED",
    500: "UNHANDLED_EXCEPTION",
}


def error_body(status: int, message: str, *, details: str | None = None) -> dict:
    """Cortex's ErrorResponse. `details` is text, as Cortex's: the Cortex CLI
    prints "<message> - <details>" (and "- None" for a null)."""
    if details is None:
        try:
            details = HTTPStatus(status).phrase
        except ValueError:
            details = ""
    return {
        "type": _ERROR_TYPES.get(status, "UNCATEGORIZED"),
        "message": message,
        "details": details,
        "httpStatus": status,
        "requestId": uuid.uuid4().hex,
    }


class ErrorOut(Schema):
    """Cortex's ErrorResponse (error_body), for the OpenAPI document."""

    type: Literal[tuple(sorted(set(_ERROR_TYPES.values())))] = Field(  # type: ignore[valid-type]
        description="one of Cortex's ErrorResponse types; httpStatus is the exact status"
    )
    message: str
    details: str
    httpStatus: int
    requestId: str


def errors(*statuses: int) -> dict[int, type[ErrorOut]]:
    """Error answers for an endpoint's `response=`: these, and those any
    endpoint may give: 400 (a NUL in the path or query, a query that can't be
    read), 401 (a bad key), 403 (an address off the IP allowlist) and 429 (the
    rate limit). One that reads a body adds 413; an @idempotent one adds 409,
    413 and 422 (IDEMPOTENT_ERRORS)."""
    return dict.fromkeys(sorted({*statuses, 400, 401, 403, 429}), ErrorOut)


# What an Idempotency-Key can add: its first request still in progress (409),
# a body read to compare it with the first's (413), the key used for another
# request (422).
IDEMPOTENT_ERRORS = (409, 413, 422)


def error_docs(*statuses: int) -> dict:
    """errors() for an endpoint whose answers Ninja doesn't build (it has no
    `response=`), as its `openapi_extra`."""
    return {
        "responses": {
            status: {
                "description": HTTPStatus(status).phrase,
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/ErrorOut"}
                    }
                },
            }
            for status in errors(*statuses)
        }
    }


def error_response(
    request,
    status: int,
    message: str,
    *,
    details: str | None = None,
):
    body = error_body(status, message, details=details)
    return api.create_response(request, body, status=status)


@api.exception_handler(ForbiddenIP)
def _forbidden_ip(request, exc):
    return error_response(
        request,
        403,
        "Forbidden IP address",
        details=f"{client_ip(request)} is not on this workspace's IP allowlist;"
        " an admin can change it in the browser, under Settings → IP allowlist"
        " (the pages are not affected)",
    )


@api.exception_handler(RateLimited)
def _rate_limited(request, exc: RateLimited):
    response = error_response(
        request,
        429,
        "The client has exceeded the rate limit by performing too many requests "
        "in a short period. Retry the request after a delay.",
        details=f"{settings.API_RATE_LIMIT} requests per minute per API key",
    )
    response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(BodyError)
def _bad_body(request, exc: BodyError):
    return error_response(request, 400, str(exc))


@api.exception_handler(RequestDataTooBig)
def _too_big(request, exc):
    return error_response(
        request,
        413,
        f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes",
    )


@api.exception_handler(TooManyFieldsSent)
def _too_many_fields(request, exc):
    return error_response(
        request,
        400,
        f"The query has more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} parameters",
    )


@api.exception_handler(Http404)
def _not_found(request, exc):
    return error_response(request, 404, str(exc) or "Not found")


@api.exception_handler(UnreadablePostError)
def _unreadable(request, exc):
    # The client stopped sending its body (CLIENT_READ_TIMEOUT, portal/wsgi.py)
    # or went away: its fault, not the server's.
    log.info("Unreadable body in %s %s: %s", request.method, request.path, exc)
    if str(exc).startswith("bad chunk"):  # portal/wsgi.py
        return error_response(
            request, 400, "The request's body is not valid chunked encoding"
        )
    return error_response(
        request, 400, "The request's body stopped arriving before its end"
    )


@api.exception_handler(Exception)
def _unhandled(request, exc):
    log.exception("Unhandled error in %s %s", request.method, request.path)
    return error_response(request, 500, "Internal error")


@api.exception_handler(AuthenticationError)
def _unauthorized(request, exc):
    response = error_response(request, 401, _why_unauthorized(request))
    response["WWW-Authenticate"] = 'Bearer realm="Cairn API"'  # RFC 6750
    return response


def _why_unauthorized(request) -> str:
    said = getattr(request, "cairn_unauthorized", None)
    if said:
        return said
    header = request.headers.get("Authorization", "").strip()
    if not header:
        return "Missing API key: send it as Authorization: Bearer <key>"
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer":
        return "The API key goes in Authorization: Bearer <key>"
    if not key.strip():
        return "Missing API key after Bearer"
    return "Invalid API key"


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    # Ninja answers "Cannot parse request body" for any body the parser refuses;
    # the parser's own BodyError says what is wrong:
    cause = exc.__cause__
    message = str(cause) if isinstance(cause, BodyError) else str(exc)
    return error_response(request, exc.status_code, message)


def _location(loc) -> str:
    """`notificationRecipients[0].name`, as the views' own messages write paths."""
    path = ""
    for part in loc:
        if part in ("body", "payload", "query", "path"):
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


@api.exception_handler(NinjaValidationError)
def _validation_error(request, exc: NinjaValidationError):
    problems = []
    for error in exc.errors:
        location = _location(error.get("loc", ()))
        yaml = "yaml" in (request.content_type or "").lower()
        if not location and (
            error.get("type") == "missing"  # "Field required"
            or (error.get("type") in _NOT_AN_OBJECT and not request.body.strip())
        ):  # no body, or only blanks
            problems.append(
                "The request has no body: it must be"
                f" {'a mapping' if yaml else 'a JSON object'}"
            )
            continue
        if not location and error.get("type") in _NOT_AN_OBJECT:
            problems.append(
                f"The request body must be {'a mapping' if yaml else 'a JSON object'},"
                f" not {_kind(read_body(request))}"
            )
            continue
        problems.append(
            f"{location}: {error.get('msg')}" if location else error.get("msg", "")
        )
    return error_response(request, 400, "; ".join(problems) or "Invalid request")


# Pydantic's error types for a body that is not an object (a list, a string…):
_NOT_AN_OBJECT = frozenset({"model_attributes_type", "dict_type", "model_type"})


def _kind(value: Any) -> str:
    """What a JSON value is, in words."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    return {list: "a list", str: "a string", type(None): "null"}.get(
        type(value), "something else"
    )


MAX_INT32 = 2**31 - 1


class RequestBody(Schema):
    """A request body: a misspelt or unknown field is a 400 naming it, not
    dropped unseen. Fields the API itself answers with (`READ_ONLY`), in a
    body sent back as it came (the CLI's `get` output edited, then `-f`), are
    let through and ignored."""

    model_config = ConfigDict(extra="forbid")
    READ_ONLY: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _without_read_only(cls, data: Any) -> Any:
        if isinstance(data, dict) and cls.READ_ONLY:
            return {k: v for k, v in data.items() if k not in cls.READ_ONLY}
        return data


class PageParams(Schema):
    """The query of Cortex's lists."""

    page: int = Field(0, ge=0, le=MAX_INT32, description="Page number, from 0")
    pageSize: int = Field(250, ge=1, le=1000, description="Between 1 and 1000")


def cortex_page(qs, page: int, size: int, key: str, out) -> dict:
    """A page of one of Cortex's lists (`page` from 0): `{key: [out(row)…],
    page, total, totalPages}`, of a queryset or a list."""
    total = len(qs) if isinstance(qs, list) else qs.count()
    start = page * size
    return {
        key: [out(row) for row in qs[start : start + size]],
        "page": page,
        "total": total,
        "totalPages": -(-total // size),
    }


def require(principal: Principal, permission: str) -> None:
    if permission not in principal.permissions:
        raise HttpError(403, f"This key lacks the {permission} permission")


def json_response(request, data, status: int = 200):
    """An HttpResponse with data as JSON (what idempotent views must return)."""
    return api.create_response(request, data, status=status)


api.add_router("/catalog", "catalog.api.router")
api.add_router("/open-api", "catalog.api.openapi_router")
api.add_router("/workflows", "workflows.api.router")
api.add_router("/secrets", "portal.settings_api.secrets_router")
api.add_router("/ip-allowlist", "portal.settings_api.ip_allowlist_router")
api.add_router("/teams", "portal.teams_api.router")
