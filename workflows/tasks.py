"""Celery tasks: fetch by id, call the engine. No logic here."""

from celery import shared_task


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def advance_run_task(run_id: int) -> None:
    """Advance one run; safe to deliver twice (the engine holds a lease)."""
    from . import engine

    engine.advance(run_id)


@shared_task(ignore_result=True)
def sweep_task() -> None:
    from . import engine

    engine.sweep()
