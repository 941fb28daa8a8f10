"""Settings: Slack, Microsoft Teams, GitHub, PagerDuty, Jira and GitLab
integrations (tokens stored encrypted)."""

import re

import pytest
from django.urls import reverse

from workflows.models import Integration
from workflows.secrets import decrypt, encrypt

TOKEN = "xoxb-1234567890-abcdefghijklmnop"
SLACK, TEAMS = Integration.Kind.SLACK, Integration.Kind.MS_TEAMS


def _integration(ws, kind=SLACK, alias="default", token=TOKEN, base_url=None):
    return Integration.objects.create(
        workspace=ws,
        kind=kind,
        alias=alias,
        base_url=base_url or "https://slack.com",
        encrypted_token=encrypt(token),
    )


def _add(client, **data):
    data = {"kind": "SLACK", "alias": "", "base_url": "", "token": TOKEN, **data}
    return client.post(reverse("settings:integration-add"), data)


def _update(client, integration, **data):
    data = {"alias": "default", "base_url": "", "token": "", **data}
    return client.post(
        reverse("settings:integration-update", args=[integration.pk]), data
    )


@pytest.mark.parametrize(
    ("kind", "base_url"),
    [
        ("SLACK", "https://slack.com"),
        ("MS_TEAMS", "https://graph.microsoft.com/v1.0"),
        ("GITHUB", "https://api.github.com"),
        ("PAGERDUTY", "https://api.pagerduty.com"),
        ("GITLAB", "https://gitlab.com"),
    ],
)
def test_a_manager_adds_an_integration_with_the_default_alias_and_url(
    client, ws, mona, kind, base_url
):
    client.force_login(mona)
    r = _add(client, kind=kind)
    assert r.status_code == 302
    assert r["Location"] == reverse("settings:integrations")
    integration = Integration.objects.get(workspace=ws)
    assert (integration.kind, integration.alias) == (kind, "default")
    assert integration.base_url == base_url
    assert decrypt(integration.encrypted_token) == TOKEN


def test_the_token_is_stored_only_encrypted_and_appears_in_no_page(client, ws, mona):
    client.force_login(mona)
    r = client.post(
        reverse("settings:integration-add"),
        {"kind": "SLACK", "alias": "ops", "base_url": "", "token": TOKEN},
        follow=True,
    )
    integration = Integration.objects.get(workspace=ws)
    pages = [
        r.content.decode(),
        client.get(reverse("settings:integrations")).content.decode(),
        client.get(
            reverse("settings:integration-edit", args=[integration.pk])
        ).content.decode(),
        _add(client, alias="ops").content.decode(),  # rejected: alias taken
    ]
    assert "Integration Slack (ops) created." in pages[0]
    assert all(TOKEN not in html for html in pages)
    assert all(integration.encrypted_token not in html for html in pages)
    assert TOKEN not in str(list(Integration.objects.values()))


def test_the_list_shows_kind_alias_url_and_whether_a_token_is_set(
    client, ws, other_ws, mona
):
    _integration(ws, SLACK, "default")
    _integration(ws, TEAMS, "eu", base_url="https://graph.microsoft.com/v1.0")
    _integration(other_ws, SLACK, "rockets")
    client.force_login(mona)
    html = client.get(reverse("settings:integrations")).content.decode()
    assert "Slack" in html and "Microsoft Teams" in html
    assert "<code>eu</code>" in html
    assert "<code>https://graph.microsoft.com/v1.0</code>" in html
    assert html.count(">Set</span>") == 2
    assert "rockets" not in html


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("https://slack.example.com/", "https://slack.example.com"),
        ("http://127.0.0.1:8089/mock", "http://127.0.0.1:8089/mock"),
        ("http://slack-mock:8080", "http://slack-mock:8080"),
        ("https://[::1]:8443", "https://[::1]:8443"),
    ],
)
def test_the_base_url_can_point_elsewhere(client, ws, mona, value, stored):
    client.force_login(mona)
    assert _add(client, base_url=value).status_code == 302
    assert Integration.objects.get(workspace=ws).base_url == stored


@pytest.mark.parametrize(
    "value",
    [
        "slack.com",
        "ftp://slack.com",
        "javascript:alert(1)",
        "https://",
        "https://exa mple.com",
        "https://user:pw@slack.com",
        "https://slack.com/?a=1",
        "https://slack.com:99999",
    ],
)
def test_a_base_url_must_be_an_http_url(client, ws, mona, value):
    client.force_login(mona)
    r = _add(client, base_url=value)
    assert r.status_code == 400
    assert "is not an http or https URL" in r.content.decode()
    assert not Integration.objects.exists()


def test_a_gitlab_integration_may_point_at_a_self_managed_instance(client, ws, mona):
    client.force_login(mona)
    r = _add(
        client,
        kind="GITLAB",
        base_url="https://gitlab.example.com/",
        token="glpat-0123456789",
    )
    assert r.status_code == 302
    integration = Integration.objects.get(workspace=ws)
    assert (integration.kind, integration.base_url) == (
        "GITLAB",
        "https://gitlab.example.com",
    )
    html = client.get(reverse("settings:integrations")).content.decode()
    assert "GitLab</a>" in html
    assert "<strong>GitLab</strong>: the <code>gitlab.*</code> actions" in html
    assert "glpat-0123456789" not in html


def test_a_jira_integration_needs_the_sites_address(client, ws, mona):
    client.force_login(mona)
    r = _add(client, kind="JIRA", token="ada@example.com:api-token")
    assert r.status_code == 400
    assert "Jira has no default address: give your site&#x27;s" in r.content.decode()
    assert not Integration.objects.exists()
    r = _add(
        client,
        kind="JIRA",
        base_url="https://acme.atlassian.net",
        token="ada@example.com:api-token",
    )
    assert r.status_code == 302
    assert (
        Integration.objects.get(workspace=ws).base_url == "https://acme.atlassian.net"
    )


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"kind": "OPSGENIE"}, "Select a valid choice."),
        ({"alias": "not a slug"}, "Enter a valid “slug”"),
        ({"token": ""}, "This field is required."),
    ],
)
def test_bad_input_is_rejected_and_nothing_is_saved(client, ws, mona, data, error):
    client.force_login(mona)
    r = _add(client, **data)
    assert r.status_code == 400
    assert error in r.content.decode()
    assert not Integration.objects.exists()


def test_aliases_are_unique_per_workspace_and_kind(client, ws, other_ws, mona):
    _integration(ws, SLACK, "default")
    _integration(other_ws, SLACK, "ops")
    client.force_login(mona)
    r = _add(client, kind="SLACK")
    assert r.status_code == 400
    assert (
        "A Slack integration with the alias “default” already exists."
        in r.content.decode()
    )
    assert _add(client, kind="MS_TEAMS").status_code == 302
    assert _add(client, kind="SLACK", alias="ops").status_code == 302
    assert Integration.objects.filter(workspace=ws).count() == 3


def test_the_edit_form_has_an_empty_token_field_and_no_kind(client, ws, mona):
    integration = _integration(ws)
    client.force_login(mona)
    html = client.get(
        reverse("settings:integration-edit", args=[integration.pk])
    ).content.decode()
    [field] = re.findall(r'<input[^>]*name="token"[^>]*>', html)
    assert 'type="password"' in field and "value=" not in field
    assert "Leave empty to keep the current value." in html
    assert 'name="kind"' not in html
    assert 'value="https://slack.com"' in html


def test_a_manager_edits_an_integration_and_keeps_its_token(client, ws, mona):
    integration = _integration(ws)
    before = integration.encrypted_token
    client.force_login(mona)
    r = _update(
        client,
        integration,
        kind="MS_TEAMS",  # ignored: the kind stays
        alias="ops",
        base_url="https://slack.internal/",
    )
    assert r.status_code == 302
    integration.refresh_from_db()
    assert integration.kind == SLACK
    assert (integration.alias, integration.base_url) == (
        "ops",
        "https://slack.internal",
    )
    assert integration.encrypted_token == before


def test_a_manager_replaces_the_token_and_an_empty_url_means_the_default(
    client, ws, mona
):
    integration = _integration(
        ws, TEAMS, token="old-token", base_url="https://teams.internal"
    )
    client.force_login(mona)
    r = _update(client, integration, token="new-token", base_url="")
    assert r.status_code == 302
    integration.refresh_from_db()
    assert decrypt(integration.encrypted_token) == "new-token"
    assert integration.base_url == "https://graph.microsoft.com/v1.0"


def test_an_edit_may_not_take_another_integrations_alias(client, ws, mona):
    _integration(ws, SLACK, "default")
    ops = _integration(ws, SLACK, "ops")
    _integration(ws, TEAMS, "eu")
    client.force_login(mona)
    r = _update(client, ops, alias="default")
    assert r.status_code == 400
    assert (
        "A Slack integration with the alias “default” already exists."
        in r.content.decode()
    )
    ops.refresh_from_db()
    assert ops.alias == "ops"
    # Its own alias, and an alias the other kind uses, are fine:
    assert _update(client, ops, alias="ops").status_code == 302
    assert _update(client, ops, alias="eu").status_code == 302


def test_a_rejected_edit_changes_nothing(client, ws, mona):
    integration = _integration(ws)
    client.force_login(mona)
    r = _update(client, integration, base_url="ftp://x", token="new-token")
    assert r.status_code == 400
    assert "new-token" not in r.content.decode()
    integration.refresh_from_db()
    assert integration.base_url == "https://slack.com"
    assert decrypt(integration.encrypted_token) == TOKEN


def test_a_manager_deletes_an_integration(client, ws, mona):
    integration = _integration(ws, TEAMS, "eu")
    client.force_login(mona)
    r = client.post(
        reverse("settings:integration-delete", args=[integration.pk]), follow=True
    )
    assert "Integration Microsoft Teams (eu) deleted." in r.content.decode()
    assert not Integration.objects.exists()


def test_users_and_viewers_cannot_manage_integrations(client, ws, grace, vera):
    integration = _integration(ws)
    for person in (grace, vera):
        client.force_login(person)
        assert client.get(reverse("settings:integrations")).status_code == 403
        r = client.get(reverse("settings:integration-edit", args=[integration.pk]))
        assert r.status_code == 403
        assert _add(client, kind="MS_TEAMS").status_code == 403
        assert _update(client, integration, alias="mine").status_code == 403
        r = client.post(reverse("settings:integration-delete", args=[integration.pk]))
        assert r.status_code == 403
    integration.refresh_from_db()
    assert integration.alias == "default"
    assert Integration.objects.count() == 1


def test_another_workspaces_integrations_answer_404(client, other_ws, ada):
    theirs = _integration(other_ws)
    client.force_login(ada)
    r = client.get(reverse("settings:integration-edit", args=[theirs.pk]))
    assert r.status_code == 404
    assert _update(client, theirs, alias="mine", token="mine").status_code == 404
    r = client.post(reverse("settings:integration-delete", args=[theirs.pk]))
    assert r.status_code == 404
    theirs.refresh_from_db()
    assert theirs.alias == "default" and decrypt(theirs.encrypted_token) == TOKEN


def test_write_views_refuse_get(client, ws, ada):
    integration = _integration(ws)
    client.force_login(ada)
    assert client.get(reverse("settings:integration-add")).status_code == 405
    for name in ("integration-update", "integration-delete"):
        r = client.get(reverse(f"settings:{name}", args=[integration.pk]))
        assert r.status_code == 405, name


def test_integrations_page_query_count_does_not_grow_with_rows(
    client, ws, mona, django_assert_max_num_queries
):
    for i in range(30):
        _integration(ws, SLACK, f"slack-{i}")
        _integration(ws, TEAMS, f"teams-{i}")
    client.force_login(mona)
    with django_assert_max_num_queries(8):
        r = client.get(reverse("settings:integrations"))
    assert r.content.decode().count(">Set</span>") == 60


def test_the_edit_form_gives_only_its_own_kinds_hints(client, ws, mona):
    client.force_login(mona)
    integration = _integration(ws, Integration.Kind.JIRA, base_url="https://acme.test")

    page = client.get(
        reverse("settings:integration-edit", args=[integration.pk])
    ).content.decode()

    assert "your site&#x27;s address" in page
    assert "email:API token" in page
    assert "https://slack.com" not in page
    assert "api scope" not in page


def test_base_url_is_marked_required_for_jira_only(client, ws, mona):
    client.force_login(mona)
    star = '<span class="asteriskField" data-kind-hint="JIRA">*</span>'
    add = client.get(reverse("settings:integrations")).content.decode()
    assert f"Base URL{star}" in add  # the page's script shows it when Jira is chosen
    jira = _integration(ws, Integration.Kind.JIRA, base_url="https://acme.test")
    slack = _integration(ws, alias="ops")
    edit = reverse("settings:integration-edit", args=[jira.pk])
    assert f"Base URL{star}" in client.get(edit).content.decode()
    edit = reverse("settings:integration-edit", args=[slack.pk])
    assert (
        "asteriskField"
        not in client.get(edit).content.decode().split("Base URL")[1][:40]
    )
