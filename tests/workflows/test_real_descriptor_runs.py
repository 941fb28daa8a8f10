"""Real Cortex descriptors, unchanged, run through the engine against a real
HTTP server on 127.0.0.1 (standing in for Cortex's API and for Jenkins)."""

import base64
from pathlib import Path

import pytest

from tests.factories import EntityFactory
from tests.workflows.test_engine import run_to_rest
from workflows import descriptor, engine
from workflows.models import Run, Secret
from workflows.secrets import encrypt
from workflows.services import workflow_upsert

HERE = Path(__file__).parent / "descriptors"


@pytest.fixture(autouse=True)
def _allow_loopback(settings):
    settings.HTTP_BLOCK_ALLOWED_HOSTS = ["127.0.0.1"]


def load(name: str, **replace: str) -> dict:
    text = (HERE / name).read_text()
    for old, new in replace.items():
        text = text.replace(old, new)
    return descriptor.validate(descriptor.parse(text))


def test_the_jenkins_deploy_solution_reads_config_triggers_a_build_and_completes_on_its_callback(
    http_server, ws, grace
):
    # Unchanged but for its
    # Cortex API address, which points at the local server.
    wf, _ = workflow_upsert(
        workspace=ws,
        descriptor=load(
            "jenkins-trigger-deploy.yaml",
            **{"https://api.getcortexapp.com": http_server.url("")},
        ),
    )
    Secret.objects.create(
        workspace=ws, tag="cortex_api_key", encrypted_value=encrypt("crt-s3cret")
    )
    entity = EntityFactory(workspace=ws, tag="checkout")
    jenkins = http_server.url("/jenkins")
    http_server.route(
        "GET",
        "/api/v1/catalog/checkout/custom-data/jenkins",
        json={
            "key": "jenkins",
            "value": {
                "url": jenkins,
                "job": "deploy",
                "username": "ci",
                "token": "t0k",
            },
        },
    )
    http_server.route("POST", "/jenkins/job/deploy/buildWithParameters", status=201)

    run = run_to_rest(engine.start(workflow=wf, initiator=grace, entity=entity))

    assert run.status == Run.Status.PAUSED
    config_call, build_call = http_server.requests
    assert config_call.headers["authorization"] == "Bearer crt-s3cret"
    assert (
        build_call.headers["authorization"]
        == "Basic " + base64.b64encode(b"ci:t0k").decode()
    )
    assert build_call.query["cortex_entity_tag"] == ["checkout"]
    callback_url = build_call.query["callback_url"][0]
    step = run.steps.get(slug="start-build")
    assert callback_url.endswith(f"/callback/{step.callback_id}")
    assert run.state["variables"]["jenkins-job"] == "deploy"

    engine.callback(step, {"status": "SUCCESS", "message": "Deployed #12"})
    run = run_to_rest(run)

    assert run.status == Run.Status.COMPLETED
    assert f"**Job:** [deploy]({jenkins}/job/deploy)" in run.response
    assert "crt-s3cret" not in str(run.state)


def test_the_jenkins_deploy_solution_fails_with_its_own_message_when_the_entity_has_no_config(
    http_server, ws, grace
):
    wf, _ = workflow_upsert(
        workspace=ws,
        descriptor=load(
            "jenkins-trigger-deploy.yaml",
            **{"https://api.getcortexapp.com": http_server.url("")},
        ),
    )
    entity = EntityFactory(workspace=ws, tag="checkout")
    http_server.route(
        "GET",
        "/api/v1/catalog/checkout/custom-data/jenkins",
        json={"key": "jenkins", "value": None},
    )

    run = run_to_rest(engine.start(workflow=wf, initiator=grace, entity=entity))

    assert run.status == Run.Status.FAILED
    assert "The entity has no Jenkins settings" in run.error
    assert len(http_server.requests) == 1  # Jenkins was never called
