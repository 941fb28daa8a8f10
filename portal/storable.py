"""Is a value one the databases can store as JSON? (API bodies, block outputs.)

PostgreSQL refuses NUL characters, lone surrogates, NaN and infinity in JSON;
YAML gives dates, bytes (`!!binary`) and sets (`!!set`), which JSON has no type
for; a value shared with itself (a circular reference) never ends; and a huge
or very deeply nested value is a denial of service (Python's own JSON code
recurses). The walk is iterative, so checking can't overflow the stack.
"""

from __future__ import annotations

import math
import sys
from typing import Any

MAX_VALUES = 100_000  # a YAML alias bomb expands into millions of values
MAX_DEPTH = 100

_YAML_TYPE = {"bytes": "binary data (!!binary)", "set": "a set (!!set); use a list"}


class Unstorable(ValueError):
    """The message names where in the value the problem is."""


class LongNumber(str):
    """An integer with more digits than Python reads (4300), kept as the text
    it was written as by the JSON and YAML readers, so that check_storable
    can say where it is."""


def too_long(digits: str) -> bool:
    """Whether int() would refuse a number written so for its length."""
    return len(digits.lstrip("+-")) > sys.get_int_max_str_digits()


def read_int(text: str) -> int | LongNumber:
    """int(text), or a LongNumber when text has too many digits for int()."""
    return LongNumber(text) if too_long(text) else int(text)


def check_storable(
    value: Any,
    where: str = "body",
    *,
    max_values: int = MAX_VALUES,
    max_chars: int | None = None,
) -> None:
    """Raise Unstorable if value can't be stored; `max_chars` bounds its text."""
    stack, count, chars = [(value, where, 0)], 0, 0
    while stack:
        item, path, depth = stack.pop()
        count += 1
        if count > max_values:
            raise Unstorable(f"{where} holds more than {max_values} values")
        if depth > MAX_DEPTH:
            raise Unstorable(f"{where} is nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, LongNumber):
            raise Unstorable(
                f"{path}: a number of {len(item.lstrip('-+'))} digits is longer"
                f" than Cairn reads ({sys.get_int_max_str_digits()} at most)"
            )
        if isinstance(item, str):
            _check_text(item, path)
            chars += len(item)
            if max_chars is not None and chars > max_chars:
                raise Unstorable(f"{where}: more than {max_chars:,} characters of text")
        elif isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str | int | float | bool | type(None)):
                    raise Unstorable(f"{path}: a key can't be {_kind(key)}")
                _check_text(str(key), path)
                stack.append((child, f"{path}.{key}", depth + 1))
        elif isinstance(item, list | tuple):
            stack.extend(
                (child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item)
            )
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise Unstorable(f"{path}: {item!r} is not a number JSON can store")
        elif not isinstance(item, int | bool | type(None)):
            raise Unstorable(f"{path}: JSON can't store {_kind(item)}")


def _kind(value: Any) -> str:
    name = type(value).__name__
    if name in ("date", "datetime"):
        return f"a date ({value}); quote it to keep it as text"
    return _YAML_TYPE.get(name, f"a {name} value")


def _check_text(text: str, path: str) -> None:
    if "\x00" in text:
        raise Unstorable(f"{path}: text must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise Unstorable(f"{path}: text is not valid Unicode") from None
