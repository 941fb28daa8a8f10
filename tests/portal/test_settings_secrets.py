"""Settings: workspace secrets (write-only values, stored encrypted)."""

import re

import pytest
from django.urls import reverse

from portal import services
from workflows.models import Secret, SigningSecret
from workflows.secrets import decrypt, encrypt

VALUE = "s3cr3t-Value-ghp_0123456789abcdef"


def _secret(ws, tag="github-token", name="GitHub token", value=VALUE) -> Secret:
    return Secret.objects.create(
        workspace=ws, tag=tag, name=name, encrypted_value=encrypt(value)
    )


def _add(client, tag="github-token", name="GitHub token", value=VALUE):
    return client.post(
        reverse("settings:secret-add"), {"tag": tag, "name": name, "value": value}
    )


def _stored(ws) -> str:
    """Everything stored for the workspace's secrets, as one string."""
    return str(list(Secret.objects.filter(workspace=ws).values()))


def test_a_manager_creates_a_secret_and_only_its_encryption_is_stored(client, ws, mona):
    client.force_login(mona)
    r = _add(client)
    assert r.status_code == 302
    assert r["Location"] == reverse("settings:secrets")
    secret = Secret.objects.get(workspace=ws)
    assert (secret.tag, secret.name) == ("github-token", "GitHub token")
    assert decrypt(secret.encrypted_value) == VALUE
    assert VALUE not in _stored(ws)


def test_the_value_appears_in_no_page(client, ws, mona):
    client.force_login(mona)
    r = client.post(
        reverse("settings:secret-add"),
        {"tag": "github-token", "name": "GitHub token", "value": VALUE},
        follow=True,
    )
    pages = [r.content.decode()]
    secret = Secret.objects.get(workspace=ws)
    pages.append(client.get(reverse("settings:secrets")).content.decode())
    pages.append(
        client.get(reverse("settings:secret-edit", args=[secret.pk])).content.decode()
    )
    assert "Secret “github-token” created." in pages[0]
    assert all(VALUE not in html for html in pages)
    assert all(secret.encrypted_value not in html for html in pages)


def test_a_rejected_form_does_not_echo_the_value(client, ws, mona):
    secret = _secret(ws, value="old-value")
    client.force_login(mona)
    r = _add(client, tag="not a slug!", value=VALUE)
    assert r.status_code == 400
    assert VALUE not in r.content.decode()
    r = client.post(
        reverse("settings:secret-update", args=[secret.pk]),
        {"name": "", "value": VALUE},
    )
    assert r.status_code == 400
    assert VALUE not in r.content.decode()
    secret.refresh_from_db()
    assert decrypt(secret.encrypted_value) == "old-value"


def test_the_edit_form_has_an_empty_value_field_that_keeps_the_value(client, ws, mona):
    secret = _secret(ws)
    client.force_login(mona)
    html = client.get(
        reverse("settings:secret-edit", args=[secret.pk])
    ).content.decode()
    [field] = re.findall(r'<input[^>]*name="value"[^>]*>', html)
    assert 'type="password"' in field and "value=" not in field
    assert 'autocomplete="new-password"' in field
    assert "Leave empty to keep the current value." in html
    assert 'value="GitHub token"' in html


def test_the_list_shows_tag_name_and_how_blocks_use_it(client, ws, other_ws, mona):
    _secret(ws)
    _secret(other_ws, tag="rocket-key", name="Rocket key")
    client.force_login(mona)
    html = client.get(reverse("settings:secrets")).content.decode()
    assert "<code>github-token</code>" in html and "GitHub token" in html
    assert "{{context.secrets.github-token}}" in html
    assert "{{context.secrets.&lt;tag&gt;}}" in html
    assert "{{{context.secrets.&lt;tag&gt;}}}" in html
    assert "<code>********</code> in runs" in html
    assert "rocket-key" not in html


def test_a_secret_keeps_spaces_inside_its_value(client, ws, mona):
    client.force_login(mona)
    assert _add(client, value=" pass phrase ").status_code == 302
    assert decrypt(Secret.objects.get(workspace=ws).encrypted_value) == " pass phrase "


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"tag": "no spaces!"}, "Enter a valid “slug”"),
        ({"tag": ""}, "This field is required."),
        ({"name": ""}, "This field is required."),
        ({"value": ""}, "This field is required."),
        ({"value": "   "}, "The value can&#x27;t be only spaces."),
    ],
)
def test_bad_input_is_rejected_and_nothing_is_saved(client, ws, mona, data, error):
    client.force_login(mona)
    r = client.post(
        reverse("settings:secret-add"),
        {"tag": "github-token", "name": "GitHub token", "value": VALUE, **data},
    )
    assert r.status_code == 400
    assert error in r.content.decode()
    assert not Secret.objects.exists()


def test_secret_tags_are_unique_per_workspace(client, ws, other_ws, mona):
    _secret(ws, tag="github-token", value="first")
    _secret(other_ws, tag="npm-token")
    client.force_login(mona)
    r = _add(client, tag="github-token", value="second")
    assert r.status_code == 400
    assert "A secret with the tag “github-token” already exists." in r.content.decode()
    assert decrypt(Secret.objects.get(workspace=ws).encrypted_value) == "first"
    assert _add(client, tag="npm-token").status_code == 302


def test_a_manager_renames_a_secret_and_keeps_its_value(client, ws, mona):
    secret = _secret(ws)
    before = (secret.encrypted_value, secret.updated_at)
    client.force_login(mona)
    r = client.post(
        reverse("settings:secret-update", args=[secret.pk]),
        {"name": "GitHub deploy token", "value": ""},
        follow=True,
    )
    assert "Secret “github-token” saved." in r.content.decode()
    secret.refresh_from_db()
    assert secret.name == "GitHub deploy token"
    assert secret.encrypted_value == before[0]
    assert secret.updated_at > before[1]


def test_a_manager_replaces_a_secrets_value(client, ws, mona):
    secret = _secret(ws, value="old-value")
    client.force_login(mona)
    r = client.post(
        reverse("settings:secret-update", args=[secret.pk]),
        {"name": "GitHub token", "value": VALUE},
        follow=True,
    )
    html = r.content.decode()
    assert "Secret “github-token” saved with its new value." in html
    assert VALUE not in html
    secret.refresh_from_db()
    assert decrypt(secret.encrypted_value) == VALUE
    assert VALUE not in _stored(ws)


def test_a_manager_deletes_a_secret(client, ws, mona):
    secret = _secret(ws)
    client.force_login(mona)
    r = client.post(reverse("settings:secret-delete", args=[secret.pk]), follow=True)
    assert "Secret “github-token” deleted." in r.content.decode()
    assert not Secret.objects.filter(pk=secret.pk).exists()


def test_users_and_viewers_cannot_manage_secrets(client, ws, grace, vera):
    secret = _secret(ws)
    for person in (grace, vera):
        client.force_login(person)
        assert client.get(reverse("settings:secrets")).status_code == 403
        r = client.get(reverse("settings:secret-edit", args=[secret.pk]))
        assert r.status_code == 403
        assert _add(client, tag="mine").status_code == 403
        r = client.post(
            reverse("settings:secret-update", args=[secret.pk]),
            {"name": "Mine", "value": "mine"},
        )
        assert r.status_code == 403
        r = client.post(reverse("settings:secret-delete", args=[secret.pk]))
        assert r.status_code == 403
    secret.refresh_from_db()
    assert secret.name == "GitHub token" and decrypt(secret.encrypted_value) == VALUE
    assert Secret.objects.count() == 1


def test_another_workspaces_secrets_answer_404(client, other_ws, ada):
    theirs = _secret(other_ws)
    client.force_login(ada)
    r = client.get(reverse("settings:secret-edit", args=[theirs.pk]))
    assert r.status_code == 404
    r = client.post(
        reverse("settings:secret-update", args=[theirs.pk]),
        {"name": "Mine", "value": "mine"},
    )
    assert r.status_code == 404
    r = client.post(reverse("settings:secret-delete", args=[theirs.pk]))
    assert r.status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "GitHub token" and decrypt(theirs.encrypted_value) == VALUE


def test_write_views_refuse_get(client, ws, ada):
    secret = _secret(ws)
    client.force_login(ada)
    assert client.get(reverse("settings:secret-add")).status_code == 405
    for name in ("secret-update", "secret-delete"):
        r = client.get(reverse(f"settings:{name}", args=[secret.pk]))
        assert r.status_code == 405, name


@pytest.mark.parametrize(
    ("person", "sees"),
    [("ada", True), ("mona", True), ("grace", False), ("vera", False)],
)
def test_settings_links_secrets_and_integrations_to_who_may_manage_them(
    client, request, person, sees
):
    client.force_login(request.getfixturevalue(person))
    html = client.get(reverse("settings:index")).content.decode()
    for name in ("settings:secrets", "settings:integrations"):
        assert (f'href="{reverse(name)}"' in html) is sees, name


def test_secrets_page_query_count_does_not_grow_with_rows(
    client, ws, mona, django_assert_max_num_queries
):
    for i in range(40):
        _secret(ws, tag=f"token-{i}", name=f"Token {i}")
    client.force_login(mona)
    with django_assert_max_num_queries(8):
        r = client.get(reverse("settings:secrets"))
    assert r.content.decode().count("{{context.secrets.token-") == 40


# The request signing secret

SIGNING = "whsec-0123456789abcdef"


def test_a_manager_sets_the_signing_secret_and_only_its_encryption_is_stored(
    client, ws, mona
):
    client.force_login(mona)
    html = client.get(reverse("settings:secrets")).content.decode()
    assert "Not signing" in html
    assert html.count('id="id_value"') == html.count('id="id_signing-value"') == 1

    r = client.post(
        reverse("settings:signing-secret"), {"signing-value": SIGNING}, follow=True
    )

    html = r.content.decode()
    assert "Request signing secret saved" in html
    assert "Replace signing secret" in html and "Remove signing secret" in html
    assert SIGNING not in html
    stored = SigningSecret.objects.get(workspace=ws)
    assert decrypt(stored.encrypted_value) == SIGNING
    assert SIGNING not in str(list(SigningSecret.objects.values()))


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("short-key", "at least 16 characters (it has 9)"),
        ("a signing key with spaces", "contain spaces"),
        ("", "This field is required."),
    ],
)
def test_a_bad_signing_secret_is_refused_and_the_old_one_kept(
    client, ws, mona, value, says
):
    services.signing_secret_set(workspace=ws, value=SIGNING)
    client.force_login(mona)

    r = client.post(reverse("settings:signing-secret"), {"signing-value": value})

    assert r.status_code == 400
    html = r.content.decode()
    assert says in html
    assert value not in html or not value
    assert decrypt(SigningSecret.objects.get(workspace=ws).encrypted_value) == SIGNING


def test_a_manager_removes_the_signing_secret(client, ws, other_ws, mona):
    services.signing_secret_set(workspace=ws, value=SIGNING)
    services.signing_secret_set(workspace=other_ws, value=SIGNING)
    client.force_login(mona)

    r = client.post(reverse("settings:signing-secret-remove"), follow=True)

    assert "no longer sign" in r.content.decode()
    assert not SigningSecret.objects.filter(workspace=ws).exists()
    assert SigningSecret.objects.filter(workspace=other_ws).exists()  # theirs stays


def test_users_and_viewers_cannot_set_or_remove_the_signing_secret(
    client, ws, grace, vera
):
    services.signing_secret_set(workspace=ws, value=SIGNING)
    for person in (grace, vera):
        client.force_login(person)
        r = client.post(reverse("settings:signing-secret"), {"signing-value": "x" * 20})
        assert r.status_code == 403
        assert client.post(reverse("settings:signing-secret-remove")).status_code == 403
    assert decrypt(SigningSecret.objects.get(workspace=ws).encrypted_value) == SIGNING
