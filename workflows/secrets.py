"""Secret values: encrypted at rest with Fernet, shown as ******** everywhere.

A run keeps SECRET_FIELD values in `Run.secrets_blob` (one Fernet token holding
{path: value}) until it ends; the stored run state only ever holds MASK.
"""

import html
import json
from functools import cache
from typing import Any
from urllib.parse import quote, quote_plus

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

MASK = "********"


@cache
def _fernet(key: str) -> Fernet:
    return Fernet(key.encode())


def encrypt(value: Any) -> str:
    return (
        _fernet(settings.FIELD_ENCRYPTION_KEY)
        .encrypt(json.dumps(value).encode())
        .decode()
    )


def decrypt(token: str) -> Any:
    if not token:
        return None
    try:
        return json.loads(
            _fernet(settings.FIELD_ENCRYPTION_KEY).decrypt(token.encode())
        )
    except InvalidToken as exc:
        raise ValueError(
            "Secret can't be decrypted: FIELD_ENCRYPTION_KEY changed?"
        ) from exc


# The characters each URL encoder leaves alone, besides letters, digits and
# "_.-~": Python's quote, JavaScript's encodeURIComponent and encodeURI, and
# the HTTP client's (WHATWG) query and path, which a called server may echo.
_URL_SAFE = (
    "",
    "/",
    "!'()*",
    ";,/?:@&=+$#!'()*",
    "!$&'()*+,;=:/?[]@",
    "!$&'()*+,;=:/[]@",
)


def _forms(secret: str) -> set[str]:
    """A secret as written, and as it reads inside JSON text (a response body
    quoted in an error, a script's JSON.stringify), HTML-escaped (as Mustache's
    `{{…}}` writes it into a header or payload), or URL-encoded (by any of the
    usual encoders, after that escaping or not)."""
    escaped = {secret, _mustache_escape(secret), html.escape(secret)}
    forms = set(escaped)
    for form in escaped:
        forms |= {quote(form, safe=safe) for safe in _URL_SAFE}
        forms.add(quote_plus(form, safe=""))
    for form in list(forms):
        forms |= {
            json.dumps(form)[1:-1],
            json.dumps(form, ensure_ascii=False)[1:-1],
        }
    return forms


def _mustache_escape(text: str) -> str:
    """What chevron's `{{…}}` makes of text (it leaves ' alone)."""
    return (
        text.replace("&", "&amp;")
        .replace('"', "&quot;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
    )


def scrub(value: Any, secrets: list[str]) -> Any:
    """Replace every occurrence of a secret value inside value, in strings and
    in dict keys, with MASK: as written, JSON-escaped, URL-encoded or
    HTML-escaped. Keys that mask to the same text merge (the last one wins)."""
    needles = sorted(
        {form for s in secrets if isinstance(s, str) and s for form in _forms(s)},
        key=len,
        reverse=True,
    )
    if not needles:
        return value
    return _scrub(value, needles)


def _scrub(value: Any, needles: list[str]) -> Any:
    if isinstance(value, str):
        for needle in needles:
            if needle in value:
                value = value.replace(needle, MASK)
        return value
    if isinstance(value, dict):
        return {_scrub(k, needles): _scrub(v, needles) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, needles) for v in value]
    return value


def set_path(target: dict, dotted: str, value: Any) -> None:
    """Set target[a][b][c] for "a.b.c", creating dicts on the way."""
    *parents, last = dotted.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value
