"""Create a workspace API key and print it, for scripts and CI:

    KEY=$(python manage.py create_api_key --workspace demo --role admin --name ci)

Only the key goes to stdout; the note about it goes to stderr.
"""

from django.core.management.base import BaseCommand, CommandError

from portal.models import ApiKey, Role, Workspace
from portal.services import api_key_create


def _plain(text: str) -> str:
    return text


class Command(BaseCommand):
    help = (
        "Create a workspace API key with the given roles and print it on stdout. "
        "The key is shown only once: Cairn stores its hash."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--workspace", required=True, help="Workspace slug, e.g. demo"
        )
        parser.add_argument(
            "--role",
            action="append",
            required=True,
            dest="roles",
            metavar="ROLE",
            help="Role name, case-insensitive (Viewer, User, Manager, Admin or a custom "
            "role); repeat for several roles",
        )
        parser.add_argument(
            "--name", required=True, help="What the key is for, e.g. ci"
        )
        parser.add_argument("--description", default="")

    def handle(self, *args, workspace, roles, name, description, **options):
        ws = self._workspace(workspace)
        chosen = self._roles(ws, roles)
        name, description = name.strip(), description.strip()
        for option, value in (("name", name), ("description", description)):
            limit = ApiKey._meta.get_field(option).max_length
            if len(value) > limit:
                raise CommandError(f"--{option} must be at most {limit} characters.")
        if not name:
            raise CommandError("--name must not be empty.")
        key, raw = api_key_create(
            workspace=ws, name=name, roles=chosen, description=description
        )
        self.stdout.write(raw)
        if options["verbosity"] == 0:
            return
        self.stderr.write(
            f"Created API key {key.name!r} ({key.prefix}…) in workspace {ws.slug} "
            f"with roles {', '.join(r.name for r in chosen)}. "
            "Store it now: it can't be shown again.",
            style_func=_plain,
        )

    def _workspace(self, slug: str) -> Workspace:
        ws = Workspace.objects.filter(slug=slug).first()
        if ws is None:
            valid = ", ".join(
                Workspace.objects.order_by("slug").values_list("slug", flat=True)
            )
            raise CommandError(
                f"No workspace {slug!r}. Workspaces: {valid or 'none (run seed_demo?)'}."
            )
        return ws

    def _roles(self, ws: Workspace, names: list[str]) -> list[Role]:
        by_name = {role.name.lower(): role for role in ws.roles.all()}
        chosen: dict[int, Role] = {}
        for wanted in names:
            role = by_name.get(wanted.strip().lower())
            if role is None:
                valid = ", ".join(r.name for r in by_name.values())
                raise CommandError(
                    f"No role {wanted!r} in workspace {ws.slug}. "
                    f"Roles: {valid or 'none'}."
                )
            chosen[role.pk] = role
        return list(chosen.values())
