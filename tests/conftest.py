"""Shared fixtures: two workspaces and a cast of people.

In workspace `one`: ada (Admin), grace (User), vera (Viewer), mona (Manager).
In workspace `two`: ted (Admin). Nobody in `one` can see `two`'s things.
"""

import pytest

from tests.factories import UserFactory, WorkspaceFactory, member


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The test client speaks plain HTTP:
    settings.SECURE_SSL_REDIRECT = False
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def ws(db):
    return WorkspaceFactory(slug="one", name="One")


@pytest.fixture
def other_ws(db):
    return WorkspaceFactory(slug="two", name="Two")


@pytest.fixture
def ada(ws):
    user = UserFactory(email="ada@example.com")
    member(ws, user, "Admin")
    return user


@pytest.fixture
def mona(ws):
    user = UserFactory(email="mona@example.com")
    member(ws, user, "Manager")
    return user


@pytest.fixture
def grace(ws):
    user = UserFactory(email="grace@example.com")
    member(ws, user, "User")
    return user


@pytest.fixture
def vera(ws):
    user = UserFactory(email="vera@example.com")
    member(ws, user, "Viewer")
    return user


@pytest.fixture
def ted(other_ws):
    user = UserFactory(email="ted@example.com")
    member(other_ws, user, "Admin")
    return user
