"""Secret values: encrypted at rest with Fernet, shown as ******** everywhere.

A run keeps SECRET_FIELD values, and the values blocks built from them, in
`Run.secrets_blob` (one Fernet token holding {"paths": {path: value},
"derived": {path: value}}, see engine._Secrets) until it ends; the stored run
state only ever holds MASK.
"""

import base64
import bisect
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
    Go and PHP write JSON), HTML-escaped (as Mustache's `{{…}}`, jq's @html or
    Python's html.escape, Go's html/template write it, or with numeric
    entities; _Needles.places also decodes any mix of references), URL-encoded
    (by any of the usual encoders, after that escaping or not), shell-quoted
    (jq's @sh), in jq's @csv and @tsv, as JavaScript's escape(), or as its UTF-8
    bytes read as Latin-1 (a server echoing a header it read so)."""
    escaped = {secret, _latin1_misread(secret)} | _html_escapes(secret)
    forms = set(escaped) | {
        secret.replace("'", "'\\''"),  # @sh
        secret.replace('"', '""'),  # @csv
        _tsv(secret),
        _js_escape(secret),
    }
    for form in escaped:
        forms |= {quote(form, safe=safe) for safe in _URL_SAFE}
        forms.add(quote_plus(form, safe=""))
    for form in list(forms):
        forms |= _json_forms(form)
    for form in _json_forms(secret):  # JSON text quoted in JSON again
        forms |= _json_forms(form)
    return forms


def _json_text(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _json_forms(text: str) -> set[str]:
    plain = {json.dumps(text)[1:-1], _json_text(text)}
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


def _html_escapes(text: str) -> set[str]:
    """What chevron's `{{…}}` makes of text (it leaves ' alone), the same with
    ' escaped as the other escapers write it, Go's html/template's way, and
    with numeric entities."""
    mustache = (
        text.replace("&", "&amp;")
        .replace('"', "&quot;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
    )
    go = mustache.replace("&quot;", "&#34;").replace("'", "&#39;").replace("+", "&#43;")
    return {mustache, go, _entities(text, "&#{};"), _entities(text, "&#x{:x};")} | {
        mustache.replace("'", apostrophe)
        for apostrophe in ("&#x27;", "&#39;", "&apos;")
    }


def _entities(text: str, pattern: str) -> str:
    """HTML's special characters as numeric entities."""
    return "".join(
        pattern.format(ord(char)) if char in "&<>\"'+" else char for char in text
    )


def _tsv(text: str) -> str:
    """What jq's @tsv makes of text."""
    return (
        text.replace("\\", "\\\\")
        .replace("\t", "\\t")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
    )


def _latin1_misread(text: str) -> str:
    """UTF-8 bytes decoded as Latin-1, as HTTP servers and clients decode headers:
    "ü" reads "Ã¼"."""
    return text.encode().decode("latin-1")


# Shorter encoded runs would mask the same characters in unrelated text too
# often (hex's digits more than base64's letters).
_MIN_BASE64, _MIN_HEX = 8, 12


def _hex(secret: str) -> set[str]:
    """The secret's UTF-8 bytes in hex (in either case: folded like the rest)."""
    data = secret.encode()
    return {data.hex()} if len(data) * 2 >= _MIN_HEX else set()


def _base64(secret: str) -> set[str]:
    """The secret's UTF-8 bytes in base64 (standard and URL-safe), as a script
    or an API encodes them, alone or inside a longer text (`Basic
    base64(user:secret)`). The characters that also hold neighbouring bytes
    depend on them: what is kept is the run of characters that hold only the
    secret's bits, for each of the three places the secret can start in a
    group of three bytes. Case matters in base64: these are matched exactly."""
    data = secret.encode()
    out = set()
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + data).decode()
        first = -(-offset * 8 // 6)  # the first character after the padding bytes
        last = (offset + len(data)) * 8 // 6  # the first one with bits past the end
        core = encoded[first:last]
        if len(core) >= _MIN_BASE64:
            out |= {core, core.replace("+", "-").replace("/", "_")}
    return out


def scrub(value: Any, secrets: list[str]) -> Any:
    """Replace every occurrence of a secret value inside value, in strings and
    in dict keys, with MASK: in any of its _forms, in upper or lower case (an
    upper-cased echo, %2f for %2F). Where secrets overlap, the union of their
    places is masked. Keys that mask to the same text merge (the last one wins)."""
    secrets = tuple(s for s in dict.fromkeys(secrets) if isinstance(s, str) and s)
    if not secrets:
        return value
    needles = _needles(secrets)
    if not isinstance(value, str) and not needles.maybe_in(value):
        return value
    return _scrub(value, needles)


# A run's scrubs reuse its needles (a few hundred forms a secret). Few are kept: they
# hold secrets in clear, in the worker's memory, after their run ends.
@lru_cache(maxsize=8)
def _needles(secrets: tuple[str, ...]) -> "_Needles":
    return _Needles(secrets)


_ALNUM_RUN = re.compile(r"[A-Za-z0-9]+")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")

# Secrets shorter than this are masked only where a value is just the secret:
# inside texts they would mask the same letters everywhere (keys too: a secret
# "e" turns "headers" into "h********ad********rs", and later blocks break).
_SHORT = 4


class _Needles:
    """A run's secrets in all their forms, case-folded (base64 forms exact).

    Every escaped form of a secret keeps its longest run of ASCII letters and
    digits (escaping changes only the other characters), so text without any
    secret's run or encoded form, most text, is passed over after a few
    searches per secret.
    """

    def __init__(self, secrets: tuple[str, ...]):
        self.forms: set[str] = set()  # looked for in case-folded text
        self.quick: set[str] = set()
        self.exact: set[str] = set()  # looked for in the text as it is
        self.whole: set[str] = set()  # short secrets: a whole value only
        # Looked for in a text with its HTML references decoded: the forms
        # references can stand in (fewer than self.forms, so it costs less).
        self.plain: set[str] = set()
        # The secrets' longest runs of ASCII letters and digits, which
        # references leave alone; whether a secret has none, so that a text
        # must be decoded whole to tell whether it is there; and how far from
        # its run a secret written with references may reach.
        self.runs: set[str] = set()
        self.hidden = False
        self.reach = 0
        # Numeric secrets as the numbers JSON makes of them (PIN 0427 is 427,
        # 1.50 is 1.5):
        self.numbers = {float(s) for s in secrets if _NUMBER.fullmatch(s)}
        for secret in secrets:
            if len(secret) < _SHORT:
                self.whole.add(secret)
                continue
            forms = {
                form.casefold()
                for variant in {secret, secret.upper(), secret.lower()}
                for form in _forms(variant)
            }
            self.plain |= {
                form.casefold()
                for variant in {secret, secret.upper(), secret.lower()}
                for written in (variant, _latin1_misread(variant))
                for form in {written} | _json_forms(written)
            }
            runs = _ALNUM_RUN.findall(secret)
            self.quick |= {max(runs, key=len).casefold()} if runs else forms
            self.runs |= {max(runs, key=len).casefold()} if runs else set()
            self.hidden |= not runs
            self.reach = max(self.reach, _REFERENCE_REACH * len(secret))
            self.forms |= forms | _hex(secret)
            self.quick |= _hex(secret)  # encoded forms don't keep the runs
            # base64 of the URL-encoded secret too: OAuth's client_secret_basic
            # (RFC 6749 2.3.1) encodes it so.
            for encoded in {
                secret,
                quote_plus(secret, safe=""),
                quote(secret, safe=""),
            }:
                self.exact |= _base64(encoded)
        self.json_safe = all(_json_text(key) == key for key in self.quick | self.exact)

    def maybe_in(self, value: Any) -> bool:
        """Whether value may hold a secret, looking at its JSON text once: far
        quicker than looking at each of many short strings. (Quick keys are
        mostly letters, digits and base64's +/-_, which JSON leaves alone.)"""
        if not self.json_safe:
            return True
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):  # keys JSON can't write: look at each
            return True
        if any(f'"{_json_text(secret)}"' in text for secret in self.whole) or any(
            _number_text(number) in text for number in self.numbers
        ):
            return True
        if self.hidden and "&" in text and (decoded := _Decoded.of(text)):
            text += "\n" + decoded.plain  # a secret written with references
        folded = text.casefold()
        return self._quick_in(text, folded)

    def sub(self, text: str) -> str:
        if text in self.whole:
            return MASK
        spans = self.places(text, _found)
        return _masked(text, spans) if spans else text

    def places(self, text: str, find, quick: bool = True) -> list:
        """Where find finds the secrets' forms in text, and in text with HTML's
        character references decoded (any mix: mustache.js writes "/" as
        &#x2F;, ESAPI every sign, Python's ElementTree non-ASCII letters),
        mapped back to text's places. With quick, only where a quick key is."""
        folded, where = _fold(text)
        hit = not quick or self._quick_in(text, folded)
        spans = self.spans(text, folded, where, find) if hit else []
        # References stand for signs, not for letters and digits: a secret
        # that has them is decoded for only where its run is in the text.
        if (hit or self.hidden) and ("&" in text or "\\u0026" in text):
            for offset, end in self._around_runs(text, folded, where, quick, spans):
                decoded = _Decoded.of(text[offset:end])
                if decoded is None:
                    continue
                plain = decoded.plain
                plain_folded, plain_where = _fold(plain)
                if quick and not self._quick_in(plain, plain_folded):
                    continue
                found = self.spans(
                    plain, plain_folded, plain_where, find, self.plain, ()
                )
                spans += [(offset + b, offset + e) for b, e in decoded.places(found)]
        return spans

    def _around_runs(
        self, text: str, folded: str, where, quick: bool, masked: list
    ) -> list:
        """The parts of text a secret written with references may be in: all of
        it for a secret without a run (or without quick), else around each
        place a run is that is not masked already (decoding costs about 1 µs a
        reference)."""
        if self.hidden or not quick:
            return [(0, len(text))]
        masked = _merged(masked)
        starts = [begin for begin, _ in masked]
        parts = []
        for run in self.runs:
            for begin, end in _found(folded, run):
                if where is not None:
                    begin, end = where[begin], where[end - 1] + 1
                k = bisect.bisect_right(starts, begin) - 1
                if k >= 0 and masked[k][1] >= end:
                    continue  # inside a secret found as it is
                parts.append((max(0, begin - self.reach), end + self.reach))
        return _merged(parts)

    def _quick_in(self, text: str, folded: str) -> bool:
        return any(key in folded for key in self.quick) or any(
            key in text for key in self.exact
        )

    def spans(
        self,
        text: str,
        folded: str,
        where: list[int] | None,
        find,
        forms=None,
        exact=None,
    ) -> list:
        """The places in text where find(text, form) finds each form (all the
        secrets' unless given): the case-folded ones in folded (text folded,
        see _fold), the exact ones in text."""
        spans = []
        for form in self.forms if forms is None else forms:
            for begin, end in find(folded, form):
                if where is not None:  # folding made text longer: text's places
                    begin, end = where[begin], where[end - 1] + 1
                spans.append((begin, end))
        for form in self.exact if exact is None else exact:
            spans += find(text, form)
        return spans


# How much of a secret's start, cut by a message, is masked.
_MIN_CUT = 6
_CUT_MARKS = ("...", "…", '"...', '"…', '\\"...', '\\"…')
# What may open the quote a cut secret stands right after:
_OPENING = ('"', "'", "&quot;", "&#34;", "&#39;", "&apos;", "%22", "%27")
# Longer messages, which no tool writes, only get scrub(): looking for cut
# secrets in them could take seconds.
_MAX_CUT_MESSAGE = 20_000


def scrub_message(text: str, secrets: list[str]) -> str:
    """scrub(), and the start of a secret, in any of its forms, that a message
    quotes cut short, as jq's and V8's errors quote a value (`string
    ("ghp_R4nd0mT0ken...")`, `"ghp_R4nd0m"... is not valid JSON`), in JSON
    text too (`\\"ghp_R4nd0m...\\"`): quoted and followed by "..." or "…", so
    that ordinary words of a message ("wrong password" for the secret
    "password-Blue-77") stay."""
    text = scrub(text, secrets)
    secrets = tuple(
        s for s in dict.fromkeys(secrets) if isinstance(s, str) and len(s) > _MIN_CUT
    )
    quoted = any(mark in text for mark in _OPENING)
    if not secrets or not quoted or len(text) > _MAX_CUT_MESSAGE:
        return text
    spans = _needles(secrets).places(text, _cut, quick=False)
    if not spans:
        return text
    inside = _Quotes(text).inside
    spans = [(begin, end) for begin, end in spans if inside(begin)]
    return _masked(text, spans) if spans else text


class _Quotes:
    """Whether a place in text is quoted: right after a quote (HTML- or
    URL-encoded too), or after an odd number of double quotes, plain or
    JSON-escaped (\\") counted apart."""

    def __init__(self, text: str):
        self.text = text
        self.plain: list[int] = []
        self.escaped: list[int] = []
        at = text.find('"')
        while at != -1:
            slashes = 0
            while at > slashes and text[at - slashes - 1] == "\\":
                slashes += 1
            (self.escaped if slashes % 2 else self.plain).append(at)
            at = text.find('"', at + 1)

    def inside(self, at: int) -> bool:
        return (
            self.text.endswith(_OPENING, 0, at)
            or bisect.bisect_left(self.plain, at) % 2 == 1
            or bisect.bisect_left(self.escaped, at) % 2 == 1
        )


def _cut(text: str, form: str) -> list[tuple[int, int]]:
    """Where text holds the first _MIN_CUT or more characters of form, cut."""
    if len(form) <= _MIN_CUT:
        return []
    spans = []
    for begin, _ in _found(text, form[:_MIN_CUT]):
        # The longest start of form at begin (a binary search: each step one
        # comparison in C, where a character at a time was slow on long texts).
        low, high = _MIN_CUT, len(form) - 1
        while low < high:
            middle = (low + high + 1) // 2
            if text.startswith(form[:middle], begin):
                low = middle
            else:
                high = middle - 1
        if text.startswith(_CUT_MARKS, begin + low):
            spans.append((begin, begin + low))
    return spans


def _masked(text: str, spans: list[tuple[int, int]]) -> str:
    out, done = [], 0
    for begin, end in _merged(spans):
        out += [text[done:begin], MASK]
        done = end
    out.append(text[done:])
    return "".join(out)


def _number_text(number: float) -> str:
    return str(int(number)) if number.is_integer() else repr(number)


def _found(text: str, form: str) -> list[tuple[int, int]]:
    """Where form is in text, overlapping places too."""
    spans = []
    at = text.find(form)
    while at != -1:
        spans.append((at, at + len(form)))
        at = text.find(form, at + 1)
    return spans


def _fold(text: str) -> tuple[str, list[int] | None]:
    """text case-folded, and where each folded character came from in text
    (None when each character folds to one: the places are the same)."""
    folded = text.casefold()
    if len(folded) == len(text):
        return folded, None
    where: list[int] = []
    for index, char in enumerate(text):
        where += [index] * len(char.casefold())
    return folded, where


# A character reference, HTML-escaped again (&amp;#x2F;, as PHP's
# htmlspecialchars run twice writes it) or with its & JSON-escaped in Go's way
# (\u0026#x2F;): only what follows the last & counts.
_REFERENCE = re.compile(
    r"(?:&|\\u0026)(?:amp;)*"
    r"(#[0-9]{1,7};?|#[xX][0-9a-fA-F]{1,6};?|[A-Za-z][A-Za-z0-9]{1,31};)"
)


# How long a secret's character may be once written so, with room to spare
# (\u0026amp;#1114111; is 19).
_REFERENCE_REACH = 24


@lru_cache(maxsize=4096)
def _reference(name: str) -> str:
    return html.unescape("&" + name)


class _Decoded:
    """A text with its character references replaced by what they stand for,
    and the way back from a place in it to the place in the text."""

    def __init__(self, plain: str, refs: list[tuple[int, int, int, int]]):
        self.plain = plain
        # Each reference: where its characters begin and end in plain, and
        # where the reference begins and ends in the text.
        self.refs = refs
        self.starts = [ref[0] for ref in refs]

    @classmethod
    def of(cls, text: str) -> "_Decoded | None":
        """None when text has no reference HTML knows."""
        parts: list[str] = []
        refs: list[tuple[int, int, int, int]] = []
        done = length = 0
        for found in _REFERENCE.finditer(text):
            char = _reference(found.group(1))
            if char == "&" + found.group(1):  # a name HTML doesn't know
                continue
            begin, end = found.span()
            parts += [text[done:begin], char]
            length += begin - done
            refs.append((length, length + len(char), begin, end))
            length += len(char)
            done = end
        if not refs:
            return None
        parts.append(text[done:])
        return cls("".join(parts), refs)

    def places(self, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Spans of plain as spans of the text (a reference partly inside a
        span is inside it whole)."""
        return [(self._at(begin, 0), self._at(end - 1, 1)) for begin, end in spans]

    def _at(self, index: int, after: int) -> int:
        """Where plain's character at index begins (after=0) or ends (1) in the text."""
        k = bisect.bisect_right(self.starts, index) - 1
        if k < 0:
            return index + after
        begin, end, text_begin, text_end = self.refs[k]
        if index < end:  # one of the reference's characters
            return text_end if after else text_begin
        return text_end + index - end + after


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for begin, end in sorted(spans):
        if merged and begin <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([begin, end])
    return [(begin, end) for begin, end in merged]


def _scrub(value: Any, needles: _Needles) -> Any:
    if isinstance(value, str):
        return needles.sub(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        # A numeric secret (a PIN) echoed as a JSON number. Only a number that
        # is the secret: one holding its digits among others is most likely an
        # id or a count, which later blocks need.
        if value in needles.numbers or needles.sub(str(value)) == MASK:
            return MASK
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
