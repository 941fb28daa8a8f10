"""GITHUB_CREATE_OR_UPDATE_FILE, against a local server playing GitHub's API."""

import base64
from pathlib import Path

import pytest
from django.conf import settings

from tests.factories import EntityFactory
from tests.workflows.blockctx import make_ctx
from tests.workflows.conftest import GITHUB_TOKEN as TOKEN
from tests.workflows.test_engine import run_to_rest
from workflows import descriptor, engine
from workflows.blocks.github_create_or_update_file import GitHubCreateOrUpdateFile
from workflows.models import Integration, Run
from workflows.secrets import encrypt
from workflows.services import workflow_upsert

CONTENTS = "/repos/acme/payments/contents/docs/runbook.md"
STATE = {
    "context": {},
    "actions": {},
    "variables": {"repo": "acme/payments", "service": "payments"},
}


pytestmark = pytest.mark.usefixtures("loopback_allowed")


def schema(**fields):
    return {
        "type": "GITHUB_CREATE_OR_UPDATE_FILE",
        "alias": "",
        "repositoryName": "{{variables.repo}}",
        "path": "docs/runbook.md",
        "content": "# {{variables.service}}\n\nOn call: platform\n",
        "commitMessage": "Add the runbook of {{variables.service}}",
        **fields,
    }


def run(ws, state=None, **fields):
    return GitHubCreateOrUpdateFile().execute(
        make_ctx(schema(**fields), state or STATE, workspace=ws)
    )


def test_a_new_file_is_created_with_its_rendered_text_encoded(github, ws):
    github.route("GET", CONTENTS, status=404, json={"message": "Not Found"})
    github.route(
        "PUT",
        CONTENTS,
        status=201,
        json={"content": {"sha": "b1"}, "commit": {"sha": "c1"}},
    )
    author = {"name": "Grace Hopper", "email": "grace@example.com"}
    committer = {"name": "Cairn", "email": "cairn@example.com"}

    outcome = run(ws, branch="docs", author=author, committer=committer)

    assert outcome.status == "COMPLETED", outcome.error
    lookup, put = github.requests
    assert (lookup.method, lookup.query) == ("GET", {"ref": ["docs"]})
    assert put.json() == {
        "message": "Add the runbook of payments",
        "content": base64.b64encode(b"# payments\n\nOn call: platform\n").decode(),
        "branch": "docs",
        "author": author,
        "committer": committer,
    }
    assert put.headers["authorization"] == f"Bearer {TOKEN}"
    answer = {"content": {"sha": "b1"}, "commit": {"sha": "c1"}}
    assert outcome.outputs == {**answer, "response": answer}
    assert outcome.inputs["repositoryName"] == "acme/payments"
    assert outcome.inputs["commitMessage"] == "Add the runbook of payments"
    assert TOKEN not in str(outcome.inputs) + str(outcome.outputs)


def test_an_existing_file_is_updated_with_its_current_sha_on_the_default_branch(
    github, ws
):
    github.route("GET", CONTENTS, json={"sha": "old-blob"})
    github.route("PUT", CONTENTS, json={"commit": {"sha": "c2"}})

    outcome = run(ws)

    assert outcome.status == "COMPLETED", outcome.error
    lookup, put = github.requests
    assert lookup.query == {}  # no branch: GitHub's default one
    assert put.json()["sha"] == "old-blob"
    assert "branch" not in put.json()


def test_empty_content_makes_an_empty_file(github, ws):
    github.route("GET", CONTENTS, status=404, json={"message": "Not Found"})
    github.route("PUT", CONTENTS, status=201, json={"commit": {}})

    outcome = run(ws, content="")

    assert outcome.status == "COMPLETED", outcome.error
    assert github.requests[1].json()["content"] == ""


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        (
            {"repositoryName": "payments"},
            "repositoryName must be the repository's full name, owner/name, not 'payments'",
        ),
        ({"repositoryName": "{{variables.missing}}"}, "repositoryName is required"),
        ({"path": " "}, "path is required"),
        ({"commitMessage": ""}, "commitMessage is required"),
        ({"content": None}, "content is required (the file's text)"),
        ({"content": ["a"]}, "content must be text"),
        ({"author": {"name": "Grace"}}, "author must have a name and an email"),
        ({"committer": "cairn"}, "committer must have a name and an email"),
    ],
)
def test_bad_configuration_fails_naming_the_field_without_calling_github(
    github, ws, fields, error
):
    outcome = run(ws, **fields)

    assert outcome.status == "FAILED"
    assert outcome.error == f"Bad configuration: {error}"
    assert github.requests == []


def test_a_path_that_climbs_out_fails_without_calling_github(github, ws):
    outcome = run(ws, path="docs/../../admin")

    assert outcome.status == "FAILED"
    assert outcome.error.startswith("GitHub create or update file: inputs.path")
    assert github.requests == []


def test_the_alias_is_rendered_and_picks_the_integration(github, ws):
    Integration.objects.create(
        workspace=ws,
        kind=Integration.Kind.GITHUB,
        alias="enterprise",
        base_url=github.url("/api/v3"),
        encrypted_token=encrypt("ghp-enterprise"),
    )
    github.route("GET", "/api/v3" + CONTENTS, status=404, json={"message": "Not Found"})
    github.route("PUT", "/api/v3" + CONTENTS, status=201, json={"commit": {}})
    state = {**STATE, "variables": {**STATE["variables"], "gh": "enterprise"}}

    outcome = run(ws, state, alias="{{variables.gh}}")

    assert outcome.status == "COMPLETED", outcome.error
    assert [r.headers["authorization"] for r in github.requests] == [
        "Bearer ghp-enterprise"
    ] * 2


def test_githubs_refusal_fails_the_block_with_githubs_message(github, ws):
    github.route("GET", CONTENTS, status=404, json={"message": "Not Found"})
    github.route(
        "PUT",
        CONTENTS,
        status=409,
        json={"message": "docs/runbook.md does not match b0"},
    )

    outcome = run(ws)

    assert outcome.status == "FAILED"
    assert outcome.error.startswith("GitHub create or update file: ")
    assert "409" in outcome.error
    assert "docs/runbook.md does not match b0" in outcome.error


# --- through the engine ---------------------------------------------------------------

ADD_RUNBOOK = """\
name: Add a runbook
tag: add-a-runbook
description: Commit a runbook to the service's repository
isDraft: false
filter:
  type: GLOBAL
actions:
- name: Commit runbook
  slug: commit-runbook
  schema:
    type: GITHUB_CREATE_OR_UPDATE_FILE
    alias: ""
    repositoryName: "{{context.initialContext.repo}}"
    path: RUNBOOK.md
    content: "Runbook for {{context.initialContext.repo}}"
    commitMessage: Add RUNBOOK.md
    branch: main
    author:
      name: "{{context.initiatedBy.name}}"
      email: "{{context.initiatedBy.email}}"
  outgoingActions: []
  isRootAction: true
runResponseTemplate: "Committed {{actions.commit-runbook.outputs.commit.sha}}"
"""


def test_a_cortex_descriptor_with_the_block_commits_the_file_and_completes(
    github, ws, grace
):
    github.route("GET", "/repos/acme/payments/contents/RUNBOOK.md", status=404, json={})
    github.route(
        "PUT",
        "/repos/acme/payments/contents/RUNBOOK.md",
        status=201,
        json={"commit": {"sha": "c0ffee"}},
    )
    wf, _ = workflow_upsert(
        workspace=ws, descriptor=descriptor.validate(descriptor.parse(ADD_RUNBOOK))
    )

    run_ = run_to_rest(
        engine.start(
            workflow=wf, initiator=grace, initial_context={"repo": "acme/payments"}
        )
    )

    assert run_.status == Run.Status.COMPLETED, run_.error
    put = github.requests[1]
    assert put.json()["author"] == {"name": grace.display_name, "email": grace.email}
    assert put.json()["branch"] == "main"
    assert run_.response.strip() == "Committed c0ffee"
    assert TOKEN not in str(run_.state)


def test_a_descriptor_without_the_required_fields_does_not_save():
    broken = ADD_RUNBOOK.replace("    commitMessage: Add RUNBOOK.md\n", "")

    with pytest.raises(descriptor.DescriptorError) as caught:
        descriptor.validate(descriptor.parse(broken))

    assert "actions['commit-runbook'].schema.commitMessage: is required" in str(
        caught.value.errors
    )


def test_the_demo_runbook_workflow_commits_what_the_form_says(github, ws, grace):
    demo = Path(settings.BASE_DIR) / "demo" / "workflows" / "add-a-runbook.yaml"
    wf, _ = workflow_upsert(
        workspace=ws, descriptor=descriptor.validate(descriptor.parse(demo.read_text()))
    )
    entity = EntityFactory(workspace=ws, tag="ledger", name="Ledger")
    path = "/repos/acme/ledger/contents/RUNBOOK.md"
    github.route("GET", path, json={"sha": "old"})
    github.route("PUT", path, json={"commit": {"sha": "feed42"}})

    run_ = run_to_rest(engine.start(workflow=wf, initiator=grace, entity=entity))
    assert run_.status == Run.Status.PAUSED
    engine.submit_input(
        run_,
        run_.steps.get(slug="write"),
        values={
            "repository": "acme/ledger",
            "branch": "main",
            "onCall": "@ledger-oncall",
            "steps": "1. Check the queue & restart",
        },
        by=grace,
    )
    run_ = run_to_rest(run_)

    assert run_.status == Run.Status.COMPLETED, run_.error
    put = github.requests[1].json()
    assert put["sha"] == "old"
    assert put["message"] == "Runbook of Ledger, from Cairn"
    assert base64.b64decode(put["content"]).decode() == (
        "# Ledger runbook\n\nOn call: @ledger-oncall\n\n1. Check the queue & restart\n"
    )
    assert "Commit `feed42` on `main`" in run_.response
