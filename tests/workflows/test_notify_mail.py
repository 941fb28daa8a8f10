"""Notification mail goes out from the process's mail thread, through a real SMTP
server on 127.0.0.1 (aiosmtpd): the run never waits for the mail server."""

import asyncio
import email
import logging
import threading

import pytest
from aiosmtpd.controller import Controller

from portal.mail import wait_until_sent
from tests.conftest import free_port
from tests.workflows.enginekit import action, make_workflow
from workflows import engine
from workflows.models import Run


class Inbox:
    """An SMTP handler that keeps what it is sent; while `release` is clear it
    holds every message at DATA, as a slow mail server would."""

    def __init__(self):
        self.received: list[email.message.Message] = []
        self.holding = threading.Event()
        self.release = threading.Event()
        self.release.set()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.holding.set()
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 30)
        self.received.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted"


@pytest.fixture
def smtp(settings):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 30
    yield inbox
    inbox.release.set()
    wait_until_sent()
    controller.stop()


@pytest.fixture
def wf(ws, test_blocks):
    return make_workflow(ws, [action("a", root=True)], name="Say hello")


def run_one(wf, user, capture) -> Run:
    with capture(execute=True):
        run = engine.start(workflow=wf, initiator=user)
        engine.advance(run.pk)
    run.refresh_from_db()
    return run


def test_the_initiator_gets_a_mail_through_the_smtp_server_when_the_run_ends(
    wf, grace, smtp, django_capture_on_commit_callbacks
):
    run = run_one(wf, grace, django_capture_on_commit_callbacks)

    assert run.status == "COMPLETED"
    assert wait_until_sent()
    [message] = smtp.received
    assert message["To"] == "grace@example.com"
    assert message["Subject"] == f"[Cairn] Say hello #{run.pk} succeeded"
    assert f"/runs/{run.pk}" in message.get_payload()


def test_a_mail_server_that_holds_the_message_does_not_hold_the_run(
    wf, grace, smtp, django_capture_on_commit_callbacks
):
    smtp.release.clear()

    run = run_one(wf, grace, django_capture_on_commit_callbacks)

    # The run ended and this test goes on while the server still holds the mail:
    assert run.status == "COMPLETED"
    assert smtp.holding.wait(10)
    assert smtp.received == []
    smtp.release.set()
    assert wait_until_sent()
    assert len(smtp.received) == 1


def test_a_mail_server_that_is_down_is_logged_and_later_mail_still_goes_out(
    wf,
    grace,
    smtp,
    settings,
    closed_port,
    django_capture_on_commit_callbacks,
    caplog,
):
    port = settings.EMAIL_PORT
    settings.EMAIL_PORT = closed_port
    with caplog.at_level(logging.ERROR, logger="portal.mail"):
        run_one(wf, grace, django_capture_on_commit_callbacks)
        assert wait_until_sent()
    assert "Could not send 1 email(s)" in caplog.text

    settings.EMAIL_PORT = port
    run_one(wf, grace, django_capture_on_commit_callbacks)
    assert wait_until_sent()
    assert [m["To"] for m in smtp.received] == ["grace@example.com"]
