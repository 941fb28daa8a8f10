"""Shared fixtures: two workspaces and a cast of people.

In workspace `one`: ada (Admin), grace (User), vera (Viewer), mona (Manager).
In workspace `two`: ted (Admin). Nobody in `one` can see `two`'s things.
"""

import os
import socket
import weakref
from contextlib import contextmanager

import pytest
from django.db.backends.signals import connection_created

from portal.mail import wait_until_sent
from tests.factories import UserFactory, WorkspaceFactory, member


def free_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_opened_connections = weakref.WeakSet()


def _remember_connection(sender, connection, **kwargs):
    _opened_connections.add(connection)


connection_created.connect(_remember_connection)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup):
    """pytest-django's, closing every connection the tests left open before the
    test database is dropped. Django keeps connections per context, and the
    browser tests run in other contexts (Playwright's greenlets, most likely):
    a connection opened in one was out of django.db.connections' reach at the
    end, and PostgreSQL refused to drop a database "being accessed by other
    users"."""
    yield
    for wrapper in list(_opened_connections):
        if wrapper.connection is not None:
            wrapper.connection.close()  # its own thread may be gone: no checks


@pytest.fixture
def loopback_allowed(settings):
    """HTTP blocks and integrations may call the test servers on 127.0.0.1,
    which the outbound rules refuse unless allowed."""
    settings.HTTP_BLOCK_ALLOWED_HOSTS = ["127.0.0.1"]


@pytest.fixture(autouse=True)
def _mail_sent_within_its_test():
    """Mail goes out from a thread: a test's mail must not land in the next one's outbox."""
    yield
    wait_until_sent()


@pytest.fixture
def ws(db):
    return WorkspaceFactory(slug="one", name="One")


@pytest.fixture
def other_ws(db):
    return WorkspaceFactory(slug="two", name="Two")


@pytest.fixture
def ada(ws):
    user = UserFactory(email="ada@example.com")
    member(ws, user, "Admin")
    return user


@pytest.fixture
def mona(ws):
    user = UserFactory(email="mona@example.com")
    member(ws, user, "Manager")
    return user


@pytest.fixture
def grace(ws):
    user = UserFactory(email="grace@example.com")
    member(ws, user, "User")
    return user


@pytest.fixture
def vera(ws):
    user = UserFactory(email="vera@example.com")
    member(ws, user, "Viewer")
    return user


@pytest.fixture
def ted(other_ws):
    user = UserFactory(email="ted@example.com")
    member(other_ws, user, "Admin")
    return user


# A real Celery worker, in its own process, on the test database.

import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

from django.conf import settings as django_settings  # noqa: E402
from django.db import connection  # noqa: E402

REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")


def test_database_url() -> str:
    """DATABASE_URL of the database the tests use, for processes started by tests."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{db['NAME']}"


def redis_reachable(url: str = REDIS_TEST_URL) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


class Worker:
    """A `celery worker` subprocess bound to a queue of its own."""

    def __init__(self, broker_url: str, env: dict[str, str] | None = None):
        self.broker_url = broker_url
        self.extra_env = env or {}
        self.queue = f"cairn-test-{uuid.uuid4().hex[:8]}"
        self.log = Path(django_settings.VAR_DIR) / f"{self.queue}.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> "Worker":
        env = {
            **os.environ,
            "DATABASE_URL": test_database_url(),
            "CELERY_BROKER_URL": self.broker_url,
            "CELERY_TASK_DEFAULT_QUEUE": self.queue,
            "CAIRN_TEST_WORKER_QUEUE": self.queue,  # what tests.settings reads
            # Workers may call the tests' HTTP server on 127.0.0.1:
            "HTTP_BLOCK_ALLOWED_HOSTS": "127.0.0.1",
            **self.extra_env,
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                "--pool",
                "solo",
                "--loglevel",
                "INFO",
                "--queues",
                self.queue,
                "--without-gossip",
                "--without-mingle",
                "--hostname",
                f"{self.queue}@%h",
            ],
            cwd=django_settings.BASE_DIR,
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "ready." in self.log.read_text():
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        output = self.log.read_text()[-3000:]
        self.stop()
        raise RuntimeError(f"Celery worker did not start:\n{output}")

    def kill(self) -> None:
        """SIGKILL: the worker dies mid-task without acknowledging anything."""
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        # Tests are done with it; a warm shutdown would only cost seconds.
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log.unlink(missing_ok=True)


def use_broker(broker_url: str, queue: str) -> None:
    """Point this process's Celery producer at the worker's broker and queue."""
    from portal.celery import app

    # broker_url itself prefers the CELERY_BROKER_URL environment variable, so
    # set the read and write URLs, which win over it:
    app.conf.broker_read_url = app.conf.broker_write_url = broker_url
    app.conf.task_default_queue = queue
    # Drop pooled connections to the previous broker (kombu keeps a global registry):
    from kombu import pools

    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


def embedded_test_broker() -> str:
    return (
        f"sqla+sqlite:///{Path(django_settings.VAR_DIR) / 'test-celery-broker.sqlite3'}"
    )


@pytest.fixture(scope="session")
def _session_worker(django_db_setup, django_db_blocker):
    """One worker for the whole session: starting one costs seconds."""
    worker = Worker(broker_for_tests()).start()
    yield worker
    worker.stop()


@pytest.fixture
def celery_worker_process(transactional_db, settings, _session_worker):
    """A real worker on the configured broker (the embedded one unless CELERY_BROKER_URL is set)."""
    if _session_worker.process.poll() is not None:
        _session_worker.start()  # a previous test stopped it
    saved = current_broker()
    use_broker(_session_worker.broker_url, _session_worker.queue)
    settings.HTTP_BLOCK_ALLOWED_HOSTS = ["127.0.0.1"]
    yield _session_worker
    use_broker(*saved)


def broker_for_tests() -> str:
    return os.environ.get("CELERY_BROKER_URL") or embedded_test_broker()


def current_broker() -> tuple[str, str]:
    from portal.celery import app

    return app.conf.broker_url, app.conf.task_default_queue


def wait_for(predicate, timeout: float = 30, interval: float = 0.1):
    """Poll until predicate() is truthy; returns its value or fails the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {predicate.__name__}")


@pytest.fixture
def pipelines(monkeypatch):
    """The statements sent inside each psycopg pipeline (one round trip each)."""
    sent: list[list[str]] = []
    connection.ensure_connection()
    cls = type(connection.connection)
    original = cls.pipeline

    @contextmanager
    def recording(self):
        first = len(connection.queries_log)
        with original(self) as pipeline:
            yield pipeline
        sent.append([q["sql"] for q in list(connection.queries_log)[first:]])

    monkeypatch.setattr(cls, "pipeline", recording)
    return sent
