"""Tasks for bench/engine.py's plain-Celery baseline (loaded with `--include bench.tasks`)."""

from celery import shared_task
from django.db import connection


@shared_task(ignore_result=True)
def noop() -> None:
    pass


@shared_task(ignore_result=True)
def done(chain_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_done (chain_id) VALUES (%s)", [chain_id])
