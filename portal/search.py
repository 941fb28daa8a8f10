"""Searching names and tags whatever the case of their letters.

`icontains` ignores case for every letter on PostgreSQL, but SQLite's LIKE
and UPPER know only ASCII's: "ünï" did not find "Ünïcode". So searches
compare UPPER(field) with the text in upper case, and on SQLite UPPER is
Python's (registered for each connection by portal.apps).
"""

from django.db.models import Q
from django.db.models.functions import Upper
from django.db.models.lookups import Contains


def contains_text(text: str, *fields: str) -> Q:
    """Rows where any of `fields` contains `text`, whatever the case."""
    wanted = text.upper()
    found = Q()
    for field in fields:
        found |= Q(Contains(Upper(field), wanted))
    return found


def sqlite_upper(value):
    return value.upper() if isinstance(value, str) else value


def register_sqlite_upper(sender, connection, **kwargs) -> None:
    """connection_created: SQLite's UPPER, for every letter (not only ASCII)."""
    if connection.vendor == "sqlite":
        connection.connection.create_function(
            "UPPER", 1, sqlite_upper, deterministic=True
        )
