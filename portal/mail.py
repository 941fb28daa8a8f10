"""Mail sent from a thread of its own, off the path of the request or task that wrote it.

A mail server that is slow or unreachable would otherwise hold a worker for up
to EMAIL_TIMEOUT at every notification (and every run behind it would wait).
Each process has one sender thread, started when first needed; it sends what
has queued up over one connection. Mail still queued when a process is stopped
gracefully is sent first (for at most a few seconds); a process that is killed
loses it. That is the price of keeping mail off the run's path: notifications
are also kept in the app, where nothing is lost.
"""

import atexit
import logging
import os
import queue
import threading
import time

from django.core.mail import EmailMessage, get_connection

log = logging.getLogger(__name__)

_queue: queue.Queue[EmailMessage] = queue.Queue()
_sender: threading.Thread | None = None
_lock = threading.Lock()


def send_later(messages: list[EmailMessage]) -> None:
    """Queue `messages` for this process's sender thread."""
    global _sender
    with _lock:
        if _sender is None or not _sender.is_alive():
            _sender = threading.Thread(target=_send_forever, name="mail", daemon=True)
            _sender.start()
    for message in messages:
        _queue.put(message)


def _send_forever() -> None:
    while True:
        batch = [_queue.get()]
        while True:  # whatever else is queued goes over the same connection
            try:
                batch.append(_queue.get_nowait())
            except queue.Empty:
                break
        try:
            get_connection().send_messages(batch)
        except Exception:  # a mail server's failure must not end the thread
            log.exception("Could not send %d email(s)", len(batch))
        finally:
            for _ in batch:
                _queue.task_done()


def wait_until_sent(timeout: float = 5.0) -> bool:
    """Wait for the queued mail to be sent (or given up on); False if some is
    still queued after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while _queue.unfinished_tasks:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _after_fork() -> None:
    # A forked child (a gunicorn or Celery worker) has no sender thread, and
    # must not send what its parent had queued.
    global _queue, _sender, _lock
    _queue, _sender, _lock = queue.Queue(), None, threading.Lock()


os.register_at_fork(after_in_child=_after_fork)
atexit.register(wait_until_sent)
