"""A client that stops sending mid-request doesn't hold the web server, and a
body sent in chunks (no Content-Length) is read, not taken for an empty one."""

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager

import httpx
from django.conf import settings

from tests.api.conftest import HELLO, save
from tests.conftest import free_port
from tests.conftest import test_database_url as database_url
from tests.factories import api_key
from tests.portal.test_access_log import ROOT
from workflows.models import Run


@contextmanager
def gunicorn(tmp_path, **env):
    """gunicorn with one worker serving Cairn, as `make run` starts it; its port."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "portal.wsgi", "--bind", f"127.0.0.1:{port}"]
        + ["--workers", "1", "--timeout", "60"],
        cwd=ROOT,
        env={
            **os.environ,
            "CAIRN_VAR_DIR": str(tmp_path),
            "HTTPS": "false",
            "SECRET_KEY": settings.SECRET_KEY,
            **env,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/no-such-page/")
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_a_body_that_never_comes_frees_the_worker_for_the_next_request(tmp_path):
    with gunicorn(tmp_path, CLIENT_READ_TIMEOUT="1") as port:
        # The CSRF check reads a form's body: 100 bytes promised, 1 sent.
        stalled = socket.create_connection(("127.0.0.1", port))
        stalled.sendall(
            b"POST /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Cookie: csrftoken=" + b"a" * 32 + b"\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 100\r\n\r\nx"
        )
        time.sleep(0.3)  # the only worker is reading it now

        # gunicorn's own timeout (60 s here) would have freed it much later:
        reply = httpx.get(f"http://127.0.0.1:{port}/no-such-page/", timeout=20)
        assert reply.status_code == 404
        stalled.close()


class _Stalled:
    """A request body whose client stopped sending: the socket's read timeout."""

    def read(self, *args):
        raise TimeoutError("timed out")

    readline = read


def test_an_api_body_that_stops_arriving_is_a_400_not_a_server_error(
    client, ws, caplog
):
    """Django reads it as UnreadablePostError; the API said 500 with a traceback."""
    _, raw = api_key(ws, "Admin")
    r = client.post(
        "/api/v1/workflows/validate",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
        CONTENT_LENGTH="100",
        **{"wsgi.input": _Stalled()},
    )
    assert r.status_code == 400
    assert r.json()["message"] == "The request's body stopped arriving before its end"
    assert not [rec for rec in caplog.records if rec.levelname == "ERROR"]


def test_a_chunked_api_body_is_read_through_gunicorn_not_taken_for_an_empty_one(
    transactional_db, ws, grace, tmp_path
):
    """Before, a start sent in chunks lost its initialContext and runAs (201)."""
    save(ws, HELLO)
    _, raw = api_key(ws, "Admin")
    headers = {"Authorization": f"Bearer {raw}", "Content-Type": "application/json"}

    with gunicorn(tmp_path, DATABASE_URL=database_url()) as port:
        url = f"http://127.0.0.1:{port}/api/v1/workflows/hello/runs"

        def chunked(*parts: bytes):  # httpx sends an iterator in chunks
            return httpx.post(url, headers=headers, content=iter(parts), timeout=20)

        started = chunked(
            b'{"initialContext": {"who": "chunky"},',
            b' "runAs": "grace@example.com"}',
        )
        broken = chunked(b'{"initialContext": ', b"")
        too_large = chunked(b"[" + b"1," * 1_400_000, b"1]")  # 2.8 MB
        with socket.create_connection(("127.0.0.1", port)) as raw_socket:
            raw_socket.sendall(
                b"POST /api/v1/workflows/hello/runs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Authorization: Bearer " + raw.encode() + b"\r\n"
                b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                b"\r\nzz\r\n{}\r\n0\r\n\r\n"  # "zz" is no chunk size
            )
            answer = b""
            while chunk := raw_socket.recv(65536):  # until it closes the connection
                answer += chunk
            bad_chunk = answer.decode()

    assert started.status_code == 201, started.text
    assert started.request.headers["Transfer-Encoding"] == "chunked"
    run = Run.objects.get(uid=started.json()["id"])
    assert run.initial_context == {"who": "chunky"}
    assert run.initiator == grace
    assert broken.status_code == 400
    assert "JSON" in broken.json()["message"]
    # Refused whole, in Cortex's shape (review: cut off at the limit before):
    assert too_large.status_code == 413
    assert too_large.json()["message"] == (
        f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes"
    )
    # A malformed chunk is a body that can't be read (review: gunicorn's HTML 400):
    assert bad_chunk.startswith("HTTP/1.1 400")
    assert "not valid chunked encoding" in bad_chunk
    assert '"httpStatus": 400' in bad_chunk or '"httpStatus":400' in bad_chunk
    assert Run.objects.count() == 1
