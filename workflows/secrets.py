"""Secret values: encrypted at rest with Fernet, shown as ******** everywhere.

A run keeps SECRET_FIELD values in `Run.secrets_blob` (one Fernet token holding
{path: value}) until it ends; the stored run state only ever holds MASK.
"""

import html
import json
import re
from functools import cache, lru_cache
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
    quoted in an error, a script's JSON.stringify; once or twice; as Python,
    Go and PHP write JSON), HTML-escaped (as Mustache's `{{…}}` writes it into a
    header or payload), URL-encoded (by any of the usual encoders, after that
    escaping or not), shell-quoted (jq's @sh) or as JavaScript's escape()."""
    escaped = {secret, _mustache_escape(secret), html.escape(secret)}
    forms = set(escaped) | {secret.replace("'", "'\\''"), _js_escape(secret)}
    for form in escaped:
        forms |= {quote(form, safe=safe) for safe in _URL_SAFE}
        forms.add(quote_plus(form, safe=""))
    for form in list(forms):
        forms |= _json_forms(form)
    for form in _json_forms(secret):  # JSON text quoted in JSON again
        forms |= _json_forms(form)
    return forms


def _json_forms(text: str) -> set[str]:
    plain = {json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}
    go = {  # Go's encoding/json escapes HTML's characters
        f.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
        for f in plain
    }
    php = {f.replace("/", "\\/") for f in plain}  # PHP's json_encode
    return plain | go | php


def _js_escape(text: str) -> str:
    """JavaScript's legacy escape()."""
    kept = "@*_+-./"
    out = []
    for char in text:
        code = ord(char)
        if char.isascii() and (char.isalnum() or char in kept):
            out.append(char)
        elif code < 256:
            out.append(f"%{code:02X}")
        else:
            out.extend(f"%u{unit:04X}" for unit in _utf16(char))
    return "".join(out)


def _utf16(char: str) -> list[int]:
    data = char.encode("utf-16-be")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


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
    in dict keys, with MASK: in any of its _forms, in any letter case (an
    upper-cased echo, %2f for %2F). Keys that mask to the same text merge (the
    last one wins)."""
    pattern = _needles(frozenset(s for s in secrets if isinstance(s, str) and s))
    if pattern is None:
        return value
    return _scrub(value, pattern)


class _Needles:
    """A run's secrets in all their forms: a quick test for text holding none
    (most text), and the pattern that masks them."""

    def __init__(self, forms: set[str]):
        self.folded = {form.casefold() for form in forms}
        # Longest first: a form that contains another is masked whole.
        alternatives = sorted(forms, key=len, reverse=True)
        self.pattern = re.compile("|".join(map(re.escape, alternatives)), re.I)

    def sub(self, text: str) -> str:
        folded = text.casefold()
        if not any(needle in folded for needle in self.folded):
            return text
        return self.pattern.sub(MASK, text)


@lru_cache(maxsize=256)
def _needles(secrets: frozenset[str]) -> _Needles | None:
    forms = {form for s in secrets for form in _forms(s)}
    return _Needles(forms) if forms else None


def _scrub(value: Any, needles: _Needles) -> Any:
    if isinstance(value, str):
        return needles.sub(value)
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
