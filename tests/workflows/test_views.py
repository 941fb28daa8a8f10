"""The Workflows page, the Run dialogs, the Runs tab, Cancel run, the entity page's
Workflows section and notifications."""

import json
import re
from datetime import timedelta
from urllib.parse import unquote

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from catalog.models import Team
from portal.models import Role
from tests.factories import EntityFactory, EntityTypeFactory, api_key, member
from tests.workflows.enginekit import action, make_workflow
from workflows.models import Decision, Integration, Notification, Run, Step
from workflows.templatetags.workflow_tags import unread_notification_count

S = Run.Status
HX = {"HX-Request": "true"}


def workflow(ws, tag="deploy", **fields):
    return make_workflow(ws, [action("a", root=True)], tag=tag, **fields)


def entity_workflow(
    ws, tag="provision", types=("service",), ownershipScope="ALL", **fields
):
    entity_filter = {"typeFilter": {"types": list(types)}} if types else {}
    return workflow(
        ws,
        tag,
        filter={
            "type": "ENTITY",
            "ownershipScope": ownershipScope,
            "entityFilter": entity_filter,
        },
        **fields,
    )


def make_run(wf, *, status=S.COMPLETED, initiator=None, entity=None, **fields):
    return Run.objects.create(
        workspace=wf.workspace,
        workflow=wf,
        version=wf.current_version,
        status=status,
        initiator=initiator,
        entity=entity,
        **fields,
    )


def waiting_step(run, waiting_for, **inputs):
    return Step.objects.create(
        run=run,
        slug=f"step-{waiting_for.lower()}",
        name="Approve" if waiting_for == "MANUAL_APPROVAL" else "Fill in",
        type=waiting_for,
        status=Step.Status.WAITING,
        waiting_for=waiting_for,
        inputs=inputs,
    )


def count_queries(client, url, **kwargs) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, **kwargs)
    assert response.status_code == 200
    return len(ctx.captured_queries)


# The Workflows page


def test_workflows_page_requires_login(client, db):
    r = client.get(reverse("workflows:workflow-list"))
    assert r.status_code == 302
    assert r["Location"].startswith(reverse("login"))


def test_workflows_page_lists_workflows_with_run_for_members_who_may_run(
    client, grace, ws
):
    workflow(ws, "deploy", name="Deploy")
    client.force_login(grace)
    html = client.get(reverse("workflows:workflow-list")).content.decode()
    assert "Deploy" in html
    assert reverse("workflows:workflow-run", args=["deploy"]) in html
    assert 'aria-label="Run Deploy"' in html
    assert "may-not-run" not in html


def test_a_viewer_sees_workflows_but_no_run_button_and_why(client, vera, ws):
    workflow(ws, "deploy", name="Deploy")
    client.force_login(vera)
    html = client.get(reverse("workflows:workflow-list")).content.decode()
    assert "Deploy" in html
    assert reverse("workflows:workflow-run", args=["deploy"]) not in html
    assert "Create workflow" not in html
    assert "your role lacks the <em>Run workflows</em> permission" in html


def test_a_workflow_whose_run_restrictions_leave_a_member_out_says_restricted_instead_of_run(
    client, grace, mona, vera, ws
):
    release = Team.objects.create(workspace=ws, tag="release", name="Release")
    release.members.add(mona)
    workflow(
        ws,
        "ship",
        name="Ship",
        runRestrictionPolicies=[{"type": "TEAM", "id": "release"}],
    )
    url = reverse("workflows:workflow-list")
    client.force_login(grace)
    html = client.get(url).content.decode()
    assert 'aria-label="Run Ship"' not in html
    assert "Restricted" in html
    client.force_login(mona)
    html = client.get(url).content.decode()
    assert 'aria-label="Run Ship"' in html
    assert "Restricted" not in html
    client.force_login(vera)  # may run nothing: no word about restrictions
    assert "Restricted" not in client.get(url).content.decode()


def test_the_workflow_page_says_restricted_where_run_would_be_for_a_member_left_out(
    client, grace, mona, vera, ws
):
    release = Team.objects.create(workspace=ws, tag="release", name="Release")
    release.members.add(mona)
    workflow(ws, "ship", runRestrictionPolicies=[{"type": "TEAM", "id": "release"}])
    url = reverse("workflows:workflow-detail", args=["ship"])
    run_url = reverse("workflows:workflow-run", args=["ship"])
    client.force_login(grace)
    html = client.get(url).content.decode()
    assert run_url not in html and "Restricted</span>" in html
    client.force_login(mona)
    html = client.get(url).content.decode()
    assert run_url in html and "Restricted</span>" not in html
    client.force_login(vera)  # may run nothing: no word about restrictions
    html = client.get(url).content.decode()
    assert run_url not in html and "Restricted</span>" not in html


def test_the_workflow_page_shows_variable_defaults_as_json(client, grace, ws):
    workflow(
        ws,
        "gate",
        variables=[
            {"slug": "regions", "type": "ARRAY_OF_STRING", "defaultValue": ["eu"]},
            {"slug": "dry-run", "type": "BOOLEAN", "defaultValue": False},
            {"slug": "owner", "type": "STRING", "defaultValue": "Tom's"},
        ],
    )
    client.force_login(grace)
    html = client.get(reverse("workflows:workflow-detail", args=["gate"])).content
    html = html.decode()
    assert "<code>[&quot;eu&quot;]</code>" in html
    assert "<code>false</code>" in html
    assert "<code>&quot;Tom&#x27;s&quot;</code>" in html


def test_drafts_are_listed_with_a_draft_icon_for_editors_only(client, grace, mona, ws):
    workflow(ws, "wip", name="Work in progress", isDraft=True)
    client.force_login(mona)
    html = client.get(reverse("workflows:workflow-list")).content.decode()
    assert "Work in progress" in html
    assert 'aria-label="Draft"' in html
    client.force_login(grace)
    html = client.get(reverse("workflows:workflow-list")).content.decode()
    assert "Work in progress" not in html


def test_workflows_page_searches_by_name_and_tag_and_answers_htmx_with_the_list(
    client, grace, ws
):
    workflow(ws, "deploy", name="Deploy")
    workflow(ws, "rollback", name="Roll back")
    client.force_login(grace)
    r = client.get(reverse("workflows:workflow-list"), {"q": "roll"}, headers=HX)
    html = r.content.decode()
    assert 'id="workflow-results"' in html and "<html" not in html
    assert "Roll back" in html and "Deploy" not in html
    by_tag = client.get(reverse("workflows:workflow-list"), {"q": "deplo"})
    assert [w.tag for w in by_tag.context["page"]] == ["deploy"]


def test_workflows_page_lists_25_workflows_a_page(client, grace, ws):
    for i in range(30):
        workflow(ws, f"wf-{i:02}", name=f"Workflow {i:02}")
    client.force_login(grace)
    first = client.get(reverse("workflows:workflow-list"))
    second = client.get(reverse("workflows:workflow-list"), {"page": 2})
    assert len(first.context["page"]) == 25
    assert [w.tag for w in second.context["page"]] == [f"wf-{i}" for i in range(25, 30)]
    assert "Page 1 of 2" in first.content.decode()


def test_workflows_page_shows_the_members_paused_forms_and_recent_runs(
    client, grace, ada, ws
):
    wf = workflow(ws, "deploy", name="Deploy")
    mine = make_run(wf, status=S.PAUSED, initiator=grace)
    waiting_step(mine, "USER_INPUT")
    theirs = make_run(wf, status=S.PAUSED, initiator=ada)
    waiting_step(theirs, "USER_INPUT")
    client.force_login(grace)
    r = client.get(reverse("workflows:workflow-list"))
    assert [s.run for s in r.context["waiting"]] == [mine]
    assert "Waits for your input" in r.content.decode()
    assert r.context["recent_runs"] == [mine]


def test_workflows_page_shows_approvals_to_members_of_the_approving_teams(
    client, grace, mona, ada, ws
):
    platform = Team.objects.create(workspace=ws, tag="platform", name="Platform")
    platform.members.add(grace, mona)
    payments = Team.objects.create(workspace=ws, tag="payments", name="Payments")
    wf = workflow(ws, "deploy", name="Deploy")
    by_tag = waiting_step(
        make_run(wf, status=S.PAUSED, initiator=ada),
        "MANUAL_APPROVAL",
        approvingTeamIds=["platform"],
    )
    by_id = waiting_step(
        make_run(wf, status=S.PAUSED, initiator=ada),
        "MANUAL_APPROVAL",
        approvingTeamIds=[str(platform.pk)],
    )
    waiting_step(  # another team's approval
        make_run(wf, status=S.PAUSED, initiator=ada),
        "MANUAL_APPROVAL",
        approvingTeamIds=[payments.tag],
    )
    waiting_step(  # grace started it and may not approve it herself
        make_run(wf, status=S.PAUSED, initiator=grace),
        "MANUAL_APPROVAL",
        approvingTeamIds=["platform"],
        preventSelfApproval=True,
    )
    decided = waiting_step(
        make_run(wf, status=S.PAUSED, initiator=ada),
        "MANUAL_APPROVAL",
        approvingTeamIds=["platform"],
    )
    Decision.objects.create(step=decided, user=grace, verdict="APPROVED")
    client.force_login(grace)
    r = client.get(reverse("workflows:workflow-list"))
    assert {s.pk for s in r.context["waiting"]} == {by_tag.pk, by_id.pk}
    assert "Needs your approval" in r.content.decode()
    client.force_login(ada)
    assert client.get(reverse("workflows:workflow-list")).context["waiting"] == []


def test_workflows_page_query_count_does_not_grow_with_rows(
    client, grace, ws, django_assert_max_num_queries
):
    platform = Team.objects.create(workspace=ws, tag="platform", name="Platform")
    platform.members.add(grace)

    def add(n):
        for _ in range(n):
            # Each one runnable only by a team: whether grace may run it is asked per row.
            wf = workflow(
                ws,
                f"wf-{workflow_count()}",
                runRestrictionPolicies=[{"type": "TEAM", "id": "platform"}],
            )
            run = make_run(wf, status=S.PAUSED, initiator=grace)
            waiting_step(run, "USER_INPUT")
            other = make_run(wf, status=S.PAUSED)
            waiting_step(other, "MANUAL_APPROVAL", approvingTeamIds=["platform"])

    add(2)
    client.force_login(grace)
    url = reverse("workflows:workflow-list")
    few = count_queries(client, url)
    add(25)
    with django_assert_max_num_queries(few):
        r = client.get(url)
    assert all(w.can_run for w in r.context["page"])


def workflow_count() -> int:
    from workflows.models import Workflow

    return Workflow.objects.count()


# Run: the Confirm and Select an entity dialogs


def test_run_on_a_global_workflow_opens_the_confirm_dialog(client, grace, ws):
    workflow(ws, "deploy", name="Deploy")
    client.force_login(grace)
    r = client.get(reverse("workflows:workflow-run", args=["deploy"]), headers=HX)
    html = r.content.decode()
    assert "<dialog" in html and "<html" not in html
    assert "Confirm" in html and "Run workflow" in html


def test_the_confirm_dialog_is_a_page_without_javascript(client, grace, ws):
    workflow(ws, "deploy", name="Deploy")
    client.force_login(grace)
    html = client.get(
        reverse("workflows:workflow-run", args=["deploy"])
    ).content.decode()
    assert "<html" in html and "<dialog" not in html
    assert "Run workflow" in html


def test_run_workflow_starts_a_run_and_goes_to_the_run_page(client, grace, ws):
    wf = workflow(ws, "deploy")
    client.force_login(grace)
    r = client.post(reverse("workflows:workflow-run", args=["deploy"]))
    run = Run.objects.get(workflow=wf)
    assert r.status_code == 302
    assert r["Location"] == reverse("workflows:run-detail", args=[run.pk])
    assert run.initiator == grace
    assert run.source == Run.Source.UI
    assert run.entity is None


def test_confirm_warns_of_an_integration_the_workflow_uses_and_the_workspace_lacks(
    client, grace, ws, other_ws
):
    make_workflow(
        ws,
        [
            action("tell", "SLACK", ["file"], root=True, channel="#ops", message="x"),
            action("file", "ADVANCED_HTTP_REQUEST", actionIdentifier="github.getFile"),
        ],
        tag="notify",
    )
    client.force_login(grace)
    url = reverse("workflows:workflow-run", args=["notify"])
    html = client.get(url).content.decode()
    assert (
        "This workflow uses GitHub, Slack, which this workspace has not set up"
        " (Settings → Integrations): a run fails at those blocks."
    ) in html
    # Another workspace's integrations don't count:
    Integration.objects.create(workspace=other_ws, kind="SLACK", base_url="https://x")
    assert "uses GitHub, Slack," in client.get(url).content.decode()
    Integration.objects.create(workspace=ws, kind="SLACK", base_url="https://x.test")
    Integration.objects.create(workspace=ws, kind="GITHUB", base_url="https://x.test")
    assert "missing-integrations" not in client.get(url).content.decode()
    assert (
        "missing-integrations"
        not in client.get(
            reverse("workflows:workflow-run", args=[workflow(ws).tag])
        ).content.decode()
    )


@pytest.mark.parametrize(
    "schema, label",
    [
        ({"type": "MS_TEAMS_SEND_MESSAGE"}, "Microsoft Teams"),
        ({"type": "PAGERDUTY_CREATE_INCIDENT"}, "PagerDuty"),
        ({"type": "JIRA_CREATE_ISSUE"}, "Jira"),
        ({"type": "GITHUB_CREATE_OR_UPDATE_FILE"}, "GitHub"),
        ({"type": "ADVANCED_HTTP_REQUEST", "actionIdentifier": "gitlab.x"}, "GitLab"),
        ({"type": "HTTP_REQUEST", "integration": "GitLab", "url": "/x"}, "GitLab"),
        ({"type": "HTTP_REQUEST", "url": "https://x.test"}, None),
        ({"type": "ADVANCED_HTTP_REQUEST", "actionIdentifier": "cortex.x"}, None),
    ],
)
def test_each_block_names_the_integration_it_needs(ws, schema, label):
    from workflows.integrations import missing_integrations

    descriptor = {"actions": [{"slug": "a", "schema": schema}]}
    assert missing_integrations(descriptor, ws) == ([label] if label else [])


def started_from_the_workflows_page(client, person, ws, name: str) -> str:
    """The page `person` lands on after running "deploy" (called `name`) from
    the Workflows page."""
    workflow(ws, "deploy", name=name)
    client.force_login(person)
    return client.post(
        reverse("workflows:workflow-run", args=["deploy"]),
        {"next": reverse("workflows:workflow-list")},
        follow=True,
    ).content.decode()


def test_a_run_started_from_elsewhere_says_so_with_a_link_to_it(client, grace, ws):
    html = started_from_the_workflows_page(client, grace, ws, "Deploy")
    run = Run.objects.get()
    assert (
        f'Deploy started. <a href="{run.get_absolute_url()}">Open run {run.pk}</a>'
        in html
    )


def test_the_link_to_a_run_started_from_elsewhere_escapes_the_workflows_name(
    client, grace, ws
):
    html = started_from_the_workflows_page(client, grace, ws, "<b>Deploy</b>")
    assert "&lt;b&gt;Deploy&lt;/b&gt; started. <a href=" in html


def test_a_viewer_can_not_open_run_or_start_a_run(client, vera, ws):
    workflow(ws, "deploy")
    client.force_login(vera)
    url = reverse("workflows:workflow-run", args=["deploy"])
    assert client.get(url).status_code == 403
    assert client.post(url).status_code == 403
    assert not Run.objects.exists()


def test_run_restriction_policies_hide_run_and_refuse_it(client, grace, ada, ws):
    workflow(
        ws,
        "deploy",
        runRestrictionPolicies=[{"type": "USER", "id": "ada@example.com"}],
    )
    client.force_login(grace)
    html = client.get(reverse("workflows:workflow-list")).content.decode()
    assert reverse("workflows:workflow-run", args=["deploy"]) not in html
    r = client.post(reverse("workflows:workflow-run", args=["deploy"]))
    assert r.status_code == 403
    client.force_login(ada)
    r = client.post(reverse("workflows:workflow-run", args=["deploy"]))
    assert r.status_code == 302


def test_run_on_an_entity_workflow_lists_only_entities_its_filter_allows(
    client, grace, ws
):
    entity_workflow(ws, "provision", types=["service"])
    EntityFactory(workspace=ws, tag="payments-api", name="Payments API")
    library = EntityTypeFactory(workspace=ws, tag="library")
    EntityFactory(workspace=ws, tag="money", name="Money", type=library)
    EntityFactory(workspace=ws, tag="old", name="Old", archived=True)
    client.force_login(grace)
    r = client.get(reverse("workflows:workflow-run", args=["provision"]), headers=HX)
    html = r.content.decode()
    assert "Select an entity" in html
    assert [e.tag for e in r.context["choices"]] == ["payments-api"]
    assert 'value="payments-api"' in html and 'value="money"' not in html


def test_select_an_entity_searches_with_htmx(client, grace, ws):
    entity_workflow(ws, "provision")
    EntityFactory(workspace=ws, tag="payments-api", name="Payments API")
    EntityFactory(workspace=ws, tag="ledger", name="Ledger")
    client.force_login(grace)
    r = client.get(
        reverse("workflows:workflow-run", args=["provision"]),
        {"q": "ledg"},
        headers={**HX, "HX-Target": "entity-choices"},
    )
    html = r.content.decode()
    assert html.lstrip().startswith('<div id="entity-choices">')
    assert "Ledger" in html and "Payments API" not in html


def test_select_an_entity_lists_a_limited_number_and_says_so(client, grace, ws):
    entity_workflow(ws, "provision")
    for i in range(25):
        EntityFactory(workspace=ws, tag=f"svc-{i:02}")
    client.force_login(grace)
    r = client.get(reverse("workflows:workflow-run", args=["provision"]))
    assert len(r.context["choices"]) == 20 and r.context["more"]
    assert "search to find the others" in r.content.decode()


def test_run_workflow_on_a_chosen_entity_starts_a_run_on_it(client, grace, ws):
    wf = entity_workflow(ws, "provision")
    entity = EntityFactory(workspace=ws, tag="payments-api")
    client.force_login(grace)
    r = client.post(
        reverse("workflows:workflow-run", args=["provision"]),
        {"entity": "payments-api"},
    )
    run = Run.objects.get(workflow=wf)
    assert r["Location"] == reverse("workflows:run-detail", args=[run.pk])
    assert run.entity == entity


def test_run_workflow_without_an_entity_asks_for_one_and_starts_nothing(
    client, grace, ws
):
    entity_workflow(ws, "provision")
    EntityFactory(workspace=ws, tag="payments-api")
    client.force_login(grace)
    r = client.post(reverse("workflows:workflow-run", args=["provision"]))
    assert r.status_code == 400
    assert "choose one" in r.content.decode()
    assert not Run.objects.exists()


def test_running_a_workflow_without_blocks_says_so_and_starts_nothing(
    client, grace, ws
):
    make_workflow(ws, [], tag="stub")
    client.force_login(grace)
    page = client.get(reverse("workflows:workflow-detail", args=["stub"])).content
    assert b"No blocks yet" in page
    assert reverse("workflows:workflow-run", args=["stub"]).encode() not in page
    listing = client.get(reverse("workflows:workflow-list")).content
    assert b"No blocks yet" in listing and b'aria-label="Run Stub"' not in listing
    export = client.get(reverse("workflows:workflow-export", args=["stub"]))
    assert "actions: []" in export.content.decode()
    r = client.post(reverse("workflows:workflow-run", args=["stub"]))
    assert r.status_code == 400
    assert "no blocks yet: add one before running it" in r.content.decode()
    assert not Run.objects.exists()


def test_run_on_an_entity_outside_the_filter_is_refused(client, grace, ws):
    entity_workflow(ws, "provision", types=["service"])
    library = EntityTypeFactory(workspace=ws, tag="library")
    EntityFactory(workspace=ws, tag="money", type=library)
    client.force_login(grace)
    url = reverse("workflows:workflow-run", args=["provision"])
    assert client.post(url, {"entity": "money"}).status_code == 403
    assert client.get(url, {"entity": "money"}).status_code == 403
    assert not Run.objects.exists()


def test_owner_scope_refuses_entities_the_member_does_not_own(client, grace, ws):
    entity_workflow(ws, "provision", ownershipScope="OWNER")
    mine = EntityFactory(workspace=ws, tag="mine")
    mine.owner_users.add(grace)
    EntityFactory(workspace=ws, tag="theirs")
    client.force_login(grace)
    url = reverse("workflows:workflow-run", args=["provision"])
    assert [e.tag for e in client.get(url).context["choices"]] == ["mine"]
    assert client.post(url, {"entity": "theirs"}).status_code == 403
    assert client.post(url, {"entity": "mine"}).status_code == 302


def test_run_from_the_entity_page_confirms_the_entity_and_goes_back(client, grace, ws):
    entity_workflow(ws, "provision")
    EntityFactory(workspace=ws, tag="payments-api", name="Payments API")
    client.force_login(grace)
    back = reverse("catalog:entity-workflows", args=["payments-api"])
    url = reverse("workflows:workflow-run", args=["provision"])
    r = client.get(url, {"entity": "payments-api", "next": back}, headers=HX)
    html = r.content.decode()
    assert "Confirm" in html and "Payments API" in html
    assert 'name="entity" value="payments-api"' in html
    r = client.post(url, {"entity": "payments-api", "next": back})
    assert r["Location"] == back


def test_run_ignores_a_next_url_on_another_site(client, grace, ws):
    wf = workflow(ws, "deploy")
    client.force_login(grace)
    r = client.post(
        reverse("workflows:workflow-run", args=["deploy"]),
        {"next": "https://evil.example.com/"},
    )
    run = Run.objects.get(workflow=wf)
    assert r["Location"] == run.get_absolute_url()


def test_another_workspaces_workflow_answers_404(client, grace, ted, other_ws):
    workflow(other_ws, "rocket")
    client.force_login(grace)
    for name in ("workflow-detail", "workflow-run", "workflow-export"):
        assert (
            client.get(reverse(f"workflows:{name}", args=["rocket"])).status_code == 404
        )
    assert (
        client.post(reverse("workflows:workflow-run", args=["rocket"])).status_code
        == 404
    )


def test_an_entity_of_another_workspace_answers_404(client, grace, ws, other_ws):
    entity_workflow(ws, "provision")
    EntityFactory(workspace=other_ws, tag="rocket")
    client.force_login(grace)
    r = client.post(
        reverse("workflows:workflow-run", args=["provision"]), {"entity": "rocket"}
    )
    assert r.status_code == 404


# The Runs tab


def test_runs_tab_lists_runs_newest_first_in_pages_of_25(client, grace, ws):
    wf = workflow(ws, "deploy")
    now = timezone.now()
    runs = [
        make_run(wf, initiator=grace, created_at=now - timedelta(minutes=i))
        for i in range(30)
    ]
    client.force_login(grace)
    first = client.get(reverse("workflows:run-list"))
    second = client.get(reverse("workflows:run-list"), {"page": 2})
    assert first.context["runs"] == runs[:25]
    assert second.context["runs"] == runs[25:]
    assert "1–25 of 30 runs" in first.content.decode()
    assert "26–30 of 30 runs" in second.content.decode()


@pytest.mark.parametrize("page", ["9" * 20, "-5", "x", "1e9"])
def test_runs_tab_answers_a_page_number_past_any_end_or_no_number_at_all(
    client, grace, ws, page
):
    """A 20-digit page overflowed the database's integers: a 500."""
    make_run(workflow(ws, "deploy"), initiator=grace)
    client.force_login(grace)
    r = client.get(reverse("workflows:run-list"), {"page": page})
    assert r.status_code == 200
    assert len(r.context["runs"]) == (1 if page in ("-5", "x", "1e9") else 0)


def test_runs_tab_counts_runs_up_to_a_cap(client, grace, ws, monkeypatch):
    from workflows.views import RunsPage

    monkeypatch.setattr(RunsPage, "COUNT_CAP", 10)
    wf = workflow(ws, "deploy")
    for _ in range(30):
        make_run(wf, initiator=grace)
    client.force_login(grace)
    html = client.get(reverse("workflows:run-list"), {"page": 2}).content.decode()
    assert "26–30 of 10+ runs" in html
    assert "Newer" in html and "Older" not in html


def test_runs_tab_filters_by_workflow_status_entity_initiator_source_and_date(
    client, grace, ada, ws
):
    deploy, other = workflow(ws, "deploy"), workflow(ws, "other")
    svc = EntityFactory(workspace=ws, tag="svc")
    now = timezone.now()
    a = make_run(deploy, status=S.FAILED, initiator=grace, entity=svc)
    b = make_run(other, status=S.COMPLETED, initiator=ada, source=Run.Source.API)
    c = make_run(deploy, initiator=ada, created_at=now - timedelta(days=10))
    client.force_login(grace)

    def runs(**params):
        return set(client.get(reverse("workflows:run-list"), params).context["runs"])

    assert runs(workflow="deploy") == {a, c}
    assert runs(status="FAILED") == {a}
    assert runs(entity="svc") == {a}
    assert runs(initiator="ADA@example.com") == {b, c}
    assert runs(source="API") == {b}
    day = timedelta(days=1)
    assert runs(after=(now - day).date().isoformat()) == {a, b}
    assert runs(before=(now - 5 * day).date().isoformat()) == {c}
    assert runs(status="NOPE", after="not a date") == {a, b, c}


def test_a_reversed_date_range_says_why_the_runs_tab_is_empty(client, grace, ws):
    make_run(workflow(ws, "deploy"), initiator=grace)
    client.force_login(grace)
    params = {"after": "2026-03-10", "before": "2026-03-01"}
    for headers in ({}, {"HTTP_HX_REQUEST": "true"}):  # the page and its table
        html = client.get(reverse("workflows:run-list"), params, **headers)
        html = html.content.decode()
        assert (
            "No runs: “Started after” (2026-03-10) is later than"
            " “Started before” (2026-03-01)."
        ) in html
        assert "No runs match these filters." not in html
    same_day = {"after": "2026-03-01", "before": "2026-03-01"}
    html = client.get(reverse("workflows:run-list"), same_day).content.decode()
    assert "No runs match these filters." in html


def test_runs_tab_polls_while_a_run_is_unfinished_and_stops_after(client, grace, ws):
    wf = workflow(ws, "deploy")
    run = make_run(wf, status=S.IN_PROGRESS, initiator=grace)
    client.force_login(grace)
    html = client.get(reverse("workflows:run-list")).content.decode()
    assert re.search(r'id="runs-table"[^>]*hx-trigger="every 3s', html)
    Run.objects.filter(pk=run.pk).update(status=S.COMPLETED)
    r = client.get(reverse("workflows:run-list"), headers=HX)
    html = r.content.decode()
    assert html.lstrip().startswith('<div id="runs-table"')
    assert "every 3s" not in html


def idle_poller(html: str) -> str:
    return re.search(r'<div id="runs-poller"[^>]*>', html).group(0)


def test_runs_tab_with_only_finished_runs_asks_every_10s_whether_a_run_was_started(
    client, grace, ws
):
    wf = workflow(ws, "deploy")
    make_run(wf, initiator=grace)
    newest = make_run(wf, status=S.FAILED, initiator=grace)
    client.force_login(grace)
    html = client.get(reverse("workflows:run-list"), {"status": ""}).content.decode()
    table = re.search(r'<div id="runs-table"[^>]*>', html).group(0)
    assert "every" not in table  # nothing on the page changes any more
    assert 'data-polling="idle"' in table
    poller = idle_poller(html)
    assert f'hx-get="/workflows/runs/?status=&amp;since={newest.pk}"' in poller
    assert 'hx-trigger="every 10s" hx-target="#runs-table"' in poller


def test_the_idle_poll_answers_204_with_one_query_until_a_run_is_started(
    client, grace, ws
):
    wf = workflow(ws, "deploy")
    done = make_run(wf, initiator=grace)
    client.force_login(grace)
    url = reverse("workflows:run-list")

    def poll(since, **filters):
        with CaptureQueriesContext(connection) as ctx:
            r = client.get(url, {**filters, "since": since}, headers=HX)
        run_queries = [q for q in ctx.captured_queries if "workflows_run" in q["sql"]]
        return r, len(run_queries)

    r, queries = poll(done.pk)
    assert (r.status_code, r.content, queries) == (204, b"", 1)
    for _ in range(20):
        make_run(workflow(ws, f"wf-{workflow_count()}"), initiator=grace)
    started = make_run(wf, status=S.IN_PROGRESS, initiator=grace)
    r, queries = poll(started.pk)
    assert (r.status_code, queries) == (204, 1)
    # A run started elsewhere (the API, another tab) since the page was loaded:
    r, _ = poll(done.pk)
    html = r.content.decode()
    assert r.status_code == 200
    assert html.lstrip().startswith('<div id="runs-table" hx-get="/workflows/runs/"')
    assert f'id="run-{started.pk}"' in html
    assert re.search(r'id="runs-table"[^>]*hx-trigger="every 3s', html)
    assert 'id="runs-poller"' not in html
    # Only runs the filters keep wake a filtered list:
    r, _ = poll(done.pk, workflow="deploy", status="COMPLETED")
    assert r.status_code == 204


def test_the_idle_poll_of_a_later_page_knows_the_newest_run_of_the_whole_list(
    client, grace, ws
):
    wf = workflow(ws, "deploy")
    now = timezone.now()
    runs = [
        make_run(wf, initiator=grace, created_at=now - timedelta(minutes=i))
        for i in range(30)
    ]
    client.force_login(grace)
    html = client.get(reverse("workflows:run-list"), {"page": 2}).content.decode()
    poller = idle_poller(html)
    assert f'hx-get="/workflows/runs/?page=2&amp;since={runs[0].pk}"' in poller
    table = re.search(r'<div id="runs-table"[^>]*>', html).group(0)
    assert 'hx-get="/workflows/runs/?page=2"' in table


def test_a_page_past_the_end_of_the_runs_says_so_and_links_the_last_page(
    client, grace, ws
):
    wf = workflow(ws, "deploy")
    for _ in range(40):
        make_run(wf, initiator=grace)
    client.force_login(grace)
    r = client.get(reverse("workflows:run-list"), {"page": 99, "workflow": "deploy"})
    html = r.content.decode()
    assert r.status_code == 200
    assert (
        "There are no runs on page 99; the list has 2 pages."
        ' <a href="/workflows/runs/?workflow=deploy&amp;page=2"' in html
    )
    assert ">Go to page 2</a>" in html
    count = re.search(r'data-test="runs-count">([^<]*)<', html).group(1)
    assert count == "40 runs"
    assert "No runs" not in html
    assert "Newer" not in html and "Older" not in html


def test_a_page_past_the_end_of_more_runs_than_the_count_cap_counts_them_all_once(
    client, grace, ws, monkeypatch
):
    from workflows.views import RunsPage

    monkeypatch.setattr(RunsPage, "COUNT_CAP", 10)
    wf = workflow(ws, "deploy")
    for _ in range(30):
        make_run(wf, initiator=grace)
    client.force_login(grace)
    html = client.get(reverse("workflows:run-list"), {"page": 7}).content.decode()
    assert "There are no runs on page 7; the list has 2 pages." in html
    count = re.search(r'data-test="runs-count">([^<]*)<', html).group(1)
    assert count == "10+ runs"


def test_a_page_past_the_end_of_an_empty_list_says_there_are_no_runs(client, grace, ws):
    make_run(workflow(ws, "deploy"), initiator=grace)
    client.force_login(grace)
    html = client.get(
        reverse("workflows:run-list"), {"page": 3, "status": "FAILED"}
    ).content.decode()
    assert "No runs match these filters." in html
    assert "There are no runs on page" not in html
    count = re.search(r'data-test="runs-count">([^<]*)<', html).group(1)
    assert count == "0 runs"


def rename(wf, name):
    from workflows import services

    services.workflow_upsert(
        workspace=wf.workspace,
        descriptor={**wf.current_version.descriptor, "name": name},
    )
    wf.refresh_from_db()
    assert wf.name == name


def test_runs_keep_the_name_of_the_workflow_version_they_ran(client, grace, ws):
    wf = workflow(ws, "qa-form", name="QA form test")
    old = make_run(wf, initiator=grace)
    rename(wf, "QA form test v2")
    new = make_run(wf, initiator=grace)
    client.force_login(grace)

    html = client.get(reverse("workflows:run-list")).content.decode()
    row = re.search(rf'<tr id="run-{old.pk}">.*?</tr>', html, re.S).group(0)
    assert f'id="run-link-{old.pk}">QA form test</a>' in row
    row = re.search(rf'<tr id="run-{new.pk}">.*?</tr>', html, re.S).group(0)
    assert f'id="run-link-{new.pk}">QA form test v2</a>' in row

    # The run tiles (here: your recent runs) and Cancel run too:
    html = client.get(reverse("workflows:workflow-list")).content.decode()
    assert re.search(r'title="QA form test"[^>]*>QA form test</a>', html)
    Run.objects.filter(pk=old.pk).update(status=S.IN_PROGRESS)
    r = client.get(reverse("workflows:run-cancel", args=[old.pk]))
    assert "Cancel the run of <strong>QA form test</strong>" in r.content.decode()


def test_runs_tab_shows_that_a_queued_run_is_queued(client, grace, ws):
    wf = workflow(ws, "deploy")
    now = timezone.now()
    make_run(wf, status=S.QUEUED, initiator=grace, queued_at=now)
    second = make_run(
        wf, status=S.QUEUED, initiator=grace, queued_at=now + timedelta(seconds=1)
    )
    client.force_login(grace)
    r = client.get(reverse("workflows:run-list"))
    html = r.content.decode()
    assert "Queued" in html and "#2 in the queue" in html
    assert next(x for x in r.context["runs"] if x == second).queue_position == 2


def test_runs_tab_needs_view_workflow_runs(client, ws):
    from tests.factories import UserFactory

    role = Role.objects.create(
        workspace=ws, name="Reader", permissions=["VIEW_WORKFLOWS"]
    )
    reader = UserFactory(email="reader@example.com")
    member(ws, reader).roles.set([role])
    client.force_login(reader)
    assert client.get(reverse("workflows:run-list")).status_code == 403
    html = client.get(reverse("workflows:workflow-list")).content.decode()
    assert reverse("workflows:run-list") not in html


def test_runs_tab_shows_only_the_current_workspaces_runs(
    client, grace, ted, ws, other_ws
):
    make_run(workflow(ws, "deploy", name="Deploy"))
    make_run(workflow(other_ws, "rocket", name="Rocket"))
    client.force_login(grace)
    html = client.get(reverse("workflows:run-list")).content.decode()
    assert "Deploy" in html and "Rocket" not in html


def test_cancel_run_shows_on_runs_the_member_may_cancel(client, grace, mona, ws):
    wf = workflow(ws, "deploy")
    own = make_run(wf, status=S.IN_PROGRESS, initiator=grace)
    theirs = make_run(wf, status=S.PAUSED, initiator=mona)
    done = make_run(wf, status=S.COMPLETED, initiator=grace)
    client.force_login(grace)
    html = client.get(reverse("workflows:run-list")).content.decode()
    assert reverse("workflows:run-cancel", args=[own.pk]) in html
    assert reverse("workflows:run-cancel", args=[theirs.pk]) not in html
    assert reverse("workflows:run-cancel", args=[done.pk]) not in html
    client.force_login(mona)  # Manager: EDIT_WORKFLOW_RUNS
    html = client.get(reverse("workflows:run-list")).content.decode()
    assert reverse("workflows:run-cancel", args=[own.pk]) in html
    assert reverse("workflows:run-cancel", args=[theirs.pk]) in html


def test_runs_tab_query_count_does_not_grow_with_rows(
    client, grace, ws, django_assert_max_num_queries
):
    def add(n):
        for _ in range(n):
            wf = workflow(ws, f"wf-{workflow_count()}")
            entity = EntityFactory(workspace=ws)
            make_run(wf, status=S.QUEUED, initiator=grace, entity=entity)
            make_run(wf, status=S.COMPLETED, initiator=grace)
            make_run(wf, source=Run.Source.API, api_key=key)

    key, _ = api_key(ws, name="deploy-bot")
    add(2)
    client.force_login(grace)
    url = reverse("workflows:run-list")
    few = count_queries(client, url)
    add(20)
    with django_assert_max_num_queries(few):
        client.get(url)
    with django_assert_max_num_queries(few):
        client.get(url, {"status": "QUEUED", "workflow": "wf-1"})


def test_runs_tab_names_the_api_key_that_started_a_run_with_no_user(client, grace, ws):
    wf = workflow(ws, "deploy")
    key, _ = api_key(ws, name="deploy-bot")
    make_run(wf, source=Run.Source.API, api_key=key)
    make_run(wf, initiator=grace)
    client.force_login(grace)
    html = client.get(reverse("workflows:run-list")).content.decode()
    started_by = re.findall(r'data-label="Started by">([^<]*)</td>', html)
    assert started_by == ["grace@example.com", "API key deploy-bot"]


# Cancel run


def test_cancel_run_asks_for_confirmation_first(client, grace, ws):
    run = make_run(workflow(ws), status=S.PAUSED, initiator=grace)
    client.force_login(grace)
    r = client.get(reverse("workflows:run-cancel", args=[run.pk]), headers=HX)
    html = r.content.decode()
    assert "<dialog" in html and "Cancel run" in html
    run.refresh_from_db()
    assert run.status == S.PAUSED


def test_cancel_run_from_a_row_cancels_and_answers_with_the_row(client, grace, ws):
    run = make_run(workflow(ws), status=S.PAUSED, initiator=grace)
    client.force_login(grace)
    r = client.post(
        reverse("workflows:run-cancel", args=[run.pk]),
        headers={**HX, "HX-Target": f"run-{run.pk}"},
    )
    html = r.content.decode()
    assert r.status_code == 200
    assert html.lstrip().startswith(f'<tr id="run-{run.pk}"')
    assert "Canceled" in html
    assert "runs-changed" in r["HX-Trigger"]
    # Said in the page's status region, as the run page says it:
    assert json.loads(r["HX-Trigger"])["cairn:announce"] == {
        "message": f"Run {run.pk} of Deploy canceled."
    }
    run.refresh_from_db()
    assert run.status == S.CANCELLED


def test_cancel_from_a_row_of_a_run_that_ended_meanwhile_says_why_until_dismissed(
    client, grace, ws
):
    """Before, the list reloaded at once and wiped the row's message (QA)."""
    run = make_run(workflow(ws), status=S.COMPLETED, initiator=grace)
    client.force_login(grace)
    r = client.post(
        reverse("workflows:run-cancel", args=[run.pk]),
        headers={**HX, "HX-Target": f"run-{run.pk}"},
    )
    # Said above the page until dismissed (base.html), the list refreshed:
    assert r.status_code == 409
    assert unquote(r["X-Cairn-Message"]) == "A run that is successful can't be canceled"
    assert "runs-changed" in json.loads(r["HX-Trigger"])


def test_cancel_run_without_htmx_goes_back_to_next(client, grace, ws):
    run = make_run(workflow(ws), status=S.QUEUED, initiator=grace)
    client.force_login(grace)
    back = reverse("workflows:run-list") + "?status=QUEUED"
    r = client.post(reverse("workflows:run-cancel", args=[run.pk]), {"next": back})
    assert r.status_code == 302 and r["Location"] == back
    run.refresh_from_db()
    assert run.status == S.CANCELLED


def test_cancel_run_from_elsewhere_with_htmx_redirects_to_the_run_page(
    client, grace, ws
):
    run = make_run(workflow(ws), status=S.PAUSED, initiator=grace)
    client.force_login(grace)
    r = client.post(reverse("workflows:run-cancel", args=[run.pk]), headers=HX)
    assert r["HX-Redirect"] == run.get_absolute_url()


def test_a_user_can_not_cancel_someone_elses_run(client, grace, ada, vera, ws):
    run = make_run(workflow(ws), status=S.PAUSED, initiator=ada)
    url = reverse("workflows:run-cancel", args=[run.pk])
    for person in (grace, vera):
        client.force_login(person)
        assert client.get(url).status_code == 403
        assert client.post(url).status_code == 403
    run.refresh_from_db()
    assert run.status == S.PAUSED


def test_cancelling_a_finished_run_says_so(client, grace, ws):
    run = make_run(workflow(ws), status=S.COMPLETED, initiator=grace)
    client.force_login(grace)
    html = client.get(reverse("workflows:run-cancel", args=[run.pk])).content.decode()
    assert "successful already" in html
    r = client.post(reverse("workflows:run-cancel", args=[run.pk]), follow=True)
    assert "can&#x27;t be canceled" in r.content.decode()
    run.refresh_from_db()
    assert run.status == S.COMPLETED


def test_cancel_run_of_another_workspace_answers_404(client, grace, other_ws):
    run = make_run(workflow(other_ws), status=S.PAUSED)
    client.force_login(grace)
    assert (
        client.post(reverse("workflows:run-cancel", args=[run.pk])).status_code == 404
    )


# The entity page's Workflows section


def test_entity_section_lists_the_entity_workflows_that_apply_to_it(client, grace, ws):
    entity_workflow(ws, "provision", types=["service"])
    entity_workflow(ws, "for-libraries", types=["library"])
    entity_workflow(ws, "owners-only", ownershipScope="OWNER")
    workflow(ws, "global")
    entity_workflow(ws, "draft", isDraft=True)
    EntityFactory(workspace=ws, tag="payments-api", name="Payments API")
    client.force_login(grace)
    r = client.get(reverse("catalog:entity-workflows", args=["payments-api"]))
    assert [w.tag for w in r.context["workflows"]] == ["provision"]
    html = r.content.decode()
    run_url = reverse("workflows:workflow-run", args=["provision"])
    assert f"{run_url}?entity=payments-api" in html


def test_entity_section_shows_run_tiles_that_open_the_run(client, grace, ws):
    wf = entity_workflow(ws, "provision")
    entity = EntityFactory(workspace=ws, tag="payments-api")
    run = make_run(wf, status=S.IN_PROGRESS, initiator=grace, entity=entity)
    make_run(wf, initiator=grace)  # on no entity
    client.force_login(grace)
    r = client.get(reverse("catalog:entity-workflows", args=["payments-api"]))
    assert r.context["tiles"] == [run]
    html = r.content.decode()
    assert f'href="{run.get_absolute_url()}"' in html
    assert 'data-test="run-tile"' in html
    assert re.search(r'id="run-tiles"[^>]*hx-trigger="every 3s"', html)


def test_entity_tiles_say_who_or_what_started_each_run(
    client, grace, ws, django_assert_max_num_queries
):
    wf = entity_workflow(ws, "provision")
    entity = EntityFactory(workspace=ws, tag="payments-api")
    key, _ = api_key(ws, name="deploy-bot")
    make_run(wf, initiator=grace, entity=entity)
    make_run(wf, api_key=key, entity=entity)  # through the API, without runAs
    make_run(wf, status=S.PAUSED, api_key=key, entity=entity)
    make_run(wf, entity=entity)  # its key deleted since
    client.force_login(grace)
    with django_assert_max_num_queries(15):
        r = client.get(reverse("catalog:entity-workflows", args=["payments-api"]))
    html = r.content.decode()
    assert "grace@example.com" in html
    assert html.count("API key deploy-bot") == 2
    assert html.count("No initiator<") == 1
    assert "No initiator yet" not in html  # a paused run's key tells who started it


def test_entity_section_answers_htmx_polls_with_the_tiles(client, grace, ws):
    wf = entity_workflow(ws, "provision")
    entity = EntityFactory(workspace=ws, tag="payments-api")
    make_run(wf, status=S.COMPLETED, initiator=grace, entity=entity)
    client.force_login(grace)
    r = client.get(
        reverse("catalog:entity-workflows", args=["payments-api"]), headers=HX
    )
    html = r.content.decode()
    assert html.lstrip().startswith('<section id="run-tiles"')
    assert not re.search(
        r'<section id="run-tiles"[^>]*hx-trigger', html
    )  # nothing left to wait for


def test_a_viewer_sees_the_entity_workflows_without_run(client, vera, ws):
    entity_workflow(ws, "provision")
    EntityFactory(workspace=ws, tag="payments-api")
    client.force_login(vera)
    r = client.get(reverse("catalog:entity-workflows", args=["payments-api"]))
    assert [w.tag for w in r.context["workflows"]] == ["provision"]
    assert reverse("workflows:workflow-run", args=["provision"]) not in (
        r.content.decode()
    )


def test_entity_section_query_count_does_not_grow_with_rows(
    client, grace, ws, django_assert_max_num_queries
):
    entity = EntityFactory(workspace=ws, tag="payments-api")

    entity.owner_users.add(grace)
    Team.objects.create(workspace=ws, tag="release", name="Release")

    def add(n):
        for i in range(n):
            # Half of them runnable only by a team grace is not in:
            policies = [{"type": "TEAM", "id": "release"}] if i % 2 else []
            wf = entity_workflow(
                ws,
                f"wf-{workflow_count()}",
                ownershipScope="OWNER",
                runRestrictionPolicies=policies,
            )
            make_run(wf, initiator=grace, entity=entity)

    add(2)
    client.force_login(grace)
    url = reverse("catalog:entity-workflows", args=["payments-api"])
    few = count_queries(client, url)
    add(20)
    with django_assert_max_num_queries(few):
        r = client.get(url)
    assert len(r.context["workflows"]) == 22
    assert sum(w.can_run for w in r.context["workflows"]) == 11
    assert r.content.decode().count(">Restricted</span>") == 11


# Notifications


def test_the_bell_counts_unread_notifications_in_one_query(
    rf, grace, ada, ws, other_ws, django_assert_num_queries
):
    run = make_run(workflow(ws), initiator=grace)
    Notification.objects.create(workspace=ws, user=grace, run=run, message="a")
    Notification.objects.create(workspace=ws, user=grace, run=run, message="b")
    Notification.objects.create(
        workspace=ws, user=grace, message="read", read_at=timezone.now()
    )
    Notification.objects.create(workspace=ws, user=ada, message="not hers")
    Notification.objects.create(workspace=other_ws, user=grace, message="elsewhere")
    request = rf.get("/")
    request.user, request.workspace = grace, ws
    with django_assert_num_queries(1):
        assert unread_notification_count({"request": request}) == 2


def test_pages_show_the_bell_with_the_unread_count(client, grace, ws):
    Notification.objects.create(workspace=ws, user=grace, message="Deploy failed")
    client.force_login(grace)
    html = client.get(reverse("catalog:entity-list")).content.decode()
    # Its name comes from its content, which opening the panel updates:
    assert '<span class="visually-hidden">Notifications</span>' in html
    assert '1<span class="visually-hidden"> unread</span>' in html


def test_opening_notifications_lists_them_with_links_and_marks_them_read(
    client, grace, ws
):
    run = make_run(workflow(ws, name="Deploy"), initiator=grace)
    Notification.objects.create(
        workspace=ws, user=grace, run=run, message="Deploy failed"
    )
    client.force_login(grace)
    r = client.get(reverse("workflows:notifications"), headers=HX)
    html = r.content.decode()
    assert "Deploy failed" in html and run.get_absolute_url() in html
    assert 'id="notification-count" hx-swap-oob="true"' in html
    assert not Notification.objects.filter(read_at__isnull=True).exists()
    page = client.get(reverse("workflows:notifications")).content.decode()
    assert "Deploy failed" in page and "<html" in page


def test_a_request_whose_run_ended_says_it_waits_no_more_in_the_same_queries(
    client, grace, ws, django_assert_num_queries
):
    wf = workflow(ws, name="Deploy")
    for status in (S.PAUSED, S.CANCELLED, S.COMPLETED):
        run = make_run(wf, status=status, initiator=grace)
        Notification.objects.create(
            workspace=ws,
            user=grace,
            run=run,
            kind="NEEDS_INPUT",
            message=f"Run {run.pk} is waiting for your input",
        )
    client.force_login(grace)
    with django_assert_num_queries(7):
        html = client.get(reverse("workflows:notifications"), headers=HX)
    html = html.content.decode()
    assert html.count("no longer waiting: the run ended") == 2
    assert "no longer waiting: the run ended (Canceled)" in html
    assert "no longer waiting: the run ended (Successful)" in html


def _unread_for(user, ws, count: int, *, others) -> None:
    """`count` unread notifications for `user`, and one each for someone else
    and for `user` in another workspace: others = (other member, other workspace)."""
    for i in range(count):
        Notification.objects.create(workspace=ws, user=user, message=f"n{i}")
    someone, elsewhere = others
    Notification.objects.create(workspace=ws, user=someone, message="not hers")
    Notification.objects.create(workspace=elsewhere, user=user, message="elsewhere")


def test_notifications_past_those_shown_stay_unread_until_marked_all_read(
    client, grace, ada, ws, other_ws
):
    _unread_for(grace, ws, 13, others=(ada, other_ws))
    client.force_login(grace)
    panel = client.get(reverse("workflows:notifications"), headers=HX)
    # The bell's panel shows 10 and marks them read; the badge keeps the other 3.
    html = panel.content.decode()
    assert "All notifications (3 more unread)" in html
    assert '<span id="notification-count" hx-swap-oob="true"><span' in html
    assert '3<span class="visually-hidden"> unread</span>' in html
    assert Notification.objects.filter(user=grace, read_at__isnull=True).count() == 4
    page = client.get(reverse("workflows:notifications")).content.decode()
    assert "Mark all read" not in page  # the page shows all 13
    assert not Notification.objects.filter(
        workspace=ws, user=grace, read_at__isnull=True
    ).exists()


def test_marking_all_read_marks_only_the_members_own_in_this_workspace(
    client, grace, ada, ws, other_ws
):
    _unread_for(grace, ws, 55, others=(ada, other_ws))
    client.force_login(grace)
    page = client.get(reverse("workflows:notifications")).content.decode()
    assert "5 older notifications unread, not shown." in page
    r = client.post(reverse("workflows:notifications"), follow=True)
    assert "Marked 5 notifications read." in r.content.decode()
    assert "Mark all read" not in r.content.decode()
    unread = Notification.objects.filter(read_at__isnull=True)
    assert sorted(unread.values_list("message", flat=True)) == ["elsewhere", "not hers"]


def test_marking_all_read_with_none_unread_says_so(client, grace, ws):
    client.force_login(grace)
    r = client.post(reverse("workflows:notifications"), follow=True)
    assert "No unread notifications." in r.content.decode()


def test_notifications_are_the_members_own(client, grace, ada, ws):
    Notification.objects.create(workspace=ws, user=ada, message="For Ada")
    client.force_login(grace)
    html = client.get(reverse("workflows:notifications")).content.decode()
    assert "For Ada" not in html
    assert Notification.objects.get().read_at is None


@pytest.mark.parametrize(
    "name", ["workflow-list", "run-list", "notifications", "workflow-create"]
)
def test_workflow_pages_require_login(client, db, name):
    r = client.get(reverse(f"workflows:{name}"))
    assert r.status_code == 302


def test_the_entity_section_applies_the_same_rule_as_entities_for(grace, ws):
    """applies_to_entity mirrors permissions.entities_for; check every case."""
    from itertools import product

    from django.db.models import Prefetch

    from catalog.models import Entity, Group
    from portal.permissions import BUILTIN_ROLES
    from tests.factories import GroupFactory
    from workflows.permissions import entities_for
    from workflows.views import applies_to_entity

    library = EntityTypeFactory(workspace=ws, tag="library")
    backend, legacy = (
        GroupFactory(workspace=ws, tag="backend"),
        GroupFactory(workspace=ws, tag="legacy"),
    )
    team = Team.objects.create(workspace=ws, tag="payments", name="Payments")
    team.members.add(grace)
    made = []
    for n, (kind, groups, owner, archived) in enumerate(
        product(
            ["service", "library"],
            [(), ("backend",), ("backend", "legacy"), ("legacy",)],
            ["none", "user", "team"],
            [False, True],
        )
    ):
        typed = {"type": library} if kind == "library" else {}
        entity = EntityFactory(workspace=ws, tag=f"e{n}", archived=archived, **typed)
        entity.groups.set([g for g in (backend, legacy) if g.tag in groups])
        if owner == "user":
            entity.owner_users.add(grace)
        elif owner == "team":
            entity.owner_teams.add(team)
        made.append(entity)
    entities = list(
        Entity.objects.filter(pk__in=[e.pk for e in made])
        .select_related("type")
        .prefetch_related(
            Prefetch("groups", Group.objects.all()), "owner_teams", "owner_users"
        )
    )
    filters = [
        {"type": "GLOBAL"},
        *(
            {
                "type": "ENTITY",
                "ownershipScope": scope,
                "entityFilter": {
                    **({"typeFilter": {"types": types}} if types is not None else {}),
                    **({"entityGroupFilter": group_filter} if group_filter else {}),
                },
            }
            for scope, types, group_filter in product(
                ["ALL", "OWNER", "EDITOR"],
                [None, [], ["service"], ["library", "service"]],
                [
                    None,
                    {"entityGroups": ["backend"], "excludedEntityGroups": []},
                    {"entityGroups": [], "excludedEntityGroups": ["legacy"]},
                    {"entityGroups": ["backend"], "excludedEntityGroups": ["legacy"]},
                ],
            )
        ),
        {"type": "ENTITY"},
    ]
    for role in ("User", "Manager"):  # Manager may edit entities (EDITOR scope)
        perms = frozenset(BUILTIN_ROLES[role])
        for flt in filters:
            expected = set(
                entities_for(
                    {"filter": flt}, workspace=ws, user=grace, perms=perms
                ).values_list("pk", flat=True)
            )
            for entity in entities:
                owned = grace in entity.owner_users.all() or any(
                    grace in t.members.all() for t in entity.owner_teams.all()
                )
                got = applies_to_entity(flt, entity=entity, owned=owned, perms=perms)
                assert got == (entity.pk in expected), (role, flt, entity.tag)


def test_cancelling_a_run_with_a_block_in_flight_says_it_finishes_first(
    client, grace, ws
):
    import uuid

    run = make_run(workflow(ws), status=S.IN_PROGRESS, initiator=grace)
    Run.objects.filter(pk=run.pk).update(lease=uuid.uuid4())  # a worker holds it
    client.force_login(grace)

    r = client.post(reverse("workflows:run-cancel", args=[run.pk]), follow=True)

    html = r.content.decode()
    assert "Canceling run" in html and "finishes first" in html
    assert "canceled." not in html
    run.refresh_from_db()
    assert run.status == S.CANCELLING


@pytest.mark.parametrize(
    "path",
    [
        "/workflows/runs/{n}/",
        "/settings/members/{n}/",
        "/settings/teams/{n}/",
        "/settings/secrets/{n}/",
    ],
)
def test_an_id_longer_than_the_database_holds_answers_404(client, ada, path):
    """A 20-digit id overflowed SQLite's integers: a 500."""
    client.force_login(ada)
    assert client.get(path.format(n="9" * 20)).status_code == 404
    assert client.get(path.format(n="9" * 18)).status_code == 404


def test_an_empty_runs_tab_says_where_to_start_one_to_those_who_may(
    client, grace, vera, ws
):
    client.force_login(grace)
    html = client.get(reverse("workflows:run-list")).content.decode()
    assert "No runs yet. Start one with <strong>Run</strong> on the" in html
    client.force_login(vera)
    html = client.get(reverse("workflows:run-list")).content.decode()
    assert "No runs yet." in html and "Start one" not in html
