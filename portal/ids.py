"""Database ids written as text: `/catalog/{tagOrId}`, form fields, query parameters.

`str.isdigit()` is not enough: it is true for "²" (and int("²") raises) and for
"٣" (and int("٣") is 3, so `DELETE /catalog?ids=٣` deleted entity 3).
"""

from __future__ import annotations

MAX_DIGITS = 18  # every 18-digit number fits a bigint


def parse_id(text: object) -> int | None:
    """The id `text` names (ASCII digits only, at most 18 of them), else None."""
    if (
        isinstance(text, str)
        and text.isascii()
        and text.isdigit()
        and len(text) <= MAX_DIGITS
    ):
        return int(text)
    return None


def parse_ids(texts) -> list[int]:
    """The ids among `texts`, in order (the others are tags or nonsense)."""
    return [n for n in map(parse_id, texts) if n is not None]


class IdConverter:
    """`<id:pk>` in URLs: like `<int:pk>`, but at most 18 digits, so a longer
    number is a 404 rather than an integer the database can't hold (a 500)."""

    regex = f"[0-9]{{1,{MAX_DIGITS}}}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)
