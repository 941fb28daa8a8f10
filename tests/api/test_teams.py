"""Teams through the API, in Cortex's shape (`cortex teams …`)."""

import pytest

from catalog.models import Team
from tests.factories import TeamFactory, UserFactory, api_key, member


@pytest.fixture
def linus(ws):
    user = UserFactory(email="linus@example.com")
    member(ws, user)
    return user


def body(tag="platform", name="Platform", members=(), **extra) -> dict:
    return {
        "type": "CORTEX",
        "teamTag": tag,
        "links": [],
        "metadata": {"name": name},
        "slackChannels": [],
        "cortexTeam": {"members": [{"email": e, "name": e} for e in members]},
        **extra,
    }


def test_a_team_is_created_with_its_members_and_read_back(admin_api, ws, grace, linus):
    r = admin_api.post(
        "/teams", body(members=["grace@example.com", "LINUS@example.com"])
    )
    assert r.status_code == 200, r.content
    team = Team.objects.get(workspace=ws, tag="platform")
    assert sorted(team.members.values_list("email", flat=True)) == [
        "grace@example.com",
        "linus@example.com",
    ]
    got = admin_api.get("/teams/platform").json()
    assert got == r.json()
    assert (got["teamTag"], got["type"], got["metadata"]["name"]) == (
        "platform",
        "CORTEX",
        "Platform",
    )
    assert [m["email"] for m in got["cortexTeam"]["members"]] == [
        "grace@example.com",
        "linus@example.com",
    ]


def test_the_list_leaves_out_teams_without_members_unless_asked(admin_api, ws, grace):
    TeamFactory(workspace=ws, tag="empty", name="Empty")
    TeamFactory(workspace=ws, tag="full", name="Full").members.add(grace)

    def tags(**params):
        return [t["teamTag"] for t in admin_api.get("/teams", params).json()["teams"]]

    assert tags() == ["full"]
    assert tags(includeTeamsWithoutMembers="true") == ["empty", "full"]


def test_the_list_takes_the_same_queries_however_many_teams(
    admin_api, ws, grace, django_assert_max_num_queries
):
    for n in range(5):
        TeamFactory(workspace=ws, tag=f"t{n}", name=f"T{n}").members.add(grace)
    admin_api.get("/teams")  # warm (the key's workspace and roles)
    with django_assert_max_num_queries(8):
        assert len(admin_api.get("/teams").json()["teams"]) == 5


def test_a_team_update_sets_name_description_and_members(admin_api, ws, grace, linus):
    team = TeamFactory(workspace=ws, tag="platform", name="Platform")
    team.members.add(grace)
    got = admin_api.get(
        "/teams/platform"
    ).json()  # what `cortex teams update` sends back
    got["metadata"]["name"] = "Platform team"
    got["metadata"]["description"] = "Runs the platform"
    got["cortexTeam"]["members"] = [{"email": "linus@example.com", "name": "Linus"}]
    r = admin_api.put("/teams/platform", got)
    assert r.status_code == 200, r.content
    team.refresh_from_db()
    assert (team.name, team.description) == ("Platform team", "Runs the platform")
    assert list(team.members.all()) == [linus]


def test_what_cairns_teams_cannot_hold_is_refused_naming_it_and_nothing_changes(
    admin_api, ws, grace
):
    outsider = UserFactory(email="out@example.com")
    team = TeamFactory(workspace=ws, tag="platform", name="Platform")
    team.members.add(grace)
    cases = [
        (
            body(members=["out@example.com"]),
            "cortexTeam.members[0].email: out@example.com is not a member of this"
            " workspace",
        ),
        (body(type="IDP", idpGroup={"group": "g", "provider": "OKTA"}), "type: "),
        (body(links=[{"name": "x"}]), "links: Cairn's teams have none"),
        (body(isArchived=True), "isArchived: Cairn's teams can't be archived"),
        (body(teamTag="other"), "teamTag: a team's tag can't change (platform)"),
        (body(colour="red"), "colour: Extra inputs are not permitted"),
        (body(name="   "), "metadata.name: must not be blank"),
    ]
    for sent, says in cases:
        r = admin_api.put("/teams/platform", sent)
        assert r.status_code == 400, (sent, r.content)
        assert says in r.json()["message"]
    assert list(team.members.all()) == [grace] and outsider not in team.members.all()
    r = admin_api.post("/teams", body(tag="new team"))
    assert r.status_code == 400 and r.json()["message"].startswith("teamTag: ")
    r = admin_api.post("/teams", body())
    assert r.status_code == 409
    assert r.json()["message"] == "A team with the tag platform already exists"
    assert Team.objects.count() == 1


def test_a_team_is_deleted(admin_api, ws):
    TeamFactory(workspace=ws, tag="platform", name="Platform")
    assert admin_api.delete("/teams/platform").status_code == 200
    assert not Team.objects.exists()
    r = admin_api.delete("/teams/platform")
    assert r.status_code == 404
    assert r.json()["message"] == "could not find team with tag: platform"


def test_changing_teams_needs_manage_teams_and_stays_in_the_workspace(
    ws, other_ws, as_key, grace
):
    team = TeamFactory(workspace=ws, tag="platform", name="Platform")
    viewer = as_key(api_key(ws, "Viewer")[1])
    outsider = as_key(api_key(other_ws, "Admin")[1])
    member(other_ws, grace)
    assert viewer.get("/teams/platform").status_code == 200
    assert viewer.post("/teams", body(tag="new")).status_code == 403
    assert viewer.put("/teams/platform", body()).status_code == 403
    assert viewer.delete("/teams/platform").status_code == 403
    assert outsider.get("/teams/platform").status_code == 404
    assert outsider.put("/teams/platform", body()).status_code == 404
    assert outsider.delete("/teams/platform").status_code == 404
    assert outsider.get("/teams", {"includeTeamsWithoutMembers": "true"}).json() == {
        "teams": []
    }
    assert Team.objects.filter(pk=team.pk, name="Platform").exists()


@pytest.mark.parametrize("body", [b"", b" \n"])
@pytest.mark.parametrize("path", ["/teams", "/ip-allowlist/validate"])
def test_a_request_with_no_body_is_a_400_saying_so(admin_api, path, body):
    """Before: "Field required", naming no field (or "not null" for blanks)."""
    r = admin_api.post(path, body)
    assert r.status_code == 400
    assert r.json()["message"] == "The request has no body: it must be a JSON object"


def test_team_writes_and_the_allowlist_put_honour_an_idempotency_key(admin_api, ws):
    """Before, the header was ignored there, though the README says any write."""
    key = {"Idempotency-Key": "ops-1"}
    body = {"teamTag": "ops", "metadata": {"name": "Ops"}}
    first = admin_api.post("/teams", body, headers=key)
    again = admin_api.post("/teams", body, headers=key)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    other = admin_api.post("/teams", {**body, "teamTag": "sre"}, headers=key)
    assert other.status_code == 422
    assert not Team.objects.filter(tag="sre").exists()

    entries = {"entries": [{"address": "127.0.0.0/8"}]}  # the tests' own address
    put = {"Idempotency-Key": "allow-1"}
    assert (
        admin_api.put("/ip-allowlist?force=true", entries, headers=put).status_code
        == 200
    )
    changed = {"entries": [{"address": "127.0.0.0/8"}, {"address": "10.0.0.0/8"}]}
    r = admin_api.put("/ip-allowlist?force=true", changed, headers=put)
    assert r.status_code == 422
    assert list(ws.ip_allowlist.values_list("address", flat=True)) == ["127.0.0.0/8"]


def test_a_team_tag_of_digits_only_is_refused_as_it_would_read_as_an_id(admin_api):
    """QA: "123" in approvingTeamIds named both team 123 and the team tagged 123."""
    r = admin_api.post("/teams", {"teamTag": "123", "metadata": {"name": "Numbers"}})
    assert r.status_code == 400
    assert r.json()["message"] == (
        "teamTag: “123” is only digits, which workflows and the API read as a team's"
        " id; add a letter."
    )
    assert not Team.objects.filter(tag="123").exists()
