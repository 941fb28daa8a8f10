"""Load the demo workspaces `demo` and `acme`, once: what people changed since
stays as they left it (`--refresh` loads the demo files over it again)."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from catalog.descriptors import parse_entity_file
from catalog.models import Team
from catalog.services import entities_upsert
from portal.models import Membership, User, Workspace
from workflows.descriptor import parse, validate
from workflows.models import OutboundAllowlistEntry
from workflows.services import workflow_upsert

DEMO_DIR = Path(settings.BASE_DIR) / "demo"
DEMO_BASE_URL = "http://127.0.0.1:8000"
PASSWORD = "demo"

# email -> (name, {workspace slug: role names})
PEOPLE = {
    "ada@example.com": ("Ada Lovelace", {"demo": ["Admin"], "acme": ["Admin"]}),
    "grace@example.com": ("Grace Hopper", {"demo": ["User"], "acme": ["User"]}),
    "linus@example.com": ("Linus Torvalds", {"demo": ["User"]}),
    "vera@example.com": ("Vera Rubin", {"demo": ["Viewer"]}),
}
TEAMS = {
    "demo": {
        "platform": (
            "Platform",
            ["linus@example.com"],
            "Approvers for production changes",
        ),
        "payments": ("Payments", ["grace@example.com"], ""),
        "frontend": ("Frontend", ["grace@example.com"], ""),
    },
    "acme": {"launch": ("Launch", ["grace@example.com"], "")},
}


class Command(BaseCommand):
    help = (
        "Create the demo workspaces, people, teams, catalog and workflows, unless"
        " they exist already (--refresh loads them again over what is there)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--refresh",
            action="store_true",
            help="Load the demo files again: demo workflows, entities, teams and"
            " roles go back to the files' version.",
        )

    @transaction.atomic
    def handle(self, *args, refresh=False, **options):
        # bin/run calls this at every start: a workflow someone edited (or
        # imported under a demo tag) must not go back to the demo's version.
        if not refresh and Workspace.objects.filter(slug="demo").exists():
            self.stdout.write(
                "Demo workspaces exist already; left as they are"
                " (seed_demo --refresh loads the demo files again)."
            )
            return
        workspaces = {
            "demo": Workspace.objects.update_or_create(
                slug="demo", defaults={"name": "Demo"}
            )[0],
            "acme": Workspace.objects.update_or_create(
                slug="acme", defaults={"name": "ACME"}
            )[0],
        }
        roles = {slug: ws.ensure_builtin_roles() for slug, ws in workspaces.items()}
        users = {}
        for email, (name, memberships) in PEOPLE.items():
            first, last = name.split(" ", 1)
            user = User.objects.filter(email=email).first()
            if user is None:
                user = User.objects.create_user(
                    email, PASSWORD, first_name=first, last_name=last
                )
            users[email] = user
            for slug, role_names in memberships.items():
                membership, _ = Membership.objects.get_or_create(
                    workspace=workspaces[slug], user=user
                )
                membership.roles.set([roles[slug][r] for r in role_names])
        for slug, teams in TEAMS.items():
            for tag, (name, members, description) in teams.items():
                team, _ = Team.objects.update_or_create(
                    workspace=workspaces[slug],
                    tag=tag,
                    defaults={"name": name, "description": description},
                )
                team.members.set([users[e] for e in members])
        for slug, workspace in workspaces.items():
            specs = []
            for path in sorted((DEMO_DIR / "catalog" / slug).glob("*.yaml")):
                specs.extend(parse_entity_file(path.read_text()))
            entities_upsert(workspace=workspace, specs=specs)
        # The demo workflows call the portal itself (its /health/ page), which
        # outbound rules refuse unless the workspace allows loopback:
        OutboundAllowlistEntry.objects.get_or_create(
            workspace=workspaces["demo"], host="127.0.0.1"
        )
        # Example workflows that together use every block type (unchanged files make
        # no new version, so running this again is harmless):
        # Two of them call this portal's /health/: at its own address (bin/run
        # sets BASE_URL from PORT), not the files' http://127.0.0.1:8000.
        for path in sorted((DEMO_DIR / "workflows").glob("*.yaml")):
            text = path.read_text().replace(
                DEMO_BASE_URL, settings.BASE_URL.rstrip("/")
            )
            workflow_upsert(
                workspace=workspaces["demo"],
                descriptor=validate(parse(text)),
                created_by=users["ada@example.com"],
            )
        self.stdout.write(self.style.SUCCESS("Demo workspaces ready: demo, acme."))
