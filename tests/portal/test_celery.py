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


def test_a_full_pool_on_the_embedded_broker_takes_no_message_until_one_is_acked(
    tmp_path,
):
    """portal.celery's drain_events for the SQLite broker: while the consumer
    holds as many unacked messages as its prefetch allows it takes no more
    and times out as kombu's does; the ack frees the next one at once."""
    import socket

    from kombu import Connection, Consumer, Exchange, Queue
    from kombu.transport import sqlalchemy

    from portal.celery import _drain_events

    saved = sqlalchemy.Transport.drain_events
    sqlalchemy.Transport.drain_events = _drain_events
    try:
        with Connection(f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}") as conn:
            queue = Queue("q", Exchange("q"), "q")
            producer = conn.Producer()
            for n in (1, 2):
                producer.publish(
                    {"n": n}, exchange=queue.exchange, routing_key="q", declare=[queue]
                )
            got = []
            consumer = Consumer(
                conn.channel(),
                [queue],
                callbacks=[lambda body, message: got.append(message)],
            )
            consumer.qos(prefetch_count=1)
            with consumer:
                conn.drain_events(timeout=5)
                assert [m.payload for m in got] == [{"n": 1}]
                with pytest.raises(socket.timeout):
                    conn.drain_events(timeout=0.3)  # full: no second message
                assert len(got) == 1
                got[0].ack()
                conn.drain_events(timeout=5)
                assert [m.payload for m in got] == [{"n": 1}, {"n": 2}]
                got[1].ack()
                with pytest.raises(socket.timeout):
                    conn.drain_events(timeout=0.3)  # empty
    finally:
        sqlalchemy.Transport.drain_events = saved
