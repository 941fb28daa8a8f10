"""The WSGI application gunicorn serves.

A client that stops sending in the middle of a request (a body promised by
Content-Length that never comes) would hold a gunicorn worker until gunicorn's
own 30 s timeout killed it: five of them stopped every page and API call. So
the connection's socket gets a read timeout (CLIENT_READ_TIMEOUT seconds
without a byte), after which the request fails and the worker moves on. A
client that trickles bytes slower than that is for a buffering proxy in front
(nginx buffers request bodies by default): see the README.

A body sent with `Transfer-Encoding: chunked` (curl's `-H 'Transfer-Encoding:
chunked'`, requests with a generator) has no Content-Length, and Django reads
such a body as empty: a run started with it lost its `initialContext` and
`runAs` and answered 201. gunicorn decodes the chunks and says the input ends
where the body does (`wsgi.input_terminated`), so the body is read here and
handed on with its length: up to DATA_UPLOAD_MAX_MEMORY_SIZE (a longer one is
a 413 here, since Django would not count a form's files against it), and
malformed chunks are a body that can't be read (Django's 400).
"""

import io
import json
import os

from django.core.wsgi import get_wsgi_application
from gunicorn.http.errors import ParseException

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
_django = get_wsgi_application()

from django.conf import settings  # noqa: E402 - after the setup above


class _Unreadable(io.RawIOBase):
    """A body that stopped arriving: Django reads it as UnreadablePostError."""

    def __init__(self, error: OSError):
        self.error = error

    def read(self, *args):
        raise self.error

    readline = read


def _read_chunked(environ) -> bool:
    """False when the body is longer than DATA_UPLOAD_MAX_MEMORY_SIZE."""
    if (
        "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        or environ.get("CONTENT_LENGTH")
        or not environ.get("wsgi.input_terminated")
    ):
        return True
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        body = environ["wsgi.input"].read(-1 if limit is None else limit + 1)
    except (OSError, ParseException) as exc:  # a timeout, a reset, a bad chunk
        error = exc if isinstance(exc, OSError) else OSError(f"bad chunk: {exc}")
        environ["wsgi.input"], environ["CONTENT_LENGTH"] = _Unreadable(error), "1"
        return True
    if limit is not None and len(body) > limit:
        return False
    environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
    return True


def _too_large(environ, start_response):
    message = f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes"
    if environ.get("PATH_INFO", "").startswith("/api/"):
        from portal.api import error_body

        content_type = "application/json"
        body = json.dumps(error_body(413, message)).encode()
    else:
        content_type, body = "text/plain; charset=utf-8", message.encode()
    start_response(
        "413 Request Entity Too Large",
        [("Content-Type", content_type), ("Content-Length", str(len(body)))],
    )
    return [body]


def application(environ, start_response):
    sock = environ.get("gunicorn.socket")
    if sock is not None:
        sock.settimeout(settings.CLIENT_READ_TIMEOUT)
    if not _read_chunked(environ):
        return _too_large(environ, start_response)
    return _django(environ, start_response)
