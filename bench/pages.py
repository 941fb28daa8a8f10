"""Server time and query counts of the workflow pages on a big workspace.

    .venv/bin/python bench/pages.py [--repeat 30] [--reuse]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cairn_bench_pages \
        .venv/bin/python bench/pages.py

Fills a fresh database (CAIRN_VAR_DIR, default /tmp/cairn-bench-pages, for
SQLite; the database DATABASE_URL names, emptied first, for PostgreSQL) with
10,000 entities, 200 workflows and 100,000 runs (bulk_create), then requests
each page with Django's test Client, logged in as a member with the User role,
and prints p50/p95 of the time from request to response (the whole server side:
middleware, views, templates), the p50 of this process's CPU time (on SQLite
nearly all the work; it does not grow when other processes load the machine)
and the number of queries per page. `--reuse`
keeps the data of a previous run. The Run indexes this benchmark argued for
are in migration workflows/0002.
"""

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ENTITIES = 10_000
WORKFLOWS = 200
RUNS = 100_000
MEMBERS = 50
BATCH = 5_000

DESCRIPTOR_ACTIONS = [
    {
        "name": "Collect",
        "slug": "collect",
        "isRootAction": True,
        "outgoingActions": ["approve"],
        "schema": {
            "type": "USER_INPUT",
            "inputs": [
                {
                    "name": "Reason",
                    "key": "reason",
                    "type": "INPUT_FIELD",
                    "required": True,
                },
                {
                    "name": "Size",
                    "key": "size",
                    "type": "NUMBER_FIELD",
                    "required": False,
                },
            ],
            "inputOverrides": [],
        },
    },
    {
        "name": "Approve",
        "slug": "approve",
        "isRootAction": False,
        "outgoingActions": ["shape"],
        "schema": {"type": "MANUAL_APPROVAL", "approvingTeamIds": ["team-0"]},
    },
    {
        "name": "Shape",
        "slug": "shape",
        "isRootAction": False,
        "outgoingActions": ["call"],
        "schema": {"type": "JQ", "expression": "{n: 1}"},
    },
    {
        "name": "Call",
        "slug": "call",
        "isRootAction": False,
        "outgoingActions": [],
        "schema": {
            "type": "HTTP_REQUEST",
            "httpMethod": "POST",
            "url": "https://example.com/hook",
            "headers": {},
        },
    },
]


def setup_environment(args) -> Path:
    var = Path(os.environ.setdefault("CAIRN_VAR_DIR", "/tmp/cairn-bench-pages"))
    if not os.environ.get("DATABASE_URL") and not args.reuse:
        shutil.rmtree(var, ignore_errors=True)
    var.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        HTTPS="false",
        DEBUG="false",
        ALLOWED_HOSTS="testserver,127.0.0.1,localhost",
        LOG_LEVEL="WARNING",
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], check=True, cwd=ROOT)
    if os.environ.get("DATABASE_URL") and not args.reuse:
        subprocess.run([*manage, "flush", "--no-input", "-v0"], check=True, cwd=ROOT)
    # {% static %} reads the manifest that collectstatic writes:
    subprocess.run(
        [*manage, "collectstatic", "--no-input", "-v0"], check=True, cwd=ROOT
    )
    return var


def fill() -> None:
    from django.db import transaction
    from django.utils import timezone

    from catalog.models import Entity, EntityType, Group, Team
    from portal.models import Membership, User, Workspace
    from workflows.models import Notification, Run, Step, Workflow, WorkflowVersion

    rng = random.Random(4)
    now = timezone.now()
    print(f"Filling: {ENTITIES} entities, {WORKFLOWS} workflows, {RUNS} runs…")
    started = time.perf_counter()
    with transaction.atomic():
        ws = Workspace.objects.create(slug="bench", name="Bench")
        roles = ws.ensure_builtin_roles()
        users = User.objects.bulk_create(
            User(email=f"member{i}@example.com", first_name=f"Member {i}")
            for i in range(MEMBERS)
        )
        bench_user = users[0]
        bench_user.set_password("bench")
        bench_user.save()
        memberships = Membership.objects.bulk_create(
            Membership(workspace=ws, user=u) for u in users
        )
        through = Membership.roles.through
        through.objects.bulk_create(
            through(membership=m, role=roles["User"]) for m in memberships
        )
        types = EntityType.objects.bulk_create(
            EntityType(workspace=ws, tag=t, name=t.title())
            for t in ("service", "library", "environment", "team-site", "job")
        )
        groups = Group.objects.bulk_create(
            Group(workspace=ws, tag=f"group-{i}") for i in range(10)
        )
        teams = Team.objects.bulk_create(
            Team(workspace=ws, tag=f"team-{i}", name=f"Team {i}") for i in range(20)
        )
        Team.members.through.objects.bulk_create(
            Team.members.through(team=teams[i], user=users[(i * 7 + j) % MEMBERS])
            for i in range(20)
            for j in range(5)
        )
        Team.members.through.objects.get_or_create(team=teams[0], user=bench_user)
        entities = Entity.objects.bulk_create(
            (
                Entity(
                    workspace=ws,
                    tag=f"entity-{i:05}",
                    name=f"Entity {i:05}",
                    type=types[i % len(types)],
                    description="A thing in the catalog. " * 5,
                    descriptor={
                        "x-cortex-tag": f"entity-{i:05}",
                        "x-cortex-type": "service",
                    },
                )
                for i in range(ENTITIES)
            ),
            batch_size=BATCH,
        )
        Entity.owner_teams.through.objects.bulk_create(
            (
                Entity.owner_teams.through(entity=e, team=teams[i % len(teams)])
                for i, e in enumerate(entities)
            ),
            batch_size=BATCH,
        )
        Entity.groups.through.objects.bulk_create(
            (
                Entity.groups.through(entity=e, group=groups[i % len(groups)])
                for i, e in enumerate(entities)
            ),
            batch_size=BATCH,
        )
        Entity.owner_users.through.objects.bulk_create(
            Entity.owner_users.through(entity=e, user=bench_user)
            for e in entities[:: ENTITIES // 50]
        )

        descriptors = []
        for i in range(WORKFLOWS):
            entity_scoped = i % 2 == 1
            flt = {"type": "GLOBAL"}
            if entity_scoped:
                flt = {
                    "type": "ENTITY",
                    "ownershipScope": "OWNER" if i % 10 == 1 else "ALL",
                    "entityFilter": {"typeFilter": {"types": [types[i % 3].tag]}},
                }
                if i % 7 == 0:
                    flt["entityFilter"]["entityGroupFilter"] = {
                        "entityGroups": ["group-1", "group-2"],
                        "excludedEntityGroups": ["group-3"],
                    }
            descriptors.append(
                {
                    "tag": f"wf-{i:03}",
                    "name": f"Workflow {i:03}",
                    "description": "Does something useful for the team. " * 3,
                    "isDraft": i % 25 == 0,
                    "isRunnableViaApi": i % 3 == 0,
                    "filter": flt,
                    "runRestrictionPolicies": [],
                    "restrictActionCompletionToRunnerUser": False,
                    "variables": [],
                    "runResponseTemplate": "## Done\n\n{{actions.shape.outputs.result}}",
                    "actions": DESCRIPTOR_ACTIONS,
                }
            )
        workflows = Workflow.objects.bulk_create(
            Workflow(
                workspace=ws,
                tag=d["tag"],
                name=d["name"],
                description=d["description"],
                is_draft=d["isDraft"],
                is_runnable_via_api=d["isRunnableViaApi"],
                scope=d["filter"]["type"],
            )
            for d in descriptors
        )
        versions = WorkflowVersion.objects.bulk_create(
            WorkflowVersion(workflow=w, number=1, descriptor=d)
            for w, d in zip(workflows, descriptors, strict=True)
        )
        for w, v in zip(workflows, versions, strict=True):
            w.current_version = v
        Workflow.objects.bulk_update(workflows, ["current_version"])

        statuses = (
            [Run.Status.COMPLETED] * 70
            + [Run.Status.FAILED] * 20
            + [Run.Status.CANCELLED] * 6
            + [Run.Status.PAUSED] * 2
            + [Run.Status.IN_PROGRESS, Run.Status.QUEUED]
        )
        state = {
            "context": {"initiatedBy": {"name": "Member", "email": "m@example.com"}},
            "actions": {"shape": {"inputs": {}, "outputs": {"result": {"n": 1}}}},
            "variables": {},
        }
        paused = []
        for start in range(0, RUNS, BATCH):
            batch = []
            for i in range(start, min(start + BATCH, RUNS)):
                k = rng.randrange(WORKFLOWS)
                wf, version = workflows[k], versions[k]
                status = rng.choice(statuses)
                created = now - timedelta(seconds=(RUNS - i) * 26)  # ~30 days
                batch.append(
                    Run(
                        workspace=ws,
                        workflow=wf,
                        version=version,
                        status=status,
                        entity=entities[rng.randrange(ENTITIES)]
                        if wf.scope == "ENTITY"
                        else None,
                        initiator=users[rng.randrange(MEMBERS)],
                        source=Run.Source.API if i % 5 == 0 else Run.Source.UI,
                        state=state,
                        cursor={"pending": [], "joins": []},
                        response="## Done" if status == Run.Status.COMPLETED else "",
                        created_at=created,
                        queued_at=created,
                        started_at=created,
                        finished_at=None
                        if status
                        in (
                            Run.Status.PAUSED,
                            Run.Status.IN_PROGRESS,
                            Run.Status.QUEUED,
                        )
                        else created + timedelta(seconds=5),
                    )
                )
            created_runs = Run.objects.bulk_create(batch)
            paused += [r for r in created_runs if r.status == Run.Status.PAUSED]
        steps = []
        for n, run in enumerate(paused):
            kind = "MANUAL_APPROVAL" if n % 2 else "USER_INPUT"
            steps.append(
                Step(
                    run=run,
                    slug="approve" if n % 2 else "collect",
                    name="Approve" if n % 2 else "Collect",
                    type=kind,
                    status=Step.Status.WAITING,
                    waiting_for=kind,
                    inputs={"approvingTeamIds": [f"team-{n % 20}"]} if n % 2 else {},
                )
            )
        Step.objects.bulk_create(steps, batch_size=BATCH)
        Notification.objects.bulk_create(
            Notification(
                workspace=ws,
                user=bench_user,
                kind="RUN_COMPLETED",
                message=f"Workflow {i % 200:03} succeeded",
                read_at=None if i % 3 else now,
            )
            for i in range(1000)
        )
    print(
        f"Filled in {time.perf_counter() - started:.0f}s "
        f"({len(paused)} paused runs with a waiting step)."
    )


def measure(client, url: str, repeat: int) -> tuple[float, float, float, int, int]:
    """(p50 ms, p95 ms, p50 CPU ms of this process, queries, response bytes)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):  # warm caches, templates, connections
        assert client.get(url).status_code == 200, url
    times, cpu = [], []
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as ctx:
            started, started_cpu = time.perf_counter(), time.process_time()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
        assert response.status_code == 200, url
    times.sort()
    p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
    return (
        statistics.median(times),
        p95,
        statistics.median(cpu),
        len(ctx.captured_queries),
        len(response.content),
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--reuse", action="store_true", help="keep existing data")
    args = parser.parse_args()
    setup_environment(args)

    import django

    django.setup()
    from django.db import connection
    from django.test import Client

    from portal.models import User, Workspace
    from workflows.models import Run

    if not (args.reuse and Workspace.objects.filter(slug="bench").exists()):
        fill()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # fresh statistics for the planner
    user = User.objects.get(email="member0@example.com")
    client = Client()
    client.force_login(user)
    entity_tag = "entity-00001"  # a service
    run = Run.objects.filter(workspace__slug="bench", status="COMPLETED").first()
    pages = [
        ("Workflows page", "/workflows/"),
        ("Workflows page, search", "/workflows/?q=wf-01"),
        ("Runs tab", "/workflows/runs/"),
        ("Runs tab, page 200", "/workflows/runs/?page=200"),
        ("Runs tab, status=FAILED", "/workflows/runs/?status=FAILED"),
        ("Runs tab, status=PAUSED", "/workflows/runs/?status=PAUSED"),
        ("Runs tab, workflow=wf-017", "/workflows/runs/?workflow=wf-017"),
        (
            "Runs tab, workflow+status",
            "/workflows/runs/?workflow=wf-017&status=COMPLETED",
        ),
        ("Runs tab, entity", f"/workflows/runs/?entity={entity_tag}"),
        ("Runs tab, initiator", "/workflows/runs/?initiator=member3%40example.com"),
        ("Runs tab, htmx poll", "/workflows/runs/"),
        ("Entity page", f"/catalog/{entity_tag}/"),
        ("Entity Workflows section", f"/catalog/{entity_tag}/workflows/"),
        ("Select an entity (wf-001)", "/workflows/wf-001/run/"),
        ("Workflow page (wf-017)", "/workflows/wf-017/"),
        ("Run page", f"/workflows/runs/{run.pk}/"),
    ]
    vendor = connection.vendor
    print(
        f"\n{vendor}: {RUNS} runs, {ENTITIES} "
        f"entities, {WORKFLOWS} workflows; {args.repeat} requests each, logged in "
        f"as a User; load average {os.getloadavg()[0]:.1f}\n"
    )
    print(
        f"{'Page':<32} {'p50 ms':>7} {'p95 ms':>7} {'cpu ms':>7} {'queries':>7} {'KB':>5}"
    )
    print("-" * 70)
    for name, url in pages:
        if "htmx" in name:
            htmx = Client(headers={"HX-Request": "true"})
            htmx.force_login(user)
            p50, p95, cpu, queries, size = measure(htmx, url, args.repeat)
        else:
            p50, p95, cpu, queries, size = measure(client, url, args.repeat)
        flag = "" if p95 < 100 else "  <- over 100 ms"
        print(
            f"{name:<32} {p50:>7.1f} {p95:>7.1f} {cpu:>7.1f} {queries:>7} "
            f"{size / 1024:>5.0f}{flag}"
        )


if __name__ == "__main__":
    main()
