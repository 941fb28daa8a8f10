# Fixtures shared by the workflow tests:
import pytest

from tests.workflows.enginekit import test_blocks  # noqa: F401
from tests.workflows.httpserver import closed_port, http_server, https_server  # noqa: F401

GITHUB_TOKEN = "ghp-default-token"


@pytest.fixture
def github(http_server, ws):  # noqa: F811 - the fixture, imported above
    """The workspace's default GitHub integration, whose API is the test server."""
    from workflows.models import Integration
    from workflows.secrets import encrypt

    Integration.objects.create(
        workspace=ws,
        kind=Integration.Kind.GITHUB,
        base_url=http_server.url(""),
        encrypted_token=encrypt(GITHUB_TOKEN),
    )
    return http_server
