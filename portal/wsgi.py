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
where the body does (`wsgi.input_terminated`), so the body is read here, up
to Django's limit (a larger one is Django's 413), and handed on with its length.
"""

import io
import os

from django.core.wsgi import get_wsgi_application

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


def _read_chunked(environ) -> None:
    if (
        "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        or environ.get("CONTENT_LENGTH")
        or not environ.get("wsgi.input_terminated")
    ):
        return
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 10 * 1024 * 1024
    try:
        body = environ["wsgi.input"].read(limit + 1)
    except OSError as exc:  # the socket's read timeout, a reset
        environ["wsgi.input"], environ["CONTENT_LENGTH"] = _Unreadable(exc), "1"
        return
    environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))


def application(environ, start_response):
    sock = environ.get("gunicorn.socket")
    if sock is not None:
        sock.settimeout(settings.CLIENT_READ_TIMEOUT)
    _read_chunked(environ)
    return _django(environ, start_response)
