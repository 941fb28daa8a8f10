import socket

from celery import shared_task


@shared_task
def worker_heartbeat() -> None:
    """Record that a worker is alive and consuming; /health/ reads it."""
    from django.utils import timezone

    from .models import WorkerHeartbeat

    WorkerHeartbeat.objects.update_or_create(
        hostname=socket.gethostname(), defaults={"seen_at": timezone.now()}
    )
