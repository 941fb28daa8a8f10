"""A workflow's page and its editors: settings, YAML, Access, create and delete."""

import re

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.factories import EntityTypeFactory
from workflows import descriptor as descriptor_lib
from workflows.models import Run, Workflow
from workflows.services import workflow_upsert

HX = {"HX-Request": "true"}

HELLO = """
tag: hello
name: Hello
description: Says **hello**.
filter:
  type: GLOBAL
runResponseTemplate: "# Hi"
actions:
  - name: Greet
    slug: greet
    isRootAction: true
    outgoingActions: [shout]
    schema: {type: JQ, expression: '{greeting: "Hello"}'}
  - name: Shout
    slug: shout
    isRootAction: false
    outgoingActions: []
    schema: {type: JAVASCRIPT, script: 'return {shout: "HELLO"};'}
"""


@pytest.fixture
def hello(ws, ada):
    descriptor = descriptor_lib.validate(descriptor_lib.parse(HELLO))
    workflow, _ = workflow_upsert(workspace=ws, descriptor=descriptor, created_by=ada)
    return workflow


def url(name, tag="hello"):
    return reverse(f"workflows:{name}", args=[tag])


def versions(workflow) -> int:
    return workflow.versions.count()


# The workflow page


def test_workflow_page_shows_settings_and_blocks_with_their_outgoing_actions(
    client, grace, hello
):
    client.force_login(grace)
    r = client.get(url("workflow-detail"))
    html = r.content.decode()
    assert "Hello" in html and "<strong>hello</strong>" in html  # Markdown
    assert [
        (b["slug"], b["type"], [o["slug"] for o in b["outgoing"]])
        for b in r.context["blocks"]
    ] == [
        ("greet", "JQ", ["shout"]),
        ("shout", "JAVASCRIPT", []),
    ]
    assert "Greet" in html and "JAVASCRIPT" in html and 'href="#block-shout"' in html
    assert "Nothing in particular (global)" in html
    assert "# Hi" in html


BRANCHES = """
tag: route
name: Route
filter: {type: GLOBAL}
actions:
  - slug: pick
    name: Pick
    isRootAction: true
    outgoingActions: [big, small]
    schema:
      type: CONDITIONAL_BRANCH
      branches: [{slug: big, name: Big one, expression: 'true', outgoingAction: big}]
      FALLBACK
  - {slug: big, name: Big, isRootAction: false, outgoingActions: [], schema: {type: JQ, expression: '.'}}
  - {slug: small, name: Small, isRootAction: false, outgoingActions: [], schema: {type: JQ, expression: '.'}}
"""


@pytest.mark.parametrize(
    ("fallback", "summary"),
    [
        ("fallbackBranch: null", "Branches: Big one"),
        ("joiningAction: null", "Branches: Big one"),
        (
            "fallbackBranch: {slug: small, name: Small one, outgoingAction: small}",
            "Branches: Big one, else Small one",
        ),
    ],
)
def test_a_branch_block_lists_a_fallback_only_when_it_has_one(
    client, grace, ws, fallback, summary
):
    descriptor = descriptor_lib.validate(
        descriptor_lib.parse(BRANCHES.replace("FALLBACK", fallback))
    )
    workflow_upsert(workspace=ws, descriptor=descriptor)
    client.force_login(grace)
    r = client.get(url("workflow-detail", "route"))
    assert r.context["blocks"][0]["summary"] == summary


def test_workflow_page_has_run_for_users_and_editing_for_editors_only(
    client, grace, mona, vera, hello
):
    client.force_login(grace)
    html = client.get(url("workflow-detail")).content.decode()
    assert url("workflow-run") in html
    for name in (
        "workflow-edit",
        "workflow-yaml",
        "workflow-access",
        "workflow-delete",
    ):
        assert url(name) not in html
    client.force_login(mona)
    html = client.get(url("workflow-detail")).content.decode()
    for name in ("workflow-run", "workflow-edit", "workflow-yaml", "workflow-access"):
        assert url(name) in html
    client.force_login(vera)
    html = client.get(url("workflow-detail")).content.decode()
    assert url("workflow-run") not in html


def test_a_draft_workflow_page_is_hidden_from_people_who_may_not_edit(
    client, grace, mona, ws
):
    workflow_upsert(
        workspace=ws,
        descriptor=descriptor_lib.validate(
            {**yaml.safe_load(HELLO), "tag": "wip", "isDraft": True}
        ),
    )
    client.force_login(grace)
    assert client.get(url("workflow-detail", "wip")).status_code == 404
    assert client.post(url("workflow-run", "wip")).status_code == 404
    client.force_login(mona)
    assert client.get(url("workflow-detail", "wip")).status_code == 200


def test_export_downloads_the_descriptor_as_yaml(client, grace, hello):
    client.force_login(grace)
    r = client.get(url("workflow-export"))
    assert r["Content-Type"].startswith("application/yaml")
    assert 'filename="hello.yaml"' in r["Content-Disposition"]
    assert descriptor_lib.parse(r.content) == hello.descriptor


# Access: Runnable via API


def test_access_dialog_shows_the_runnable_via_api_toggle(client, mona, hello):
    client.force_login(mona)
    html = client.get(url("workflow-access"), headers=HX).content.decode()
    assert "<dialog" in html and "Runnable via API" in html
    assert 'name="runnable_via_api"' in html


def test_access_toggles_runnable_via_api_as_a_new_version(client, mona, hello):
    client.force_login(mona)
    r = client.post(url("workflow-access"), {"runnable_via_api": "on"})
    assert r["Location"] == url("workflow-detail")
    hello.refresh_from_db()
    assert hello.is_runnable_via_api
    assert hello.descriptor["isRunnableViaApi"] is True
    assert versions(hello) == 2
    client.post(url("workflow-access"), {})
    hello.refresh_from_db()
    assert not hello.is_runnable_via_api and versions(hello) == 3


# Who may edit


@pytest.mark.parametrize(
    "name", ["workflow-edit", "workflow-yaml", "workflow-access", "workflow-delete"]
)
def test_a_user_can_not_edit_a_workflow(client, grace, hello, name):
    client.force_login(grace)
    assert client.get(url(name)).status_code == 403
    assert client.post(url(name), {"yaml": HELLO, "name": "x"}).status_code == 403
    assert Workflow.objects.get().versions.count() == 1


def test_a_user_can_not_create_a_workflow(client, grace, ws):
    client.force_login(grace)
    assert client.get(reverse("workflows:workflow-create")).status_code == 403
    r = client.post(reverse("workflows:workflow-create"), {"new-name": "Mine"})
    assert r.status_code == 403
    assert not Workflow.objects.exists()


def test_editing_another_workspaces_workflow_answers_404(client, ted, hello):
    client.force_login(ted)
    for name in (
        "workflow-edit",
        "workflow-yaml",
        "workflow-access",
        "workflow-delete",
    ):
        assert client.get(url(name)).status_code == 404
        assert client.post(url(name)).status_code == 404


# Settings


def test_settings_form_shows_the_current_settings(client, mona, hello):
    client.force_login(mona)
    r = client.get(url("workflow-edit"))
    form = r.context["form"]
    assert form["name"].value() == "Hello"
    assert form["status"].value() == "published"
    assert form["scope"].value() == "GLOBAL"
    assert form["run_response_template"].value() == "# Hi"


def test_saving_settings_makes_a_new_version_with_them(client, mona, ws, hello):
    EntityTypeFactory(workspace=ws, tag="service", name="Service")
    EntityTypeFactory(workspace=ws, tag="library", name="Library")
    client.force_login(mona)
    r = client.post(
        url("workflow-edit"),
        {
            "name": "Hello there",
            "description": "New words",
            "status": "draft",
            "scope": "ENTITY",
            "entity_types": ["service", "library"],
            "ownership_scope": "OWNER",
            "restrict_completion": "on",
            "run_response_template": "Done",
            "failed_run_response_template": "",
        },
    )
    assert r.status_code == 302
    hello.refresh_from_db()
    d = hello.descriptor
    assert (hello.name, hello.is_draft, hello.scope) == ("Hello there", True, "ENTITY")
    assert d["description"] == "New words"
    assert d["filter"] == {
        "type": "ENTITY",
        "ownershipScope": "OWNER",
        "entityFilter": {"typeFilter": {"types": ["service", "library"]}},
    }
    assert d["restrictActionCompletionToRunnerUser"] is True
    assert d["runResponseTemplate"] == "Done"
    assert "failedRunResponseTemplate" not in d
    assert [a["slug"] for a in d["actions"]] == ["greet", "shout"]  # kept
    assert versions(hello) == 2


SETTINGS = {"name": "Hello", "status": "published", "scope": "GLOBAL"}


def test_changing_the_tag_renames_the_workflow_and_keeps_its_runs(
    client, mona, ws, hello
):
    run = Run.objects.create(
        workspace=ws, workflow=hello, version=hello.current_version, state={}
    )
    client.force_login(mona)

    r = client.post(url("workflow-edit"), {**SETTINGS, "tag": "greet-people"})

    assert r.status_code == 302
    assert r["Location"] == url("workflow-detail", "greet-people")
    hello.refresh_from_db()
    assert hello.tag == "greet-people"
    assert hello.descriptor["tag"] == "greet-people"
    assert versions(hello) == 2
    assert list(hello.runs.all()) == [run]
    r = client.get(url("workflow-detail", "greet-people"))
    assert "the tag is now “greet-people”" in r.content.decode()
    assert client.get(url("workflow-detail")).status_code == 404  # the old tag


@pytest.mark.parametrize("page", ["workflow-edit", "workflow-yaml"])
def test_a_save_racing_a_rename_saves_nothing_and_says_why(
    client, mona, ws, hello, monkeypatch, page
):
    from workflows import views

    stale = Workflow.objects.get(pk=hello.pk)  # read by this request…
    hello.tag = "renamed"  # …just before another one renamed it
    hello.save()
    monkeypatch.setattr(views, "_workflow", lambda *args, **kwargs: stale)
    client.force_login(mona)

    r = client.post(url(page), {**SETTINGS, "yaml": HELLO})

    assert r.status_code == 400
    assert "renamed this workflow (to “renamed”)" in r.content.decode()
    assert list(Workflow.objects.values_list("tag", flat=True)) == ["renamed"]
    assert versions(hello) == 1


@pytest.mark.parametrize(
    ("tag", "says"),
    [
        ("taken", "exists already"),
        ("runs", "reserved for a page"),
        ("two words", "Use only letters, digits"),
    ],
)
def test_a_tag_that_is_taken_reserved_or_malformed_saves_nothing(
    client, mona, ws, hello, tag, says
):
    workflow_upsert(
        workspace=ws,
        descriptor=descriptor_lib.validate({**yaml.safe_load(HELLO), "tag": "taken"}),
    )
    client.force_login(mona)

    r = client.post(url("workflow-edit"), {**SETTINGS, "tag": tag})

    assert r.status_code == 400
    assert says in r.content.decode()
    hello.refresh_from_db()
    assert (hello.tag, versions(hello)) == ("hello", 1)


def test_switching_to_global_drops_the_entity_filter(client, mona, ws, hello):
    client.force_login(mona)
    base = {"name": "Hello", "status": "published", "ownership_scope": "ALL"}
    client.post(url("workflow-edit"), {**base, "scope": "ENTITY"})
    hello.refresh_from_db()
    assert hello.descriptor["filter"] == {"type": "ENTITY", "ownershipScope": "ALL"}
    client.post(url("workflow-edit"), {**base, "scope": "GLOBAL"})
    hello.refresh_from_db()
    assert hello.descriptor["filter"] == {"type": "GLOBAL"}


def test_settings_with_a_missing_name_save_nothing(client, mona, hello):
    client.force_login(mona)
    r = client.post(
        url("workflow-edit"), {"name": "", "status": "draft", "scope": "GLOBAL"}
    )
    assert r.status_code == 400
    assert "This field is required" in r.content.decode()
    assert versions(hello) == 1


def test_a_bad_response_template_is_reported_at_its_field_with_the_other_errors(
    client, mona, hello
):
    client.force_login(mona)
    r = client.post(
        url("workflow-edit"),
        {
            "name": "",
            "status": "draft",
            "scope": "GLOBAL",
            "run_response_template": "{{#variables.x}} never closed",
            "failed_run_response_template": "Failed: {{/variables.y}}",
        },
    )
    assert r.status_code == 400
    form = r.context["form"]
    assert form.errors["name"] == ["This field is required."]
    assert form.errors["run_response_template"] == [
        'Not a valid Mustache template: the section "variables.x" is never closed'
        " with {{/variables.x}}."
    ]
    assert form.errors["failed_run_response_template"] == [
        "Not a valid Mustache template: {{/variables.y}} closes a section that was"
        " never opened."
    ]
    assert not form.non_field_errors()
    html = r.content.decode()
    assert 'id="id_run_response_template"' in html and "is-invalid" in html
    assert "never closed" in html  # what was typed is kept, with the error
    assert versions(hello) == 1


# The YAML editor


def test_yaml_editor_shows_the_descriptor(client, mona, hello):
    client.force_login(mona)
    r = client.get(url("workflow-yaml"))
    assert descriptor_lib.parse(r.context["form"]["yaml"].value()) == hello.descriptor


def test_yaml_editor_saves_a_valid_descriptor_as_a_new_version(client, mona, hello):
    client.force_login(mona)
    changed = HELLO.replace("name: Hello\n", "name: Hello again\n")
    r = client.post(url("workflow-yaml"), {"yaml": changed})
    assert r["Location"] == url("workflow-detail")
    hello.refresh_from_db()
    assert hello.name == "Hello again" and versions(hello) == 2


def test_a_stub_without_blocks_imports_and_opens_in_both_editors(client, mona, ws):
    client.force_login(mona)
    stub = "tag: stub\nname: Stub\nfilter: {type: GLOBAL}\nisDraft: true\nactions: []\n"
    r = client.post(
        reverse("workflows:workflow-create"), {"import-yaml": stub, "import": ""}
    )
    assert r.status_code == 302
    for name in ("workflow-detail", "workflow-edit", "workflow-yaml"):
        assert client.get(url(name, "stub")).status_code == 200


def test_yaml_editor_lists_each_error_inline_and_saves_nothing(client, mona, hello):
    client.force_login(mona)
    broken = HELLO.replace("schema: {type: JQ,", "schema: {type: NOPE,").replace(
        "outgoingActions: [shout]", "outgoingActions: [nowhere]"
    )
    r = client.post(url("workflow-yaml"), {"yaml": broken})
    assert r.status_code == 400
    html = r.content.decode()
    errors = r.context["form"].non_field_errors()
    assert len(errors) >= 2
    for error in errors:
        assert f"<li>{error}</li>".replace("'", "&#x27;") in html
    assert "Nothing was saved" in html
    assert "type: NOPE" in html  # what was typed stays in the editor
    assert versions(hello) == 1


def test_yaml_editor_reports_bad_yaml_with_its_line(client, mona, hello):
    client.force_login(mona)
    r = client.post(url("workflow-yaml"), {"yaml": "tag: hello\nname: [unclosed\n"})
    assert r.status_code == 400
    assert "invalid YAML: line" in r.content.decode()
    assert versions(hello) == 1


def test_yaml_editor_gives_back_a_leading_blank_line_so_lines_count_as_reported(
    client, mona, hello
):
    client.force_login(mona)
    r = client.post(url("workflow-yaml"), {"yaml": "\ntag: hello\nname: [x\n"})
    html = r.content.decode()
    # The browser drops one newline after <textarea>: the text's own stays.
    assert re.search(r"<textarea [^>]*>\n\ntag: hello\nname: \[x\n</textarea>", html)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "the descriptor is empty"),
        ("tag: hello\x00", "Null characters are not allowed."),
        (
            '{"tag": "hello", "name": "\\ud800"}',
            "descriptor.name: text is not valid Unicode",
        ),
    ],
)
def test_yaml_editor_counts_and_names_a_problem_of_the_text_itself(
    client, mona, hello, text, problem
):
    """An empty descriptor said "Nothing was saved. 0 problems"."""
    client.force_login(mona)
    r = client.post(url("workflow-yaml"), {"yaml": text})
    assert r.status_code == 400
    html = r.content.decode()
    assert "Nothing was saved. 1 problem:" in html
    assert f"<li>{problem}</li>" in html
    assert versions(hello) == 1


def test_yaml_editor_refuses_to_change_the_tag(client, mona, hello):
    client.force_login(mona)
    r = client.post(
        url("workflow-yaml"), {"yaml": HELLO.replace("tag: hello", "tag: other")}
    )
    assert r.status_code == 400
    assert "can&#x27;t be changed here" in r.content.decode()
    assert list(Workflow.objects.values_list("tag", flat=True)) == ["hello"]


# Creating


def test_create_from_scratch_makes_a_draft_and_opens_its_page(client, mona, ws):
    client.force_login(mona)
    r = client.post(reverse("workflows:workflow-create"), {"new-name": "Rotate keys"})
    workflow = Workflow.objects.get()
    assert r["Location"] == url("workflow-detail", "rotate-keys")
    assert (workflow.tag, workflow.name, workflow.is_draft) == (
        "rotate-keys",
        "Rotate keys",
        True,
    )
    assert len(workflow.descriptor["actions"]) == 1


def test_create_from_scratch_refuses_a_taken_or_reserved_tag(client, mona, hello):
    client.force_login(mona)
    r = client.post(reverse("workflows:workflow-create"), {"new-name": "Hello"})
    assert r.status_code == 400
    assert "exists already" in r.content.decode()
    r = client.post(
        reverse("workflows:workflow-create"), {"new-name": "X", "new-tag": "runs"}
    )
    assert "reserved" in r.content.decode()
    assert Workflow.objects.count() == 1


def test_create_from_pasted_yaml(client, mona, ws):
    client.force_login(mona)
    r = client.post(
        reverse("workflows:workflow-create"), {"import-yaml": HELLO, "import": ""}
    )
    assert r["Location"] == url("workflow-detail")
    assert Workflow.objects.get().descriptor["actions"][1]["slug"] == "shout"


def test_pasted_yaml_keeps_the_last_newline_of_a_final_block_as_the_file_has_it(
    client, mona, ws, hello
):
    client.force_login(mona)
    text = (
        "\n  ".join(["failedRunResponseTemplate: |", "## Failed", "Try again"]) + "\n"
    )  # the file's last line, kept by `|`
    stub = "tag: stub\nname: Stub\nfilter: {type: GLOBAL}\nactions: []\n" + text
    client.post(
        reverse("workflows:workflow-create"), {"import-yaml": stub, "import": ""}
    )
    assert Workflow.objects.get(tag="stub").descriptor["failedRunResponseTemplate"] == (
        "## Failed\nTry again\n"
    )
    client.post(url("workflow-yaml"), {"yaml": HELLO + text})
    hello.refresh_from_db()
    assert hello.descriptor["failedRunResponseTemplate"] == "## Failed\nTry again\n"


def test_create_from_an_uploaded_file(client, mona, ws):
    client.force_login(mona)
    upload = SimpleUploadedFile("hello.yaml", HELLO.encode(), "application/yaml")
    r = client.post(
        reverse("workflows:workflow-create"), {"import-file": upload, "import": ""}
    )
    assert r.status_code == 302
    assert Workflow.objects.get().tag == "hello"


def test_create_from_bad_yaml_lists_the_errors_and_saves_nothing(client, mona, ws):
    client.force_login(mona)
    r = client.post(
        reverse("workflows:workflow-create"),
        {
            "import-yaml": "tag: x\nname: X\nfilter: {type: GLOBAL}\nactions: {}\n",
            "import": "",
        },
    )
    assert r.status_code == 400
    assert "actions: must be a list, not a mapping" in r.content.decode()
    assert not Workflow.objects.exists()


def test_importing_a_tag_that_exists_does_not_overwrite_it(client, mona, hello):
    client.force_login(mona)
    r = client.post(
        reverse("workflows:workflow-create"),
        {"import-yaml": HELLO.replace("name: Hello\n", "name: Other\n"), "import": ""},
    )
    assert r.status_code == 400
    hello.refresh_from_db()
    assert hello.name == "Hello" and versions(hello) == 1


# Deleting


def test_delete_asks_first_then_deletes_the_workflow_and_its_runs(client, mona, hello):
    Run.objects.create(
        workspace=hello.workspace, workflow=hello, version=hello.current_version
    )
    client.force_login(mona)
    html = client.get(url("workflow-delete"), headers=HX).content.decode()
    assert "<dialog" in html and "1 run" in html
    assert Workflow.objects.exists()
    r = client.post(url("workflow-delete"))
    assert r["Location"] == reverse("workflows:workflow-list")
    assert not Workflow.objects.exists() and not Run.objects.exists()


def test_a_descriptor_larger_than_a_form_takes_gets_a_page_saying_so(
    client, mona, hello, settings
):
    """It was a bare "Bad Request"."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100_000
    client.force_login(mona)
    r = client.post(url("workflow-yaml"), {"yaml": HELLO + "#" * 200_000})
    assert r.status_code == 400
    assert (
        "What you sent is larger than 0.1 MB, the most Cairn takes in one form."
        " Nothing was saved." in r.content.decode()
    )
    assert versions(hello) == 1
