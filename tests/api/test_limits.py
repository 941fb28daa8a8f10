"""Rate limit per key (429 + Retry-After), the IP allowlist on the workflow
endpoints, and requests no database could store (400, never a 500)."""

import threading
import time

import pytest
from django.db import connection
from django.test import Client

from portal.models import IpAllowlistEntry
from tests.api.conftest import HELLO, save
from tests.conftest import REDIS_TEST_URL, redis_reachable
from tests.factories import api_key
from workflows.models import Run


def _fresh_window(period: int = 60, margin: float = 3) -> None:
    """Wait for a new rate-limit window if this one is about to end."""
    left = period - time.time() % period
    if left < margin:
        time.sleep(left + 0.05)


def test_a_key_over_its_rate_limit_gets_429_with_retry_after(ada_api, ws, settings):
    settings.API_RATE_LIMIT = 3
    save(ws, HELLO)
    _fresh_window()
    answers = [ada_api.get("/workflows").status_code for _ in range(3)]
    r = ada_api.post("/workflows/hello/runs", {})
    assert answers == [200, 200, 200]
    assert r.status_code == 429
    assert 1 <= int(r["Retry-After"]) <= 60
    body = r.json()
    assert (body["type"], body["httpStatus"]) == ("UNCATEGORIZED", 429)
    assert "rate limit" in body["message"]
    assert not Run.objects.exists()


def test_the_rate_limit_counts_each_key_separately(ws, as_key, settings):
    settings.API_RATE_LIMIT = 2
    _fresh_window()
    first, second = as_key(api_key(ws)[1]), as_key(api_key(ws)[1])
    assert [first.get("/catalog").status_code for _ in range(3)] == [200, 200, 429]
    assert second.get("/catalog").status_code == 200


def test_a_rate_limit_of_zero_means_no_limit(ada_api, ws, settings):
    settings.API_RATE_LIMIT = 0
    assert {ada_api.get("/catalog").status_code for _ in range(20)} == {200}


REDIS_CACHE = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_TEST_URL,
        "KEY_PREFIX": "cairn-tests",
    }
}


@pytest.mark.parametrize(
    "cache",
    [
        None,
        pytest.param(
            REDIS_CACHE,
            marks=pytest.mark.skipif(
                not redis_reachable(), reason="no Redis on 127.0.0.1:6379"
            ),
        ),
    ],
    ids=["database", "redis"],
)
@pytest.mark.django_db(transaction=True)
def test_the_rate_limit_holds_under_concurrent_requests(ws, settings, cache):
    if cache:
        settings.CACHES = cache
    settings.API_RATE_LIMIT = 10
    _, raw = api_key(ws)
    _fresh_window(margin=10)
    barrier = threading.Barrier(30)
    codes, lock = [], threading.Lock()

    def send():
        try:
            barrier.wait()
            r = Client().get(
                "/api/v1/catalog", headers={"Authorization": f"Bearer {raw}"}
            )
            with lock:
                codes.append(r.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200] * 10 + [429] * 20


@pytest.mark.skipif(not redis_reachable(), reason="no Redis on 127.0.0.1:6379")
def test_the_rate_limit_works_on_redis_too(ada_api, ws, settings):
    settings.CACHES = REDIS_CACHE
    settings.API_RATE_LIMIT = 2
    _fresh_window()
    codes = [ada_api.get("/catalog").status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_runs_from_an_address_outside_the_allowlist_get_403_forbidden_ip_address(
    ada_api, ws
):
    save(ws, HELLO)
    IpAllowlistEntry.objects.create(workspace=ws, address="10.0.0.0/8")
    r = ada_api.post("/workflows/hello/runs", {}, REMOTE_ADDR="192.0.2.1")
    assert r.status_code == 403
    assert r.json()["message"] == "Forbidden IP address"
    assert not Run.objects.exists()
    inside = ada_api.post("/workflows/hello/runs", {}, REMOTE_ADDR="10.9.8.7")
    assert inside.status_code == 201


def test_the_allowlist_reads_x_forwarded_for_only_from_trusted_proxies(
    ada_api, ws, settings
):
    save(ws, HELLO)
    IpAllowlistEntry.objects.create(workspace=ws, address="10.0.0.0/8")
    settings.TRUSTED_PROXIES = []
    spoofed = ada_api.get(
        "/workflows/hello", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="10.1.1.1"
    )
    assert spoofed.status_code == 403
    settings.TRUSTED_PROXIES = ["192.0.2.1"]
    proxied = ada_api.get(
        "/workflows/hello", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="10.1.1.1"
    )
    assert proxied.status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/workflows/hel%00lo",
        "/workflows/runs?workflow=a%00b",
        "/catalog?query=%00",
        "/workflows/hello/runs/%00",
    ],
)
def test_a_nul_character_in_the_path_or_query_is_a_400(ada_api, ws, path):
    r = ada_api.get(path)
    assert r.status_code == 400
    assert "NUL" in r.json()["message"]


@pytest.mark.parametrize("path", ["/workflows", "/teams", "/catalog"])
def test_a_query_of_more_than_1000_parameters_is_a_400(ada_api, ws, path):
    query = "&".join(f"a{i}=1" for i in range(1001))
    r = ada_api.get(f"{path}?{query}")
    assert r.status_code == 400
    assert r.json()["message"] == "The query has more than 1000 parameters"


@pytest.mark.parametrize(
    "body, message",
    [
        ('{"initialContext": {"note": "a\\u0000b"}}', "NUL"),
        ('{"initialContext": {"x\\u0000": 1}}', "NUL"),
        ('{"initialContext": {"note": "\\ud800"}}', "Unicode"),
        ('{"initialContext": {"n": NaN}}', "NaN"),
        ('{"initialContext": {"n": Infinity}}', "Infinity"),
        (
            '{"initialContext": {"n": ' + "9" * 5000 + "}}",
            "body.initialContext.n: a number of 5000 digits is longer than Cairn"
            " reads (4300 at most)",
        ),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
    ],
    ids=["nul", "nul-in-key", "lone-surrogate", "nan", "infinity", "huge-int", "deep"],
)
def test_a_body_no_database_could_store_is_a_400(ada_api, ws, body, message):
    save(ws, HELLO)
    r = ada_api.post("/workflows/hello/runs", body)
    assert r.status_code == 400
    assert message in r.json()["message"]
    assert not Run.objects.exists()


def test_a_yaml_alias_bomb_is_a_400(ada_api, ws):
    save(ws, HELLO)
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [
        f"a{i}: &a{i} [{', '.join(f'*a{i - 1}' for _ in range(10))}]"
        for i in range(1, 9)
    ]
    lines.append("initialContext: {bomb: *a8}")
    r = ada_api.post(
        "/workflows/hello/runs", "\n".join(lines), content_type="application/yaml"
    )
    assert r.status_code == 400
    assert "more than" in r.json()["message"]


def test_a_body_larger_than_django_accepts_is_a_413(ada_api, ws, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    save(ws, HELLO)
    r = ada_api.post("/workflows/hello/runs", {"initialContext": {"x": "y" * 2000}})
    assert r.status_code == 413
    assert "larger than 1000 bytes" in r.json()["message"]


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (
            "[" * 5000 + "]" * 5000,
            "application/json",
            "The request body is not valid JSON: nested too deeply",
        ),
        (
            "initialContext: " + "[" * 5000 + "]" * 5000,
            "application/yaml",
            "The request body is not valid YAML: the YAML is nested too deeply",
        ),
        (
            "initialContext: {a: 1}\n---\ninitialContext: {a: 2}\n",
            "application/yaml",
            "The request body is not valid YAML at line 2, column 1: expected a"
            " single document in the stream, but found another document",
        ),
        (
            "initialContext: {a: !!binary aGVsbG8=}",
            "application/yaml",
            "body.initialContext.a: JSON can't store binary data (!!binary)",
        ),
        (
            "initialContext: {a: -" + "9" * 5000 + "}",
            "application/yaml",
            "body.initialContext.a: a number of 5000 digits is longer than Cairn"
            " reads (4300 at most)",
        ),
        (
            '{"initialContext": ' + "[" * 150 + "]" * 150 + "}",
            "application/json",
            "body is nested more than 100 levels deep",
        ),
    ],
)
def test_a_body_nested_too_deep_or_holding_what_json_cannot_store_is_a_400_saying_so(
    ada_api, ws, body, content_type, message
):
    save(ws, HELLO)
    r = ada_api.post("/workflows/hello/runs", body, content_type=content_type)
    assert r.status_code == 400, r.content
    assert r.json()["message"] == message
    assert not Run.objects.exists()


def test_an_unquoted_yaml_date_in_a_body_is_the_text_written(ada_api, ws):
    save(ws, HELLO)
    r = ada_api.post(
        "/workflows/hello/runs",
        "initialContext: {when: 2024-05-01}",
        content_type="application/yaml",
    )
    assert r.status_code == 201, r.content
    assert Run.objects.get().state["context"]["initialContext"] == {
        "when": "2024-05-01"
    }


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("put", "/workflows", "GET, HEAD, POST"),
        ("put", "/catalog/x/custom-data", "DELETE, GET, HEAD, POST"),
    ],
)
def test_a_method_a_path_does_not_take_is_a_405_in_cortexs_shape_naming_the_ones_it_does(
    admin_api, method, path, allow
):
    r = getattr(admin_api, method)(path)
    assert r.status_code == 405
    assert r["Allow"] == allow
    assert r.json()["message"] == (
        f"{method.upper()} is not allowed on /api/v1{path}; it takes {allow}"
    )
    assert r.json()["httpStatus"] == 405


def test_a_head_request_is_answered_as_the_get_without_a_body(ada_api, ws):
    save(ws, HELLO)
    got = ada_api.get("/workflows")
    r = ada_api.client.head(
        "/api/v1/workflows", headers={"Authorization": f"Bearer {ada_api.raw}"}
    )
    assert r.status_code == 200
    assert r["Content-Type"] == got["Content-Type"] == "application/json; charset=utf-8"
    assert int(r["Content-Length"]) == len(got.content) > 0
    assert r.content == b""


def test_a_head_request_without_a_key_is_refused_like_the_get(client):
    r = client.head("/api/v1/workflows")
    assert r.status_code == client.get("/api/v1/workflows").status_code == 401


def test_a_head_on_a_path_that_takes_only_post_is_a_405(admin_api):
    r = admin_api.client.head(
        "/api/v1/workflows/hello/runs",
        headers={"Authorization": f"Bearer {admin_api.raw}"},
    )
    assert r.status_code == 405
    assert r["Allow"] == "POST"
    assert r["Content-Type"] == "application/json"
