"""After a run with a secret input ends, the value is nowhere: no table, output, event or log."""

import base64
import json
import logging

import pytest

from portal.dbscan import every_stored_text
from tests.workflows.httpserver import make_reply
from workflows import descriptor, engine
from workflows.inputs import InputInvalid
from workflows.models import Run, Secret, Step
from workflows.secrets import MASK, encrypt
from workflows.services import workflow_upsert

SECRET = "tiger-Lily-42!"

LEAKY = """
tag: leaky
name: Leaky
filter: {type: GLOBAL}
runResponseTemplate: "Done with {{actions.form.outputs.token}} and {{actions.echo.outputs.copy}}"
actions:
  - slug: form
    name: Form
    isRootAction: true
    outgoingActions: [echo]
    schema:
      type: USER_INPUT
      inputOverrides: []
      inputs:
        - {key: token, name: Token, type: SECRET_FIELD, required: true, validationRegex: "^[A-Za-z0-9!-]{8,}$"}
  - slug: echo
    name: Echo
    isRootAction: false
    outgoingActions: [send]
    schema:
      type: JAVASCRIPT
      script: 'return {copy: actions.form.outputs.token, shout: actions.form.outputs.token.toUpperCase()};'
  - slug: send
    name: Send
    isRootAction: false
    outgoingActions: [fail]
    schema:
      type: HTTP_REQUEST
      httpMethod: POST
      url: "URL/hook"
      headers: {Authorization: "Bearer {{{actions.form.outputs.token}}}"}
      payload: '{"token": "{{{actions.form.outputs.token}}}"}'
  - slug: fail
    name: Fail
    isRootAction: false
    outgoingActions: []
    schema: {type: JQ, expression: 'error("bad token " + .actions.form.outputs.token)'}
"""


def started(ws, user, text: str) -> Run:
    """A run of the workflow in `text` (YAML), advanced to its first pause."""
    workflow, _ = workflow_upsert(
        workspace=ws, descriptor=descriptor.validate(descriptor.parse(text))
    )
    run = engine.start(workflow=workflow, initiator=user)
    engine.advance(run.pk)
    return run


def answered(run: Run, user, slug: str, values: dict) -> Run:
    """The run after `user` filled in the form `slug` and it went on."""
    engine.submit_input(
        run, Step.objects.get(run=run, slug=slug), values=values, by=user
    )
    engine.advance(run.pk)
    run.refresh_from_db()
    return run


def test_a_secret_input_appears_nowhere_after_the_run_ends(
    ws, grace, http_server, settings, caplog
):
    settings.HTTP_BLOCK_ALLOWED_HOSTS = ["127.0.0.1"]
    http_server.route(
        "POST", "/hook", json={"echo": SECRET}
    )  # the server even sends it back
    caplog.set_level(logging.DEBUG)
    run = started(ws, grace, LEAKY.replace("URL", http_server.url("").rstrip("/")))
    run = answered(run, grace, "form", {"token": SECRET})

    assert (
        run.status == Run.Status.FAILED
    )  # the last block failed, naming the (masked) value
    assert (
        http_server.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    )  # it was usable
    assert SECRET not in every_stored_text()
    assert "********" in run.error
    assert SECRET not in caplog.text
    assert run.secrets_blob == ""


def test_a_secret_failing_its_regex_is_refused_without_echoing_it(ws, grace):
    run = started(ws, grace, LEAKY.replace("URL", "http://127.0.0.1:9"))
    form = Step.objects.get(run=run, slug="form")
    try:
        engine.submit_input(run, form, values={"token": "no spaces allowed"}, by=grace)
    except InputInvalid as exc:
        assert "no spaces allowed" not in str(exc.errors)
    else:
        raise AssertionError("the value should have been refused")
    form.refresh_from_db()
    assert form.status == "WAITING"
    assert "no spaces allowed" not in every_stored_text()


ROWS = """
tag: servers
name: Servers
filter: {type: GLOBAL}
runResponseTemplate: "Hosts: {{#actions.form.outputs.servers}}{{host}} {{/actions.form.outputs.servers}}"
actions:
  - slug: form
    name: Form
    isRootAction: true
    outgoingActions: [use]
    schema:
      type: USER_INPUT
      inputOverrides: []
      inputs:
        - key: servers
          name: Servers
          type: NESTED_FORM_FIELD
          dataType: OBJECT
          required: true
          inputs:
            - {key: host, name: Host, type: INPUT_FIELD, required: true}
            - {key: password, name: Password, type: SECRET_FIELD, required: true}
  - slug: use
    name: Use
    isRootAction: false
    outgoingActions: []
    schema:
      type: JAVASCRIPT
      script: 'return {lengths: actions.form.outputs.servers.map(s => s.password.length), hosts: actions.form.outputs.servers.map(s => s.host).join(",")};'
"""


def test_secrets_in_nested_rows_are_usable_and_hide_only_themselves(ws, grace):
    run = started(ws, grace, ROWS)
    rows = [
        {"host": "e", "password": SECRET},
        {"host": "db.local", "password": "other-Secret-7"},
    ]
    run = answered(run, grace, "form", {"servers": rows})

    assert run.status == Run.Status.COMPLETED, run.error
    use = Step.objects.get(run=run, slug="use")
    # The later block saw each row's real password, and the host names are
    # not taken for secrets (a host "e" once masked every "e" of the run).
    assert use.outputs == {"lengths": [len(SECRET), 14], "hosts": "e,db.local"}
    assert run.response == "Hosts: e db.local "
    assert Step.objects.get(run=run, slug="form").outputs == {
        "servers": [
            {"host": "e", "password": "********"},
            {"host": "db.local", "password": "********"},
        ]
    }
    stored = every_stored_text()
    assert SECRET not in stored and "other-Secret-7" not in stored


APPROVE = """
tag: approve-secret
name: Approve a secret
filter: {type: GLOBAL}
actions:
  - slug: form
    name: Form
    isRootAction: true
    outgoingActions: [approve]
    schema:
      type: USER_INPUT
      inputOverrides: []
      inputs:
        - {key: token, name: Token, type: SECRET_FIELD, required: true}
  - slug: approve
    name: Approve
    isRootAction: false
    outgoingActions: []
    schema:
      type: MANUAL_APPROVAL
      approvingTeamIds: [platform]
      approverDescription: Ship it?
"""


def test_an_approval_reason_quoting_a_secret_is_stored_masked(ws, grace):
    from catalog.models import Team
    from tests.factories import UserFactory, member
    from workflows.models import Decision, RunEvent

    linus = UserFactory(email="linus@example.com")
    member(ws, linus, "User")
    Team.objects.create(workspace=ws, tag="platform", name="Platform").members.add(
        linus
    )
    run = answered(started(ws, grace, APPROVE), grace, "form", {"token": SECRET})
    step = Step.objects.get(run=run, slug="approve")

    engine.decide(run, step, by=linus, approve=False, reason=f"{SECRET} is weak")

    assert Decision.objects.get(step=step).reason == "******** is weak"
    assert RunEvent.objects.filter(
        run=run, message="Rejected: ******** is weak"
    ).exists()
    assert SECRET not in every_stored_text()


ECHOED = """
tag: echoed
name: Echoed
filter: {type: GLOBAL}
actions:
  - slug: form
    name: Form
    isRootAction: true
    outgoingActions: [send]
    schema:
      type: USER_INPUT
      inputOverrides: []
      inputs:
        - {key: password, name: Password, type: SECRET_FIELD, required: true}
  - slug: send
    name: Send
    isRootAction: false
    outgoingActions: []
    schema:
      type: HTTP_REQUEST
      httpMethod: POST
      url: "URL/echo"
      headers: {Content-Type: text/plain}
      payload: 'password={{{actions.form.outputs.password}}}'
"""


def test_a_secret_a_server_echoes_json_escaped_in_an_error_is_masked(
    ws, grace, http_server, settings
):
    settings.HTTP_BLOCK_ALLOWED_HOSTS = ["127.0.0.1"]
    secret = 'Pässwort-"9001"'
    # The server refuses the request and quotes its body back, JSON-escaped:
    http_server.route(
        "POST",
        "/echo",
        handler=lambda request: make_reply(status=422, json={"rejected": request.text}),
    )
    run = started(ws, grace, ECHOED.replace("URL", http_server.url("").rstrip("/")))
    run = answered(run, grace, "form", {"password": secret})

    assert run.status == Run.Status.FAILED
    assert "HTTP 422" in run.error and "password=********" in run.error
    stored = every_stored_text()
    for form_of_it in (secret, json.dumps(secret)[1:-1], "P\\u00e4sswort"):
        assert form_of_it not in stored


def test_a_secret_written_html_escaped_by_mustache_appears_nowhere(
    ws, grace, http_server, settings
):
    # `{{…}}` (not `{{{…}}}`) escapes &, <, > and ": the header and payload
    # carry the secret in that form, and a server may echo it back so.
    secret = "s3cr&t<val>\"x'"
    escaped = "s3cr&amp;t&lt;val&gt;&quot;x'"
    settings.HTTP_BLOCK_ALLOWED_HOSTS = ["127.0.0.1"]
    http_server.route("POST", "/hook", json={"echo": escaped})
    text = (
        LEAKY.replace("{{{", "{{")
        .replace("}}}", "}}")
        .replace("^[A-Za-z0-9!-]{8,}$", "^.{8,}$")
        .replace("URL", http_server.url("").rstrip("/"))
    )
    run = answered(started(ws, grace, text), grace, "form", {"token": secret})

    assert http_server.requests[0].headers["authorization"] == f"Bearer {escaped}"
    stored = every_stored_text()
    assert escaped not in stored
    assert "s3cr&t" not in stored
    assert "s3cr" not in stored
    send = Step.objects.get(run=run, slug="send")
    assert send.inputs["headers"]["Authorization"] == "Bearer ********"


QUERIED = """
tag: queried
name: Queried
filter: {type: GLOBAL}
failedRunResponseTemplate: "Failed: {{actions.keyed.outputs.result}}"
actions:
  - slug: form
    name: Form
    isRootAction: true
    outgoingActions: [keyed]
    schema:
      type: USER_INPUT
      inputOverrides: []
      inputs:
        - {key: pw, name: Password, type: SECRET_FIELD, required: true}
  - slug: keyed
    name: Keyed
    isRootAction: false
    outgoingActions: [send]
    schema: {type: JQ, expression: '{(.actions.form.outputs.pw): 1, (.context.secrets.api): 2}'}
  - slug: send
    name: Send
    isRootAction: false
    outgoingActions: []
    schema:
      type: HTTP_REQUEST
      httpMethod: GET
      url: "URL/find?pw={{{actions.form.outputs.pw}}}&api={{{context.secrets.api}}}&esc={{actions.form.outputs.pw}}"
"""


def test_secrets_used_as_keys_or_url_encoded_in_a_query_a_server_echoes_appear_nowhere(
    ws, grace, http_server, settings
):
    settings.HTTP_BLOCK_ALLOWED_HOSTS = ["127.0.0.1"]
    secret, api_secret = "My pass/w0rd!x&<ü>", "Tr0ub4dor pass/word!"
    Secret.objects.create(
        workspace=ws, tag="api", name="API", encrypted_value=encrypt(api_secret)
    )
    # A 404 that quotes the path and query as the client encoded them:
    http_server.route(
        "GET",
        "/find",
        handler=lambda request: make_reply(
            status=404, json={"message": f"not found: {request.target}"}
        ),
    )
    run = started(ws, grace, QUERIED.replace("URL", http_server.url("").rstrip("/")))
    run = answered(run, grace, "form", {"pw": secret})

    assert run.status == Run.Status.FAILED
    assert http_server.requests[0].query["pw"] == [secret.split("&")[0]]  # usable
    sent = http_server.requests[0].target
    assert Step.objects.get(run=run, slug="keyed").outputs == {
        "result": {MASK: 2}  # both keys masked: they merge
    }
    assert "not found: /find?pw=********" in run.error
    stored = every_stored_text()
    for leaked in (secret, api_secret, *sent.split("?")[1].split("&")[:2]):
        assert leaked.split("=")[-1] not in stored, leaked


VALIDATED = """
tag: validated
name: Validated
filter: {type: GLOBAL}
actions:
  - slug: first
    name: First
    isRootAction: true
    outgoingActions: [second]
    schema:
      type: USER_INPUT
      inputOverrides: []
      inputs: [{key: pw, name: Password, type: SECRET_FIELD, required: true}]
  - slug: second
    name: Second
    isRootAction: false
    outgoingActions: []
    schema:
      type: USER_INPUT
      inputOverrides: []
      inputs: [{key: pw2, name: Again, type: SECRET_FIELD, required: true}]
      jsValidatorScript: 'return "no: " + context.secrets.api + " " + actions.first.outputs.pw + " " + inputs.pw2;'
"""


def test_a_validator_message_masks_the_workspaces_and_earlier_forms_secrets(ws, grace):
    Secret.objects.create(
        workspace=ws, tag="api", name="API", encrypted_value=encrypt("ws-S3cr3t")
    )
    run = answered(started(ws, grace, VALIDATED), grace, "first", {"pw": "form-1"})

    with pytest.raises(InputInvalid) as refused:
        engine.submit_input(
            run,
            Step.objects.get(run=run, slug="second"),
            values={"pw2": "form-2"},
            by=grace,
        )
    assert refused.value.errors == {"__all__": [f"no: {MASK} {MASK} {MASK}"]}


DERIVED = """
tag: derived
name: Derived
filter: {type: GLOBAL}
variables:
  - {slug: auth, type: STRING}
runResponseTemplate: "Sent {{variables.auth}}; the server saw {{actions.send.outputs.body.seen}}"
actions:
  - slug: form
    name: Form
    isRootAction: true
    outgoingActions: [basic]
    schema:
      type: USER_INPUT
      inputOverrides: []
      inputs:
        - {key: pw, name: Password, type: SECRET_FIELD, required: true}
  - slug: basic
    name: Basic auth
    isRootAction: false
    outgoingActions: [remember]
    schema: {type: JQ, expression: '"Basic " + ("ada:" + .actions.form.outputs.pw | @base64)'}
  - slug: remember
    name: Remember
    isRootAction: false
    outgoingActions: [confirm]
    schema:
      type: SET_VARIABLES
      variables:
        - {slug: auth, source: {type: REFERENCE, path: actions.basic.outputs.result}}
  - slug: confirm
    name: Confirm
    isRootAction: false
    outgoingActions: [send]
    schema:
      type: USER_INPUT
      inputOverrides: []
      inputs:
        - {key: go, name: Go on, type: TOGGLE_FIELD, required: false}
  - slug: send
    name: Send
    isRootAction: false
    outgoingActions: []
    schema:
      type: HTTP_REQUEST
      httpMethod: GET
      url: "URL/echo"
      headers:
        Authorization: "{{{variables.auth}}}"
        X-Token: "{{{actions.form.outputs.pw}}}"
"""


def test_values_built_from_a_secret_are_usable_later_yet_stored_masked_in_every_form(
    ws, grace, http_server, settings
):
    """A script builds Basic auth from a secret, a variable keeps it past a
    pause, and a server echoes the headers as it read them (Latin-1)."""
    settings.HTTP_BLOCK_ALLOWED_HOSTS = ["127.0.0.1"]
    secret = "Grüße-Tiger-42"
    http_server.route(
        "GET",
        "/echo",
        handler=lambda request: make_reply(
            json={
                "seen": request.headers["x-token"],
                "auth": request.headers["authorization"],
            }
        ),
    )
    run = started(ws, grace, DERIVED.replace("URL", http_server.url("").rstrip("/")))
    run = answered(run, grace, "form", {"pw": secret})
    assert run.status == Run.Status.PAUSED  # at confirm, the variable set
    run = answered(run, grace, "confirm", {"go": True})

    assert run.status == Run.Status.COMPLETED, run.error
    basic = "Basic " + base64.b64encode(f"ada:{secret}".encode()).decode()
    sent = http_server.requests[0].headers
    assert sent["authorization"] == basic  # the built value reached the server
    misread = secret.encode().decode("latin-1")
    assert sent["x-token"] == misread  # as a server reading Latin-1 has it
    stored = every_stored_text()
    for form_of_it in (secret, misread, basic, basic[10:-4], "Tiger-42", "Tiger"):
        assert form_of_it not in stored, form_of_it
    # Where the secret is in it is masked; what holds only "ada:" is not:
    assert run.state["variables"]["auth"] == f"Basic YWRhOk{MASK}I="
    assert run.response.strip() == f"Sent Basic YWRhOk{MASK}I=; the server saw {MASK}"
    assert run.secrets_blob == ""


def test_a_variable_set_from_a_secret_then_set_again_gives_later_blocks_its_new_value(
    ws, grace, http_server, settings
):
    settings.HTTP_BLOCK_ALLOWED_HOSTS = ["127.0.0.1"]
    http_server.route("GET", "/echo", json={"ok": True})
    reset = """
  - slug: reset
    name: Reset
    isRootAction: false
    outgoingActions: [confirm]
    schema:
      type: SET_VARIABLES
      variables:
        - {slug: auth, source: {type: JAVASCRIPT, script: 'return "none"'}}
  - slug: confirm"""
    text = (
        DERIVED.replace("outgoingActions: [confirm]", "outgoingActions: [reset]")
        .replace("\n  - slug: confirm", reset)
        .replace("URL", http_server.url("").rstrip("/"))
    )
    run = answered(started(ws, grace, text), grace, "form", {"pw": "Grüße-Tiger-42"})
    assert run.steps.get(slug="reset").status == "COMPLETED"
    run = answered(run, grace, "confirm", {"go": True})

    assert run.status == Run.Status.COMPLETED, run.error
    assert http_server.requests[0].headers["authorization"] == "none"
    assert run.state["variables"]["auth"] == "none"


@pytest.mark.parametrize(
    "secret",
    ["x" * 150 + "-Tail-" + "y" * 300, "my  pass\tword 42 and some more"],
    ids=["long: cut in the error", "spaces: squeezed in the error"],
)
def test_a_secret_a_server_echoes_in_an_error_is_masked_before_the_error_is_cut(
    ws, grace, http_server, settings, secret
):
    settings.HTTP_BLOCK_ALLOWED_HOSTS = ["127.0.0.1"]
    http_server.route(
        "POST",
        "/echo",
        handler=lambda request: make_reply(status=400, body=f"bad {request.text}"),
    )
    run = started(ws, grace, ECHOED.replace("URL", http_server.url("").rstrip("/")))
    run = answered(run, grace, "form", {"password": secret})

    assert run.status == Run.Status.FAILED
    assert run.error.endswith(": bad password=********")
    stored = every_stored_text()
    assert (
        "xxxxx" not in stored and "pass word" not in stored and "word 42" not in stored
    )
