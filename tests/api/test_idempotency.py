"""Idempotency-Key on the API's writes: replay, 422, 409, 400, and under concurrency."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from portal.models import IdempotencyRecord
from tests.api.conftest import HELLO, save
from tests.factories import api_key
from workflows.models import Run, Workflow

RUNS = "/workflows/hello/runs"


def start(api, key, body=None):
    return api.post(RUNS, body or {}, headers={"Idempotency-Key": key})


def test_the_same_key_twice_starts_one_run_and_answers_the_same_body(ada_api, ws):
    save(ws, HELLO)
    first = start(ada_api, "deploy-42", {"initialContext": {"who": "Ada"}})
    Run.objects.update(status=Run.Status.COMPLETED)  # the run moved on meanwhile
    second = start(ada_api, "deploy-42", {"initialContext": {"who": "Ada"}})
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Run.objects.count() == 1


def test_a_run_keeps_the_idempotency_key_that_started_it_and_its_page_shows_it(
    ada_api, ws, ada, client
):
    save(ws, HELLO)
    keyed = Run.objects.get(uid=start(ada_api, "deploy-42").json()["id"])
    plain = Run.objects.get(uid=ada_api.post(RUNS, {}).json()["id"])

    assert keyed.idempotency_key == "deploy-42"
    assert plain.idempotency_key == ""
    client.force_login(ada)
    page = client.get(keyed.get_absolute_url()).content.decode()
    assert "via API with the key" in page and "deploy-42" in page
    assert (
        "Idempotency-Key" not in client.get(plain.get_absolute_url()).content.decode()
    )


def test_a_refused_start_leaves_no_run_holding_its_key(ada_api, ws):
    save(ws, HELLO, isRunnableViaApi=False)

    assert start(ada_api, "deploy-43").status_code == 403
    assert not Run.objects.filter(idempotency_key="deploy-43").exists()


def test_the_same_json_spelled_differently_is_the_same_request(ada_api, ws):
    save(ws, HELLO)
    start(ada_api, "k1", {"initialContext": {"who": "Ada", "times": 1}})
    again = ada_api.post(
        RUNS,
        '{ "initialContext" : {"times": 1, "who": "Ada"} }',
        headers={"Idempotency-Key": "k1"},
    )
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"


def test_a_whole_number_written_as_a_double_is_a_different_request(ada_api, ws):
    # A branch's CEL tells 1 from 1.0 (int and double), so the runs could differ.
    save(ws, HELLO)
    start(ada_api, "k1", {"initialContext": {"who": "Ada", "times": 1}})
    again = start(ada_api, "k1", {"initialContext": {"who": "Ada", "times": 1.0}})
    assert again.status_code == 422
    assert Run.objects.count() == 1


def test_the_same_key_with_a_different_request_is_a_422(ada_api, ws):
    save(ws, HELLO)
    start(ada_api, "k1", {"initialContext": {"who": "Ada"}})
    r = start(ada_api, "k1", {"initialContext": {"who": "Grace"}})
    assert r.status_code == 422
    assert "different request" in r.json()["message"]
    assert Run.objects.count() == 1


def test_the_same_key_on_another_endpoint_is_a_different_request(ada_api, ws):
    save(ws, HELLO)
    save(ws, HELLO, tag="other")
    start(ada_api, "k1")
    r = ada_api.post("/workflows/other/runs", {}, headers={"Idempotency-Key": "k1"})
    assert r.status_code == 422


def test_the_same_key_from_another_api_key_of_the_workspace_is_a_422(
    ada_api, ws, grace, as_key
):
    save(ws, HELLO)
    start(ada_api, "k1")
    grace_api = as_key(api_key(ws, user=grace)[1])
    assert start(grace_api, "k1").status_code == 422


def test_keys_are_per_workspace(ada_api, ws, other_ws, ted, as_key):
    save(ws, HELLO)
    save(other_ws, HELLO)
    ted_api = as_key(api_key(other_ws, user=ted)[1])
    assert start(ada_api, "shared").status_code == 201
    second = start(ted_api, "shared")
    assert second.status_code == 201 and "Idempotent-Replayed" not in second
    assert Run.objects.filter(workspace=other_ws).count() == 1


def test_the_same_key_while_the_first_request_is_in_flight_is_a_409(ada_api, ws):
    save(ws, HELLO)
    start(ada_api, "k1")
    IdempotencyRecord.objects.update(state=IdempotencyRecord.State.IN_FLIGHT)
    r = start(ada_api, "k1")
    assert r.status_code == 409
    assert "still in progress" in r.json()["message"]
    assert Run.objects.count() == 1


def test_a_claim_abandoned_by_a_dead_request_is_taken_over(ada_api, ws):
    save(ws, HELLO)
    start(ada_api, "k1")
    # As if the process died mid-request: its run rolled back, its claim stayed.
    Run.objects.all().delete()
    IdempotencyRecord.objects.update(
        state=IdempotencyRecord.State.IN_FLIGHT,
        locked_at=timezone.now() - timedelta(minutes=5),
    )
    r = start(ada_api, "k1")
    assert r.status_code == 201 and "Idempotent-Replayed" not in r
    assert Run.objects.count() == 1
    assert start(ada_api, "k1")["Idempotent-Replayed"] == "true"


def test_a_key_is_kept_for_24_hours(ada_api, ws):
    save(ws, HELLO)
    start(ada_api, "k1")
    IdempotencyRecord.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    r = start(ada_api, "k1", {"initialContext": {"who": "later"}})
    assert r.status_code == 201 and "Idempotent-Replayed" not in r
    assert Run.objects.count() == 2
    record = IdempotencyRecord.objects.get()
    assert (
        timedelta(hours=23) < record.expires_at - timezone.now() <= timedelta(hours=24)
    )


def test_a_failed_request_does_not_use_up_its_key(ada_api, ws):
    save(ws, HELLO, isRunnableViaApi=False)
    assert start(ada_api, "k1").status_code == 403
    assert not IdempotencyRecord.objects.exists()
    Workflow.objects.update(is_runnable_via_api=True)
    r = start(ada_api, "k1")
    assert r.status_code == 201 and "Idempotent-Replayed" not in r


@pytest.mark.parametrize(
    "key",
    ["", "   ", "x" * 256, "tab\there", "caf\u00e9", "a,b", "a, b"],
    ids=[
        "empty",
        "blank",
        "too-long",
        "control-character",
        "non-ascii",
        "two-headers-joined",
        "two-headers-joined-with-a-space",
    ],
)
def test_a_malformed_key_is_a_400_and_starts_nothing(ada_api, ws, key):
    save(ws, HELLO)
    r = start(ada_api, key)
    assert r.status_code == 400
    assert "Idempotency-Key" in r.json()["message"]
    assert not Run.objects.exists()


def test_a_key_of_255_printable_characters_is_fine(ada_api, ws):
    save(ws, HELLO)
    assert start(ada_api, "~" * 255).status_code == 201


def test_a_key_of_two_joined_headers_says_so(ada_api, ws):
    save(ws, HELLO)
    r = start(ada_api, "a,b")
    assert r.json()["message"] == (
        "Idempotency-Key must be one key without commas (two headers were sent?)"
    )


def test_other_writes_honour_the_key_too(admin_api, ws):
    body = HELLO.replace("Hello", "Hi")
    headers = {"Idempotency-Key": "save-hello"}
    first = admin_api.post(
        "/workflows", body, content_type="application/yaml", headers=headers
    )
    second = admin_api.post(
        "/workflows", body, content_type="application/yaml", headers=headers
    )
    assert first.status_code == second.status_code == 200
    assert second["Idempotent-Replayed"] == "true"
    assert Workflow.objects.get().versions.count() == 1


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_identical_requests_start_exactly_one_run(ws, ada):
    save(ws, HELLO)
    _, raw = api_key(ws, user=ada)
    barrier = threading.Barrier(20)
    responses = []
    lock = threading.Lock()

    def send():
        try:
            barrier.wait()
            r = Client().post(
                "/api/v1" + RUNS,
                {"initialContext": {"who": "everyone"}},
                content_type="application/json",
                headers={"Authorization": f"Bearer {raw}", "Idempotency-Key": "once"},
            )
            with lock:
                responses.append(r)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert Run.objects.count() == 1
    run_id = str(Run.objects.get().uid)
    statuses = sorted(r.status_code for r in responses)
    assert len(responses) == 20
    assert set(statuses) <= {201, 409}, statuses
    created = [r for r in responses if r.status_code == 201]
    assert {r.json()["id"] for r in created} == {run_id}
    assert sum("Idempotent-Replayed" not in r for r in created) == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite has one write lock for all"
)
def test_a_start_holding_its_workspaces_admission_lock_does_not_hold_up_other_claims(
    ws,
):
    # An API request claims its key (an INSERT that commits at once) before it
    # starts the run. The claim's foreign-key check reads the workspace row
    # FOR KEY SHARE, which the admission lock must not block, or every request
    # in the workspace would queue behind each start's whole transaction.
    from portal import idempotency
    from workflows import engine

    held, release = threading.Event(), threading.Event()

    def admitting():
        try:
            with transaction.atomic():
                engine.admit(ws.pk)
                held.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=admitting)
    holder.start()
    try:
        assert held.wait(10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
        try:
            claimed, _ = idempotency._claim(ws, "while-admitting", "digest")
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")
    finally:
        release.set()
        holder.join()
    assert IdempotencyRecord.objects.filter(pk=claimed).exists()
