"""Schemathesis over the published OpenAPI (/api/v1/openapi.json): whatever it
generates, valid or not, the API never answers 500."""

import pytest
import schemathesis
import yaml
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from tests.api.conftest import HELLO, ON_ENTITY, save
from tests.factories import EntityFactory, api_key
from workflows import engine


@pytest.fixture
def _keep_connection():
    """Calls go through the WSGI handler, which closes the database connection
    after each request; the test's transaction lives on it (as the test client)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def bearer(ws, ada, settings, _keep_connection):
    """An Admin key, and things for generated requests to find."""
    settings.API_RATE_LIMIT = 0
    workflow = save(ws, HELLO)
    save(ws, ON_ENTITY)
    EntityFactory(workspace=ws, tag="ledger")
    engine.start(workflow=workflow, initiator=ada)
    return {"Authorization": f"Bearer {api_key(ws, 'Admin')[1]}"}


@schemathesis.serializer("application/openapi")
def _entity_descriptor(ctx, value):
    """The body of POST/PATCH /open-api (what the Cortex CLI sends): YAML text."""
    return {"data": value if isinstance(value, str) else yaml.safe_dump(value)}


# Loaded from the running app, as a client would (the schema view needs no database):
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_generated_request_gets_a_500(case, bearer):
    response = case.call(headers=bearer)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: "
        f"{response.text[:500]}"
    )
