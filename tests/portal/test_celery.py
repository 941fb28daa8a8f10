"""Round trips through a real Celery worker process."""

import pytest

from portal.models import WorkerHeartbeat
from portal.tasks import worker_heartbeat
from tests.conftest import (
    REDIS_TEST_URL,
    Worker,
    embedded_test_broker,
    redis_reachable,
    use_broker,
    wait_for,
)

pytestmark = pytest.mark.worker


def _round_trip(broker_url: str) -> None:
    from portal.celery import app

    saved = (app.conf.broker_url, app.conf.task_default_queue)
    worker = Worker(broker_url).start()
    try:
        use_broker(broker_url, worker.queue)
        worker_heartbeat.delay()

        def heartbeat_recorded():
            return WorkerHeartbeat.objects.exists()

        wait_for(heartbeat_recorded, timeout=30)
    finally:
        worker.stop()
        use_broker(*saved)


def test_a_task_sent_on_the_embedded_sqlite_broker_runs_in_a_real_worker(
    transactional_db,
):
    _round_trip(embedded_test_broker())


@pytest.mark.skipif(not redis_reachable(), reason="no Redis on 127.0.0.1:6379")
def test_a_task_sent_on_redis_runs_in_a_real_worker(transactional_db):
    _round_trip(REDIS_TEST_URL)


def test_health_is_a_503_while_no_worker_has_run_its_heartbeat(client, db):
    assert client.get("/health/").status_code == 503


def test_health_reports_a_worker_that_ran_its_heartbeat(celery_worker_process, client):
    # (A worker sends itself one as it starts: the row may be there already.)
    worker_heartbeat.delay()
    wait_for(WorkerHeartbeat.objects.exists)
    body = client.get("/health/").json()
    assert body["ok"] is True
    assert body["workers"][0]["alive"] is True
