"""A worker keeps its database connection between tasks (Celery's Django fixup
would otherwise close it around every task: on PostgreSQL a new backend per run)."""

import time

from celery import signals
from celery.fixups.django import DjangoWorkerFixup
from django.db import connection

from portal.celery import app
from portal.tasks import worker_heartbeat


def test_a_worker_keeps_its_database_connection_from_one_task_to_the_next(
    transactional_db,
):
    fixup = DjangoWorkerFixup(app)  # what `celery worker` installs
    connection.ensure_connection()
    opened = connection.connection

    for _ in range(3):
        fixup.on_task_prerun(sender=worker_heartbeat)
        fixup.on_task_postrun(sender=worker_heartbeat)

    assert connection.connection is opened


def test_a_connection_older_than_conn_max_age_is_retired_before_the_next_task(
    transactional_db,
):
    connection.ensure_connection()
    connection.close_at = time.monotonic() - 1  # past CONN_MAX_AGE

    signals.task_prerun.send(
        sender=worker_heartbeat, task_id="t", task=worker_heartbeat
    )

    assert connection.connection is None
    connection.ensure_connection()  # and the next query opens a fresh one
    assert connection.is_usable()
