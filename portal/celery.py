"""The Celery app. Tasks stay thin: fetch by id, then call the engine or a service."""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect
def _poll_sqlite_broker_often(**kwargs):
    # The SQLAlchemy transport polls its table; its transport options go to
    # create_engine, so the interval is set on the class. 0.1 s keeps runs snappy.
    if app.conf.broker_url.startswith("sqla+"):
        from kombu.transport import sqlalchemy

        sqlalchemy.Transport.polling_interval = 0.1
