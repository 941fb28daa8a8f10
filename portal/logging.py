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


class LoggedPath(logging.Filter):
    """Django's request log names the path ("Not Found: /…"): a request that
    carries a signed path to log instead (portal.logpath) gets that one."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        meta = getattr(request, "META", None)
        if meta is None or not isinstance(record.args, tuple):
            return True
        from portal.logpath import logged_path

        logged = logged_path(meta, request.path)
        if logged is not None:
            # Django escapes what it logs (log_response): match either form.
            paths = {request.path, request.path.encode("unicode_escape").decode()}
            record.args = tuple(logged if arg in paths else arg for arg in record.args)
        return True
