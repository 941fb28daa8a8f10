"""Import Cortex entity descriptors (x-cortex-* YAML) into a workspace's catalog.

    python manage.py import_catalog services/*.yaml --workspace demo

Each file is all or nothing: a file with one bad document imports nothing and
gets an error line `FILE: field: message` on stderr; the other files still
import. Entities are upserted by tag, so importing again updates them. The
command fails (exit status 1) when any file failed.
"""

from catalog.descriptors import DescriptorError, parse_entity_file
from catalog.models import Entity
from catalog.services import entities_upsert
from portal.importing import FileImportCommand, FileRefused, plural


class Command(FileImportCommand):
    help = (
        "Import entity descriptors from YAML files (or directories of them) into a "
        "workspace's catalog, creating or updating entities by tag."
    )
    suffixes = (".yaml", ".yml")

    def handle(self, *args, **options):
        self.created = self.updated = self.files = 0
        super().handle(*args, **options)

    def import_file(self, workspace, path, data):
        try:
            specs = parse_entity_file(data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise FileRefused(f"can't be read: {exc}") from None
        except DescriptorError as exc:
            raise FileRefused(str(exc)) from None
        tags = [spec.tag for spec in specs]
        existing = set(
            Entity.objects.filter(workspace=workspace, tag__in=tags).values_list(
                "tag", flat=True
            )
        )
        self.saved(lambda: entities_upsert(workspace=workspace, specs=specs))
        self.files += 1
        self.updated += len(existing)
        self.created += len(set(tags) - existing)
        return f"{path}: {', '.join(tags)}"

    def summary(self, workspace):
        return (
            f"Imported {plural(self.created + self.updated, 'entity', 'entities')} "
            f"({self.created} created, {self.updated} updated) from "
            f"{plural(self.files, 'file')} into workspace {workspace.slug}"
        )
