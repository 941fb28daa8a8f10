"""Test settings: portal.settings as deployed, but over plain http and with fast hashing."""

import os

# Read by portal.settings, so set before importing it:
os.environ["HTTPS"] = "false"

from portal.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The manifest storage needs collectstatic; tests serve from the finders instead.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Tests never share a broker queue with a running `make run` worker:
if not os.environ.get("CELERY_BROKER_URL"):
    CELERY_BROKER_URL = f"sqla+sqlite:///{VAR_DIR / 'test-celery-broker.sqlite3'}"  # noqa: F405
# A test's worker (tests.conftest.Worker) sends what it enqueues itself (the
# next slice, a run admitted, a run taken over) to the queue it consumes:
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CAIRN_TEST_WORKER_QUEUE", "cairn-tests")
