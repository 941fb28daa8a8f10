"""Settings: teams and their members."""

from django.urls import reverse

from catalog.models import Team
from tests.factories import TeamFactory, UserFactory, member


def test_teams_page_lists_teams_with_member_counts(
    client, ws, other_ws, mona, grace, vera
):
    team = TeamFactory(workspace=ws, tag="platform", name="Platform")
    team.members.add(grace, vera)
    TeamFactory(workspace=other_ws, tag="rockets", name="Rockets")
    client.force_login(mona)
    html = client.get(reverse("settings:teams")).content.decode()
    assert "Platform" in html and "2 members" in html
    assert "Rockets" not in html


def test_teams_page_query_count_does_not_grow_with_rows(
    client, ws, mona, grace, django_assert_max_num_queries
):
    for i in range(30):
        TeamFactory(workspace=ws, tag=f"team-{i}").members.add(grace, mona)
    client.force_login(mona)
    with django_assert_max_num_queries(8):
        r = client.get(reverse("settings:teams"))
    assert r.content.decode().count("2 members") == 30


def test_a_manager_creates_a_team(client, ws, mona):
    client.force_login(mona)
    r = client.post(
        reverse("settings:team-add"),
        {"tag": "payments", "name": "Payments", "description": "Money in, money out"},
    )
    team = Team.objects.get(workspace=ws, tag="payments")
    assert r.status_code == 302
    assert r["Location"] == reverse("settings:team-edit", args=[team.pk])
    assert (team.name, team.description) == ("Payments", "Money in, money out")


def test_team_tags_are_unique_per_workspace(client, ws, other_ws, mona):
    TeamFactory(workspace=ws, tag="payments")
    TeamFactory(workspace=other_ws, tag="ledger")
    client.force_login(mona)
    r = client.post(reverse("settings:team-add"), {"tag": "payments", "name": "Again"})
    assert r.status_code == 400
    assert "A team with the tag “payments” already exists." in r.content.decode()
    assert Team.objects.filter(workspace=ws).count() == 1
    r = client.post(reverse("settings:team-add"), {"tag": "ledger", "name": "Ledger"})
    assert r.status_code == 302


def test_a_team_tag_must_be_a_slug(client, ws, mona):
    client.force_login(mona)
    r = client.post(reverse("settings:team-add"), {"tag": "no spaces!", "name": "Nope"})
    assert r.status_code == 400
    assert "Enter a valid “slug”" in r.content.decode()
    assert not Team.objects.filter(workspace=ws).exists()


def test_a_manager_edits_a_teams_name_description_and_members(
    client, ws, mona, grace, vera
):
    team = TeamFactory(workspace=ws, tag="platform", name="Platform")
    team.members.add(vera)
    client.force_login(mona)
    page = client.get(reverse("settings:team-edit", args=[team.pk])).content.decode()
    assert "grace@example.com" in page
    r = client.post(
        reverse("settings:team-update", args=[team.pk]),
        {
            "name": "Platform team",
            "description": "Approvers",
            "members": [grace.pk, mona.pk],
        },
    )
    assert r.status_code == 302
    team.refresh_from_db()
    assert (team.name, team.description) == ("Platform team", "Approvers")
    assert set(team.members.all()) == {grace, mona}


def test_team_members_must_belong_to_the_workspace(client, ws, mona, grace, ted):
    team = TeamFactory(workspace=ws, name="Platform")
    team.members.add(grace)
    outsider = UserFactory(email="outsider@example.com")
    client.force_login(mona)
    page = client.get(reverse("settings:team-edit", args=[team.pk])).content.decode()
    assert "ted@example.com" not in page and "outsider@example.com" not in page
    for stranger in (ted, outsider):
        r = client.post(
            reverse("settings:team-update", args=[team.pk]),
            {"name": "Platform", "members": [grace.pk, stranger.pk]},
        )
        assert r.status_code == 400
        assert "Select a valid choice." in r.content.decode()
    assert list(team.members.all()) == [grace]


def test_a_team_needs_a_name(client, ws, mona):
    team = TeamFactory(workspace=ws, name="Platform")
    client.force_login(mona)
    r = client.post(reverse("settings:team-update", args=[team.pk]), {"name": ""})
    assert r.status_code == 400
    team.refresh_from_db()
    assert team.name == "Platform"


def test_a_manager_deletes_a_team(client, ws, mona):
    team = TeamFactory(workspace=ws, name="Platform")
    client.force_login(mona)
    r = client.post(reverse("settings:team-delete", args=[team.pk]), follow=True)
    assert "Team “Platform” deleted." in r.content.decode()
    assert not Team.objects.filter(pk=team.pk).exists()


def test_users_and_viewers_cannot_manage_teams(client, ws, grace, vera):
    team = TeamFactory(workspace=ws, name="Platform")
    for person in (grace, vera):
        client.force_login(person)
        assert client.get(reverse("settings:teams")).status_code == 403
        assert (
            client.get(reverse("settings:team-edit", args=[team.pk])).status_code == 403
        )
        r = client.post(reverse("settings:team-add"), {"tag": "mine", "name": "Mine"})
        assert r.status_code == 403
        r = client.post(
            reverse("settings:team-update", args=[team.pk]),
            {"name": "Mine", "members": [person.pk]},
        )
        assert r.status_code == 403
        assert (
            client.post(reverse("settings:team-delete", args=[team.pk])).status_code
            == 403
        )
    team.refresh_from_db()
    assert team.name == "Platform" and not team.members.exists()
    assert Team.objects.filter(workspace=ws).count() == 1


def test_another_workspaces_teams_answer_404(client, other_ws, ada, ted):
    theirs = TeamFactory(workspace=other_ws, name="Rockets")
    client.force_login(ada)
    assert (
        client.get(reverse("settings:team-edit", args=[theirs.pk])).status_code == 404
    )
    r = client.post(reverse("settings:team-update", args=[theirs.pk]), {"name": "Mine"})
    assert r.status_code == 404
    assert (
        client.post(reverse("settings:team-delete", args=[theirs.pk])).status_code
        == 404
    )
    assert Team.objects.get(pk=theirs.pk).name == "Rockets"


def test_team_edit_page_query_count_does_not_grow_with_members(
    client, ws, mona, django_assert_max_num_queries
):
    team = TeamFactory(workspace=ws)
    for _ in range(30):
        team.members.add(member(ws, UserFactory()).user)
    client.force_login(mona)
    with django_assert_max_num_queries(10):
        r = client.get(reverse("settings:team-edit", args=[team.pk]))
    assert r.status_code == 200
