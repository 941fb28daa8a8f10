"""Cortex's own CLI (`cortexapps-cli` from PyPI, unchanged) against a live Cairn.

Each command runs `cortex …` in a subprocess with CORTEX_BASE_URL pointing at
pytest-django's live server and CORTEX_API_KEY holding a key made in the test.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from catalog.models import Entity, EntityType, Team
from portal.models import IpAllowlistEntry
from tests.factories import EntityFactory, UserFactory, api_key, member
from workflows import descriptor
from workflows.models import Run, Secret, Workflow
from workflows.secrets import decrypt

pytestmark = pytest.mark.e2e

CORTEX = shutil.which("cortex", path=str(Path(sys.executable).parent)) or "cortex"

HELLO = """\
tag: hello
name: Hello
description: Says hello to whoever the context names
isDraft: false
isRunnableViaApi: true
filter:
  type: GLOBAL
variables:
- slug: who
  type: STRING
  defaultValue: world
runResponseTemplate: Hello, {{variables.who}}
actions:
- name: Greet
  slug: greet
  isRootAction: true
  outgoingActions: []
  schema:
    type: JQ
    expression: '"Hello, " + .variables.who'
"""

RESTART = {
    "tag": "restart",
    "name": "Restart",
    "isRunnableViaApi": True,
    "filter": {
        "type": "ENTITY",
        "entityFilter": {"typeFilter": {"types": ["service"]}},
    },
    "actions": [
        {
            "name": "Note",
            "slug": "note",
            "isRootAction": True,
            "outgoingActions": [],
            "schema": {"type": "JQ", "expression": ".context.entity.tag"},
        }
    ],
}

LEDGER = """\
openapi: 3.0.1
info:
  title: Ledger
  description: Double-entry bookkeeping.
  x-cortex-tag: ledger
  x-cortex-type: service
  x-cortex-groups: [backend]
"""


@pytest.fixture
def cortex(live_server, tmp_path):
    """cortex(*args, key=raw) -> CompletedProcess of the real CLI."""

    def run(*args: str, key: str, check: bool = True):
        env = {
            **os.environ,
            "CORTEX_BASE_URL": live_server.url,
            "CORTEX_API_KEY": key,
            # No ~/.cortex/config: everything comes from the environment.
            "CORTEX_CONFIG": str(tmp_path / "no-config"),
            "HOME": str(tmp_path),
            "COLUMNS": "10000",  # rich must not wrap the JSON it prints
        }
        result = subprocess.run(
            [CORTEX, *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check:
            assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    return run


def as_json(result) -> dict:
    return json.loads(result.stdout)


def test_the_cortex_cli_manages_the_catalog(cortex, ws, tmp_path):
    _, key = api_key(ws, "Admin")
    (tmp_path / "ledger.yaml").write_text(LEDGER)

    cortex("catalog", "create", "-f", "ledger.yaml", key=key)
    entity = Entity.objects.get(workspace=ws, tag="ledger")
    assert (entity.name, entity.type.tag) == ("Ledger", "service")

    listed = as_json(cortex("catalog", "list", key=key))
    assert [e["tag"] for e in listed["entities"]] == ["ledger"]
    assert (
        as_json(cortex("catalog", "list", "-t", "service,library", key=key))["total"]
        == 1
    )
    assert as_json(cortex("catalog", "list", "-t", "library", key=key))["total"] == 0
    types = as_json(cortex("entity-types", "list", "--include-built-in", key=key))
    assert [d["type"] for d in types["definitions"]] == ["service"]

    details = as_json(cortex("catalog", "details", "-t", "ledger", key=key))
    assert (details["tag"], details["name"], details["groups"]) == (
        "ledger",
        "Ledger",
        ["backend"],
    )

    cortex("catalog", "delete", "-t", "ledger", key=key)
    assert not Entity.objects.filter(tag="ledger").exists()
    missing = cortex("catalog", "details", "-t", "ledger", key=key, check=False)
    assert missing.returncode != 0
    assert "could not find entity with tag: ledger" in missing.stdout


def test_the_cortex_cli_manages_groups_descriptors_entity_types_and_deletes_by_id(
    cortex, ws, tmp_path
):
    _, key = api_key(ws, "Admin")
    (tmp_path / "ledger.yaml").write_text(
        LEDGER + "  x-cortex-git: {github: {repository: acme/ledger}}\n"
    )
    cortex("catalog", "create", "-f", "ledger.yaml", key=key)
    other = EntityFactory(workspace=ws, tag="money")

    cortex("groups", "add", "-t", "ledger", "-g", "pci,tier-1", key=key)
    groups = as_json(cortex("groups", "get", "-t", "ledger", key=key))["groups"]
    assert [g["tag"] for g in groups] == ["backend", "pci", "tier-1"]
    cortex("groups", "delete", "-t", "ledger", "-g", "backend", key=key)
    groups = as_json(cortex("groups", "get", "-t", "ledger", key=key))["groups"]
    assert [g["tag"] for g in groups] == ["pci", "tier-1"]

    by_repo = as_json(cortex("catalog", "list", "-r", "acme/ledger", key=key))
    assert [e["tag"] for e in by_repo["entities"]] == ["ledger"]
    descriptors = as_json(cortex("catalog", "list-descriptors", key=key))
    assert {d["info"]["x-cortex-tag"] for d in descriptors["descriptors"]} == {
        "ledger",
        "money",
    }
    service = as_json(cortex("entity-types", "get", "-t", "service", key=key))
    assert service["type"] == "service"

    cortex("catalog", "delete-by-id", "-i", str(other.pk), key=key)
    assert list(Entity.objects.values_list("tag", flat=True)) == ["ledger"]


def test_the_cortex_cli_lists_and_gets_an_entitys_custom_data(cortex, ws, tmp_path):
    _, key = api_key(ws, "Viewer")
    data = {f"key-{n:03}": {"n": n} for n in range(260)}  # more than a page of 250
    EntityFactory(workspace=ws, tag="ledger", descriptor={"x-cortex-custom-data": data})

    listed = as_json(cortex("custom-data", "list", "-t", "ledger", key=key))
    assert [item["key"] for item in listed] == list(data)
    one = as_json(
        cortex("custom-data", "get", "-t", "ledger", "-k", "key-007", key=key)
    )
    assert (one["key"], one["value"], one["source"]) == ("key-007", {"n": 7}, "YAML")
    missing = cortex(
        "custom-data", "get", "-t", "ledger", "-k", "nope", key=key, check=False
    )
    assert missing.returncode != 0
    assert "Custom data not found for entity ledger and key nope" in missing.stdout


def test_the_cortex_cli_adds_deletes_and_bulk_sets_custom_data(cortex, ws, tmp_path):
    _, key = api_key(ws, "Admin")
    (tmp_path / "ledger.yaml").write_text(
        LEDGER + "  x-cortex-custom-metadata: {tier: 1}\n"
    )
    cortex("catalog", "create", "-f", "ledger.yaml", key=key)
    EntityFactory(workspace=ws, tag="money")

    def listed(tag="ledger"):
        items = as_json(cortex("custom-data", "list", "-t", tag, key=key))
        return {item["key"]: (item["value"], item["source"]) for item in items}

    added = as_json(
        cortex(
            "custom-data", "add", "-t", "ledger", "-k", "ci", "-v", "jenkins", key=key
        )
    )
    assert (added["key"], added["value"], added["source"]) == ("ci", "jenkins", "API")
    tier = ("custom-data", "add", "-t", "ledger", "-k", "tier", "-v", "3")
    refused = cortex(*tier, key=key, check=False)
    assert refused.returncode != 0 and "pass force=true" in refused.stdout
    cortex(*tier, "--force", key=key)
    assert listed() == {"ci": ("jenkins", "API"), "tier": ("3", "API")}

    (tmp_path / "bulk.json").write_text(
        json.dumps(
            {
                "values": {
                    "ledger": [{"key": "build", "value": {"ok": True}}],
                    "money": [{"key": "build", "value": 2}],
                }
            }
        )
    )
    cortex("custom-data", "bulk", "-f", "bulk.json", key=key)
    assert listed()["build"] == ({"ok": True}, "API")
    assert listed("money") == {"build": (2, "API")}

    cortex("custom-data", "delete", "-t", "ledger", "-k", "ci", key=key)
    assert "ci" not in listed()


def test_the_cortex_cli_creates_updates_and_deletes_entity_types(cortex, ws, tmp_path):
    _, key = api_key(ws, "Admin")
    queue = {"type": "queue", "name": "Queue", "schema": {"type": "object"}}
    (tmp_path / "queue.json").write_text(json.dumps(queue))
    cortex("entity-types", "create", "-f", "queue.json", key=key)
    got = as_json(cortex("entity-types", "get", "-t", "queue", key=key))
    assert (got["name"], got["schema"]) == ("Queue", {"type": "object"})

    (tmp_path / "queue.json").write_text(json.dumps({**queue, "name": "Message queue"}))
    cortex("entity-types", "update", "-t", "queue", "-f", "queue.json", key=key)
    assert EntityType.objects.get(workspace=ws, tag="queue").name == "Message queue"

    cortex("entity-types", "delete", "-t", "queue", key=key)
    assert not EntityType.objects.filter(workspace=ws, tag="queue").exists()


def test_the_cortex_cli_creates_lists_updates_and_deletes_teams(cortex, ws, tmp_path):
    _, key = api_key(ws, "Admin")
    grace = UserFactory(email="grace@example.com")
    member(ws, grace)
    cortex("teams", "create", "-t", "platform", "-n", "Platform", key=key)
    team = Team.objects.get(workspace=ws, tag="platform")
    got = as_json(cortex("teams", "get", "-t", "platform", key=key))
    assert (got["teamTag"], got["metadata"]["name"]) == ("platform", "Platform")

    cortex("teams", "update", "-t", "platform", "-d", "Runs the platform", key=key)
    got = as_json(cortex("teams", "get", "-t", "platform", key=key))
    got["cortexTeam"]["members"] = [{"email": "grace@example.com", "name": "Grace"}]
    (tmp_path / "team.json").write_text(json.dumps(got))
    cortex("teams", "update-members", "-t", "platform", "-f", "team.json", key=key)
    team.refresh_from_db()
    assert team.description == "Runs the platform"
    assert list(team.members.all()) == [grace]
    listed = as_json(cortex("teams", "list", key=key))
    assert [t["teamTag"] for t in listed["teams"]] == ["platform"]

    cortex("teams", "delete", "-t", "platform", key=key)
    assert not Team.objects.filter(workspace=ws).exists()


def test_the_cortex_cli_creates_lists_gets_and_deletes_workflows(cortex, ws, tmp_path):
    _, key = api_key(ws, "Admin")
    (tmp_path / "hello.yaml").write_text(HELLO)
    (tmp_path / "restart.json").write_text(json.dumps(RESTART))

    cortex("workflows", "create", "-f", "hello.yaml", key=key)
    cortex("workflows", "create", "-f", "restart.json", key=key)
    assert set(Workflow.objects.values_list("tag", flat=True)) == {"hello", "restart"}

    listed = as_json(cortex("workflows", "list", key=key))
    assert [w["tag"] for w in listed["workflows"]] == ["hello", "restart"]

    got = as_json(cortex("workflows", "get", "-t", "hello", key=key))
    assert got == Workflow.objects.get(tag="hello").descriptor
    as_yaml = cortex("workflows", "get", "-t", "hello", "--yaml", key=key).stdout
    assert descriptor.parse(as_yaml) == Workflow.objects.get(tag="hello").descriptor
    assert descriptor.parse(as_yaml)["name"] == yaml.safe_load(HELLO)["name"]

    # A changed file updates the workflow with the same tag:
    (tmp_path / "hello.yaml").write_text(HELLO.replace("name: Hello", "name: Hi"))
    cortex("workflows", "create", "-f", "hello.yaml", key=key)
    assert Workflow.objects.get(tag="hello").name == "Hi"

    cortex("workflows", "delete", "-t", "hello", key=key)
    assert not Workflow.objects.filter(tag="hello").exists()
    missing = cortex("workflows", "get", "-t", "hello", key=key, check=False)
    assert missing.returncode != 0
    assert "could not find workflow with id: hello" in missing.stdout


def test_a_bad_descriptor_is_reported_by_the_cli(cortex, ws, tmp_path):
    _, key = api_key(ws, "Admin")
    (tmp_path / "bad.yaml").write_text(HELLO.replace("  slug: greet\n", ""))
    result = cortex("workflows", "create", "-f", "bad.yaml", key=key, check=False)
    assert result.returncode != 0
    assert "HTTP Error 400" in result.stdout
    assert "actions[0].slug" in result.stdout


@pytest.mark.worker
def test_the_cortex_cli_runs_a_workflow_waits_for_it_and_gets_the_run(
    cortex, ws, ada, celery_worker_process, tmp_path
):
    _, key = api_key(ws, "Admin")
    (tmp_path / "hello.yaml").write_text(HELLO)
    (tmp_path / "restart.json").write_text(json.dumps(RESTART))
    (tmp_path / "ledger.yaml").write_text(LEDGER)
    for kind, path in (
        ("workflows", "hello.yaml"),
        ("workflows", "restart.json"),
        ("catalog", "ledger.yaml"),
    ):
        cortex(kind, "create", "-f", path, key=key)

    done = as_json(
        cortex(
            "workflows",
            "run",
            "-t",
            "hello",
            "--context",
            '{"who": "CLI"}',
            "--run-as",
            "ada@example.com",
            "--wait",
            "--timeout",
            "60",
            key=key,
        )
    )
    assert done["status"] == "COMPLETED", done
    assert done["response"] == "Hello, CLI"
    assert done["runAs"] == "ada@example.com"
    assert done["context"]["initialContext"] == {"who": "CLI"}
    assert [s["status"] for s in done["steps"]] == ["COMPLETED"]

    again = as_json(
        cortex("workflows", "get-run", "-t", "hello", "-r", done["id"], key=key)
    )
    assert (again["id"], again["status"]) == (done["id"], "COMPLETED")

    on_entity = as_json(
        cortex(
            "workflows",
            "run",
            "-t",
            "restart",
            "-s",
            "ENTITY",
            "-e",
            "ledger",
            "--run-as",
            "ada@example.com",
            "--wait",
            "--timeout",
            "60",
            key=key,
        )
    )
    assert on_entity["status"] == "COMPLETED", on_entity
    assert on_entity["scope"]["entityId"] == "ledger"
    assert on_entity["steps"][0]["outputs"] == {"result": "ledger"}

    # Without --wait the CLI prints the run as created:
    started = as_json(
        cortex(
            "workflows", "run", "-t", "hello", "--run-as", "ada@example.com", key=key
        )
    )
    assert started["status"] in ("IN_PROGRESS", "COMPLETED")

    # Without --run-as, as Cortex's own functional tests run workflows:
    unattended = as_json(
        cortex("workflows", "run", "-t", "hello", "--wait", "--timeout", "60", key=key)
    )
    assert unattended["status"] == "COMPLETED", unattended
    assert unattended["initiatedBy"] == {
        "type": "API_KEY",
        "name": "key",
        "email": None,
    }
    assert Run.objects.filter(source=Run.Source.API).count() == 4


def test_the_cli_shows_which_action_a_problem_is_in(cortex, ws, tmp_path):
    # Cortex's CLI prints errors with rich, which would take [greet] for markup.
    _, key = api_key(ws, "Admin")
    bad = HELLO.replace("    expression: '\"Hello, \" + .variables.who'\n", "")
    (tmp_path / "bad.yaml").write_text(bad)
    result = cortex("workflows", "create", "-f", "bad.yaml", key=key, check=False)
    assert result.returncode != 0
    assert "actions['greet'].schema.expression: is required" in result.stdout


def test_the_cortex_cli_manages_secrets_without_ever_printing_a_value(
    cortex, ws, tmp_path
):
    _, key = api_key(ws, "Admin")
    (tmp_path / "secret.json").write_text(
        json.dumps({"name": "Deploy token", "secret": "s3cr3t-CLI", "tag": "deploy"})
    )
    (tmp_path / "rotate.json").write_text(json.dumps({"secret": "r0tated-CLI"}))

    created = cortex("secrets", "create", "-f", "secret.json", key=key)
    listed = cortex("secrets", "list", key=key)
    got = cortex("secrets", "get", "-t", "deploy", key=key)
    cortex("secrets", "update", "-t", "deploy", "-f", "rotate.json", key=key)

    secret = Secret.objects.get(workspace=ws, tag="deploy")
    assert decrypt(secret.encrypted_value) == "r0tated-CLI"
    assert [s["tag"] for s in as_json(listed)["secrets"]] == ["deploy"]
    assert as_json(got) == {
        "id": str(secret.pk),
        "name": "Deploy token",
        "tag": "deploy",
    }
    for result in (created, listed, got):
        assert "s3cr3t" not in result.stdout

    cortex("secrets", "delete", "-t", "deploy", key=key)
    assert not Secret.objects.exists()


def test_the_cortex_cli_reads_validates_and_replaces_the_ip_allowlist(cortex, ws):
    _, key = api_key(ws, "Admin")

    checked = as_json(
        cortex("ip-allowlist", "validate", "-a", "10.1.2.3/8,nonsense", key=key)
    )
    assert [e["valid"] for e in checked["entries"]] == [True, False]

    cortex(
        "ip-allowlist", "replace", "-a", "127.0.0.1:this machine,10.0.0.0/8", key=key
    )
    assert as_json(cortex("ip-allowlist", "get", key=key))["entries"] == [
        {"address": "10.0.0.0/8", "description": None},
        {"address": "127.0.0.1", "description": "this machine"},
    ]

    refused = cortex(
        "ip-allowlist", "replace", "-a", "203.0.113.7", key=key, check=False
    )
    assert refused.returncode != 0
    assert "your own address (127.0.0.1)" in refused.stdout

    cortex("ip-allowlist", "remove-all", key=key)
    assert not IpAllowlistEntry.objects.exists()
