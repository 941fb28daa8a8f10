"""Say where a value (a secret, say) is stored in clear, reading it on stdin:

    printf %s "$VALUE" | python manage.py find_stored

On stdin, not as an argument: an argument would be in the shell's history and
in `ps` for anyone on the machine. Exits 1 when the value is found.
"""

import sys

from django.core.management.base import BaseCommand, CommandError

from portal.dbscan import places_holding


class Command(BaseCommand):
    help = (
        "Read a value on stdin and list the tables and columns that hold it in"
        " clear (every text and JSON column); exit status 1 when found."
    )

    def handle(self, *args, **options):
        value = sys.stdin.read().removesuffix("\n")
        if not value.strip():
            raise CommandError("Give the value to look for on stdin (it is empty).")
        found = places_holding(value)
        if not found:
            self.stdout.write("Found nowhere: no text or JSON column holds it.")
            return
        for place, pks in sorted(found.items()):
            shown = ", ".join(map(str, pks[:10])) + (" …" if len(pks) > 10 else "")
            rows = "row" if len(pks) == 1 else "rows"
            self.stdout.write(f"{place}: {len(pks)} {rows} (id {shown})")
        sys.exit(1)
