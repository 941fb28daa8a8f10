"""Import Cortex workflow descriptors (YAML or JSON) into a workspace.

    python manage.py import_workflows demo/workflows/*.yaml --workspace demo

One descriptor per file. Each file is checked whole before anything is saved:
a bad file saves nothing and gets one line per problem on stderr,
`FILE: actions[create-entity].schema.url: is required`; the other files still
import. Workflows are upserted by tag, and a file whose descriptor equals the
current version changes nothing. The command fails (exit status 1) when any file
failed.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from portal.models import Workspace
from workflows.descriptor import DescriptorError, parse, validate
from workflows.models import Workflow
from workflows.services import workflow_upsert

SUFFIXES = (".yaml", ".yml", ".json")


def _plain(text: str) -> str:
    return text


def _count(count: int, word: str) -> str:
    return f"{count} {word if count == 1 else word + 's'}"


class Command(BaseCommand):
    help = (
        "Import workflow descriptors from YAML or JSON files (or directories of "
        "them) into a workspace, creating or updating workflows by tag."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "paths",
            nargs="+",
            metavar="FILE",
            help="Descriptor files; a directory imports its *.yaml, *.yml and *.json files",
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
                found = sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES)
                if not found:
                    self._error(raw, "no .yaml, .yml or .json files in this directory")
                    failed.append(raw)
                files.extend(found)
            else:
                files.append(path)

        counts = {"created": 0, "updated": 0, "unchanged": 0}
        imported_from: dict[str, Path] = {}
        for path in files:
            try:
                text = path.read_bytes()
            except FileNotFoundError:
                self._error(path, "no such file")
                failed.append(path)
                continue
            except OSError as exc:
                self._error(path, f"can't be read: {exc}")
                failed.append(path)
                continue
            try:
                descriptor = validate(parse(text))
            except DescriptorError as exc:
                for problem in exc.errors:
                    self._error(path, problem)
                failed.append(path)
                continue
            tag = descriptor["tag"]
            if tag in imported_from:
                self._error(
                    path, f"tag: {tag!r} is already imported from {imported_from[tag]}"
                )
                failed.append(path)
                continue
            before = (
                Workflow.objects.filter(workspace=ws, tag=tag)
                .values_list("current_version_id", flat=True)
                .first()
            )
            try:
                workflow, created = workflow_upsert(workspace=ws, descriptor=descriptor)
            except DatabaseError as exc:
                self._error(path, f"could not be saved: {exc}")
                failed.append(path)
                continue
            imported_from[tag] = path
            if created:
                outcome = "created"
            elif workflow.current_version_id == before:
                outcome = "unchanged"
            else:
                outcome = "updated"
            counts[outcome] += 1
            if options["verbosity"] >= 2:
                number = workflow.current_version.number
                self.stdout.write(f"{path}: {tag} {outcome} (version {number})")

        summary = (
            f"Imported {_count(sum(counts.values()), 'workflow')} "
            f"({counts['created']} created, {counts['updated']} updated, "
            f"{counts['unchanged']} unchanged) into workspace {ws.slug}"
        )
        if failed:
            self.stdout.write(f"{summary}; {_count(len(failed), 'file')} failed.")
            raise CommandError(
                f"{_count(len(failed), 'file')} failed to import; see the errors above."
            )
        self.stdout.write(self.style.SUCCESS(f"{summary}."))

    def _error(self, path, message: str) -> None:
        self.stderr.write(f"{path}: {message}", style_func=_plain)
