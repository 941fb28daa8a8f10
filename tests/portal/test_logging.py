"""What the console log says about requests the client got wrong."""

import logging

from portal.logging import NoClientErrorTraceback


def record(status_code: int) -> logging.LogRecord:
    try:
        raise PermissionError("nope")
    except PermissionError:
        import sys

        exc_info = sys.exc_info()
    entry = logging.LogRecord(
        "django.request", logging.WARNING, __file__, 1, "Forbidden: /x", (), exc_info
    )
    entry.status_code = status_code
    return entry


def test_a_refused_request_is_logged_as_one_line_without_a_traceback():
    entry = record(403)
    assert NoClientErrorTraceback().filter(entry)
    assert logging.Formatter().format(entry) == "Forbidden: /x"


def test_a_server_error_keeps_its_traceback():
    entry = record(500)
    assert NoClientErrorTraceback().filter(entry)
    assert "Traceback" in logging.Formatter().format(entry)
