"""Outbound HTTP for blocks and integrations, guarded against SSRF.

Every HTTP block and integration (Slack, Microsoft Teams) calls `send`. It:

- allows only http and https URLs;
- resolves the host itself, checks every address it resolves to, and connects
  to a checked address (never resolving again), so DNS rebinding can't slip a
  private address in between the check and the connection. Loopback, private,
  link-local, multicast, reserved, unspecified and other non-public addresses
  (IPv4 and IPv6, IPv4-mapped and NAT64 forms included) are refused unless the
  host, the address or a CIDR range holding it is named in the setting
  `HTTP_BLOCK_ALLOWED_HOSTS` or in the workspace's `OutboundAllowlistEntry` rows;
- follows at most 5 redirects, to the same host only, checking each hop again;
- gives the whole exchange (DNS, connect, TLS, every read and write, every
  redirect) one deadline of `timeout` seconds;
- stops reading a response larger than `max_bytes`.

The pinning lives in the network backend httpx's connection pool uses
(`httpcore.NetworkBackend.connect_tcp`): httpx still builds the request from the
URL, so the Host header and TLS SNI/certificate checks use the host name while
the socket goes to the vetted address. Environment proxies are ignored
(`trust_env=False`): a proxy would connect on Cairn's behalf, past the checks.

Everything that goes wrong raises `OutboundError`, whose message is written to be
shown on the step as it is.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from functools import cache
from typing import TYPE_CHECKING, Any

import httpcore
import httpx
from django.conf import settings

from .secrets import scrub

if TYPE_CHECKING:
    from portal.models import Workspace

KIB = 1024
MIB = 1024 * KIB
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_BYTES = 5 * MIB
MAX_REDIRECTS = 5
USER_AGENT = "Cairn"

_SCHEMES = ("http", "https")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Cookies a remote server sets have no business in run outputs:
_DROPPED_RESPONSE_HEADERS = frozenset({"set-cookie", "set-cookie2"})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_ALLOW_HINT = "add it to HTTP_BLOCK_ALLOWED_HOSTS or the workspace's outbound allowlist"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# getaddrinfo has no timeout of its own; resolving in a thread lets the deadline hold.
_resolver = ThreadPoolExecutor(max_workers=8, thread_name_prefix="cairn-dns")


class OutboundError(Exception):
    """A request Cairn refused or could not complete; the message is user-facing."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body_bytes: bytes
    # Parsed JSON when the content type says JSON (and it parses), else text:
    body: Any
    url: str
    secrets: tuple[str, ...] = field(default=(), repr=False)  # to mask in errors

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def short_body(self, limit: int = 200) -> str:
        """The body on one line, cut at `limit` characters, for error messages;
        with the run's secrets masked first (cut or squeezed, an echoed secret
        would not be found whole afterwards)."""
        body = scrub(self.body, list(self.secrets)) if self.secrets else self.body
        if isinstance(body, str):
            text = " ".join(body.split())
        else:
            text = json.dumps(body, separators=(",", ":"), default=str)
        return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Allowlist:
    """Hosts and networks that may be called although their addresses aren't public."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()
    # Entries asked for only when these allow nothing (they cost a database read):
    more: Callable[[], Allowlist] | None = None

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> Allowlist:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = str(raw).strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                hosts.add(_normal_host(entry))
        return cls(frozenset(hosts), tuple(networks))

    @classmethod
    def for_workspace(cls, workspace: Workspace | None) -> Allowlist:
        """`settings.HTTP_BLOCK_ALLOWED_HOSTS`, then the workspace's outbound
        allowlist, read once and only if the settings don't allow the call."""
        configured = settings.HTTP_BLOCK_ALLOWED_HOSTS
        entries = configured.split(",") if isinstance(configured, str) else configured
        more = None
        if workspace is not None:
            more = cache(
                lambda: cls.from_entries(
                    workspace.outbound_allowlist.values_list("host", flat=True)
                )
            )
        return replace(cls.from_entries(entries), more=more)

    def allows_host(self, host: str) -> bool:
        return _normal_host(host) in self.hosts or (
            self.more is not None and self.more().allows_host(host)
        )

    def allows_address(self, ip: IPAddress) -> bool:
        return self._has_address(ip) or (
            self.more is not None and self.more().allows_address(ip)
        )

    def refuses(self, host: str, addresses: list[IPAddress]) -> list[IPAddress]:
        """Those of `host`'s addresses that the list doesn't allow; `more` is
        asked only about what these entries don't allow."""
        if _normal_host(host) in self.hosts:
            return []
        left = [ip for ip in addresses if not self._has_address(ip)]
        if left and self.more is not None:
            return self.more().refuses(host, left)
        return left

    def _has_address(self, ip: IPAddress) -> bool:
        candidates = {ip, _unmapped(ip)}
        return any(
            c in net
            for c in candidates
            for net in self.networks
            if c.version == net.version
        )


def _normal_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def _unmapped(ip: IPAddress) -> IPAddress:
    """The IPv4 address inside an IPv4-mapped (::ffff:a.b.c.d) or NAT64 IPv6 address."""
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def refusal_reason(ip: IPAddress) -> str | None:
    """Why connecting to `ip` is refused by default ("a private address"), or None."""
    ip = _unmapped(ip)
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_reserved:  # before is_private, which also covers 240.0.0.0/4
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "a non-public address"
    return None


def _literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _resolve(host: str, port: int, timeout: float) -> list[IPAddress]:
    """Every address `host` resolves to, in the resolver's order."""
    future = _resolver.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=max(timeout, 0.001))
    except FutureTimeout:
        raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else str(exc)
        raise OutboundError(f"could not resolve {host}: {reason}") from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        ip = ipaddress.ip_address(sockaddr[0].split("%")[0])
        if ip not in addresses:
            addresses.append(ip)
    return addresses


def vetted_addresses(
    host: str, port: int, allowlist: Allowlist, timeout: float
) -> list[IPAddress]:
    """Resolve `host` and check every address; raise OutboundError if any is refused.

    The allowlist is consulted only for an address that would be refused.
    """
    literal = _literal_ip(host)
    addresses = [literal] if literal is not None else _resolve(host, port, timeout)
    if not addresses:
        raise OutboundError(f"could not resolve {host}: no addresses")
    refused = [ip for ip in addresses if refusal_reason(ip)]
    if not refused or not (refused := allowlist.refuses(host, refused)):
        return addresses
    ip, reason = refused[0], refusal_reason(refused[0])
    if literal is not None:
        raise OutboundError(f"refused: {host.strip('[]')} is {reason}; {_ALLOW_HINT}")
    raise OutboundError(
        f"refused: {host} resolves to {ip}, {reason}; add {host} or {ip} to "
        "HTTP_BLOCK_ALLOWED_HOSTS or the workspace's outbound allowlist"
    )


class _Deadline:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def cap(self, timeout: float | None, exc_class: type[Exception]) -> float:
        """The smaller of `timeout` and the time left; raise exc_class once it's up."""
        left = self.at - time.monotonic()
        if left <= 0:
            raise exc_class(f"deadline of {self.seconds:g} s reached")
        return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connected stream whose reads and writes never outlast the request's deadline."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: _Deadline):
        self._stream = stream
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(
            max_bytes, self._deadline.cap(timeout, httpcore.ReadTimeout)
        )

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._deadline.cap(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        capped = self._deadline.cap(timeout, httpcore.ConnectTimeout)
        stream = self._stream.start_tls(ssl_context, server_hostname, capped)
        return _DeadlineStream(stream, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _PinningBackend(httpcore.NetworkBackend):
    """Resolves and vets the host, then connects to a vetted address (not to the name)."""

    def __init__(self, allowlist: Allowlist, deadline: _Deadline):
        self._allowlist = allowlist
        self._deadline = deadline
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        cap = self._deadline.cap(timeout, httpcore.ConnectTimeout)
        addresses = vetted_addresses(host, port, self._allowlist, cap)
        error: Exception | None = None
        for ip in addresses:  # all vetted; try each until one answers
            try:
                stream = self._inner.connect_tcp(
                    str(ip),
                    port,
                    timeout=self._deadline.cap(timeout, httpcore.ConnectTimeout),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                error = exc
                continue
            return _DeadlineStream(stream, self._deadline)
        assert error is not None
        raise error

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        raise OutboundError("refused: Unix sockets are not allowed")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@cache
def _default_ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context(verify=True, trust_env=False)


class _PinnedTransport(httpx.HTTPTransport):
    """httpx's own transport (request/response mapping, error mapping) on our backend.

    HTTPTransport keeps its connection pool in `_pool`; this builds the pool it
    would build for a direct connection, but on the pinning backend. httpx is
    pinned in pyproject.toml, and the outbound tests cover this path.
    """

    def __init__(self, backend: _PinningBackend, verify: ssl.SSLContext | bool):
        if verify is True:
            ssl_context = _default_ssl_context()
        else:
            ssl_context = httpx.create_ssl_context(verify=verify, trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context, network_backend=backend
        )


@dataclass
class _Hop:
    method: str
    url: httpx.URL
    content: bytes | None
    headers: dict[str, str] = field(default_factory=dict)


def _human_size(n: int) -> str:
    if n % MIB == 0:
        return f"{n // MIB} MiB"
    if n % KIB == 0:
        return f"{n // KIB} KiB"
    return f"{n} bytes"


# Cortex reaches services in private networks through its Axon relay, with URLs
# such as http://<alias>@relay-proxy.cortex.io/…; Cairn runs inside the network.
_AXON_RELAY = "relay-proxy.cortex.io"


def _parse_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise OutboundError(f"invalid URL {url!r}: {exc}") from None
    if parsed.scheme not in _SCHEMES:
        scheme = parsed.scheme or "none"
        raise OutboundError(
            f"refused: only http and https URLs are allowed, not {scheme!r} ({url})"
        )
    if not parsed.host:
        raise OutboundError(f"invalid URL {url!r}: it has no host")
    if parsed.host == _AXON_RELAY or parsed.host.endswith("." + _AXON_RELAY):
        raise OutboundError(
            f"refused: {url} goes through Cortex's Axon relay ({_AXON_RELAY}), which "
            "Cairn has no use for: give the service's own address (Settings → Outbound "
            "allowlist lets blocks reach a private one)"
        )
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise OutboundError(f"invalid URL {url!r}: port {parsed.port} is out of range")
    return parsed


def _next_hop(hop: _Hop, response: httpx.Response, origin_host: str) -> _Hop:
    try:
        target = response.url.join(response.headers["location"])
    except (httpx.InvalidURL, ValueError) as exc:
        raise OutboundError(f"invalid redirect location: {exc}") from None
    if target.scheme not in _SCHEMES:
        raise OutboundError(f"redirect to a {target.scheme!r} URL refused")
    if target.host != origin_host:
        raise OutboundError(f"redirect to another host ({target.host}) refused")
    method, content, headers = hop.method, hop.content, dict(hop.headers)
    status = response.status_code
    # As browsers do: 303 turns everything but HEAD into GET; 301/302 turn POST into GET.
    if (status == 303 and method != "HEAD") or (
        status in (301, 302) and method == "POST"
    ):
        method, content = "GET", None
        headers = {
            k: v
            for k, v in headers.items()
            if k.lower() not in ("content-type", "content-length", "transfer-encoding")
        }
    return _Hop(method, target, content, headers)


def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    too_large = OutboundError(f"response larger than {_human_size(max_bytes)}")
    declared = response.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_body(body: bytes, headers: httpx.Headers, charset: str | None) -> Any:
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        try:  # NaN and Infinity are Python's, not JSON's (nor the database's)
            return json.loads(body, parse_constant=_not_json, parse_float=_finite)
        except ValueError:
            pass  # said JSON but isn't: hand back the text
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # an unknown charset name
        return body.decode("utf-8", errors="replace")


def _not_json(name: str):
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    """A JSON number as a float; one past a double's range (1e400) would be
    infinity, which the databases can't store: the body is then kept as text."""
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"{text} is past a double's range")
    return number


def _connect_failure(exc: httpx.TransportError, url: httpx.URL) -> OutboundError:
    where = f"{url.host}:{url.port}" if url.port else url.host
    cause = exc.__cause__ or exc.__context__
    while cause is not None and not isinstance(cause, ssl.SSLError | OSError):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, ssl.SSLError):
        reason = (
            getattr(cause, "verify_message", "")
            or getattr(cause, "reason", "")
            or cause
        )
        return OutboundError(f"TLS error with {where}: {reason}")
    return OutboundError(f"could not connect to {where}: {exc or type(exc).__name__}")


def send(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    content: str | bytes | None = None,
    workspace: Workspace | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = DEFAULT_MAX_BYTES,
    verify: ssl.SSLContext | bool = True,
    allow_hosts: Iterable[str] = (),
    secrets: Iterable[str] = (),
    sign: Callable[[bytes], dict[str, str]] | None = None,
) -> Response:
    """Send one request under the outbound rules; return the final response.

    Raises OutboundError for a refused address or redirect, a timeout (the whole
    exchange, redirects included, gets `timeout` seconds), a response larger than
    `max_bytes`, or a connection, TLS or protocol failure. Non-2xx responses are
    returned, not raised: callers decide what a status means. `verify` is for
    tests that talk TLS to a server with their own certificate. `allow_hosts`
    are allowed for this call beside the configured allowlists. `secrets` are
    masked in the response's short_body(). `sign` gives headers to add for a
    body: called for each request sent, so a redirect that drops the body is
    signed for what it sends.
    """
    origin = _parse_url(url)
    deadline = _Deadline(timeout)
    allowlist = Allowlist.for_workspace(workspace)
    if allow_hosts:
        extra = frozenset(_normal_host(h) for h in allow_hosts)
        allowlist = replace(allowlist, hosts=allowlist.hosts | extra)
    backend = _PinningBackend(allowlist, deadline)
    body = content.encode() if isinstance(content, str) else content
    hop = _Hop(method.upper(), origin, body, _checked_headers(headers or {}))
    client = httpx.Client(
        transport=_PinnedTransport(backend, verify),
        trust_env=False,
        follow_redirects=False,
        timeout=httpx.Timeout(timeout),
        headers={"User-Agent": USER_AGENT},
    )
    try:
        with client:
            for redirects in range(MAX_REDIRECTS + 1):
                headers = hop.headers
                if sign is not None:
                    headers = {**headers, **sign(hop.content or b"")}
                request = client.build_request(
                    hop.method,
                    hop.url,
                    headers=[(k, v.encode()) for k, v in headers.items()],
                    content=hop.content,
                )
                response = client.send(request, stream=True)
                try:
                    if (
                        response.status_code in _REDIRECTS
                        and "location" in response.headers
                    ):
                        if redirects == MAX_REDIRECTS:
                            raise OutboundError(f"more than {MAX_REDIRECTS} redirects")
                        hop = _next_hop(hop, response, origin.host)
                        continue
                    data = _read_capped(response, max_bytes)
                finally:
                    response.close()
                return Response(
                    status=response.status_code,
                    headers={
                        k: v
                        for k, v in _joined(response.headers).items()
                        if k not in _DROPPED_RESPONSE_HEADERS
                    },
                    body_bytes=data,
                    body=_parse_body(data, response.headers, response.charset_encoding),
                    url=str(response.url),
                    secrets=tuple(secrets),
                )
    except httpx.TimeoutException:
        raise OutboundError(f"timed out after {timeout:g} s") from None
    except httpx.ConnectError as exc:
        raise _connect_failure(exc, hop.url) from None
    except httpx.RequestError as exc:  # protocol, read and decoding errors
        where = hop.url.host
        raise OutboundError(
            f"request to {where} failed: {exc or type(exc).__name__}"
        ) from None
    except httpx.InvalidURL as exc:
        raise OutboundError(f"invalid URL {url!r}: {exc}") from None
    raise AssertionError("unreachable")  # the loop returns or raises


def _checked_headers(headers: dict[str, str]) -> dict[str, str]:
    """The headers, refusing names that aren't HTTP tokens and values that would
    break the header block (a rendered template may hold a line break).

    Surrounding blanks are not part of a header's value (RFC 9110, 5.5), and
    a template whose variable rendered empty leaves one ("Bearer "): strip them.
    """
    for name, value in headers.items():
        if not _TOKEN.match(name):
            raise OutboundError(f"invalid header name {name!r}")
        if any(c in value for c in "\r\n\0"):
            raise OutboundError(f"header {name} contains a line break or NUL character")
    return {name: value.strip(" \t") for name, value in headers.items()}


def _joined(headers: httpx.Headers) -> dict[str, str]:
    """Headers as a dict; repeated headers joined with ", "."""
    joined: dict[str, str] = {}
    for key, value in headers.multi_items():
        key = key.lower()
        joined[key] = f"{joined[key]}, {value}" if key in joined else value
    return joined
