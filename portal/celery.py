"""The Celery app. Tasks stay thin: fetch by id, then call the engine or a service."""

import logging
import os
import threading
import time

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# How often a worker whose pool is full looks again whether a process is free:
# that look costs no query.
_FULL_POOL_INTERVAL = 0.005


def _drain_events(self, connection, timeout=None):
    """kombu's virtual Transport.drain_events, except that it sleeps
    `_FULL_POOL_INTERVAL`, not `polling_interval`, while every consuming
    channel holds as many unacknowledged messages as it may (prefetch x
    processes). kombu sleeps the polling interval then too, so with a prefork
    pool each finished task left its process idle for up to 0.1 s: the worker
    that `make run` starts ran a third as many runs per second as a solo pool
    (bench/engine.py --concurrency 2)."""
    from queue import Empty  # what kombu's channels raise

    began = time.monotonic()
    while True:
        try:
            self.cycle.get(self._deliver, timeout=timeout)
            return
        except Empty:
            if timeout is not None and time.monotonic() - began >= timeout:
                raise TimeoutError() from None
            consuming = [c for c in self.channels if c._consumers]
            full = consuming and not any(c.qos.can_consume() for c in consuming)
            time.sleep(_FULL_POOL_INTERVAL if full else self.polling_interval)


@signals.worker_init.connect
def _poll_sqlite_broker_often(**kwargs):
    # The SQLAlchemy transport polls its table; its transport options go to
    # create_engine, so the interval is set on the class. 0.1 s keeps runs snappy.
    if app.conf.broker_url.startswith("sqla+"):
        from kombu.transport import sqlalchemy

        sqlalchemy.Transport.polling_interval = 0.1
        sqlalchemy.Transport.drain_events = _drain_events


# Celery's Django fixup closes the database connection before and after every
# task unless CELERY_DB_REUSE_MAX is set: on PostgreSQL that is a new backend
# and several milliseconds per run. Keep the connection, and retire it the way
# Django does between requests (CONN_MAX_AGE, the health check, after errors).
app.conf.CELERY_DB_REUSE_MAX = 10**9


@signals.task_prerun.connect
def _retire_old_connections(**kwargs):
    from django.db import close_old_connections

    close_old_connections()


@signals.worker_ready.connect
def _heartbeat_at_once(sender=None, **kwargs):
    # /health/ says ok once a worker has consumed its heartbeat task: send one
    # now rather than wait for beat's first (WORKER_HEARTBEAT_SECONDS, 30 s).
    from portal.tasks import worker_heartbeat

    worker_heartbeat.delay()
    # A worker started again after one was killed (bin/run does so at once)
    # hands on the dead one's runs now, not at the next sweep. Here, not in a
    # task, which a worker of another machine might take: only this machine
    # can tell that the dead one's process has ended. In a thread of its own:
    # this hook runs in the worker's event loop, which a database that
    # doesn't answer must not hold up.
    threading.Thread(target=_hand_on_dead_workers_runs, daemon=True).start()


def _hand_on_dead_workers_runs() -> None:
    from django.db import connection

    from workflows.engine import requeue_orphans, requeue_unclaimed

    try:
        # First: the runs requeue_orphans lets go of are sent by it, once.
        requeue_unclaimed()  # perhaps the dead one had taken their message
        requeue_orphans()
    except Exception:  # the database down, say: the sweep does it later
        logging.getLogger(__name__).exception("Could not hand on dead workers' runs")
    finally:
        connection.close()
