"""Secrets and the IP allowlist through Cortex's API (`cortex secrets …`,
`cortex ip-allowlist …`): the same rules as the Settings pages, a value that
goes in and never comes out, and another workspace's settings out of reach."""

import json

import pytest

from portal.models import IpAllowlistEntry
from tests.factories import api_key
from workflows.models import Secret
from workflows.secrets import decrypt

VALUE = 'hunter2-Ω-"quoted"'


@pytest.fixture
def stored(ws):
    return Secret.objects.create(
        workspace=ws, tag="deploy_token", name="Deploy token", encrypted_value="x"
    )


def entries(workspace) -> list[tuple[str, str]]:
    return list(
        IpAllowlistEntry.objects.filter(workspace=workspace)
        .order_by("address")
        .values_list("address", "description")
    )


# --- secrets ---------------------------------------------------------------------


def test_a_secret_created_through_the_api_is_stored_encrypted_and_never_answered(
    ws, admin_api
):
    response = admin_api.post(
        "/secrets", {"name": "GitHub token", "secret": VALUE, "tag": "github-token"}
    )

    assert response.status_code == 200, response.content
    secret = Secret.objects.get(workspace=ws, tag="github-token")
    assert response.json() == {
        "id": str(secret.pk),
        "name": "GitHub token",
        "tag": "github-token",
    }
    assert VALUE not in secret.encrypted_value
    assert decrypt(secret.encrypted_value) == VALUE
    for got in (admin_api.get("/secrets"), admin_api.get("/secrets/github-token")):
        assert VALUE not in got.content.decode()


def test_secrets_are_listed_by_tag_a_page_at_a_time(ws, admin_api):
    for tag in ("b", "a", "c"):
        Secret.objects.create(workspace=ws, tag=tag, name=tag.upper())

    first = admin_api.get("/secrets", {"pageSize": 2}).json()
    second = admin_api.get("/secrets", {"pageSize": 2, "page": 1}).json()

    assert [s["tag"] for s in first["secrets"]] == ["a", "b"]
    assert [s["tag"] for s in second["secrets"]] == ["c"]
    assert (first["page"], first["total"], first["totalPages"]) == (0, 3, 2)


def test_a_secret_is_found_by_its_tag_or_its_id(stored, admin_api):
    by_tag = admin_api.get("/secrets/deploy_token")
    by_id = admin_api.get(f"/secrets/{stored.pk}")

    assert (
        by_tag.json()
        == by_id.json()
        == {
            "id": str(stored.pk),
            "name": "Deploy token",
            "tag": "deploy_token",
        }
    )


def test_a_tag_made_of_digits_names_its_own_secret_before_an_id(ws, stored, admin_api):
    # Stored before such tags were refused:
    Secret.objects.create(workspace=ws, tag=str(stored.pk), name="Digits")

    assert admin_api.get(f"/secrets/{stored.pk}").json()["name"] == "Digits"


def test_renaming_a_secret_keeps_its_value(ws, admin_api):
    admin_api.post("/secrets", {"name": "Old", "secret": VALUE, "tag": "t"})

    response = admin_api.put("/secrets/t", {"name": "New"})

    assert response.status_code == 200, response.content
    assert response.json()["name"] == "New"
    secret = Secret.objects.get(workspace=ws, tag="t")
    assert (secret.name, decrypt(secret.encrypted_value)) == ("New", VALUE)


def test_a_secrets_value_is_replaced_and_its_name_kept(ws, admin_api):
    admin_api.post("/secrets", {"name": "Token", "secret": VALUE, "tag": "t"})

    response = admin_api.put("/secrets/t", {"secret": "rotated"})

    assert response.status_code == 200, response.content
    assert "rotated" not in response.content.decode()
    secret = Secret.objects.get(workspace=ws, tag="t")
    assert (secret.name, decrypt(secret.encrypted_value)) == ("Token", "rotated")


def test_a_secret_is_deleted_by_its_tag(ws, stored, admin_api):
    response = admin_api.delete("/secrets/deploy_token")

    assert response.status_code == 200
    assert not Secret.objects.filter(workspace=ws).exists()
    assert admin_api.get("/secrets/deploy_token").status_code == 404


def test_a_second_secret_with_a_taken_tag_is_a_conflict_and_the_first_is_kept(
    ws, stored, admin_api
):
    response = admin_api.post(
        "/secrets", {"name": "Other", "secret": "s", "tag": "deploy_token"}
    )

    assert response.status_code == 409
    assert "deploy_token" in response.json()["message"]
    assert Secret.objects.get(workspace=ws).name == "Deploy token"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"name": "X", "secret": "s", "tag": "has space"}, "tag: "),
        ({"name": "X", "secret": "s", "tag": "t" * 101}, "tag: "),
        ({"name": "X", "secret": "s", "tag": "t", "tags": 1}, "tags: Extra inputs"),
        (
            {"name": "X", "secret": "s", "tag": "12"},
            "tag: “12” is only digits, which the API reads as a secret's id",
        ),
        ({"name": "", "secret": "s", "tag": "t"}, "name: "),
        ({"name": "X", "secret": "", "tag": "t"}, "secret: "),
        (
            {"name": "X", "secret": "   ", "tag": "t"},
            "secret: The value can't be only spaces",
        ),
        ({"name": "X", "tag": "t"}, "secret: Field required"),
        ({"name": "X", "secret": 7, "tag": "t"}, "secret: "),
    ],
)
def test_a_bad_secret_is_refused_naming_the_field_and_nothing_is_saved(
    ws, admin_api, body, says
):
    response = admin_api.post("/secrets", body)

    assert response.status_code == 400
    assert says in response.json()["message"]
    assert not Secret.objects.filter(workspace=ws).exists()


def test_an_update_naming_a_field_it_cannot_change_is_refused(stored, admin_api):
    response = admin_api.put("/secrets/deploy_token", {"name": "X", "tag": "moved"})

    assert response.status_code == 400
    assert "tag: Extra inputs are not permitted" in response.json()["message"]
    stored.refresh_from_db()
    assert (stored.tag, stored.name) == ("deploy_token", "Deploy token")


def test_an_update_with_nothing_to_change_or_an_empty_value_is_refused(
    stored, admin_api
):
    nothing = admin_api.put("/secrets/deploy_token", {})
    empty = admin_api.put("/secrets/deploy_token", {"secret": ""})

    assert nothing.status_code == empty.status_code == 400
    assert "Give name or secret" in nothing.json()["message"]
    assert "secret: The value can't be empty" in empty.json()["message"]
    stored.refresh_from_db()
    assert stored.encrypted_value == "x"


def test_a_key_without_manage_secrets_can_neither_read_nor_write_secrets(
    ws, stored, as_key
):
    user_key = as_key(api_key(ws, "User")[1])

    for response in (
        user_key.get("/secrets"),
        user_key.get("/secrets/deploy_token"),
        user_key.post("/secrets", {"name": "X", "secret": "s", "tag": "x"}),
        user_key.put("/secrets/deploy_token", {"name": "Mine"}),
        user_key.delete("/secrets/deploy_token"),
    ):
        assert response.status_code == 403
        assert "MANAGE_SECRETS" in response.json()["message"]
    assert list(Secret.objects.values_list("tag", "name")) == [
        ("deploy_token", "Deploy token")
    ]


def test_another_workspaces_secret_is_a_404_and_is_left_alone(other_ws, admin_api):
    theirs = Secret.objects.create(
        workspace=other_ws, tag="vault", name="Vault", encrypted_value="x"
    )

    for response in (
        admin_api.get("/secrets/vault"),
        admin_api.get(f"/secrets/{theirs.pk}"),
        admin_api.put("/secrets/vault", {"name": "Mine", "secret": "s"}),
        admin_api.delete(f"/secrets/{theirs.pk}"),
    ):
        assert response.status_code == 404
    assert admin_api.get("/secrets").json()["total"] == 0
    theirs.refresh_from_db()
    assert (theirs.name, theirs.encrypted_value) == ("Vault", "x")
    # The same tag is free in this workspace:
    assert (
        admin_api.post(
            "/secrets", {"name": "Ours", "secret": "s", "tag": "vault"}
        ).status_code
        == 200
    )


# --- the IP allowlist -----------------------------------------------------------


def test_the_allowlist_is_replaced_in_canonical_form_and_listed(ws, admin_api):
    response = admin_api.put(
        "/ip-allowlist",
        {
            "entries": [
                {"address": "127.0.0.1", "description": "this machine"},
                {"address": "10.1.2.3/8"},
                {"address": " 2001:db8::1/32 ", "description": "office"},
            ]
        },
    )

    assert response.status_code == 200, response.content
    assert entries(ws) == [
        ("10.0.0.0/8", ""),
        ("127.0.0.1", "this machine"),
        ("2001:db8::/32", "office"),
    ]
    listed = admin_api.get("/ip-allowlist").json()
    assert listed == response.json()
    assert listed["entries"][0] == {"address": "10.0.0.0/8", "description": None}
    assert (listed["page"], listed["total"], listed["totalPages"]) == (0, 3, 1)


def test_replacing_drops_the_entries_not_given(ws, admin_api):
    IpAllowlistEntry.objects.create(workspace=ws, address="192.168.0.0/16")
    IpAllowlistEntry.objects.create(workspace=ws, address="127.0.0.0/8")

    admin_api.put("/ip-allowlist", {"entries": [{"address": "127.0.0.1"}]})

    assert entries(ws) == [("127.0.0.1", "")]


def test_an_empty_list_allows_every_address_again(ws, admin_api):
    IpAllowlistEntry.objects.create(workspace=ws, address="127.0.0.1")

    response = admin_api.put("/ip-allowlist", {"entries": []})

    assert response.status_code == 200
    assert entries(ws) == []
    assert admin_api.get("/ip-allowlist").status_code == 200


def test_a_list_that_would_shut_out_the_caller_is_refused_unless_forced(ws, admin_api):
    IpAllowlistEntry.objects.create(workspace=ws, address="127.0.0.0/8")
    body = {"entries": [{"address": "203.0.113.7"}]}

    refused = admin_api.put("/ip-allowlist", body)

    assert refused.status_code == 400
    assert "your own address (127.0.0.1)" in refused.json()["message"]
    assert "force=true" in refused.json()["message"]
    assert entries(ws) == [("127.0.0.0/8", "")]

    forced = admin_api.client.put(
        "/api/v1/ip-allowlist?force=true",
        json.dumps(body),
        content_type="application/json",
        headers=admin_api._headers(None),
    )

    assert forced.status_code == 200
    assert entries(ws) == [("203.0.113.7", "")]
    locked_out = admin_api.get("/ip-allowlist")
    assert locked_out.status_code == 403
    assert locked_out.json()["message"] == "Forbidden IP address"


@pytest.mark.parametrize(
    ("listed", "says"),
    [
        (
            [{"address": "127.0.0.1"}, {"address": "10.0.0.300"}],
            "entries[1].address: “10.0.0.300” is not a valid IP address or CIDR range",
        ),
        (
            [{"address": "127.0.0.1"}, {"address": "127.0.0.1/32"}],
            "entries[1].address: 127.0.0.1 is also entries[0]",
        ),
        ([{"description": "no address"}], "entries[0].address: Field required"),
        (
            [{"address": "::1%eth0"}],
            "entries[0].address: “::1%eth0” is not a valid IP address or CIDR range",
        ),
        (
            [{"address": "127.0.0.1", "adress": "10.0.0.1"}],
            "entries[0].adress: Extra inputs are not permitted",
        ),
        (
            [{"address": "127.0.0.1", "description": "d" * 201}],
            "entries[0].description",
        ),
        ("127.0.0.1", "entries: "),
    ],
)
def test_a_bad_entry_is_refused_naming_it_and_the_list_is_kept(
    ws, admin_api, listed, says
):
    IpAllowlistEntry.objects.create(workspace=ws, address="127.0.0.1", description="me")

    response = admin_api.put("/ip-allowlist", {"entries": listed})

    assert response.status_code == 400
    assert says in response.json()["message"]
    assert entries(ws) == [("127.0.0.1", "me")]


def test_validating_says_which_entries_are_valid_and_saves_nothing(ws, admin_api):
    response = admin_api.post(
        "/ip-allowlist/validate",
        {
            "entries": [
                {"address": "10.1.2.3/8", "description": "vpn"},
                {"address": "not-an-ip"},
            ]
        },
    )

    assert response.status_code == 200
    assert response.json()["entries"] == [
        {"address": "10.0.0.0/8", "description": "vpn", "valid": True, "message": None},
        {
            "address": "not-an-ip",
            "description": None,
            "valid": False,
            "message": "“not-an-ip” is not a valid IP address or CIDR range",
        },
    ]
    assert entries(ws) == []


def test_a_key_without_configure_ip_allowlist_cannot_read_or_change_it(ws, as_key):
    manager = as_key(api_key(ws, "Manager")[1])

    for response in (
        manager.get("/ip-allowlist"),
        manager.put("/ip-allowlist", {"entries": [{"address": "127.0.0.1"}]}),
        manager.post("/ip-allowlist/validate", {"entries": []}),
    ):
        assert response.status_code == 403
        assert "CONFIGURE_IP_ALLOWLIST" in response.json()["message"]
    assert entries(ws) == []


def test_replacing_one_workspaces_allowlist_leaves_anothers_alone(
    ws, other_ws, admin_api
):
    IpAllowlistEntry.objects.create(workspace=other_ws, address="198.51.100.0/24")

    admin_api.put("/ip-allowlist", {"entries": [{"address": "127.0.0.1"}]})
    admin_api.put("/ip-allowlist", {"entries": []})

    assert entries(other_ws) == [("198.51.100.0/24", "")]
    assert admin_api.get("/ip-allowlist").json()["total"] == 0
