import hashlib
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from portal.models import ApiKey, Role
from tests.factories import EntityFactory


def create_api_key(*args: str) -> tuple[str, str]:
    """Run create_api_key; returns (stdout, stderr)."""
    out, err = StringIO(), StringIO()
    call_command("create_api_key", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_api_key_prints_only_a_key_that_works_against_the_api(client, ws):
    EntityFactory(workspace=ws, tag="ledger")
    out, err = create_api_key("--workspace", "one", "--role", "admin", "--name", "ci")
    raw = out.strip()
    assert out == raw + "\n"
    assert raw.startswith("cairn_") and " " not in raw
    assert "can't be shown again" in err and raw not in err
    r = client.get("/api/v1/catalog", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert r.status_code == 200
    assert [e["tag"] for e in r.json()["entities"]] == ["ledger"]


def test_create_api_key_stores_only_the_hash_and_a_visible_prefix(ws):
    out, err = create_api_key(
        "--workspace",
        "one",
        "--role",
        "Viewer",
        "--name",
        "ci",
        "--description",
        "CI deploys",
    )
    raw = out.strip()
    key = ApiKey.objects.get()
    assert key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw.startswith(key.prefix) and len(key.prefix) < len(raw)
    assert key.prefix in err
    assert (key.name, key.description, key.user) == ("ci", "CI deploys", None)
    # The raw key is in no column of any row of the key's table:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {ApiKey._meta.db_table}")
        cells = [str(cell) for row in cursor.fetchall() for cell in row]
    assert not any(raw in cell for cell in cells)


def test_create_api_key_matches_role_names_case_insensitively_including_custom_roles(
    ws,
):
    Role.objects.create(
        workspace=ws, name="Deployer", permissions=["EXECUTE_WORKFLOW_RUNS"]
    )
    create_api_key(
        "--workspace", "one", "--role", "USER", "--role", "deployer", "--name", "ci"
    )
    assert sorted(r.name for r in ApiKey.objects.get().roles.all()) == [
        "Deployer",
        "User",
    ]


def test_create_api_key_refuses_an_unknown_role_and_lists_the_workspaces_roles(ws):
    with pytest.raises(CommandError) as caught:
        create_api_key("--workspace", "one", "--role", "root", "--name", "ci")
    assert "No role 'root' in workspace one" in str(caught.value)
    assert "Admin, Manager, User, Viewer" in str(caught.value)
    assert not ApiKey.objects.exists()


def test_create_api_key_refuses_a_role_of_another_workspace(ws, other_ws):
    Role.objects.create(workspace=other_ws, name="Deployer")
    with pytest.raises(CommandError, match="No role 'deployer' in workspace one"):
        create_api_key("--workspace", "one", "--role", "deployer", "--name", "ci")


def test_create_api_key_refuses_an_unknown_workspace_and_lists_the_real_ones(
    ws, other_ws
):
    with pytest.raises(
        CommandError, match=r"No workspace 'demo'. Workspaces: one, two"
    ):
        create_api_key("--workspace", "demo", "--role", "admin", "--name", "ci")
    assert not ApiKey.objects.exists()


def test_create_api_key_needs_a_role(ws):
    with pytest.raises(CommandError, match="--role"):
        create_api_key("--workspace", "one", "--name", "ci")


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--name", "  ", "--name must not be empty"),
        ("--name", "x" * 101, "--name must be at most 100 characters"),
        ("--description", "x" * 301, "--description must be at most 300 characters"),
    ],
    ids=["blank-name", "long-name", "long-description"],
)
def test_create_api_key_refuses_a_blank_or_too_long_name(ws, option, value, message):
    options = {"--name": "ci", option: value}
    args = [part for pair in options.items() for part in pair]
    with pytest.raises(CommandError, match=message):
        create_api_key("--workspace", "one", "--role", "admin", *args)
    assert not ApiKey.objects.exists()


def test_create_api_key_prints_nothing_but_the_key_when_quiet(ws):
    out, err = create_api_key(
        "--workspace", "one", "--role", "admin", "--name", "ci", "--verbosity", "0"
    )
    assert out.strip().startswith("cairn_") and err == ""
