"""Request signing: what HTTP blocks add to each request when the workspace has
a signing secret, as Cortex does, so the system called can check that the
request came from this portal and is fresh.

The headers, each an HMAC of the signing secret written in lowercase hex:

- `x-cortex-timestamp`: the time of sending, in milliseconds since the epoch;
- `x-cortex-signature-256`: HMAC-SHA256 of `<timestamp>.<body>`;
- `x-cortex-signature`: HMAC-SHA1 of the same (Cortex keeps it for older callees);
- `x-cortex-timestamp-only-signature-256`: HMAC-SHA256 of `<timestamp>` alone,
  for callees that can't read the body.

The body is the bytes sent (empty for a request without one).
"""

import hashlib
import hmac
import time

from .models import SigningSecret
from .secrets import decrypt

SIGNATURE_HEADERS = (
    "x-cortex-timestamp",
    "x-cortex-signature-256",
    "x-cortex-signature",
    "x-cortex-timestamp-only-signature-256",
)


def signing_key(workspace) -> str | None:
    """The workspace's signing secret, or None when it has none; read with the
    workspace when its reader said so (`preload`), else now."""
    if workspace is None:
        return None
    token = getattr(workspace, "_signing_token", _UNREAD)
    if token is _UNREAD:
        token = (
            SigningSecret.objects.filter(workspace=workspace)
            .values_list("encrypted_value", flat=True)
            .first()
        )
    return decrypt(token) if token else None


_UNREAD = object()

# The stored secret of a workspace, as a subquery on its id (in `column`), for
# readers that load the workspace anyway: the engine's claim, once per slice.
SUBQUERY = (
    "(SELECT encrypted_value FROM workflows_signingsecret WHERE workspace_id = {})"
)


def preload(workspace, token: str | None) -> None:
    """Keep the workspace's stored secret (None: it has none) with the instance."""
    workspace._signing_token = token


def signature_headers(key: str, body: bytes, *, now_ms: int | None = None) -> dict:
    """The signing headers for a request with `body`, sent now."""
    timestamp = str(now_ms if now_ms is not None else int(time.time() * 1000))
    secret = key.encode()
    signed = timestamp.encode() + b"." + body

    def mac(message: bytes, digest) -> str:
        return hmac.new(secret, message, digest).hexdigest()

    return {
        "x-cortex-timestamp": timestamp,
        "x-cortex-signature-256": mac(signed, hashlib.sha256),
        "x-cortex-signature": mac(signed, hashlib.sha1),
        "x-cortex-timestamp-only-signature-256": mac(
            timestamp.encode(), hashlib.sha256
        ),
    }
