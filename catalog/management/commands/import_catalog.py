"""Import Cortex entity descriptors (x-cortex-* YAML) into a workspace's catalog.

    python manage.py import_catalog services/*.yaml --workspace demo

Each file is all or nothing: a file with one bad document imports nothing and
gets an error line `FILE: field: message` on stderr; the other files still
import. Entities are upserted by tag, so importing again updates them. The
command fails (exit status 1) when any file failed.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from catalog.descriptors import DescriptorError, parse_entity_file
from catalog.models import Entity
from catalog.services import entities_upsert
from portal.models import Workspace

YAML_SUFFIXES = (".yaml", ".yml")


def _plain(text: str) -> str:
    return text


def _count(count: int, word: str, plural: str = "") -> str:
    return f"{count} {word if count == 1 else plural or word + 's'}"


class Command(BaseCommand):
    help = (
        "Import entity descriptors from YAML files (or directories of them) into a "
        "workspace's catalog, creating or updating entities by tag."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "paths",
            nargs="+",
            metavar="FILE",
            help="Descriptor files; a directory imports its *.yaml and *.yml files",
        )
        parser.add_argument(
            "--workspace", default="demo", help="Workspace slug (default: demo)"
        )

    def handle(self, *args, paths, workspace, **options):
        ws = Workspace.objects.filter(slug=workspace).first()
        if ws is None:
            valid = ", ".join(
                Workspace.objects.order_by("slug").values_list("slug", flat=True)
            )
            raise CommandError(
                f"No workspace {workspace!r}. Workspaces: {valid or 'none (run seed_demo?)'}."
            )

        files, failed = [], []
        for raw in paths:
            path = Path(raw)
            if path.is_dir():
                found = sorted(p for p in path.rglob("*") if p.suffix in YAML_SUFFIXES)
                if not found:
                    self._error(raw, "no .yaml or .yml files in this directory")
                    failed.append(raw)
                files.extend(found)
            else:
                files.append(path)

        created = updated = 0
        imported_files = 0
        for path in files:
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                self._error(path, "no such file")
                failed.append(path)
                continue
            except (OSError, UnicodeDecodeError) as exc:
                self._error(path, f"can't be read: {exc}")
                failed.append(path)
                continue
            try:
                specs = parse_entity_file(text)
            except DescriptorError as exc:
                self._error(path, str(exc))
                failed.append(path)
                continue
            tags = [spec.tag for spec in specs]
            existing = set(
                Entity.objects.filter(workspace=ws, tag__in=tags).values_list(
                    "tag", flat=True
                )
            )
            try:
                entities_upsert(workspace=ws, specs=specs)
            except DatabaseError as exc:
                self._error(path, f"could not be saved: {exc}")
                failed.append(path)
                continue
            imported_files += 1
            updated += len(existing)
            created += len(set(tags) - existing)
            if options["verbosity"] >= 2:
                self.stdout.write(f"{path}: {', '.join(tags)}")

        summary = (
            f"Imported {_count(created + updated, 'entity', 'entities')} "
            f"({created} created, {updated} updated) from {_count(imported_files, 'file')} "
            f"into workspace {ws.slug}"
        )
        if failed:
            self.stdout.write(f"{summary}; {_count(len(failed), 'file')} failed.")
            raise CommandError(
                f"{_count(len(failed), 'file')} failed to import; see the errors above."
            )
        self.stdout.write(self.style.SUCCESS(f"{summary}."))

    def _error(self, path, message: str) -> None:
        self.stderr.write(f"{path}: {message}", style_func=_plain)
