"""What gunicorn's access log and Django's request log keep of a request."""

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from portal import logpath
from portal.logging import LoggedPath
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def _serve_and_get(tmp_path, path: str, headers: dict | None = None, auth=None) -> str:
    """Start gunicorn as `make run` does, GET `path`, return what it logged."""
    port = free_port()
    env = {
        **os.environ,
        "CAIRN_VAR_DIR": str(tmp_path),
        "HTTPS": "false",
        "SECRET_KEY": settings.SECRET_KEY,  # the worker's and the server's key
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "portal.wsgi", "--bind", f"127.0.0.1:{port}"]
        + ["--workers", "1", "--access-logfile", "-"],
        cwd=ROOT,  # where `make run` starts it, beside gunicorn.conf.py
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for _ in range(100):
            try:
                reply = httpx.get(
                    f"http://127.0.0.1:{port}{path}", headers=headers, auth=auth
                )
                break
            except httpx.ConnectError:
                time.sleep(0.1)
    finally:
        server.terminate()
        log = server.communicate(timeout=10)[0]
    assert reply.status_code == 404, log
    return log


def test_the_access_log_names_the_path_but_never_the_query_string(tmp_path):
    log = _serve_and_get(tmp_path, "/no-such-page/?token=S3cr3t-in-query")
    assert '"GET /no-such-page/ HTTP/1.1" 404' in log
    assert "S3cr3t" not in log


def test_a_path_or_header_cannot_write_a_line_of_its_own_into_the_access_log(tmp_path):
    log = _serve_and_get(
        tmp_path,
        "/x%0A1.2.3.4%20-%20-%20FORGED%0D%1B[31mred%C2%9B",
        headers={"User-Agent": 'curl\\" "injected'},
    )
    assert '"GET /x\\x0a1.2.3.4 - - FORGED\\x0d\\x1b[31mred\\x9b' in log
    assert '"curl\\\\\\" \\"injected"' in log  # \\ then \", as Apache writes
    assert not [line for line in log.splitlines() if line.startswith("1.2.3.4")]
    assert "\x1b" not in log


def test_the_access_log_never_names_a_basic_auth_user_where_a_key_may_be(tmp_path):
    key = "cairn_" + "k" * 43
    log = _serve_and_get(tmp_path, "/no-such-page/", auth=(key, ""))
    assert '"GET /no-such-page/ HTTP/1.1" 404' in log
    assert key not in log


def test_a_runs_call_with_a_secret_in_its_path_is_logged_with_it_masked(tmp_path):
    # What an HTTP block sends when it calls this server (http_request.call):
    headers = logpath.headers_for("/health/S3cr3t-in-path", "/health/********")
    log = _serve_and_get(tmp_path, "/health/S3cr3t-in-path", headers)
    assert '"GET /health/******** HTTP/1.1" 404' in log  # gunicorn's access log
    assert "Not Found: /health/********" in log  # Django's request log
    assert "S3cr3t" not in log


def test_a_forged_logged_path_is_ignored_and_the_real_path_logged(tmp_path):
    headers = {
        logpath.HEADER: "/innocent",
        logpath.SIGNATURE_HEADER: "0" * 64,
    }
    log = _serve_and_get(tmp_path, "/admin-probe/", headers)
    assert '"GET /admin-probe/ HTTP/1.1" 404' in log
    assert "Not Found: /admin-probe/" in log
    assert "/innocent" not in log


@pytest.mark.parametrize(
    ("path", "signed_for", "logged"),
    [
        ("/a/s3cr3t", "/a/s3cr3t", "/a/********"),
        ("/a/other", "/a/s3cr3t", None),  # a signature made for another path
        ("/a/é-s3cr3t", "/a/é-s3cr3t", "/a/é-********"),
    ],
)
def test_a_logged_path_counts_only_for_the_path_it_was_signed_for(
    path, signed_for, logged
):
    headers = logpath.headers_for(signed_for, signed_for.replace("s3cr3t", "********"))
    meta = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
    assert logpath.logged_path(meta, path) == logged


def test_djangos_not_found_line_gets_the_logged_path(rf):
    headers = logpath.headers_for("/x/é-s3cr3t", "/x/é-********")
    request = rf.get(
        "/x/é-s3cr3t",
        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()},
    )
    escaped = request.path.encode("unicode_escape").decode()  # as Django logs it
    record = logging.LogRecord(
        "django.request", logging.WARNING, "", 0, "%s: %s", ("Not Found", escaped), None
    )
    record.request = request
    assert LoggedPath().filter(record)
    assert record.getMessage() == "Not Found: /x/é-********"


def test_what_a_client_sends_is_read_as_utf_8_then_escaped_where_unsafe():
    """WSGI hands over bytes as Latin-1 text: é's two bytes are one letter
    again, and U+009B (a terminal's CSI) and bytes that aren't UTF-8 escaped."""
    sent = "/café\u009b\x1b".encode() + b"\xff"
    assert logpath._escaped(sent.decode("latin-1")) == "/café\\x9b\\x1b\\xff"
