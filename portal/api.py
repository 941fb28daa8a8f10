"""The API root: one NinjaAPI under /api/v1/, bearer keys, IP allowlist, Cortex errors."""

import ipaddress
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import HttpBearer

from .models import ApiKey, User, Workspace


@dataclass(frozen=True)
class Principal:
    """Who is calling: a workspace, the acting user (None for a workspace key), permissions."""

    workspace: Workspace
    user: User | None
    permissions: frozenset[str]
    api_key: ApiKey


class ForbiddenIP(Exception):
    pass


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
    entries = list(workspace.ip_allowlist.all())
    if not entries:
        return True
    ip = _parse_ip(address)
    if ip is None:
        return False
    for entry in entries:
        try:
            network = entry.network
        except ValueError:
            continue  # a malformed entry allows nothing
        if ip in network:
            return True
    return False


class ApiKeyAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Principal | None:
        from .models import hash_key

        key = (
            ApiKey.objects.active()
            .select_related("workspace", "user")
            .filter(key_hash=hash_key(token))
            .first()
        )
        if key is None:
            return None
        if not ip_allowed(key.workspace, client_ip(request)):
            raise ForbiddenIP
        if key.user is not None:
            membership = key.user.memberships.filter(workspace=key.workspace).first()
            if membership is None or not key.user.is_active:
                return None  # the token's owner left the workspace
            perms = membership.permission_set()
        else:
            perms = frozenset(p for role in key.roles.all() for p in role.permissions)
        now = timezone.now()
        # Record successful use, writing last_used_at at most once a minute:
        if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        return Principal(
            workspace=key.workspace, user=key.user, permissions=perms, api_key=key
        )


api = NinjaAPI(
    title="Cairn API",
    version="1",
    description="Cortex-compatible API for the catalog and workflows.",
    auth=ApiKeyAuth(),
    urls_namespace="api",
)


def error_response(
    request, status: int, message: str, *, kind: str | None = None, details=None
):
    body = {
        "type": kind or _ERROR_TYPES.get(status, "ERROR"),
        "message": message,
        "details": details,
        "httpStatus": status,
        "requestId": uuid.uuid4().hex,
    }
    return api.create_response(request, body, status=status)


_ERROR_TYPES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    422: "UNPROCESSABLE_ENTITY",
    429: "TOO_MANY_REQUESTS",
}


@api.exception_handler(ForbiddenIP)
def _forbidden_ip(request, exc):
    return error_response(request, 403, "Forbidden IP address")


@api.exception_handler(AuthenticationError)
def _unauthorized(request, exc):
    return error_response(request, 401, "Missing or invalid API key")


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    return error_response(request, exc.status_code, str(exc))


@api.exception_handler(NinjaValidationError)
def _validation_error(request, exc: NinjaValidationError):
    problems = []
    for error in exc.errors:
        location = ".".join(
            str(p) for p in error.get("loc", ()) if p not in ("body", "payload")
        )
        problems.append(
            f"{location}: {error.get('msg')}" if location else error.get("msg", "")
        )
    return error_response(
        request, 400, "; ".join(problems) or "Invalid request", details=exc.errors
    )


def require(principal: Principal, permission: str) -> None:
    if permission not in principal.permissions:
        raise HttpError(403, f"This key lacks the {permission} permission")


api.add_router("/catalog", "catalog.api.router")
