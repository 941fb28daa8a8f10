"""Keep a run's secrets out of this server's logs when a run calls this server.

An HTTP block may call Cairn itself (Cortex API addresses lead here) with a
secret in the URL's path. The access log leaves query strings out, but it and
Django's request log ("Not Found: /…") name the path. So the worker sends,
with such a call, the path as it should be logged (secrets masked) and an HMAC
of both paths under SECRET_KEY; the logs write that path instead. The
signature keeps anyone else from choosing what the logs say of their requests.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Mapping
from urllib.parse import SplitResult, quote, unquote, urlsplit

from django.conf import settings
from gunicorn import glogging

HEADER = "X-Cairn-Logged-Path"
SIGNATURE_HEADER = "X-Cairn-Logged-Path-Signature"
_META, _SIGNATURE_META = (
    "HTTP_" + name.upper().replace("-", "_") for name in (HEADER, SIGNATURE_HEADER)
)


def _signature(path: str, logged: str) -> str:
    message = f"{path}\0{logged}".encode()
    return hmac.new(
        settings.SECRET_KEY.encode(), b"cairn-logged-path\0" + message, hashlib.sha256
    ).hexdigest()


def headers_for(path: str, logged: str) -> dict[str, str]:
    """The headers that have `path` (decoded, as the server sees it) logged as `logged`."""
    return {
        HEADER: quote(logged, safe="/*"),
        SIGNATURE_HEADER: _signature(path, logged),
    }


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_port(parts: SplitResult) -> tuple[str, int | None]:
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:  # a port that is no number: not ours
        port = None
    return (parts.hostname or "").lower(), port


def is_this_server(url: str) -> bool:
    """Whether `url` leads to this Cairn: BASE_URL's host and port, or, when
    BASE_URL is a loopback address, any loopback name for its port
    (`localhost` for `127.0.0.1`)."""
    host, port = _host_port(urlsplit(url))
    ours, our_port = _host_port(urlsplit(settings.BASE_URL))
    if port is None or port != our_port:
        return False
    return host == ours or (_loopback(host) and _loopback(ours))


def logged_path(meta: Mapping, path: str) -> str | None:
    """The path to log instead of `path` for a request with these WSGI
    variables, or None when the request asks for none or its signature is wrong."""
    wanted, signature = meta.get(_META), meta.get(_SIGNATURE_META)
    if not wanted or not signature:
        return None
    logged = unquote(wanted)
    if not hmac.compare_digest(_signature(path, logged), signature):
        return None
    return logged


def _wsgi_path(environ: Mapping) -> str:
    # WSGI strings are bytes decoded as latin-1; the worker signed the UTF-8 text.
    raw = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    try:
        return raw.encode("latin-1").decode()
    except UnicodeError:
        return raw


# What a client sends that would end an access log line or forge one (a path
# holding %0A) or drive a terminal (ESC, C1 controls), written escaped as
# Apache does; gunicorn escapes quotes itself (a backslash is escaped here so
# that `\"` can't end a field). WSGI gives the bytes as Latin-1 text: they
# are read as UTF-8 first, so `é` stays `é`, and bytes that aren't UTF-8 are
# written as `\xNN`.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\\\udc80-\udcff]")


def _escaped(text: str) -> str:
    try:
        text = text.encode("latin-1").decode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        pass  # not WSGI's Latin-1 (a signed logged path): as it is
    return _UNSAFE.sub(_escape, text)


def _escape(match: re.Match) -> str:
    char = match[0]
    if char == "\\":
        return "\\\\"
    code = ord(char)
    return f"\\x{code - 0xDC00 if code >= 0xDC80 else code:02x}"


class GunicornLogger(glogging.Logger):
    """gunicorn's logger, writing a signed logged path in place of the path,
    and what the client sent escaped."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        logged = logged_path(environ, _wsgi_path(environ))
        if logged is not None:
            atoms["U"] = logged
            atoms["r"] = f"{atoms['m']} {logged} {atoms['H']}"
        return {
            key: _escaped(value) if isinstance(value, str) else value
            for key, value in atoms.items()
        }
