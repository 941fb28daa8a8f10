"""Every API endpoint documents its refusals in /api/v1/openapi.json, and
the refusals the catalog, descriptor and teams endpoints really give are
among them.

Each operation lists 400, 401, 403 and 429 (a NUL in the path or query, a
wrong key, the IP allowlist, the rate limit: portal.api.errors), 413 where a
body is read, 409, 413 and 422 where an Idempotency-Key is honoured, and what
its own code path can refuse. The second half calls the endpoints with bad
input and checks each answer against the document.
"""

import importlib
import json

import jsonschema
import pytest

from catalog.models import Entity
from portal.api import error_body
from portal.idempotency import idempotent
from portal.models import IpAllowlistEntry
from tests.factories import EntityFactory, TeamFactory, api_key

ERROR_OUT = {"$ref": "#/components/schemas/ErrorOut"}
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def document(admin_api):
    r = admin_api.get("/openapi.json")
    assert r.status_code == 200
    return r.json()


def operations(document) -> list[tuple[str, str, dict]]:
    """(method, path, operation) of every operation of the API."""
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def refusals(operation: dict) -> set[int]:
    return {int(status) for status in operation["responses"] if int(status) >= 400}


def view_of(operation: dict):
    """The view function of an operation, by its operationId (module_view)."""
    for prefix, module in (
        ("catalog_api_", "catalog.api"),
        ("portal_teams_api_", "portal.teams_api"),
        ("portal_settings_api_", "portal.settings_api"),
        ("workflows_api_", "workflows.api"),
    ):
        if operation["operationId"].startswith(prefix):
            name = operation["operationId"].removeprefix(prefix)
            return getattr(importlib.import_module(module), name)
    raise AssertionError(f"no view for {operation['operationId']}")


# Every view @idempotent wraps runs the code of the same wrapper:
_IDEMPOTENT_CODE = idempotent(lambda request: None).__code__


def is_idempotent(view) -> bool:
    return view.__code__ is _IDEMPOTENT_CODE


def takes_idempotency_key(operation: dict) -> bool:
    return any(
        p["in"] == "header" and p["name"] == "Idempotency-Key"
        for p in operation.get("parameters", [])
    )


# --- what the document says ---------------------------------------------------------


def test_every_operation_of_the_api_is_checked(document):
    found = {(method, path) for method, path, _ in operations(document)}
    assert len(found) >= 56
    assert ("post", "/api/v1/open-api") in found
    assert ("delete", "/api/v1/teams/{teamTag}") in found
    assert ("post", "/api/v1/workflows/{tagOrId}/runs") in found
    assert ("put", "/api/v1/ip-allowlist") in found


def test_every_operation_documents_401_and_429(document):
    for method, path, operation in operations(document):
        statuses = refusals(operation)
        assert {401, 429} <= statuses, f"{method.upper()} {path}: {statuses}"


def test_every_operation_naming_something_in_its_path_documents_404(document):
    for method, path, operation in operations(document):
        if "{" in path:
            assert 404 in refusals(operation), f"{method.upper()} {path}"


def test_every_documented_refusal_has_the_error_out_schema(document):
    assert "ErrorOut" in document["components"]["schemas"]
    for method, path, operation in operations(document):
        for status in refusals(operation):
            answer = operation["responses"][str(status)]
            schema = answer["content"]["application/json"]["schema"]
            assert schema == ERROR_OUT, f"{method.upper()} {path} {status}: {schema}"
            assert answer["description"], f"{method.upper()} {path} {status}"


def test_every_operation_documents_the_400_of_a_nul_and_the_403_of_the_allowlist(
    document,
):
    for method, path, operation in operations(document):
        assert {400, 403} <= refusals(operation), f"{method.upper()} {path}"


def test_every_operation_reading_a_body_documents_413(document):
    for method, path, operation in operations(document):
        if "requestBody" in operation:
            assert 413 in refusals(operation), f"{method.upper()} {path}"


def test_every_operation_honouring_an_idempotency_key_documents_its_refusals(document):
    honoured = [
        (method, path, operation)
        for method, path, operation in operations(document)
        if is_idempotent(view_of(operation))
    ]
    # 22 of the catalog, 5 of the workflows, 4 of teams and the IP allowlist:
    assert len(honoured) == 31
    for method, path, operation in honoured:
        assert takes_idempotency_key(operation), f"{method.upper()} {path}"
        missing = {400, 409, 413, 422} - refusals(operation)
        assert not missing, f"{method.upper()} {path} lacks {missing}"


def test_the_reads_document_no_conflict_and_no_large_body(document):
    for method, path, operation in operations(document):
        if method == "get":
            assert not refusals(operation) & {409, 413, 422}, f"GET {path}"


# --- what the endpoints really answer -------------------------------------------------


def answers_as_documented(document, method: str, path: str, response, status: int):
    """Fail unless `response` is a `status` that `method path` documents, in
    the shape the document gives for it."""
    assert response.status_code == status, response.content[:300]
    answers = document["paths"][path][method]["responses"]
    assert str(status) in answers, f"{method.upper()} {path} does not document {status}"
    schema = answers[str(status)]["content"]["application/json"]["schema"]
    jsonschema.validate(
        response.json(), {**schema, "components": document["components"]}
    )
    assert response.json()["httpStatus"] == status


@pytest.fixture
def ledger(ws):
    """An entity whose descriptor defines the custom data key `tier`."""
    return EntityFactory(
        workspace=ws,
        tag="ledger",
        descriptor={"x-cortex-custom-metadata": {"tier": 1}},
    )


@pytest.fixture
def viewer_api(ws, as_key):
    return as_key(api_key(ws, "Viewer")[1])


CATALOG = "/api/v1/catalog"
ENTITY = "/api/v1/catalog/{tag}"
TEAMS = "/api/v1/teams"
TEAM = "/api/v1/teams/{teamTag}"
OPEN_API = "/api/v1/open-api"

BAD_REQUESTS = {
    "a page below 0": ("get", CATALOG, lambda api: api.get("/catalog", {"page": -1})),
    "no ids to delete": ("delete", CATALOG, lambda api: api.delete("/catalog")),
    "no deploy filter": (
        "delete",
        CATALOG + "/deploys",
        lambda api: api.delete("/catalog/deploys"),
    ),
    "a blank entity type": (
        "post",
        CATALOG + "/definitions",
        lambda api: api.post("/catalog/definitions", {"type": "  "}),
    ),
    "a blank group": (
        "put",
        ENTITY + "/groups",
        lambda api: api.put("/catalog/ledger/groups", {"groups": [{"tag": ""}]}),
    ),
    "a deploy without its timestamp": (
        "post",
        ENTITY + "/deploys",
        lambda api: api.post(
            "/catalog/ledger/deploys", {"title": "v1", "type": "DEPLOY"}
        ),
    ),
    "a descriptor that is a string": (
        "post",
        OPEN_API,
        lambda api: api.post("/open-api", "hello", content_type="application/yaml"),
    ),
    "a descriptor that is a list": (
        "patch",
        OPEN_API,
        lambda api: api.patch("/open-api", "- 1\n- 2\n"),
    ),
    "a flag that is no boolean": (
        "get",
        TEAMS,
        lambda api: api.get("/teams", {"includeTeamsWithoutMembers": "maybe"}),
    ),
    "a team with links": (
        "post",
        TEAMS,
        lambda api: api.post(
            "/teams",
            {"teamTag": "sre", "metadata": {"name": "SRE"}, "links": [{"url": "x"}]},
        ),
    ),
    "a NUL in the query of a read that takes no query": (
        "get",
        TEAM,
        lambda api: api.get("/teams/ops", {"x": "a\x00b"}),
    ),
    "an empty Idempotency-Key": (
        "delete",
        ENTITY,
        lambda api: api.delete("/catalog/ledger", headers={"Idempotency-Key": ""}),
    ),
}


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=str)
def test_a_bad_request_is_a_400_its_operation_documents(
    case, document, admin_api, ledger
):
    TeamFactory(workspace=ledger.workspace, tag="ops")
    method, path, call = BAD_REQUESTS[case]
    answers_as_documented(document, method, path, call(admin_api), 400)


def test_a_missing_permission_is_a_403_its_operation_documents(
    document, viewer_api, ledger
):
    answers_as_documented(
        document, "delete", ENTITY, viewer_api.delete("/catalog/ledger"), 403
    )
    answers_as_documented(
        document,
        "post",
        TEAMS,
        viewer_api.post("/teams", {"teamTag": "ops", "metadata": {"name": "Ops"}}),
        403,
    )
    answers_as_documented(
        document,
        "patch",
        OPEN_API,
        viewer_api.patch("/open-api", "openapi: 3.0.1\n"),
        403,
    )


def test_an_address_off_the_allowlist_is_a_403_even_where_any_key_may_read(
    document, admin_api, ledger
):
    IpAllowlistEntry.objects.create(workspace=ledger.workspace, address="10.0.0.0/8")
    r = admin_api.get("/catalog/ledger", REMOTE_ADDR="192.0.2.1")
    answers_as_documented(document, "get", ENTITY, r, 403)
    assert r.json()["message"] == "Forbidden IP address"
    r = admin_api.get("/teams", REMOTE_ADDR="192.0.2.1")
    answers_as_documented(document, "get", TEAMS, r, 403)


NOT_FOUND = {
    "an entity": ("get", ENTITY, lambda api: api.get("/catalog/nope")),
    "an entity among several to delete": (
        "delete",
        CATALOG,
        lambda api: api.delete("/catalog", params={"ids": "ledger,nope"}),
    ),
    "an entity tagged in the query": (
        "get",
        CATALOG + "/custom-data",
        lambda api: api.get("/catalog/custom-data", {"tag": "nope"}),
    ),
    "an entity tagged in the bulk body": (
        "put",
        CATALOG + "/custom-data",
        lambda api: api.put(
            "/catalog/custom-data", {"values": {"nope": [{"key": "a", "value": 1}]}}
        ),
    ),
    "a custom data key": (
        "get",
        ENTITY + "/custom-data/{key}",
        lambda api: api.get("/catalog/ledger/custom-data/nope"),
    ),
    "a custom data key to delete": (
        "delete",
        ENTITY + "/custom-data",
        lambda api: api.delete("/catalog/ledger/custom-data", params={"key": "nope"}),
    ),
    "an entity type": (
        "put",
        CATALOG + "/definitions/{type}",
        lambda api: api.put("/catalog/definitions/nope", {"name": "Nope"}),
    ),
    "a deploy": (
        "delete",
        ENTITY + "/deploys/{uuid}",
        lambda api: api.delete("/catalog/ledger/deploys/not-a-uuid"),
    ),
    "an entity a merge must find": (
        "patch",
        OPEN_API,
        lambda api: api.patch(
            "/open-api?failIfEntityDoesNotExist=true",
            "openapi: 3.0.1\ninfo: {title: Nope, x-cortex-tag: nope}\n",
        ),
    ),
    "a team": ("get", TEAM, lambda api: api.get("/teams/nope")),
    "a team to delete": ("delete", TEAM, lambda api: api.delete("/teams/nope")),
}


@pytest.mark.parametrize("case", NOT_FOUND, ids=str)
def test_something_not_found_is_a_404_its_operation_documents(
    case, document, admin_api, ledger
):
    method, path, call = NOT_FOUND[case]
    answers_as_documented(document, method, path, call(admin_api), 404)


CONFLICTS = {
    "an entity type that exists": (
        "post",
        CATALOG + "/definitions",
        lambda api: api.post("/catalog/definitions", {"type": "service"}),
    ),
    "an entity type some entity has": (
        "delete",
        CATALOG + "/definitions/{type}",
        lambda api: api.delete("/catalog/definitions/service"),
    ),
    "a key the descriptor defines, set without force": (
        "post",
        ENTITY + "/custom-data",
        lambda api: api.post(
            "/catalog/ledger/custom-data", {"key": "tier", "value": 2}
        ),
    ),
    "a key the descriptor defines, deleted without force": (
        "delete",
        CATALOG + "/custom-data",
        lambda api: api.delete(
            "/catalog/custom-data", params={"tag": "ledger", "key": "tier"}
        ),
    ),
    "a team tag that is taken": (
        "post",
        TEAMS,
        lambda api: api.post("/teams", {"teamTag": "ops", "metadata": {"name": "Ops"}}),
    ),
}


@pytest.mark.parametrize("case", CONFLICTS, ids=str)
def test_a_conflict_is_a_409_its_operation_documents(case, document, admin_api, ledger):
    assert ledger.type.tag == "service"
    TeamFactory(workspace=ledger.workspace, tag="ops")
    method, path, call = CONFLICTS[case]
    answers_as_documented(document, method, path, call(admin_api), 409)


def test_a_body_too_large_is_a_413_its_operation_documents(
    document, admin_api, ledger, settings
):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    big = "x" * 2000
    r = admin_api.post("/teams", {"teamTag": "ops", "metadata": {"name": big}})
    answers_as_documented(document, "post", TEAMS, r, 413)
    r = admin_api.post("/open-api", f"openapi: {big}", content_type="application/yaml")
    answers_as_documented(document, "post", OPEN_API, r, 413)


def test_an_idempotency_key_reads_even_the_body_of_a_delete_so_it_may_be_a_413(
    document, admin_api, ledger, settings
):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    headers = {"Authorization": f"Bearer {admin_api.raw}", "Idempotency-Key": "k1"}
    r = admin_api.client.generic(
        "DELETE", "/api/v1/catalog/ledger", "x" * 2000, headers=headers
    )
    answers_as_documented(document, "delete", ENTITY, r, 413)
    assert Entity.objects.filter(pk=ledger.pk).exists()


def test_an_idempotency_key_sent_again_with_another_request_is_a_422_it_documents(
    document, admin_api, ledger
):
    key = {"Idempotency-Key": "archive-ledger"}
    assert admin_api.put("/catalog/ledger/archive", headers=key).status_code == 200
    r = admin_api.put("/catalog/ledger/unarchive", headers=key)
    answers_as_documented(document, "put", ENTITY + "/unarchive", r, 422)
    ledger.refresh_from_db()
    assert ledger.archived


def test_every_error_type_is_one_of_cortexs_so_a_client_made_from_its_document_reads_it(
    document,
):
    from workflows.descriptor import SCHEMA_FILE

    cortex = json.loads(SCHEMA_FILE.read_text())["components"]["schemas"]
    allowed = set(cortex["ErrorResponse"]["properties"]["type"]["enum"])
    ours = document["components"]["schemas"]["ErrorOut"]["properties"]["type"]["enum"]
    assert ours and set(ours) <= allowed
    for status in (400, 401, 403, 404, 405, 406, 409, 413, 422, 429, 500, 418):
        body = error_body(status, "x")
        assert body["type"] in allowed and body["httpStatus"] == status
