"""What import_catalog and import_workflows share: files in, one transaction per
file, an error line per problem, a summary, and a failing exit status when any
file failed."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from .models import Workspace


class FileRefused(Exception):
    """A file that imports nothing; each message becomes one `FILE: message` line."""

    def __init__(self, *messages: str):
        self.messages = messages


def plural(count: int, word: str, many: str = "") -> str:
    return f"{count} {word if count == 1 else many or word + 's'}"


class FileImportCommand(BaseCommand):
    """Subclasses set `suffixes` and implement import_file() and summary()."""

    suffixes: tuple[str, ...] = ()

    def add_arguments(self, parser):
        kinds = ", ".join(f"*{s}" for s in self.suffixes)
        parser.add_argument(
            "paths",
            nargs="+",
            metavar="FILE",
            help=f"Descriptor files; a directory imports its {kinds} files",
        )
        parser.add_argument(
            "--workspace", default="demo", help="Workspace slug (default: demo)"
        )

    def import_file(self, workspace: Workspace, path: Path, data: bytes) -> str:
        """Import one file; return a line for -v 2, or raise FileRefused."""
        raise NotImplementedError

    def summary(self, workspace: Workspace) -> str:
        raise NotImplementedError

    def handle(self, *args, paths, workspace, **options):
        ws = Workspace.objects.filter(slug=workspace).first()
        if ws is None:
            valid = ", ".join(
                Workspace.objects.order_by("slug").values_list("slug", flat=True)
            )
            raise CommandError(
                f"No workspace {workspace!r}. Workspaces: {valid or 'none (run seed_demo?)'}."
            )
        failed = []
        for path, problem in self._files(paths):
            try:
                if problem:
                    raise FileRefused(problem)
                line = self.import_file(ws, path, self._read(path))
            except FileRefused as exc:
                for message in exc.messages:
                    self.stderr.write(f"{path}: {message}", style_func=str)
                failed.append(path)
                continue
            if options["verbosity"] >= 2 and line:
                self.stdout.write(line)
        summary = self.summary(ws)
        if failed:
            self.stdout.write(f"{summary}; {plural(len(failed), 'file')} failed.")
            raise CommandError(
                f"{plural(len(failed), 'file')} failed to import; see the errors above."
            )
        self.stdout.write(self.style.SUCCESS(f"{summary}."))

    def _files(self, paths):
        """(path, problem) for each file named or found in a named directory."""
        kinds = ", ".join(self.suffixes[:-1]) + f" or {self.suffixes[-1]}"
        for raw in paths:
            path = Path(raw)
            if not path.is_dir():
                yield path, None
                continue
            found = sorted(p for p in path.rglob("*") if p.suffix in self.suffixes)
            if not found:
                yield path, f"no {kinds} files in this directory"
            for item in found:
                yield item, None

    @staticmethod
    def _read(path: Path) -> bytes:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise FileRefused("no such file") from None
        except OSError as exc:
            raise FileRefused(f"can't be read: {exc}") from None

    @staticmethod
    def saved(save):
        """Run save(); a database error refuses the file instead of crashing the import."""
        try:
            return save()
        except DatabaseError as exc:
            raise FileRefused(f"could not be saved: {exc}") from None
