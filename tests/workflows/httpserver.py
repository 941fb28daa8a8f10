"""A small real HTTP(S) server on 127.0.0.1 for tests of outbound HTTP.

tests/workflows/conftest.py offers the fixtures `http_server` and `https_server`.
Routes are scripted per test; every request is recorded::

    def test_it(http_server):
        http_server.route("POST", "/hook", status=201, json={"ok": True})
        ... call http_server.url("/hook") ...
        assert http_server.requests[0].json() == {...}

A reply can wait before answering (`delay`), trickle its body in chunks
(`chunks`, `chunk_delay`), be sent without a Content-Length (`chunked=True`), or
be computed from the request (`route(..., handler=fn)`). Unknown routes get 404.
`https_server` is the same over TLS with a throwaway certificate for
`localhost` and 127.0.0.1; `https_server.client_ssl_context()` trusts it, and
`https_server.sni_names` records the names clients asked for.
"""

from __future__ import annotations

import datetime
import ipaddress
import json as jsonlib
import ssl
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import free_port

_MISSING = object()


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the status line
    chunks: int = 1  # send the body in this many pieces…
    chunk_delay: float = 0.0  # …waiting this long before each
    chunked: bool = False  # Transfer-Encoding: chunked instead of Content-Length


@dataclass
class RecordedRequest:
    method: str
    target: str  # path and query as sent
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    client: tuple[str, int]

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        return jsonlib.loads(self.body)


Handler = Callable[[RecordedRequest], Reply]


def make_reply(
    *,
    status: int = 200,
    json: Any = _MISSING,
    body: bytes | str = b"",
    headers: dict[str, str] | None = None,
    **options: Any,
) -> Reply:
    headers = dict(headers or {})
    if json is not _MISSING:
        body = jsonlib.dumps(json)
        headers.setdefault("Content-Type", "application/json")
    if isinstance(body, str):
        body = body.encode()
        headers.setdefault("Content-Type", "text/plain; charset=utf-8")
    return Reply(status=status, body=body, headers=headers, **options)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(5)
            self.request.do_handshake()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet tests

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        split = urlsplit(self.path)
        request = RecordedRequest(
            method=self.command,
            target=self.path,
            path=split.path,
            query=parse_qs(split.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self._read_body(),
            client=self.client_address[:2],
        )
        owner = self.server.owner
        owner.requests.append(request)
        reply = owner.reply_for(request)
        stopping = owner.stopping
        if reply.delay and stopping.wait(reply.delay):
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        size = -(-len(reply.body) // max(reply.chunks, 1)) or 1
        for start in range(0, len(reply.body), size):
            if reply.chunk_delay and stopping.wait(reply.chunk_delay):
                return
            piece = reply.body[start : start + size]
            if reply.chunked:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            else:
                self.wfile.write(piece)
            self.wfile.flush()
        if reply.chunked:
            self.wfile.write(b"0\r\n\r\n")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # slow replies must not hold up the end of a test
    owner: HttpServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out or hang up early are the point of some tests


class HttpServer:
    def __init__(self, *, tls: bool = False):
        self.requests: list[RecordedRequest] = []
        self.sni_names: list[str | None] = []
        self.stopping = threading.Event()
        self._routes: dict[tuple[str, str], Reply | Handler] = {}
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _RequestHandler)
        self._server.owner = self
        self.scheme = "https" if tls else "http"
        self._cert_file: Path | None = None
        if tls:
            self._wrap_tls()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            daemon=True,
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def route(
        self,
        method: str,
        path: str,
        *,
        handler: Handler | None = None,
        **reply: Any,
    ) -> None:
        """Answer `method path` (method "*" for any) with a scripted reply or handler(request)."""
        with self._lock:
            self._routes[(method.upper(), path)] = handler or make_reply(**reply)

    def redirect(
        self, path: str, location: str, *, status: int = 302, method: str = "*"
    ) -> None:
        self.route(method, path, status=status, headers={"Location": location})

    def reply_for(self, request: RecordedRequest) -> Reply:
        with self._lock:
            found = self._routes.get(
                (request.method, request.path)
            ) or self._routes.get(("*", request.path))
        if found is None:
            return make_reply(
                status=404, body=f"no route for {request.method} {request.path}"
            )
        return found(request) if callable(found) else found

    def start(self) -> HttpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._cert_file:
            self._cert_file.unlink(missing_ok=True)

    # TLS ------------------------------------------------------------------

    def _wrap_tls(self) -> None:
        cert_pem, key_pem = _self_signed_certificate()
        with tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False) as handle:
            handle.write(cert_pem + key_pem)
        self._cert_file = Path(handle.name)
        self._cert_pem = cert_pem
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self._cert_file)

        def remember_sni(
            sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext
        ) -> None:
            self.sni_names.append(name)

        context.sni_callback = remember_sni
        self._server.socket = context.wrap_socket(
            self._server.socket, server_side=True, do_handshake_on_connect=False
        )

    def client_ssl_context(self) -> ssl.SSLContext:
        """An SSL context that trusts this server's certificate (and nothing else)."""
        context = ssl.create_default_context(cadata=self._cert_pem.decode())
        return context


def _self_signed_certificate() -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert_pem, key_pem


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening."""
    return free_port()


@pytest.fixture
def http_server():
    server = HttpServer().start()
    yield server
    server.stop()


@pytest.fixture
def https_server():
    server = HttpServer(tls=True).start()
    yield server
    server.stop()
