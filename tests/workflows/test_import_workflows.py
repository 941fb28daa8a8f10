"""Saving workflows (workflow_upsert, workflow_delete) and the import_workflows command."""

import json
from io import StringIO
from textwrap import dedent
from unittest import mock

import pytest
from django.core.management import CommandError, call_command

from portal.models import Workspace
from workflows.descriptor import parse, validate
from workflows.models import Run, Workflow, WorkflowVersion
from workflows.services import (
    WorkflowChanged,
    workflow_delete,
    workflow_save,
    workflow_upsert,
)

HELLO = """\
tag: hello
name: Hello
description: Says hello.
isRunnableViaApi: true
filter:
  type: GLOBAL
actions:
  - name: Greet
    slug: greet
    isRootAction: true
    outgoingActions: []
    schema:
      type: JQ
      expression: '"hello"'
"""

ON_ENTITY = """\
tag: on-entity
name: On an entity
isDraft: true
filter:
  type: ENTITY
  entityFilter:
    typeFilter:
      types: [service]
actions:
  - name: Call
    slug: call
    isRootAction: true
    outgoingActions: []
    schema:
      type: HTTP_REQUEST
      httpMethod: GET
      url: http://example.com/
"""

BROKEN = """\
tag: broken
name: Broken
filter:
  type: GLOBAL
actions:
  - name: Call
    slug: call
    isRootAction: true
    outgoingActions: [nowhere]
    schema:
      type: HTTP_REQUEST
      httpMethod: GET
"""


def descriptor(text: str = HELLO, **changes) -> dict:
    data = parse(text)
    data.update(changes)
    return validate(data)


# workflow_upsert and workflow_delete


def test_upsert_creates_a_workflow_with_its_first_version(ws, ada):
    workflow, created = workflow_upsert(
        workspace=ws, descriptor=descriptor(), created_by=ada
    )
    assert created
    assert (workflow.tag, workflow.name, workflow.description) == (
        "hello",
        "Hello",
        "Says hello.",
    )
    assert workflow.is_runnable_via_api and not workflow.is_draft
    assert workflow.scope == Workflow.Scope.GLOBAL
    version = workflow.current_version
    assert (version.number, version.created_by) == (1, ada)
    assert version.descriptor == descriptor()


def test_upsert_copies_scope_and_draft_from_the_descriptor(ws):
    workflow, _ = workflow_upsert(workspace=ws, descriptor=descriptor(ON_ENTITY))
    assert workflow.scope == Workflow.Scope.ENTITY
    assert workflow.is_draft and not workflow.is_runnable_via_api
    assert workflow.description == ""


def test_upsert_of_a_changed_descriptor_makes_a_new_version_and_keeps_the_old(ws):
    first, _ = workflow_upsert(workspace=ws, descriptor=descriptor())
    second, created = workflow_upsert(
        workspace=ws, descriptor=descriptor(name="Hello again", isDraft=True)
    )
    assert not created
    assert second.pk == first.pk
    assert second.name == "Hello again" and second.is_draft
    assert list(second.versions.values_list("number", flat=True)) == [2, 1]
    assert second.current_version.number == 2
    old = WorkflowVersion.objects.get(workflow=second, number=1)
    assert old.descriptor == descriptor()


def test_upsert_of_the_same_descriptor_makes_no_new_version(ws):
    first, _ = workflow_upsert(workspace=ws, descriptor=descriptor())
    again, created = workflow_upsert(workspace=ws, descriptor=descriptor())
    assert not created
    assert again.current_version_id == first.current_version_id
    assert again.updated_at == first.updated_at
    assert WorkflowVersion.objects.count() == 1


def test_a_run_keeps_the_version_it_started_with(ws):
    workflow, _ = workflow_upsert(workspace=ws, descriptor=descriptor())
    run = Run.objects.create(
        workspace=ws, workflow=workflow, version=workflow.current_version
    )
    workflow_upsert(workspace=ws, descriptor=descriptor(name="Changed"))
    run.refresh_from_db()
    assert run.version.number == 1
    assert run.version.descriptor["name"] == "Hello"


def test_the_same_tag_in_two_workspaces_is_two_workflows(ws, other_ws):
    mine, created_mine = workflow_upsert(workspace=ws, descriptor=descriptor())
    theirs, created_theirs = workflow_upsert(
        workspace=other_ws, descriptor=descriptor(name="Theirs")
    )
    assert created_mine and created_theirs
    assert mine.pk != theirs.pk
    mine.refresh_from_db()
    assert mine.name == "Hello" and mine.current_version.number == 1
    assert theirs.current_version.number == 1


def test_delete_removes_the_workflow_with_its_versions_and_runs(ws):
    workflow, _ = workflow_upsert(workspace=ws, descriptor=descriptor())
    workflow_upsert(workspace=ws, descriptor=descriptor(name="Two"))
    Run.objects.create(
        workspace=ws, workflow=workflow, version=workflow.versions.last()
    )
    workflow_delete(workflow=workflow)
    assert not Workflow.objects.exists()
    assert not WorkflowVersion.objects.exists()
    assert not Run.objects.exists()


def test_deleting_a_workflow_with_running_runs_admits_queued_ones_at_once(ws, settings):
    from workflows import engine

    settings.MAX_CONCURRENT_RUNS = 1
    doomed, _ = workflow_upsert(workspace=ws, descriptor=descriptor())
    other, _ = workflow_upsert(workspace=ws, descriptor=descriptor(ON_ENTITY))
    running = Run.objects.create(
        workspace=ws,
        workflow=doomed,
        version=doomed.current_version,
        status=Run.Status.IN_PROGRESS,
    )
    waiting = Run.objects.create(
        workspace=ws,
        workflow=other,
        version=other.current_version,
        status=Run.Status.QUEUED,
        queued_at=running.created_at,
    )
    assert engine.admit(ws.pk) == {}  # the one slot is taken

    workflow_delete(workflow=doomed)

    waiting.refresh_from_db()
    assert waiting.status == Run.Status.IN_PROGRESS


def test_delete_leaves_other_workflows_alone(ws):
    doomed, _ = workflow_upsert(workspace=ws, descriptor=descriptor())
    kept, _ = workflow_upsert(workspace=ws, descriptor=descriptor(ON_ENTITY))
    workflow_delete(workflow=doomed)
    assert list(Workflow.objects.all()) == [kept]
    assert kept.versions.count() == 1


# import_workflows


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(dedent(text))
    return path


def run(*args, workspace="one", verbosity=1):
    """Run import_workflows; returns (stdout, stderr, the CommandError or None)."""
    out, err = StringIO(), StringIO()
    try:
        call_command(
            "import_workflows",
            *map(str, args),
            workspace=workspace,
            verbosity=verbosity,
            stdout=out,
            stderr=err,
        )
    except CommandError as exc:
        return out.getvalue(), err.getvalue(), exc
    return out.getvalue(), err.getvalue(), None


def test_import_workflows_creates_workflows_from_yaml_and_json(tmp_path, ws):
    as_json = write(tmp_path, "on-entity.json", json.dumps(parse(ON_ENTITY)))
    out, err, failure = run(write(tmp_path, "hello.yaml", HELLO), as_json)
    assert failure is None and err == ""
    assert (
        "Imported 2 workflows (2 created, 0 updated, 0 unchanged) into workspace one."
        in out
    )
    assert sorted(
        Workflow.objects.filter(workspace=ws).values_list("tag", flat=True)
    ) == [
        "hello",
        "on-entity",
    ]


def test_import_workflows_again_changes_nothing_until_a_file_changes(tmp_path, ws):
    path = write(tmp_path, "hello.yaml", HELLO)
    run(path)
    out, _, failure = run(path)
    assert failure is None
    assert "(0 created, 0 updated, 1 unchanged)" in out
    path.write_text(HELLO.replace("name: Hello", "name: Hello there"))
    out, _, _ = run(path, verbosity=2)
    assert f"{path}: hello updated (version 2)" in out
    assert Workflow.objects.get(tag="hello").name == "Hello there"


def test_import_workflows_reports_each_problem_of_a_bad_file_and_saves_nothing(
    tmp_path, ws
):
    path = write(tmp_path, "broken.yaml", BROKEN)
    with mock.patch(
        "workflows.management.commands.import_workflows.workflow_upsert"
    ) as upsert:
        out, err, failure = run(path)
    upsert.assert_not_called()
    assert err.splitlines() == [
        f"{path}: actions['call'].schema.url: is required",
        f"{path}: actions['call'].outgoingActions[0]: no action has slug 'nowhere'",
    ]
    assert isinstance(failure, CommandError)
    assert "1 file failed" in str(failure)
    assert not Workflow.objects.exists()


def test_import_workflows_imports_the_good_files_of_a_mixed_batch(tmp_path, ws):
    bad_yaml = write(tmp_path, "bad.yaml", "tag: [unclosed\n")
    out, err, failure = run(
        write(tmp_path, "hello.yaml", HELLO),
        write(tmp_path, "broken.yaml", BROKEN),
        bad_yaml,
    )
    assert failure is not None
    assert "Imported 1 workflow (1 created, 0 updated, 0 unchanged)" in out
    assert "2 files failed" in out
    assert f"{bad_yaml}: invalid YAML: line 2" in err
    assert list(Workflow.objects.values_list("tag", flat=True)) == ["hello"]


def test_import_workflows_reads_a_directory(tmp_path, ws):
    (tmp_path / "flows").mkdir()
    write(tmp_path, "flows/hello.yml", HELLO)
    write(tmp_path, "flows/notes.txt", "not a workflow")
    out, err, failure = run(tmp_path / "flows")
    assert failure is None, err
    assert "Imported 1 workflow" in out


def test_import_workflows_refuses_the_same_tag_in_two_files(tmp_path, ws):
    first = write(tmp_path, "a.yaml", HELLO)
    second = write(tmp_path, "b.yaml", HELLO.replace("name: Hello", "name: Other"))
    _, err, failure = run(first, second)
    assert failure is not None
    assert f"{second}: tag: 'hello' is already imported from {first}" in err
    assert Workflow.objects.get().name == "Hello"


def test_import_workflows_reports_a_missing_file(tmp_path, ws):
    _, err, failure = run(tmp_path / "nope.yaml")
    assert failure is not None
    assert f"{tmp_path / 'nope.yaml'}: no such file" in err


def test_import_workflows_needs_an_existing_workspace(tmp_path, ws):
    _, _, failure = run(write(tmp_path, "hello.yaml", HELLO), workspace="nope")
    assert "No workspace 'nope'" in str(failure)


def test_import_workflows_imports_into_the_named_workspace_only(tmp_path, ws, other_ws):
    run(write(tmp_path, "hello.yaml", HELLO), workspace="two")
    assert not Workflow.objects.filter(workspace=ws).exists()
    assert Workflow.objects.filter(workspace=other_ws, tag="hello").exists()


# The demo workspace


@pytest.mark.django_db
def test_seed_demo_imports_the_demo_workflows_once():
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())
    demo = Workflow.objects.filter(workspace__slug="demo")
    assert sorted(demo.values_list("tag", flat=True)) == [
        "add-a-runbook",
        "cut-a-release",
        "file-a-ticket",
        "hello-world",
        "notify-on-call",
        "open-an-incident",
        "provision-a-service",
    ]
    assert set(WorkflowVersion.objects.values_list("number", flat=True)) == {1}
    assert not Workflow.objects.filter(workspace__slug="acme").exists()
    hello = demo.get(tag="hello-world")
    assert hello.is_runnable_via_api
    assert hello.current_version.created_by.email == "ada@example.com"


@pytest.mark.django_db
def test_seeding_the_demo_again_keeps_a_workflow_someone_changed(tmp_path):
    call_command("seed_demo", stdout=StringIO())
    run(
        write(tmp_path, "hello.yaml", HELLO.replace("tag: hello", "tag: hello-world")),
        workspace="demo",
    )
    mine = Workflow.objects.get(workspace__slug="demo", tag="hello-world")
    assert mine.name == "Hello"

    out = StringIO()
    call_command("seed_demo", stdout=out)  # what bin/run does at every start

    mine.refresh_from_db()
    assert mine.name == "Hello"
    assert mine.current_version.number == 2
    assert "left as they are" in out.getvalue()


@pytest.mark.django_db
def test_seeding_the_demo_with_refresh_loads_the_demo_files_again(tmp_path):
    call_command("seed_demo", stdout=StringIO())
    run(
        write(tmp_path, "hello.yaml", HELLO.replace("tag: hello", "tag: hello-world")),
        workspace="demo",
    )

    call_command("seed_demo", "--refresh", stdout=StringIO())

    demo = Workflow.objects.get(workspace__slug="demo", tag="hello-world")
    assert demo.name == "Hello world"
    assert demo.current_version.number == 3


@pytest.mark.django_db
def test_the_demo_workflows_call_the_portal_at_its_own_address(settings):
    settings.BASE_URL = "http://127.0.0.1:8772"
    call_command("seed_demo", stdout=StringIO())
    provision = Workflow.objects.get(workspace__slug="demo", tag="provision-a-service")
    urls = [
        a["schema"]["url"]
        for a in provision.descriptor["actions"]
        if a["schema"]["type"] == "HTTP_REQUEST"
    ]
    assert "http://127.0.0.1:8772/health/" in urls
    assert "8000" not in str(provision.descriptor)


# The service, outside any caller's transaction (as the API and the pages call it)


@pytest.mark.django_db(transaction=True)
def test_saving_a_workflow_outside_a_transaction_versions_it():
    ws = Workspace.objects.create(slug="solo", name="Solo")
    first = validate(parse(dedent(HELLO)))
    workflow, created = workflow_upsert(workspace=ws, descriptor=first)
    again, _ = workflow_upsert(
        workspace=ws, descriptor={**first, "name": "Hello again"}
    )
    renamed = workflow_save(
        workflow=again, descriptor={**first, "tag": "greet"}, created_by=None
    )

    assert created and again.pk == workflow.pk == renamed.pk
    assert (renamed.tag, renamed.current_version.number) == ("greet", 3)


@pytest.mark.django_db
def test_saving_a_workflow_someone_renamed_meanwhile_saves_nothing(ws):
    first = validate(parse(dedent(HELLO)))
    workflow, _ = workflow_upsert(workspace=ws, descriptor=first)
    seen_before = Workflow.objects.get(pk=workflow.pk)  # as a page read it
    workflow_save(
        workflow=workflow, descriptor={**first, "tag": "greet"}, created_by=None
    )

    with pytest.raises(WorkflowChanged, match="renamed this workflow"):
        workflow_save(
            workflow=seen_before,
            descriptor={**first, "name": "Changed meanwhile"},
            created_by=None,
        )

    assert list(Workflow.objects.values_list("tag", "name")) == [("greet", "Hello")]


@pytest.mark.django_db
def test_saving_a_workflow_someone_deleted_meanwhile_saves_nothing(ws):
    first = validate(parse(dedent(HELLO)))
    workflow, _ = workflow_upsert(workspace=ws, descriptor=first)
    workflow_delete(workflow=Workflow.objects.get(pk=workflow.pk))

    with pytest.raises(WorkflowChanged, match="deleted"):
        workflow_save(workflow=workflow, descriptor=first, created_by=None)
    assert not Workflow.objects.exists()
