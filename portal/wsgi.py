"""The WSGI application gunicorn serves.

A client that stops sending in the middle of a request (a body promised by
Content-Length that never comes) would hold a gunicorn worker until gunicorn's
own 30 s timeout killed it: five of them stopped every page and API call. So
the connection's socket gets a read timeout (CLIENT_READ_TIMEOUT seconds
without a byte), after which the request fails and the worker moves on. A
client that trickles bytes slower than that is for a buffering proxy in front
(nginx buffers request bodies by default): see the README.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
_django = get_wsgi_application()

from django.conf import settings  # noqa: E402 - after the setup above


def application(environ, start_response):
    sock = environ.get("gunicorn.socket")
    if sock is not None:
        sock.settimeout(settings.CLIENT_READ_TIMEOUT)
    return _django(environ, start_response)
