"""Where a value is stored in clear: every text and JSON column of every table.

For checking that a secret is kept nowhere (`manage.py find_stored`, the
secrets tests, bench/chaos.py). It reads whole tables: a check to run by
hand or in tests, not on a request.
"""

import json
from collections.abc import Iterator

from django.apps import apps
from django.db import models

_TEXT = (models.CharField, models.TextField, models.JSONField)


def stored_values() -> Iterator[tuple[str, object, object]]:
    """(table.column, row pk, value) for every text and JSON value stored."""
    for model in apps.get_models():
        fields = [f for f in model._meta.concrete_fields if isinstance(f, _TEXT)]
        if not fields:
            continue
        names = [f.name for f in fields]
        rows = model.objects.values_list("pk", *names).iterator(chunk_size=500)
        for pk, *values in rows:
            for field, value in zip(fields, values, strict=True):
                if value is not None:
                    yield f"{model._meta.db_table}.{field.column}", pk, value


def every_stored_text() -> str:
    """Every text and JSON value stored, as one string (JSON as Python shows it)."""
    return "\n".join(str(value) for _, _, value in stored_values())


def places_holding(needle: str) -> dict[str, list]:
    """{table.column: [row pks]} where a value holds `needle`: in its text, or,
    for JSON, in its strings and keys or in its JSON text (escaped as stored,
    or not) — not in how Python would show it (`None`, `True`, `'a': 1`)."""
    found: dict[str, list] = {}
    for place, pk, value in stored_values():
        if isinstance(value, str):
            held = needle in value
        else:
            held = (
                needle in _json_strings(value)
                or needle in json.dumps(value)
                or needle in json.dumps(value, ensure_ascii=False)
            )
        if held:
            found.setdefault(place, []).append(pk)
    return found


def _json_strings(value) -> str:
    """The strings and keys inside a JSON value, one per line."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "\n".join(f"{k}\n{_json_strings(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "\n".join(_json_strings(v) for v in value)
    return ""
