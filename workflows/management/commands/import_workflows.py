"""Import Cortex workflow descriptors (YAML or JSON) into a workspace.

    python manage.py import_workflows demo/workflows/*.yaml --workspace demo

One descriptor per file. Each file is checked whole before anything is saved:
a bad file saves nothing and gets one line per problem on stderr,
`FILE: actions['create-entity'].schema.url: is required`; the other files still
import. Workflows are upserted by tag, and a file whose descriptor equals the
current version changes nothing. The command fails (exit status 1) when any file
failed.
"""

from portal.importing import FileImportCommand, FileRefused, plural
from workflows.descriptor import DescriptorError, parse, validate
from workflows.models import Workflow
from workflows.services import workflow_upsert


class Command(FileImportCommand):
    help = (
        "Import workflow descriptors from YAML or JSON files (or directories of "
        "them) into a workspace, creating or updating workflows by tag."
    )
    suffixes = (".yaml", ".yml", ".json")

    def handle(self, *args, **options):
        self.counts = {"created": 0, "updated": 0, "unchanged": 0}
        self.imported_from = {}
        super().handle(*args, **options)

    def import_file(self, workspace, path, data):
        try:
            descriptor = validate(parse(data))
        except DescriptorError as exc:
            raise FileRefused(*exc.errors) from None
        tag = descriptor["tag"]
        if tag in self.imported_from:
            raise FileRefused(
                f"tag: {tag!r} is already imported from {self.imported_from[tag]}"
            )
        before = (
            Workflow.objects.filter(workspace=workspace, tag=tag)
            .values_list("current_version_id", flat=True)
            .first()
        )
        workflow, created = self.saved(
            lambda: workflow_upsert(workspace=workspace, descriptor=descriptor)
        )
        self.imported_from[tag] = path
        if created:
            outcome = "created"
        elif workflow.current_version_id == before:
            outcome = "unchanged"
        else:
            outcome = "updated"
        self.counts[outcome] += 1
        return f"{path}: {tag} {outcome} (version {workflow.current_version.number})"

    def summary(self, workspace):
        c = self.counts
        return (
            f"Imported {plural(sum(c.values()), 'workflow')} ({c['created']} created, "
            f"{c['updated']} updated, {c['unchanged']} unchanged) into workspace {workspace.slug}"
        )
