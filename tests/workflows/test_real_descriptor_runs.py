"""Descriptors written in the style of Cortex's published ones (its CLI's
solution and test workflows, its docs' examples), imported unchanged and run
through the engine in-process, against a real HTTP server on 127.0.0.1 where a
block calls out (Cortex's API, Jenkins, Slack, a CI system)."""

import base64
import json
from pathlib import Path

import pytest

from catalog.models import Entity
from tests.factories import EntityFactory
from tests.workflows.test_engine import run_to_rest
from workflows import descriptor, engine
from workflows.models import Integration, Run, Secret
from workflows.secrets import encrypt
from workflows.services import workflow_upsert

HERE = Path(__file__).parent / "descriptors"
S = Run.Status


pytestmark = pytest.mark.usefixtures("loopback_allowed")


def load(name: str, **replace: str) -> dict:
    text = (HERE / name).read_text()
    for old, new in replace.items():
        text = text.replace(old, new)
    return descriptor.validate(descriptor.parse(text))


def install(ws, name: str, **replace: str):
    wf, _ = workflow_upsert(workspace=ws, descriptor=load(name, **replace))
    return wf


def round_trips(name: str) -> None:
    """The export of the validated descriptor validates to the same descriptor."""
    first = load(name)
    exported = descriptor.export(first)
    assert descriptor.validate(descriptor.parse(exported)) == first


def waiting_step(run: Run, slug: str):
    step = run.steps.get(slug=slug)
    assert step.status == "WAITING", (step.status, step.error)
    return step


@pytest.fixture
def slack(http_server, ws):
    Integration.objects.create(
        workspace=ws,
        kind=Integration.Kind.SLACK,
        base_url=http_server.url(""),
        encrypted_token=encrypt("xoxb-test"),
    )
    http_server.route(
        "POST",
        "/api/chat.postMessage",
        json={"ok": True, "channel": "C0001", "ts": "1700000000.000100"},
    )
    return http_server


# --- an HTTP read, jq, variables, then an async call that waits for Jenkins -------


def test_the_jenkins_deploy_solution_reads_config_triggers_a_build_and_completes_on_its_callback(
    http_server, ws, grace
):
    # Unchanged but for its Cortex API address, which points at the local server.
    wf = install(
        ws,
        "jenkins-trigger-deploy.yaml",
        **{"https://api.getcortexapp.com": http_server.url("")},
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

    assert run.status == S.PAUSED
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

    assert run.status == S.COMPLETED
    assert f"**Job:** [deploy]({jenkins}/job/deploy)" in run.response
    assert "crt-s3cret" not in str(run.state)


def test_the_jenkins_deploy_solution_fails_with_its_own_message_when_the_entity_has_no_config(
    http_server, ws, grace
):
    # No cortex_api_key secret either: "Bearer " with nothing after it is still sent.
    wf = install(
        ws,
        "jenkins-trigger-deploy.yaml",
        **{"https://api.getcortexapp.com": http_server.url("")},
    )
    entity = EntityFactory(workspace=ws, tag="checkout")
    http_server.route(
        "GET",
        "/api/v1/catalog/checkout/custom-data/jenkins",
        json={"key": "jenkins", "value": None},
    )

    run = run_to_rest(engine.start(workflow=wf, initiator=grace, entity=entity))

    assert run.status == S.FAILED
    assert "The entity has no Jenkins settings" in run.error
    assert len(http_server.requests) == 1  # Jenkins was never called


# --- a form, then cortex.createOrUpdateEntity -------------------------------------


def test_the_sandbox_form_registers_an_entity_built_from_the_answers(ws, ada):
    wf = install(ws, "provision-sandbox.yaml")

    run = run_to_rest(engine.start(workflow=wf, initiator=ada))
    assert run.status == S.PAUSED
    form = waiting_step(run, "ask-sandbox")
    engine.submit_input(
        run,
        form,
        values={"provider": "ovh", "tier": "scratch", "zone": "gra7"},
        by=ada,
    )
    run = run_to_rest(run)

    assert run.status == S.COMPLETED, run.error
    entity = Entity.objects.get(workspace=ws, tag="ovh-scratch-gra7")
    assert entity.type.tag == "sandbox"
    # Cortex documents `description`; the solutions' x-cortex-description is
    # kept in the descriptor as written.
    assert entity.descriptor["x-cortex-description"] == "ovh scratch sandbox in gra7"
    assert sorted(g.tag for g in entity.groups.all()) == [
        "provider:ovh",
        "tier:scratch",
        "zone:gra7",
    ]
    assert "Sandbox **ovh-scratch-gra7** registered." in run.response
    # A GLOBAL run has no entity: the reference renders empty, as in Cortex.
    assert "(https://cairn.example/catalog/)" in run.response


def test_the_sandbox_form_refuses_an_option_that_is_not_offered(ws, ada):
    from workflows.inputs import InputInvalid

    wf = install(ws, "provision-sandbox.yaml")
    run = run_to_rest(engine.start(workflow=wf, initiator=ada))

    with pytest.raises(InputInvalid):
        engine.submit_input(
            run,
            waiting_step(run, "ask-sandbox"),
            values={"provider": "aws", "tier": "scratch", "zone": "x"},
            by=ada,
        )
    assert waiting_step(run, "ask-sandbox")


def test_registering_a_sandbox_that_exists_renders_the_failure_template(ws, ada):
    wf = install(ws, "provision-sandbox.yaml")
    answers = {"provider": "hetzner", "tier": "shared", "zone": "fsn1"}
    for _ in range(2):
        run = run_to_rest(engine.start(workflow=wf, initiator=ada))
        engine.submit_input(
            run, waiting_step(run, "ask-sandbox"), values=answers, by=ada
        )
        run = run_to_rest(run)

    assert run.status == S.FAILED
    assert "already exists" in run.error
    assert run.response.strip() == (
        "Could not register **hetzner-shared-fsn1**. See the step log."
    )
    assert Entity.objects.filter(workspace=ws, tag="hetzner-shared-fsn1").count() == 1


def test_the_sandbox_workflow_round_trips_through_export():
    round_trips("provision-sandbox.yaml")


# --- Slack, with nulls and a section over the initiator's roles ---------------------


def test_the_announcement_lists_the_initiators_roles_in_the_slack_message(
    slack, ws, grace
):
    wf = install(ws, "announce-run.yaml")

    run = run_to_rest(engine.start(workflow=wf, initiator=grace))

    assert run.status == S.COMPLETED, run.error
    [post] = slack.requests
    assert post.json()["channel"] == "release-train"
    text = post.json()["text"]
    assert text.splitlines() == [
        f"Started by: {grace.display_name}",
        "Roles: ",
        "- User",
    ]
    assert run.response == ""


def test_the_announcement_round_trips_through_export():
    round_trips("announce-run.yaml")


def test_a_json_descriptor_imports_and_posts_without_the_channels_hash(
    slack, ws, grace
):
    wf = install(ws, "hello-channel.json")

    run = run_to_rest(engine.start(workflow=wf, initiator=grace))

    assert run.status == S.COMPLETED, run.error
    assert slack.requests[0].json() == {
        "channel": "lobby",
        "text": "Hello from grace@example.com.",
    }
    assert json.loads((HERE / "hello-channel.json").read_text())["tag"] == wf.tag


# --- the variables + branch pattern, and an async call answered with `output` ------


@pytest.fixture
def ci(http_server, ws):
    from workflows.models import Secret

    Secret.objects.create(
        workspace=ws, tag="ci_token", encrypted_value=encrypt("c1-t0k")
    )
    http_server.route(
        "POST", "/api/repos/acme/billing/pipelines/deploy/dispatches", status=204
    )
    return http_server


def ci_workflow(ws, ci):
    return install(ws, "ci-dispatch.yaml", **{"https://ci.example.test": ci.url("")})


def report(step, status="SUCCESS", **output):
    """What the CI system posts to the callback URL (Cortex's solutions' shape)."""
    engine.callback(
        step,
        {
            "status": status,
            "message": f"Pipeline {status.lower()}",
            "output": {
                "sha": "9f2c1e0",
                "run_url": "https://ci.example.test/r/7?a=1&b=2",
                **output,
            },
        },
    )


def test_an_api_run_with_the_repository_in_its_context_skips_the_form(ws, ci, grace):
    wf = ci_workflow(ws, ci)

    run = run_to_rest(
        engine.start(
            workflow=wf,
            initiator=grace,
            source=Run.Source.API,
            initial_context={"ci-owner": "acme", "ci-repo": "billing"},
        )
    )

    assert run.status == S.PAUSED
    steps = dict(run.steps.values_list("slug", "status"))
    assert steps["ask-repo"] == "SKIPPED"
    assert steps["keep-repo"] == "SKIPPED"
    assert steps["merge"] == "COMPLETED"
    [dispatch] = ci.requests
    assert dispatch.headers["authorization"] == "token c1-t0k"
    step = waiting_step(run, "start-pipeline")
    payload = dispatch.json()
    assert payload["ref"] == "main"
    assert payload["inputs"]["cortex_callback_url"].endswith(
        f"/callback/{step.callback_id}"
    )

    report(step, conclusion="success")
    run = run_to_rest(run)

    assert run.status == S.COMPLETED, run.error
    assert "| **Repository** | acme/billing |" in run.response
    assert "| **Outcome** | success |" in run.response
    assert "`9f2c1e0`" in run.response
    # Triple braces: the URL's & is not HTML-escaped.
    assert "[open](https://ci.example.test/r/7?a=1&b=2)" in run.response
    assert "c1-t0k" not in json.dumps(run.state)


def test_a_ui_run_asks_for_the_repository_and_keeps_the_answers(ws, ci, grace):
    wf = ci_workflow(ws, ci)

    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    assert run.status == S.PAUSED
    assert ci.requests == []
    engine.submit_input(
        run,
        waiting_step(run, "ask-repo"),
        values={"ci-owner": "acme", "ci-repo": "billing"},
        by=grace,
    )
    run = run_to_rest(run)

    assert run.state["variables"] == {"ci-owner": "acme", "ci-repo": "billing"}
    assert len(ci.requests) == 1
    step = waiting_step(run, "start-pipeline")
    report(step, status="CANCELLED")
    run = run_to_rest(run)

    assert run.status == S.FAILED
    assert run.response.strip() == (
        "Pipeline for acme/billing failed: Pipeline cancelled"
    )


def test_a_run_with_only_the_owner_prefills_it_and_still_asks(ws, ci, grace):
    wf = ci_workflow(ws, ci)

    run = run_to_rest(
        engine.start(workflow=wf, initiator=grace, initial_context={"ci-owner": "acme"})
    )

    step = waiting_step(run, "ask-repo")
    form = {d["key"]: d for d in step.inputs["form"]}
    assert form["ci-owner"]["defaultValue"] == "acme"
    assert not form["ci-owner"].get("fixed")
    from workflows.inputs import InputInvalid

    with pytest.raises(InputInvalid):
        engine.submit_input(
            run, step, values={"ci-owner": "acme corp", "ci-repo": "billing"}, by=grace
        )


def test_the_ci_workflow_round_trips_through_export():
    round_trips("ci-dispatch.yaml")


# --- entity fields, a validator, JavaScript, jq, an approval, {{{yaml}}} ------------


@pytest.fixture
def release_desk(ws, ada, mona):
    from catalog.models import Team
    from tests.factories import EntityTypeFactory

    service = EntityTypeFactory(workspace=ws, tag="service")
    EntityFactory(workspace=ws, tag="billing", name="Billing", type=service)
    EntityFactory(workspace=ws, tag="ledger", name="Ledger", type=service)
    website = EntityTypeFactory(workspace=ws, tag="website")
    EntityFactory(workspace=ws, tag="docs-site", name="Docs site", type=website)
    team = Team.objects.create(workspace=ws, tag="release-managers", name="RM")
    team.members.add(mona)
    return install(ws, "cut-release.yaml")


def test_a_release_links_the_chosen_services_after_approval(
    release_desk, ws, ada, mona
):
    run = run_to_rest(engine.start(workflow=release_desk, initiator=ada))
    engine.submit_input(
        run,
        waiting_step(run, "collect-inputs"),
        values={
            "version": "2.4.0",
            "services": ["billing", {"tag": "ledger"}],
            "environment": "prd",
            "canary-percent": "25",
            "hotfix": "",
            "window": "2031-05-06",
            "notes": "",
        },
        by=ada,
    )
    run = run_to_rest(run)

    outputs = run.state["actions"]["collect-inputs"]["outputs"]
    assert outputs["canary-percent"] == 25
    assert outputs["hotfix"] is False
    assert [s["tag"] for s in outputs["services"]] == ["billing", "ledger"]
    assert run.state["variables"]["release-tag"] == "rel-prd-2-4-0"
    assert run.state["actions"]["slugify"]["outputs"]["result"] == {
        "summary": "billing, ledger",
        "notes": "none",
        "slug": "2-4-0",
        "query": "rel-prd-2-4-0",
    }
    approval = waiting_step(run, "release-approval")
    assert approval.inputs["approverDescription"].splitlines() == [
        "ada@example.com wants to ship billing, ledger to prd.",
        "Notes: none",
    ]

    engine.decide(run, approval, by=mona, approve=True)
    run = run_to_rest(run)

    assert run.status == S.COMPLETED, run.error
    release = Entity.objects.get(workspace=ws, tag="rel-prd-2-4-0")
    assert release.type.tag == "release"
    assert release.descriptor["x-cortex-relationships"] == [
        {"tag": "billing", "type": "ships"},
        {"tag": "ledger", "type": "ships"},
    ]
    assert "- Billing (`billing`)\n- Ledger (`ledger`)\n" in run.response
    assert "Regular release, approved by mona@example.com." in run.response
    assert "(https://cairn.example/changelog?tag=rel-prd-2-4-0)" in run.response


def test_the_release_form_refuses_entities_outside_its_filter_and_a_bad_version(
    release_desk, ada
):
    from workflows.inputs import InputInvalid

    run = run_to_rest(engine.start(workflow=release_desk, initiator=ada))
    with pytest.raises(InputInvalid) as refused:
        engine.submit_input(
            run,
            waiting_step(run, "collect-inputs"),
            values={"version": "v2", "services": ["docs-site"], "environment": "stg"},
            by=ada,
        )
    assert set(refused.value.errors) >= {"version", "services"}


def test_the_release_validator_wants_notes_for_a_production_hotfix(release_desk, ada):
    from workflows.inputs import InputInvalid

    run = run_to_rest(engine.start(workflow=release_desk, initiator=ada))
    with pytest.raises(InputInvalid) as refused:
        engine.submit_input(
            run,
            waiting_step(run, "collect-inputs"),
            values={
                "version": "2.4.1",
                "services": ["billing"],
                "environment": "prd",
                "hotfix": "on",
            },
            by=ada,
        )
    assert refused.value.errors == {"notes": ["A production hotfix needs notes."]}


def test_a_rejected_release_fails_with_the_reason(release_desk, ws, ada, mona):
    run = run_to_rest(engine.start(workflow=release_desk, initiator=ada))
    engine.submit_input(
        run,
        waiting_step(run, "collect-inputs"),
        values={"version": "3.0.0", "services": ["ledger"], "environment": "stg"},
        by=ada,
    )
    run = run_to_rest(run)
    engine.decide(
        run,
        waiting_step(run, "release-approval"),
        by=mona,
        approve=False,
        reason="Freeze",
    )
    run = run_to_rest(run)

    assert run.status == S.FAILED
    assert "Freeze" in run.error
    assert not Entity.objects.filter(workspace=ws, tag="rel-stg-3-0-0").exists()


def test_the_release_workflow_round_trips_through_export():
    round_trips("cut-release.yaml")


# --- CEL over numbers from a JSON body --------------------------------------------


@pytest.mark.parametrize(
    "report, verdict",
    [
        # {{…}} escapes HTML, as in Cortex: the Markdown shows "<".
        (
            {"coverage": 79.5, "waiver": None},
            "billing is blocked: coverage 79.5 &lt; 80",
        ),
        ({"coverage": 80, "waiver": None}, "billing may ship (coverage 80)"),
        ({"coverage": 91.25, "waiver": None}, "billing may ship (coverage 91.25)"),
        ({"coverage": 12, "waiver": "INC-7"}, "billing may ship (coverage 12)"),
    ],
)
def test_the_coverage_gate_compares_whole_and_fractional_coverage_with_80(
    http_server, ws, grace, report, verdict
):
    wf = install(
        ws,
        "coverage-gate.yaml",
        **{"https://reports.example.test": http_server.url("")},
    )
    http_server.route("GET", "/coverage/billing.json", json=report)
    entity = EntityFactory(workspace=ws, tag="billing")

    run = run_to_rest(engine.start(workflow=wf, initiator=grace, entity=entity))

    assert run.status == S.COMPLETED, run.error
    assert run.response == verdict


def test_the_coverage_gate_round_trips_through_export():
    round_trips("coverage-gate.yaml")


# --- integration: GitHub, with a relative URL and an alias from a variable ---------


@pytest.fixture
def actions_deploy(http_server, ws):
    from workflows.models import Secret

    Secret.objects.create(
        workspace=ws, tag="cortex_api_key", encrypted_value=encrypt("crt-k3y")
    )
    Integration.objects.create(
        workspace=ws,
        kind=Integration.Kind.GITHUB,
        alias="deploys",
        base_url=http_server.url("/github"),
        encrypted_token=encrypt("ghs-d3ploy"),
    )
    return install(
        ws,
        "actions-deploy-from-entity.yaml",
        **{"https://api.getcortexapp.com": http_server.url("/cortex")},
    )


def test_the_actions_deploy_dispatches_through_the_github_integration_and_completes(
    http_server, actions_deploy, ws, grace
):
    http_server.route(
        "GET",
        "/cortex/api/v1/catalog/billing",
        json={"tag": "billing", "git": {"repository": "acme/billing-api"}},
    )
    dispatches = (
        "/github/repos/acme/billing-api/actions/workflows/deploy.yml/dispatches"
    )
    http_server.route("POST", dispatches, status=204)
    entity = EntityFactory(workspace=ws, tag="billing")

    run = run_to_rest(
        engine.start(workflow=actions_deploy, initiator=grace, entity=entity)
    )

    assert run.status == S.PAUSED, run.error
    read, dispatch = http_server.requests
    assert read.headers["authorization"] == "Bearer crt-k3y"
    assert dispatch.path == dispatches
    assert dispatch.headers["authorization"] == "Bearer ghs-d3ploy"
    step = waiting_step(run, "dispatch")
    assert dispatch.json()["inputs"]["cortex_callback_url"].endswith(
        f"/callback/{step.callback_id}"
    )

    engine.callback(
        step,
        {
            "status": "SUCCESS",
            "message": "Deployed",
            "output": {
                "sha": "4be1f00",
                "run_url": "https://github.com/acme/billing-api/actions/runs/9",
            },
        },
    )
    run = run_to_rest(run)

    assert run.status == S.COMPLETED, run.error
    assert "**acme/billing-api** at `4be1f00`" in run.response
    assert "[All runs](https://github.com/acme/billing-api/actions)" in run.response
    assert "ghs-d3ploy" not in json.dumps(run.state)


def test_the_actions_deploy_fails_with_its_own_message_without_a_repository(
    http_server, actions_deploy, ws, grace
):
    http_server.route("GET", "/cortex/api/v1/catalog/billing", json={"tag": "billing"})
    entity = EntityFactory(workspace=ws, tag="billing")

    run = run_to_rest(
        engine.start(workflow=actions_deploy, initiator=grace, entity=entity)
    )

    assert run.status == S.FAILED
    assert "This service has no repository in the catalog" in run.error
    assert len(http_server.requests) == 1


def test_the_actions_deploy_round_trips_through_export():
    round_trips("actions-deploy-from-entity.yaml")


# --- numbers where Cortex expects text, as its YAML export leaves them -------------

# Jackson reads these as the text written; Cortex's export writes numeric strings
# unquoted. The form offers "3.10", not 3.1, and the header goes out as "2".
RUNTIME_FORM = """\
tag: pick-runtime
name: Pick a runtime
filter:
  type: GLOBAL
actions:
- name: Pick
  slug: pick
  schema:
    type: USER_INPUT
    inputs:
    - name: Runtime
      key: runtime
      type: SELECT_FIELD
      required: true
      options: [3.9, 3.10, 3.11]
      defaultValue: 3.10
      allowAdditionalOptions: false
    - name: Port
      key: port
      type: INPUT_FIELD
      required: true
      defaultValue: 8080
    inputOverrides: []
  outgoingActions: [provision]
  isRootAction: true
- name: Provision
  slug: provision
  schema:
    type: HTTP_REQUEST
    httpMethod: POST
    url: PROVISION_URL
    headers:
      X-Api-Version: 2
    payload: '{"runtime": "{{actions.pick.outputs.runtime}}", "port": {{actions.pick.outputs.port}}}'
  outgoingActions: []
  isRootAction: false
"""


def test_numeric_options_and_headers_run_as_the_text_written(http_server, ws, grace):
    http_server.route("POST", "/provision", json={"ok": True})
    text = RUNTIME_FORM.replace("PROVISION_URL", http_server.url("/provision"))
    wf, _ = workflow_upsert(
        workspace=ws, descriptor=descriptor.validate(descriptor.parse(text))
    )

    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    step = waiting_step(run, "pick")
    form = {d["key"]: d for d in step.inputs["form"]}
    assert form["runtime"]["options"] == ["3.9", "3.10", "3.11"]
    assert form["runtime"]["defaultValue"] == "3.10"
    assert form["port"]["defaultValue"] == "8080"
    engine.submit_input(run, step, values={"runtime": "3.10", "port": "8080"}, by=grace)
    run = run_to_rest(run)

    assert run.status == S.COMPLETED, run.error
    [call] = http_server.requests
    assert call.headers["x-api-version"] == "2"
    assert call.json() == {"runtime": "3.10", "port": 8080}


# --- Cortex's own echo server answers through `response`, read as result.output ----


def test_the_axon_echo_workflow_shows_what_the_echo_server_sent_back(
    http_server, ws, grace
):
    # Unchanged but for the relay address, which points at the local server.
    wf = install(
        ws,
        "axon-echo.yaml",
        **{"http://echo-relay@relay-proxy.cortex.io": http_server.url("")},
    )
    http_server.route("POST", "/echo", json={"queued": True})
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    assert run.status == S.PAUSED
    [call] = http_server.requests
    assert call.json() == {"message": "hello from cortex"}
    step = waiting_step(run, "call-echo")
    assert call.query["callbackURL"][0].endswith(f"/callback/{step.callback_id}")

    # What cortexapps/cli's internal/axon/echo/server.py posts: lower-case
    # statuses, and the results under `response`.
    echoed = {
        "echo_server": "axon-echo",
        "timestamp": "2026-12-06T05:00:00Z",
        "message": "hello from cortex",
    }
    engine.callback(step, {"status": "update", "message": "Echo received"})
    engine.callback(
        step,
        {"status": "success", "message": "Echo completed", "response": echoed},
    )
    run = run_to_rest(run)

    assert run.status == S.COMPLETED
    assert "| **Server** | axon-echo |" in run.response
    assert "| **Message** | hello from cortex |" in run.response
    assert "| **Timestamp** | 2026-12-06T05:00:00Z |" in run.response


def test_the_axon_echo_workflow_round_trips():
    round_trips("axon-echo.yaml")


# Written by a customer migrating from Cortex (our QA, in Cortex's exported
# shape, 2026-12-06; 11 to 22 by a second QA who also ran each one through the
# API, the browser, import_workflows and the Cortex CLI): each imports
# unchanged and exports to the same descriptor.
MIGRATED = sorted(p.name for p in (HERE / "migrated").iterdir())


@pytest.mark.parametrize("name", MIGRATED)
def test_a_migrated_customers_descriptor_imports_unchanged_and_exports_the_same(
    ws, name
):
    round_trips(f"migrated/{name}")
    assert install(ws, f"migrated/{name}").descriptor == load(f"migrated/{name}")
