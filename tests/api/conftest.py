"""Helpers for the API tests: a client that sends a bearer key, and workflows."""

import json

import pytest

from tests.factories import api_key
from tests.workflows.httpserver import http_server  # noqa: F401 (a fixture)
from workflows import descriptor
from workflows.services import workflow_upsert

API = "/api/v1"


class Api:
    """The Django test client with `Authorization: Bearer <raw>` on every request."""

    def __init__(self, client, raw: str):
        self.client, self.raw = client, raw

    def _headers(self, headers: dict | None) -> dict:
        return {"Authorization": f"Bearer {self.raw}", **(headers or {})}

    def get(self, path: str, params=None, headers=None, **extra):
        return self.client.get(
            API + path, params or {}, headers=self._headers(headers), **extra
        )

    def post(
        self,
        path: str,
        body=None,
        *,
        content_type="application/json",
        headers=None,
        **extra,
    ):
        data = (
            json.dumps(body)
            if not isinstance(body, str | bytes) and body is not None
            else body
        )
        return self.client.post(
            API + path,
            data if data is not None else b"",
            content_type=content_type,
            headers=self._headers(headers),
            **extra,
        )

    def patch(self, path: str, body, *, content_type="application/yaml", headers=None):
        return self.client.patch(
            API + path, body, content_type=content_type, headers=self._headers(headers)
        )

    def put(self, path: str, body=None, *, headers=None):
        data = json.dumps(body) if body is not None else b""
        return self.client.put(
            API + path,
            data,
            content_type="application/json",
            headers=self._headers(headers),
        )

    def delete(self, path: str, headers=None, params=None):
        query = ""
        if params:
            from urllib.parse import urlencode

            query = "?" + urlencode(params, doseq=True)
        return self.client.delete(API + path + query, headers=self._headers(headers))


@pytest.fixture
def as_key(client):
    """as_key(raw) -> an Api client sending that key."""
    return lambda raw: Api(client, raw)


@pytest.fixture
def admin_api(ws, as_key):
    """A workspace key with the Admin role (no user: runs need runAs)."""
    return as_key(api_key(ws, "Admin")[1])


@pytest.fixture
def ada_api(ws, ada, as_key):
    """Ada's personal access token (Admin): runs start as Ada."""
    return as_key(api_key(ws, user=ada)[1])


def save(workspace, text: str, **changes):
    """Save a workflow from YAML (validated like the API does); returns it."""
    data = descriptor.validate({**descriptor.parse(text), **changes})
    return workflow_upsert(workspace=workspace, descriptor=data)[0]


HELLO = """
tag: hello
name: Hello
description: Says hello
isRunnableViaApi: true
filter: {type: GLOBAL}
variables:
  - {slug: who, type: STRING, defaultValue: world}
  - {slug: times, type: NUMBER}
runResponseTemplate: "Hello, {{variables.who}}"
actions:
  - slug: greet
    name: Greet
    isRootAction: true
    outgoingActions: []
    schema: {type: JQ, expression: '"Hello, " + .variables.who'}
"""

ON_ENTITY = """
tag: restart
name: Restart
isRunnableViaApi: true
filter: {type: ENTITY, entityFilter: {typeFilter: {types: [service]}}}
actions:
  - slug: note
    name: Note
    isRootAction: true
    outgoingActions: []
    schema: {type: JQ, expression: '.context.entity.tag'}
"""

ASK = """
tag: ask
name: Ask
isRunnableViaApi: true
filter: {type: GLOBAL}
actions:
  - slug: form
    name: Form
    isRootAction: true
    outgoingActions: []
    schema:
      type: USER_INPUT
      inputs:
        - {key: reason, name: Reason, type: INPUT_FIELD, required: true}
"""
