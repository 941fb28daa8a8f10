from io import StringIO
from textwrap import dedent

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Entity, EntityType, Group, Team
from tests.factories import EntityFactory, UserFactory, WorkspaceFactory

PAYMENTS = """\
openapi: 3.0.1
info:
  title: Payments API
  description: Takes card payments.
  x-cortex-tag: payments-api
  x-cortex-type: service
  x-cortex-groups: [backend, tier-1]
  x-cortex-owners:
    - {type: group, name: payments, provider: CORTEX}
    - {type: email, email: ada@example.com}
    - {type: email, email: nobody@example.com}
"""

MONEY = """\
openapi: 3.0.1
info:
  title: Money
  x-cortex-tag: money
  x-cortex-type: library
  x-cortex-groups: [backend]
"""

NO_TAG = """\
openapi: 3.0.1
info:
  title: Mystery
"""


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(dedent(text))
    return path


def run(*args, workspace="one"):
    """Run import_catalog; returns (stdout, stderr, the CommandError or None)."""
    out, err = StringIO(), StringIO()
    try:
        call_command(
            "import_catalog",
            *map(str, args),
            workspace=workspace,
            stdout=out,
            stderr=err,
        )
    except CommandError as exc:
        return out.getvalue(), err.getvalue(), exc
    return out.getvalue(), err.getvalue(), None


def test_import_catalog_creates_entities_with_types_groups_and_owners(
    tmp_path, ws, ada
):
    out, err, failure = run(
        write(tmp_path, "payments.yaml", PAYMENTS), write(tmp_path, "money.yml", MONEY)
    )
    assert failure is None and err == ""
    assert "Imported 2 entities (2 created, 0 updated) from 2 files" in out
    payments = Entity.objects.get(workspace=ws, tag="payments-api")
    assert payments.name == "Payments API"
    assert payments.description == "Takes card payments."
    assert payments.type.tag == "service"
    assert sorted(g.tag for g in payments.groups.all()) == ["backend", "tier-1"]
    assert [t.tag for t in payments.owner_teams.all()] == ["payments"]
    assert list(payments.owner_users.all()) == [ada]
    assert payments.descriptor["x-cortex-owners"][2] == {
        "type": "email",
        "email": "nobody@example.com",
    }
    assert Entity.objects.get(workspace=ws, tag="money").type.tag == "library"
    assert set(
        EntityType.objects.filter(workspace=ws).values_list("tag", flat=True)
    ) == {"service", "library"}
    assert Group.objects.filter(workspace=ws).count() == 2
    assert Team.objects.get(workspace=ws, tag="payments").name == "payments"


def test_import_catalog_links_owner_emails_only_to_members_of_the_workspace(
    tmp_path, ws, other_ws, ted
):
    text = PAYMENTS.replace("ada@example.com", "ted@example.com")
    out, err, failure = run(write(tmp_path, "payments.yaml", text))
    assert failure is None
    assert not Entity.objects.get(workspace=ws, tag="payments-api").owner_users.exists()


def test_import_catalog_a_second_time_updates_without_duplicating(tmp_path, ws, ada):
    path = write(tmp_path, "payments.yaml", PAYMENTS)
    run(path)
    path.write_text(
        PAYMENTS.replace("Payments API", "Payments").replace("tier-1", "tier-2")
    )
    out, err, failure = run(path)
    assert failure is None
    assert "(0 created, 1 updated)" in out
    entity = Entity.objects.get(workspace=ws, tag="payments-api")
    assert entity.name == "Payments"
    assert sorted(g.tag for g in entity.groups.all()) == ["backend", "tier-2"]
    assert Entity.objects.filter(workspace=ws).count() == 1
    assert Team.objects.filter(workspace=ws).count() == 1


def test_import_catalog_rejects_a_file_without_a_tag_and_imports_nothing_from_it(
    tmp_path, ws
):
    good = write(tmp_path, "payments.yaml", PAYMENTS)
    bad = write(tmp_path, "mystery.yaml", NO_TAG)
    also_good = write(tmp_path, "money.yaml", MONEY)
    out, err, failure = run(good, bad, also_good)
    assert err.strip() == f"{bad}: info.x-cortex-tag: is required"
    assert failure is not None and "1 file failed" in str(failure)
    assert "Imported 2 entities (2 created, 0 updated) from 2 files" in out
    assert "1 file failed" in out
    assert set(Entity.objects.filter(workspace=ws).values_list("tag", flat=True)) == {
        "payments-api",
        "money",
    }
    assert not Entity.objects.filter(name="Mystery").exists()


def test_import_catalog_imports_nothing_from_a_file_whose_second_document_is_bad(
    tmp_path, ws
):
    bad_owner = MONEY.replace(
        "x-cortex-groups: [backend]", "x-cortex-owners: [{type: email, email: nope}]"
    )
    path = write(tmp_path, "both.yaml", PAYMENTS + "---\n" + bad_owner)
    out, err, failure = run(path)
    assert failure is not None
    assert err.strip() == (
        f"{path}: document 2: info.x-cortex-owners[0].email: 'nope' is not an email address"
    )
    assert not Entity.objects.exists()
    assert not Team.objects.exists()
    assert not EntityType.objects.exists()


def test_import_catalog_names_a_missing_file_and_still_imports_the_others(tmp_path, ws):
    missing = tmp_path / "nope.yaml"
    out, err, failure = run(missing, write(tmp_path, "money.yaml", MONEY))
    assert err.strip() == f"{missing}: no such file"
    assert failure is not None
    assert Entity.objects.filter(workspace=ws, tag="money").exists()


def test_import_catalog_names_a_file_that_is_not_utf8(tmp_path, ws):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(MONEY.replace("Money", "Caf\xe9").encode("latin-1"))
    out, err, failure = run(path)
    assert err.startswith(f"{path}: can't be read")
    assert failure is not None
    assert not Entity.objects.exists()


def test_import_catalog_imports_every_yaml_file_of_a_directory(tmp_path, ws):
    write(tmp_path, "payments.yaml", PAYMENTS)
    write(tmp_path, "money.yml", MONEY)
    write(tmp_path, "README.md", "not a descriptor")
    out, err, failure = run(tmp_path)
    assert failure is None and err == ""
    assert Entity.objects.filter(workspace=ws).count() == 2


def test_import_catalog_imports_into_the_named_workspace_only(tmp_path, ws, other_ws):
    EntityFactory(workspace=ws, tag="money", name="Money of one")
    out, err, failure = run(write(tmp_path, "money.yaml", MONEY), workspace="two")
    assert failure is None
    assert Entity.objects.get(workspace=ws, tag="money").name == "Money of one"
    assert Entity.objects.get(workspace=other_ws, tag="money").name == "Money"


def test_import_catalog_uses_the_demo_workspace_by_default(tmp_path, db):
    demo = WorkspaceFactory(slug="demo")
    call_command(
        "import_catalog", str(write(tmp_path, "money.yaml", MONEY)), stdout=StringIO()
    )
    assert Entity.objects.filter(workspace=demo, tag="money").exists()


def test_import_catalog_refuses_an_unknown_workspace_and_lists_the_real_ones(
    tmp_path, ws, other_ws
):
    with pytest.raises(
        CommandError, match=r"No workspace 'nowhere'. Workspaces: one, two"
    ):
        call_command(
            "import_catalog",
            str(write(tmp_path, "money.yaml", MONEY)),
            workspace="nowhere",
        )
    assert not Entity.objects.exists()


def test_import_catalog_loads_the_demo_descriptors(ws, settings):
    UserFactory(email="ada@example.com")
    out, err, failure = run(settings.BASE_DIR / "demo" / "catalog" / "demo")
    assert failure is None and err == ""
    assert Entity.objects.filter(workspace=ws).count() >= 10
