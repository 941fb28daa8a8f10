"""Logging filters for portal/settings.py's LOGGING."""

import logging


class NoClientErrorTraceback(logging.Filter):
    """A 4xx (a refused permission, a missing page) is the client's doing: log
    its one line, without the traceback Django attaches."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if status is not None and 400 <= status < 500:
            record.exc_info = None
            record.exc_text = None
        return True
