"""ADVANCED_HTTP_REQUEST with the `cortex.*` actions, acting on the catalog as the initiator.

People come from tests/conftest.py: in workspace `one`, ada is an Admin, mona a
Manager, grace a User and vera a Viewer; ted is an Admin of workspace `two`.
"""

from datetime import UTC, datetime

import pytest

from catalog.models import Entity, MetricDataPoint
from portal.models import IpAllowlistEntry
from tests.factories import EntityFactory, GroupFactory, TeamFactory, api_key
from tests.workflows.blockctx import make_ctx
from workflows.blocks.advanced_http_request import AdvancedHttpRequest
from workflows.models import Run

ENVIRONMENT_BODY = """\
openapi: "3.0.0"
info:
  title: "{{actions.collect-inputs.outputs.cloud}}-{{actions.collect-inputs.outputs.env}}"
  x-cortex-tag: "{{actions.collect-inputs.outputs.cloud}}-{{actions.collect-inputs.outputs.env}}"
  x-cortex-type: environment
  x-cortex-description: "{{actions.collect-inputs.outputs.cloud}} cluster"
  x-cortex-groups:
    - "cloud:{{actions.collect-inputs.outputs.cloud}}"
"""

STATE = {
    "context": {},
    "actions": {
        "collect-inputs": {
            "inputs": {},
            "outputs": {"cloud": "gcp", "env": "prod", "latency": 41.5},
        }
    },
    "variables": {},
}


def run(identifier: str, inputs: dict, ws, initiator):
    schema = {
        "type": "ADVANCED_HTTP_REQUEST",
        "actionIdentifier": identifier,
        "inputs": inputs,
        "integrationAlias": None,
    }
    return AdvancedHttpRequest().execute(
        make_ctx(schema, STATE, workspace=ws, initiator=initiator)
    )


def descriptor(tag: str, **info) -> str:
    lines = [
        "openapi: 3.0.1",
        "info:",
        f"  title: {info.pop('title', tag.title())}",
        f"  x-cortex-tag: {tag}",
    ]
    lines += [f"  {key}: {value}" for key, value in info.items()]
    return "\n".join(lines) + "\n"


# cortex.createOrUpdateEntity ------------------------------------------------------


def test_create_or_update_entity_creates_the_entity_from_the_rendered_body(ws, ada):
    outcome = run(
        "cortex.createOrUpdateEntity",
        {"mode": "CREATE", "dryRun": False, "body": ENVIRONMENT_BODY},
        ws,
        ada,
    )

    assert outcome.status == "COMPLETED", outcome.error
    entity = Entity.objects.get(workspace=ws, tag="gcp-prod")
    assert entity.name == "gcp-prod"
    assert entity.type.tag == "environment"
    assert [g.tag for g in entity.groups.all()] == ["cloud:gcp"]
    assert outcome.outputs["tag"] == "gcp-prod"
    assert outcome.outputs["name"] == "gcp-prod"
    assert outcome.outputs["type"] == "environment"
    assert outcome.outputs["groups"] == ["cloud:gcp"]
    assert outcome.outputs["ok"] is True
    assert outcome.outputs["violations"] == []
    assert outcome.outputs["created"] is True
    assert outcome.outputs["dryRun"] is False
    assert 'x-cortex-tag: "gcp-prod"' in outcome.inputs["body"]


def test_create_or_update_entity_upserts_by_default(ws, ada):
    EntityFactory(workspace=ws, tag="payments", name="Old name")

    outcome = run(
        "cortex.createOrUpdateEntity",
        {"body": descriptor("payments", title="Payments")},
        ws,
        ada,
    )

    assert outcome.status == "COMPLETED"
    assert outcome.outputs["created"] is False
    assert Entity.objects.get(workspace=ws, tag="payments").name == "Payments"


def test_create_mode_fails_when_the_entity_exists(ws, ada):
    EntityFactory(workspace=ws, tag="payments", name="Payments")

    outcome = run(
        "cortex.createOrUpdateEntity",
        {"mode": "CREATE", "body": descriptor("payments", title="New")},
        ws,
        ada,
    )

    assert outcome.status == "FAILED"
    assert (
        outcome.error
        == "inputs.mode is CREATE, but the entity 'payments' already exists"
    )
    assert Entity.objects.get(workspace=ws, tag="payments").name == "Payments"


def test_update_mode_fails_when_the_entity_does_not_exist(ws, ada):
    outcome = run(
        "cortex.createOrUpdateEntity",
        {"mode": "UPDATE", "body": descriptor("ghost")},
        ws,
        ada,
    )

    assert outcome.error == "inputs.mode is UPDATE, but there is no entity 'ghost'"


def test_a_dry_run_validates_without_writing(ws, ada):
    outcome = run(
        "cortex.createOrUpdateEntity",
        {"body": ENVIRONMENT_BODY, "dryRun": "true"},
        ws,
        ada,
    )

    assert outcome.status == "COMPLETED"
    assert outcome.outputs["dryRun"] is True
    assert outcome.outputs["tag"] == "gcp-prod"
    assert not Entity.objects.filter(tag="gcp-prod").exists()


def test_an_entity_of_the_same_tag_in_another_workspace_is_left_alone(
    ws, other_ws, ada
):
    EntityFactory(workspace=other_ws, tag="payments", name="Theirs")

    outcome = run(
        "cortex.createOrUpdateEntity",
        {"mode": "CREATE", "body": descriptor("payments")},
        ws,
        ada,
    )

    assert outcome.status == "COMPLETED"
    assert Entity.objects.get(workspace=other_ws, tag="payments").name == "Theirs"


@pytest.mark.parametrize(
    ("inputs", "error"),
    [
        ({}, "inputs.body is required (the entity descriptor as YAML)"),
        ({"body": "   "}, "inputs.body is required (the entity descriptor as YAML)"),
        ({"body": "info: [unclosed"}, "inputs.body: invalid YAML: "),
        (
            {"body": "- a list"},
            "inputs.body: the descriptor must be a mapping with 'openapi' and 'info'",
        ),
        (
            {"body": "openapi: 3.0.1\ninfo:\n  x-cortex-tag: payments\n"},
            "inputs.body: info.title: is required",
        ),
        (
            {"body": "info:\n  title: P\n  x-cortex-tag: p\n"},
            "inputs.body: openapi: is required",
        ),
        (
            {"body": "openapi: 3.0.1\ninfo:\n  title: P\n  x-cortex-tag: bad tag\n"},
            "inputs.body: info.x-cortex-tag: 'bad tag' is not a valid tag",
        ),
        (
            {"body": descriptor("p"), "mode": "DELETE"},
            "inputs.mode 'DELETE' is not one of CREATE, UPSERT, UPDATE",
        ),
        (
            {"body": descriptor("p"), "dryRun": "maybe"},
            "inputs.dryRun must be true or false, not 'maybe'",
        ),
    ],
)
def test_bad_inputs_fail_naming_the_input_and_field(inputs, error, ws, ada):
    outcome = run("cortex.createOrUpdateEntity", inputs, ws, ada)

    assert outcome.status == "FAILED"
    assert outcome.error.startswith(error)
    assert not Entity.objects.exists()


# Who may act ---------------------------------------------------------------------------


def test_the_initiator_needs_the_edit_entities_permission(ws, grace):
    outcome = run(
        "cortex.createOrUpdateEntity", {"body": descriptor("payments")}, ws, grace
    )

    assert outcome.status == "FAILED"
    assert outcome.error == (
        "grace@example.com lacks the 'Edit entities' permission (EDIT_ENTITIES) "
        "that cortex.createOrUpdateEntity needs"
    )
    assert not Entity.objects.exists()


def test_a_manager_may_edit_entities(ws, mona):
    outcome = run(
        "cortex.createOrUpdateEntity", {"body": descriptor("payments")}, ws, mona
    )

    assert outcome.status == "COMPLETED"


def test_an_admin_of_another_workspace_has_no_permissions_here(ws, ted):
    outcome = run(
        "cortex.createOrUpdateEntity", {"body": descriptor("payments")}, ws, ted
    )

    assert outcome.error.startswith(
        "ted@example.com lacks the 'Edit entities' permission"
    )


def test_a_run_without_an_initiator_fails(ws):
    outcome = run(
        "cortex.createOrUpdateEntity", {"body": descriptor("payments")}, ws, None
    )

    assert outcome.status == "FAILED"
    assert outcome.error == (
        "cortex.createOrUpdateEntity acts as the user who started the run, and this run "
        "has no initiating user"
    )


def run_by_key(identifier: str, inputs: dict, ws, key):
    schema = {"type": "ADVANCED_HTTP_REQUEST", "actionIdentifier": identifier}
    run = Run(workspace=ws, api_key=key)
    ctx = make_ctx({**schema, "inputs": inputs}, STATE, workspace=ws, run=run)
    return AdvancedHttpRequest().execute(ctx)


def test_a_run_a_workspace_key_started_without_run_as_acts_with_the_keys_roles(ws):
    """`cortex workflows run -t TAG` with a workspace key and no --run-as."""
    manager_key, _ = api_key(ws, "Manager", name="ci")
    outcome = run_by_key(
        "cortex.createOrUpdateEntity", {"body": descriptor("payments")}, ws, manager_key
    )
    assert outcome.status == "COMPLETED", outcome.error
    assert Entity.objects.filter(workspace=ws, tag="payments").exists()

    viewer_key, _ = api_key(ws, "Viewer", name="reader")
    outcome = run_by_key(
        "cortex.createOrUpdateEntity",
        {"body": descriptor("ledger")},
        viewer_key.workspace,
        viewer_key,
    )
    assert outcome.status == "FAILED"
    assert outcome.error == (
        "The API key 'reader' that started the run lacks the 'Edit entities' permission"
        " (EDIT_ENTITIES) that cortex.createOrUpdateEntity needs"
    )
    assert not Entity.objects.filter(tag="ledger").exists()


def test_a_revoked_key_gives_a_run_without_an_initiator_no_rights(ws):
    from django.utils import timezone

    key, _ = api_key(ws, "Admin", name="ci")
    key.revoked_at = timezone.now()
    key.save()
    outcome = run_by_key(
        "cortex.createOrUpdateEntity", {"body": descriptor("payments")}, ws, key
    )
    assert outcome.status == "FAILED"
    assert "has no initiating user" in outcome.error


def test_a_workspace_allowlist_without_the_workers_address_forbids_the_action(ws, ada):
    IpAllowlistEntry.objects.create(workspace=ws, address="10.0.0.0/8")

    outcome = run(
        "cortex.createOrUpdateEntity", {"body": descriptor("payments")}, ws, ada
    )

    assert outcome.status == "FAILED"
    assert outcome.error == "Forbidden IP address"
    assert not Entity.objects.exists()


def test_the_ip_check_uses_the_workers_egress_address(ws, ada, settings):
    IpAllowlistEntry.objects.create(workspace=ws, address="10.0.0.0/8")
    settings.WORKER_EGRESS_IP = "10.20.30.40"

    outcome = run(
        "cortex.createOrUpdateEntity", {"body": descriptor("payments")}, ws, ada
    )

    assert outcome.status == "COMPLETED"


def test_the_ip_check_comes_before_the_permission_check(ws, grace):
    IpAllowlistEntry.objects.create(workspace=ws, address="10.0.0.0/8")

    outcome = run(
        "cortex.createOrUpdateEntity", {"body": descriptor("payments")}, ws, grace
    )

    assert outcome.error == "Forbidden IP address"


# cortex.createOrPatchEntity --------------------------------------------------------------


@pytest.fixture
def payments(ws):
    entity = EntityFactory(
        workspace=ws,
        tag="payments",
        name="Payments",
        descriptor={
            "title": "Payments",
            "x-cortex-tag": "payments",
            "x-cortex-type": "service",
            "x-cortex-groups": ["backend"],
            "x-cortex-custom-metadata": {"tier": 1, "oncall": "pd-payments"},
        },
    )
    entity.groups.set([GroupFactory(workspace=ws, tag="backend")])
    entity.owner_teams.set([TeamFactory(workspace=ws, tag="platform")])
    return entity


PATCH = """\
openapi: 3.0.1
info:
  x-cortex-tag: payments
  x-cortex-groups: [payments-team]
  x-cortex-custom-metadata:
    tier: 2
"""


def test_create_or_patch_entity_merges_the_patch_into_the_stored_descriptor(
    ws, ada, payments
):
    outcome = run("cortex.createOrPatchEntity", {"body": PATCH}, ws, ada)

    assert outcome.status == "COMPLETED", outcome.error
    payments.refresh_from_db()
    assert payments.name == "Payments"
    assert payments.descriptor["x-cortex-custom-metadata"] == {
        "tier": 2,
        "oncall": "pd-payments",
    }
    assert [g.tag for g in payments.groups.all()] == ["payments-team"]
    assert [t.tag for t in payments.owner_teams.all()] == [
        "platform"
    ]  # kept from the columns
    assert outcome.outputs["created"] is False
    assert outcome.outputs["groups"] == ["payments-team"]


def test_append_arrays_adds_to_lists_instead_of_replacing_them(ws, ada, payments):
    outcome = run(
        "cortex.createOrPatchEntity", {"body": PATCH, "appendArrays": True}, ws, ada
    )

    assert outcome.status == "COMPLETED"
    assert sorted(outcome.outputs["groups"]) == ["backend", "payments-team"]


def test_a_null_in_the_patch_removes_the_key(ws, ada, payments):
    body = "info:\n  x-cortex-tag: payments\n  x-cortex-custom-metadata:\n    oncall: null\n"

    run("cortex.createOrPatchEntity", {"body": body}, ws, ada)

    payments.refresh_from_db()
    assert payments.descriptor["x-cortex-custom-metadata"] == {"tier": 1}


def test_patching_an_entity_that_does_not_exist_creates_it(ws, ada):
    outcome = run(
        "cortex.createOrPatchEntity",
        {"body": descriptor("billing", title="Billing")},
        ws,
        ada,
    )

    assert outcome.status == "COMPLETED"
    assert outcome.outputs["created"] is True
    assert Entity.objects.get(workspace=ws, tag="billing").name == "Billing"


def test_fail_if_entity_does_not_exist_fails_for_a_new_tag(ws, ada):
    outcome = run(
        "cortex.createOrPatchEntity",
        {"body": descriptor("billing"), "failIfEntityDoesNotExist": "true"},
        ws,
        ada,
    )

    assert outcome.status == "FAILED"
    assert (
        outcome.error
        == "There is no entity 'billing', and failIfEntityDoesNotExist is true"
    )
    assert not Entity.objects.exists()


def test_a_dry_run_patch_writes_nothing(ws, ada, payments):
    outcome = run(
        "cortex.createOrPatchEntity", {"body": PATCH, "dryRun": True}, ws, ada
    )

    assert outcome.outputs["groups"] == ["payments-team"]
    payments.refresh_from_db()
    assert payments.descriptor["x-cortex-custom-metadata"]["tier"] == 1


def test_a_patch_that_breaks_the_descriptor_fails_naming_the_field(ws, ada, payments):
    body = "info:\n  x-cortex-tag: payments\n  x-cortex-owners:\n    - type: email\n      email: nope\n"

    outcome = run("cortex.createOrPatchEntity", {"body": body}, ws, ada)

    assert (
        outcome.error
        == "inputs.body: info.x-cortex-owners[0].email: 'nope' is not an email address"
    )


def test_a_patch_without_a_tag_fails(ws, ada):
    outcome = run(
        "cortex.createOrPatchEntity", {"body": "info:\n  title: Nameless\n"}, ws, ada
    )

    assert outcome.error == "inputs.body: info.x-cortex-tag: is required"


def test_patching_needs_the_edit_entities_permission(ws, vera, payments):
    outcome = run("cortex.createOrPatchEntity", {"body": PATCH}, ws, vera)

    assert "(EDIT_ENTITIES)" in outcome.error


# cortex.addCustomMetricsDataPoint ----------------------------------------------------------


def test_add_custom_metrics_data_point_stores_the_value(ws, mona, payments):
    inputs = {
        "entityId": "payments",
        "metricsKey": "p95-latency",
        "value": "{{actions.collect-inputs.outputs.latency}}",
        "timestamp": "2026-05-16T21:42:37Z",
    }

    outcome = run("cortex.addCustomMetricsDataPoint", inputs, ws, mona)

    assert outcome.status == "COMPLETED", outcome.error
    point = MetricDataPoint.objects.get()
    assert (point.entity, point.key, point.value) == (payments, "p95-latency", 41.5)
    assert point.timestamp == datetime(2026, 5, 16, 21, 42, 37, tzinfo=UTC)
    assert outcome.outputs == {
        "entityTag": "payments",
        "metricsKey": "p95-latency",
        "value": 41.5,
        "timestamp": "2026-05-16T21:42:37+00:00",
    }


def test_a_data_point_without_a_timestamp_is_stamped_now(ws, ada, payments):
    outcome = run(
        "cortex.addCustomMetricsDataPoint",
        {"entityId": "payments", "metricsKey": "builds", "value": 3},
        ws,
        ada,
    )

    assert outcome.status == "COMPLETED"
    assert MetricDataPoint.objects.get().timestamp is not None


@pytest.mark.parametrize(
    ("inputs", "error"),
    [
        (
            {"metricsKey": "k", "value": 1},
            "inputs.entityId is required (the entity's tag)",
        ),
        (
            {"entityId": "payments", "value": 1},
            "inputs.metricsKey is required (the custom metric's key)",
        ),
        (
            {"entityId": "payments", "metricsKey": "k"},
            "inputs.value is required (a number)",
        ),
        (
            {"entityId": "payments", "metricsKey": "k", "value": "fast"},
            "inputs.value must be a number, not 'fast'",
        ),
        (
            {"entityId": "payments", "metricsKey": "k", "value": True},
            "inputs.value must be a number, not True",
        ),
        (
            {"entityId": "payments", "metricsKey": "k", "value": "nan"},
            "inputs.value must be a finite number",
        ),
        (
            {
                "entityId": "payments",
                "metricsKey": "k",
                "value": 1,
                "timestamp": "yesterday",
            },
            "inputs.timestamp 'yesterday' is not an ISO 8601 date-time",
        ),
        (
            {"entityId": "ghost", "metricsKey": "k", "value": 1},
            "inputs.entityId: there is no entity 'ghost'",
        ),
    ],
)
def test_bad_metric_inputs_fail_naming_the_input(inputs, error, ws, ada, payments):
    outcome = run("cortex.addCustomMetricsDataPoint", inputs, ws, ada)

    assert outcome.status == "FAILED"
    assert outcome.error.startswith(error)
    assert not MetricDataPoint.objects.exists()


def test_an_entity_of_another_workspace_cannot_get_data_points(ws, other_ws, ada):
    EntityFactory(workspace=other_ws, tag="theirs")

    outcome = run(
        "cortex.addCustomMetricsDataPoint",
        {"entityId": "theirs", "metricsKey": "k", "value": 1},
        ws,
        ada,
    )

    assert outcome.error == "inputs.entityId: there is no entity 'theirs'"


def test_data_points_need_the_configure_custom_metrics_permission(ws, grace, payments):
    outcome = run(
        "cortex.addCustomMetricsDataPoint",
        {"entityId": "payments", "metricsKey": "k", "value": 1},
        ws,
        grace,
    )

    assert outcome.error == (
        "grace@example.com lacks the 'Configure custom metrics' permission "
        "(CONFIGURE_CUSTOM_METRICS) that cortex.addCustomMetricsDataPoint needs"
    )


# Other identifiers and configuration ------------------------------------------------------


@pytest.mark.parametrize(
    "identifier",
    [
        "github.createPipelineSchedule",
        "gitlab.createMergeRequest",
        "cortex.deleteEverything",
    ],
)
def test_actions_cairn_cannot_run_fail_by_name(identifier, ws, ada):
    outcome = run(identifier, {"branch": "main"}, ws, ada)

    assert outcome.status == "FAILED"
    assert outcome.error == f"Cairn cannot execute action '{identifier}' yet"


def test_a_missing_action_identifier_is_bad_configuration(ws, ada):
    outcome = AdvancedHttpRequest().execute(
        make_ctx(
            {"type": "ADVANCED_HTTP_REQUEST", "inputs": {}},
            STATE,
            workspace=ws,
            initiator=ada,
        )
    )

    assert outcome.error == "Bad configuration: actionIdentifier is required"


def test_inputs_that_are_not_a_mapping_are_bad_configuration(ws, ada):
    outcome = AdvancedHttpRequest().execute(
        make_ctx(
            {
                "type": "ADVANCED_HTTP_REQUEST",
                "actionIdentifier": "cortex.createOrUpdateEntity",
                "inputs": "body",
            },
            STATE,
            workspace=ws,
            initiator=ada,
        )
    )

    assert outcome.error == "Bad configuration: inputs must map input names to values"
