"""Settings: members' linked accounts (Cortex's identity mappings). What runs
see of them: tests/workflows/test_identity_mappings.py."""

import re

import pytest
from django.urls import reverse

from portal.models import Role
from tests.factories import integration
from workflows.models import LinkedAccount


@pytest.fixture
def github(ws):
    return integration(ws)


def _field(integration) -> str:
    return f"account_{integration.pk}"


def _linked(user, ws) -> dict[str, str]:
    return dict(
        LinkedAccount.objects.filter(
            membership__user=user, membership__workspace=ws
        ).values_list("integration__alias", "account")
    )


def test_an_admin_links_a_members_accounts_on_their_page(
    client, ws, ada, grace, github
):
    other = integration(ws, alias="enterprise")
    target = grace.memberships.get(workspace=ws)
    client.force_login(ada)
    page = client.get(
        reverse("settings:member-edit", args=[target.pk])
    ).content.decode()
    assert "Linked accounts" in page and "GitHub (enterprise)" in page
    r = client.post(
        reverse("settings:member-accounts", args=[target.pk]),
        {_field(github): " grace-h ", _field(other): "gh-enterprise"},
    )
    assert r.status_code == 302
    assert _linked(grace, ws) == {"default": "grace-h", "enterprise": "gh-enterprise"}
    page = client.get(
        reverse("settings:member-edit", args=[target.pk])
    ).content.decode()
    assert 'value="grace-h"' in page


def test_an_empty_account_unlinks_it_and_leaves_the_others(
    client, ws, ada, grace, github
):
    slack = integration(ws, kind="SLACK")
    target = grace.memberships.get(workspace=ws)
    LinkedAccount.objects.create(membership=target, integration=github, account="g")
    LinkedAccount.objects.create(membership=target, integration=slack, account="U1")
    client.force_login(ada)
    r = client.post(
        reverse("settings:member-accounts", args=[target.pk]),
        {_field(github): "", _field(slack): "U1"},
    )
    assert r.status_code == 302
    assert _linked(grace, ws) == {"default": "U1"}
    assert LinkedAccount.objects.get().integration == slack


@pytest.mark.parametrize(
    "account", ["grace hopper", "../../user/repos?x=", "a/b", "x#y", "g" * 40]
)
def test_an_account_that_is_no_github_login_is_refused_naming_the_rule_and_nothing_changes(
    client, ws, ada, grace, github, account
):
    """Workflows put accounts in URLs: no spaces, slashes, `?`, `#` or `..`."""
    target = grace.memberships.get(workspace=ws)
    LinkedAccount.objects.create(membership=target, integration=github, account="g")
    client.force_login(ada)
    r = client.post(
        reverse("settings:member-accounts", args=[target.pk]),
        {_field(github): account},
    )
    assert r.status_code == 400
    html = r.content.decode()
    assert "The GitHub (default) account must be a GitHub login" in html
    assert "A GitHub login: letters" in html  # the field's help, its capitals kept
    assert _linked(grace, ws) == {"default": "g"}


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        ("SLACK", "U024BE7LH", "u024be7lh"),
        ("GITLAB", "john.doe", "john..doe"),
        ("GITLAB", "john_doe", "john.git"),
        ("JIRA", "557058:f58131cb-b67d-43c7-b30d-6b58d40bd077", "557058/x"),
        ("PAGERDUTY", "grace@example.com", "grace@example.com?x"),
    ],
)
def test_each_kind_takes_its_own_accounts(client, ws, ada, grace, kind, good, bad):
    linked_to = integration(ws, kind=kind)
    target = grace.memberships.get(workspace=ws)
    client.force_login(ada)
    url = reverse("settings:member-accounts", args=[target.pk])
    assert client.post(url, {_field(linked_to): bad}).status_code == 400
    assert client.post(url, {_field(linked_to): good}).status_code == 302
    assert _linked(grace, ws) == {"default": good}


def test_one_account_is_never_linked_to_two_members_whatever_its_case(
    client, ws, ada, grace, mona, github
):
    LinkedAccount.objects.create(
        membership=grace.memberships.get(workspace=ws),
        integration=github,
        account="shared-login",
    )
    client.force_login(ada)
    r = client.post(
        reverse(
            "settings:member-accounts", args=[mona.memberships.get(workspace=ws).pk]
        ),
        {_field(github): "Shared-Login"},
    )
    assert r.status_code == 400
    assert (
        "Shared-Login is already linked to grace@example.com in GitHub (default)."
        in r.content.decode()
    )
    assert _linked(mona, ws) == {}
    # In another integration, it may be someone else's:
    other = integration(ws, alias="enterprise")
    r = client.post(
        reverse(
            "settings:member-accounts", args=[mona.memberships.get(workspace=ws).pk]
        ),
        {_field(other): "shared-login"},
    )
    assert r.status_code == 302


def test_a_member_manager_cannot_change_the_accounts_of_someone_with_more_permissions(
    client, ws, ada, vera, github
):
    """Else they could link an admin's runs to their own login (QA, 12-07)."""
    role = Role.objects.create(
        workspace=ws, name="People ops", permissions=["MANAGE_MEMBERS"]
    )
    vera.memberships.get(workspace=ws).roles.add(role)
    client.force_login(vera)
    admin = ada.memberships.get(workspace=ws)
    r = client.post(
        reverse("settings:member-accounts", args=[admin.pk]),
        {_field(github): "vera-r"},
    )
    assert r.status_code == 400
    assert (
        "You can&#x27;t change the linked accounts of a member with permissions you"
        " don&#x27;t have" in r.content.decode()
    )
    assert _linked(ada, ws) == {}
    # Their own, and those of members with no more than they have, they may:
    r = client.post(
        reverse(
            "settings:member-accounts", args=[vera.memberships.get(workspace=ws).pk]
        ),
        {_field(github): "vera-r"},
    )
    assert r.status_code == 302
    assert _linked(vera, ws) == {"default": "vera-r"}


def test_an_account_longer_than_200_characters_is_refused(
    client, ws, ada, grace, github
):
    target = grace.memberships.get(workspace=ws)
    client.force_login(ada)
    r = client.post(
        reverse("settings:member-accounts", args=[target.pk]),
        {_field(github): "g" * 201},
    )
    assert r.status_code == 400
    assert "at most 200 characters" in r.content.decode()
    assert not LinkedAccount.objects.exists()


def test_a_member_sees_their_own_accounts_but_cannot_change_anyones(
    client, ws, grace, vera, github
):
    mine = grace.memberships.get(workspace=ws)
    LinkedAccount.objects.create(membership=mine, integration=github, account="g-h")
    client.force_login(grace)
    page = client.get(reverse("settings:accounts")).content.decode()
    assert "<code>g-h</code>" in page and "ask one to change yours" in page
    for target in (mine, vera.memberships.get(workspace=ws)):
        r = client.post(
            reverse("settings:member-accounts", args=[target.pk]),
            {_field(github): "someone-else"},
        )
        assert r.status_code == 403
    assert _linked(grace, ws) == {"default": "g-h"}
    assert not LinkedAccount.objects.filter(membership__user=vera).exists()


def test_the_accounts_page_says_when_there_is_nothing_to_link(client, ws, grace):
    client.force_login(grace)
    page = client.get(reverse("settings:accounts")).content.decode()
    assert "no integrations yet, so there is nothing to link" in page


def test_another_workspaces_member_or_integration_cannot_be_linked(
    client, ws, other_ws, ada, grace, ted, github
):
    theirs = ted.memberships.get(workspace=other_ws)
    client.force_login(ada)
    r = client.post(
        reverse("settings:member-accounts", args=[theirs.pk]),
        {_field(github): "x"},
    )
    assert r.status_code == 404
    # Another workspace's integration is no field of this form: ignored.
    their_github = integration(other_ws)
    r = client.post(
        reverse(
            "settings:member-accounts", args=[grace.memberships.get(workspace=ws).pk]
        ),
        {_field(their_github): "x"},
    )
    assert r.status_code == 302
    assert not LinkedAccount.objects.exists()


def test_deleting_an_integration_unlinks_its_accounts(client, ws, ada, grace, github):
    LinkedAccount.objects.create(
        membership=grace.memberships.get(workspace=ws), integration=github, account="g"
    )
    client.force_login(ada)
    r = client.post(reverse("settings:integration-delete", args=[github.pk]))
    assert r.status_code == 302
    assert not LinkedAccount.objects.exists()


def test_the_member_page_and_the_accounts_page_keep_their_query_count_with_more_integrations(
    client, ws, ada, grace, django_assert_max_num_queries
):
    target = grace.memberships.get(workspace=ws)
    mine = ada.memberships.get(workspace=ws)
    for n in range(12):
        org = integration(ws, alias=f"org-{n}")
        for membership, letter in ((target, "a"), (mine, "b")):
            LinkedAccount.objects.create(
                membership=membership, integration=org, account=f"{letter}{n}"
            )
    client.force_login(ada)
    with django_assert_max_num_queries(12):
        page = client.get(reverse("settings:member-edit", args=[target.pk]))
    assert len(re.findall(r'value="a\d+"', page.content.decode())) == 12
    with django_assert_max_num_queries(10):
        page = client.get(reverse("settings:accounts"))
    assert len(re.findall(r"<code>b\d+</code>", page.content.decode())) == 12
