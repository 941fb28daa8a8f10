"""What gunicorn's access log keeps of a request."""

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_the_access_log_names_the_path_but_never_the_query_string(tmp_path):
    port = free_port()
    env = {**os.environ, "CAIRN_VAR_DIR": str(tmp_path), "HTTPS": "false"}
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
                    f"http://127.0.0.1:{port}/no-such-page/?token=S3cr3t-in-query"
                )
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        assert reply.status_code == 404
    finally:
        server.terminate()
        log = server.communicate(timeout=10)[0]
    assert '"GET /no-such-page/ HTTP/1.1" 404' in log
    assert "S3cr3t" not in log
