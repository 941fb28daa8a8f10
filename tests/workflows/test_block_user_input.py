"""The USER_INPUT block: resolving the form, waiting, validating, secrets, validator script."""

import pytest

from tests.factories import EntityFactory
from tests.workflows.blockctx import make_ctx
from workflows.blocks import get_block
from workflows.blocks.base import BlockFailed
from workflows.blocks.user_input import UserInput
from workflows.inputs import InputInvalid
from workflows.secrets import MASK

REGION = {"type": "INPUT_FIELD", "key": "region", "name": "Region", "required": True}
ENV = {
    "type": "SELECT_FIELD",
    "key": "env",
    "name": "Environment",
    "required": True,
    "options": ["prod", "dev"],
    "allowAdditionalOptions": False,
}
TOKEN = {
    "type": "SECRET_FIELD",
    "key": "token",
    "name": "Token",
    "required": True,
    "disabled": False,
    "validationRegex": r"ghp_[a-z0-9]{6}",
}


def schema(*inputs, overrides=(), script=None):
    return {
        "type": "USER_INPUT",
        "inputs": list(inputs),
        "inputOverrides": list(overrides),
        "jsValidatorScript": script,
    }


def state(**variables):
    return {
        "context": {"secrets": {"deploy-key": "ghp_abc123"}},
        "actions": {"fetch": {"outputs": {"envs": ["blue", "green"]}}},
        "variables": variables,
    }


def value_override(key, path, editable=False):
    return {
        "type": "VALUE",
        "inputKey": key,
        "outputVariable": path,
        "editable": editable,
    }


def submit(ctx, values, user=None):
    return UserInput().resume(ctx, {"values": values, "user": user})


def test_the_registry_gives_the_user_input_block():
    assert isinstance(get_block("USER_INPUT"), UserInput)


def test_executing_waits_for_the_form_with_the_resolved_inputs():
    outcome = UserInput().execute(make_ctx(schema(REGION, ENV), state()))
    assert outcome.status == "WAITING"
    assert outcome.waiting_for == "USER_INPUT"
    assert outcome.inputs == {"form": [REGION, ENV]}


def test_a_form_without_inputs_still_waits_for_someone_to_continue():
    assert UserInput().execute(make_ctx(schema(), state())).status == "WAITING"


def test_submitting_valid_values_completes_with_one_output_per_input():
    ctx = make_ctx(schema(REGION, ENV), state(), slug="collect")
    outcome = submit(ctx, {"region": " eu-west-1 ", "env": "prod", "other": "x"})
    assert outcome.status == "COMPLETED"
    assert outcome.outputs == {"region": "eu-west-1", "env": "prod"}
    assert outcome.inputs == {"form": [REGION, ENV]}
    assert outcome.secrets == {}


def test_submitting_invalid_values_raises_input_invalid_with_the_errors():
    with pytest.raises(InputInvalid) as caught:
        submit(make_ctx(schema(REGION, ENV), state()), {"region": "", "env": "qa"})
    assert caught.value.errors == {
        "region": ["Region is required."],
        "env": ['"qa" is not one of the options for Environment.'],
    }


def test_submitting_something_that_is_not_a_form_is_invalid_not_a_crash():
    with pytest.raises(InputInvalid) as caught:
        submit(make_ctx(schema(REGION), state()), "region=eu")
    assert list(caught.value.errors) == ["__all__"]


# --- OPTION overrides -------------------------------------------------------------------------


def test_an_option_override_replaces_the_select_options_from_the_run_state():
    override = {
        "type": "OPTION",
        "inputKey": "env",
        "outputVariable": "actions.fetch.outputs.envs",
    }
    ctx = make_ctx(schema(ENV, overrides=[override]), state())
    form = UserInput().execute(ctx).inputs["form"]
    assert form[0]["options"] == ["blue", "green"]
    assert submit(ctx, {"env": "green"}).outputs == {"env": "green"}
    with pytest.raises(InputInvalid):
        submit(ctx, {"env": "prod"})


def test_option_objects_give_values_and_labels():
    override = {"type": "OPTION", "inputKey": "env", "outputVariable": "variables.envs"}
    envs = [
        {"value": "p", "label": "Production"},
        {"value": "d", "label": "Development"},
    ]
    ctx = make_ctx(schema(ENV, overrides=[override]), state(envs=envs))
    form = UserInput().execute(ctx).inputs["form"]
    assert (form[0]["options"], form[0]["optionsLabels"]) == (
        ["p", "d"],
        ["Production", "Development"],
    )


def test_an_option_override_whose_path_holds_no_list_fails_naming_input_and_path():
    override = {
        "type": "OPTION",
        "inputKey": "env",
        "outputVariable": "variables.missing",
    }
    with pytest.raises(BlockFailed, match="Environment come from variables.missing"):
        UserInput().execute(make_ctx(schema(ENV, overrides=[override]), state()))


def test_an_override_naming_an_unknown_input_fails_the_block():
    with pytest.raises(BlockFailed, match='"nope", which is not one of the inputs'):
        UserInput().execute(
            make_ctx(
                schema(REGION, overrides=[value_override("nope", "variables.x")]),
                state(),
            )
        )


# --- VALUE overrides --------------------------------------------------------------------------


def test_an_editable_value_override_prefills_the_input_and_still_waits():
    override = value_override("region", "variables.region", editable=True)
    ctx = make_ctx(schema(REGION, overrides=[override]), state(region="eu-west-1"))
    outcome = UserInput().execute(ctx)
    assert outcome.status == "WAITING"
    assert outcome.inputs["form"][0]["defaultValue"] == "eu-west-1"
    assert "fixed" not in outcome.inputs["form"][0]
    assert submit(ctx, {"region": "us-east-1"}).outputs == {"region": "us-east-1"}


def test_a_value_override_that_is_not_editable_fixes_the_value():
    override = value_override("region", "{{variables.region}}")
    ctx = make_ctx(schema(REGION, ENV, overrides=[override]), state(region="eu-west-1"))
    outcome = UserInput().execute(ctx)
    assert outcome.status == "WAITING"
    assert outcome.inputs["form"][0] == {
        **REGION,
        "defaultValue": "eu-west-1",
        "fixed": True,
    }
    completed = submit(ctx, {"region": "hacked", "env": "dev"})
    assert completed.outputs == {"region": "eu-west-1", "env": "dev"}


def test_when_every_input_is_fixed_the_block_completes_without_waiting():
    overrides = [
        value_override("region", "variables.region"),
        value_override("env", "variables.env"),
    ]
    ctx = make_ctx(
        schema(REGION, ENV, overrides=overrides), state(region="eu", env="dev")
    )
    outcome = UserInput().execute(ctx)
    assert outcome.status == "COMPLETED"
    assert outcome.outputs == {"region": "eu", "env": "dev"}


def test_an_editable_value_override_whose_path_is_unset_leaves_the_input_to_be_asked():
    overrides = [value_override("region", "variables.region", editable=True)]
    for run_state in (state(), state(region=""), state(region=None)):
        outcome = UserInput().execute(
            make_ctx(schema(REGION, overrides=overrides), run_state)
        )
        assert outcome.status == "WAITING"
        assert outcome.inputs["form"] == [REGION]


def test_a_fixed_value_override_whose_path_is_unset_is_never_typed_into():
    """Before, the input became an ordinary one: a field fixed to the
    initiator's email could be filled with any address by whoever answered."""
    overrides = [value_override("who", "context.initiatedBy.email")]
    who = {"type": "INPUT_FIELD", "key": "who", "name": "Requested by"}
    for run_state in (state(), {**state(), "context": {"initiatedBy": None}}):
        ctx = make_ctx(schema(who, ENV, overrides=overrides), run_state)
        outcome = UserInput().execute(ctx)
        assert outcome.status == "WAITING"  # for the environment
        assert outcome.inputs["form"][0] == {**who, "fixed": True}
        completed = submit(ctx, {"who": "evil@example.com", "env": "dev"})
        assert completed.outputs == {"who": "", "env": "dev"}

    # Declared with a default, it keeps it; every input fixed, nobody is asked:
    with_default = {**who, "defaultValue": "nobody"}
    outcome = UserInput().execute(
        make_ctx(schema(with_default, overrides=overrides), state())
    )
    assert (outcome.status, outcome.outputs) == ("COMPLETED", {"who": "nobody"})


def test_a_fixed_value_that_is_not_valid_fails_the_block():
    overrides = [value_override("env", "variables.env")]
    with pytest.raises(BlockFailed, match='"staging" is not one of the options'):
        UserInput().execute(
            make_ctx(schema(ENV, REGION, overrides=overrides), state(env="staging"))
        )


def test_a_value_override_for_an_entity_field_takes_the_entity_from_the_state(ws):
    EntityFactory(workspace=ws, tag="payments", name="Payments")
    entity = {
        "type": "CORTEX_ENTITY_FIELD",
        "key": "svc",
        "name": "Service",
        "required": True,
        "allowMultiple": False,
        "shouldDisplayOptionsAsHierarchy": False,
        "entityFilter": {},
    }
    run_state = {
        **state(),
        "context": {"entity": {"tag": "payments", "name": "Payments"}},
    }
    ctx = make_ctx(
        schema(entity, overrides=[value_override("svc", "context.entity")]),
        run_state,
        workspace=ws,
    )
    outcome = UserInput().execute(ctx)
    assert outcome.status == "COMPLETED"
    assert outcome.outputs == {
        "svc": {"tag": "payments", "name": "Payments", "type": "service"}
    }


# --- entities and people through the block -----------------------------------------------------


def test_the_block_rejects_an_entity_of_another_workspace(ws, other_ws, grace):
    EntityFactory(workspace=other_ws, tag="theirs")
    entity = {
        "type": "CORTEX_ENTITY_FIELD",
        "key": "svc",
        "name": "Service",
        "required": True,
        "allowMultiple": False,
        "shouldDisplayOptionsAsHierarchy": False,
        "entityFilter": {},
    }
    ctx = make_ctx(schema(entity), state(), workspace=ws, initiator=grace)
    with pytest.raises(InputInvalid) as caught:
        submit(ctx, {"svc": "theirs"}, user=grace)
    assert caught.value.errors == {
        "svc": ['"theirs" is not an entity you can pick for Service.']
    }


def test_the_block_rejects_a_person_who_is_not_a_member(ws, grace, ted):
    person = {
        "type": "CORTEX_USER_FIELD",
        "key": "reviewer",
        "name": "Reviewer",
        "required": True,
        "allowMultiple": False,
        "filter": {},
    }
    ctx = make_ctx(schema(person), state(), workspace=ws, initiator=grace)
    with pytest.raises(InputInvalid):
        submit(ctx, {"reviewer": "ted@example.com"}, user=grace)
    outcome = submit(ctx, {"reviewer": "grace@example.com"}, user=grace)
    assert outcome.outputs == {
        "reviewer": {"email": "grace@example.com", "name": "grace@example.com"}
    }


# --- secrets ------------------------------------------------------------------------------------


def test_a_secret_is_masked_in_the_outputs_and_handed_over_in_outcome_secrets():
    ctx = make_ctx(schema(REGION, TOKEN), state(), slug="collect")
    outcome = submit(ctx, {"region": "eu", "token": "ghp_abc123"})
    assert outcome.outputs == {"region": "eu", "token": MASK}
    assert outcome.secrets == {"actions.collect.outputs.token": "ghp_abc123"}
    assert "ghp_abc123" not in repr(outcome.inputs)


def test_a_secret_that_fails_its_regex_is_rejected_with_a_message_that_hides_it():
    with pytest.raises(InputInvalid) as caught:
        submit(make_ctx(schema(TOKEN), state()), {"token": "password123"})
    assert caught.value.errors == {
        "token": [
            r"Token is not in the expected format. The whole value must match the pattern ghp_[a-z0-9]{6}."
        ]
    }
    assert "password123" not in str(caught.value)


def test_an_optional_secret_left_blank_is_blank_not_masked():
    ctx = make_ctx(schema({**TOKEN, "required": False}), state())
    outcome = submit(ctx, {"token": ""})
    assert (outcome.outputs, outcome.secrets) == ({"token": ""}, {})


def test_a_secret_fixed_by_an_override_is_masked_in_the_stored_form_and_outputs():
    overrides = [value_override("token", "context.secrets.deploy-key")]
    ctx = make_ctx(schema(TOKEN, REGION, overrides=overrides), state(), slug="collect")
    waiting = UserInput().execute(ctx)
    assert waiting.inputs["form"][0]["defaultValue"] == MASK
    assert "ghp_abc123" not in repr(waiting.inputs)
    outcome = submit(ctx, {"region": "eu"})
    assert outcome.outputs["token"] == MASK
    assert outcome.secrets == {"actions.collect.outputs.token": "ghp_abc123"}


def test_an_editable_override_never_prefills_a_secret():
    overrides = [value_override("token", "context.secrets.deploy-key", editable=True)]
    form = (
        UserInput()
        .execute(make_ctx(schema(TOKEN, overrides=overrides), state()))
        .inputs["form"]
    )
    assert "defaultValue" not in form[0]


def test_an_input_prefilled_with_a_secret_and_sent_back_as_shown_keeps_the_secret():
    overrides = [value_override("region", "context.secrets.deploy-key", editable=True)]
    secrets = ("ghp_abc123",)
    ctx = make_ctx(schema(REGION, overrides=overrides), state(), secret_values=secrets)
    assert submit(ctx, {"region": MASK}).outputs == {"region": "ghp_abc123"}
    assert submit(ctx, {"region": "eu-west-1"}).outputs == {"region": "eu-west-1"}
    assert submit(ctx, {"region": MASK + "x"}).outputs == {"region": MASK + "x"}


def test_a_message_about_a_value_prefilled_with_a_secret_shows_it_masked():
    overrides = [value_override("env", "context.secrets.deploy-key", editable=True)]
    secrets = ("ghp_abc123",)
    ctx = make_ctx(schema(ENV, overrides=overrides), state(), secret_values=secrets)
    with pytest.raises(InputInvalid) as caught:
        submit(ctx, {"env": MASK})
    assert "ghp_abc123" not in repr(caught.value.errors)
    assert MASK in caught.value.errors["env"][0]


def test_an_input_prefilled_around_a_secret_keeps_it_when_sent_back_as_shown():
    prefix = {**REGION, "defaultValue": None}
    overrides = [value_override("region", "variables.url", editable=True)]
    url = "https://deploy:ghp_abc123@ci.example.com"
    ctx = make_ctx(
        schema(prefix, overrides=overrides),
        state(url=url),
        secret_values=("ghp_abc123",),
    )
    shown = f"https://deploy:{MASK}@ci.example.com"
    assert submit(ctx, {"region": shown}).outputs == {"region": url}


def test_secrets_inside_nested_rows_are_masked_and_the_real_rows_handed_over():
    nested = {
        "type": "NESTED_FORM_FIELD",
        "key": "creds",
        "name": "Credentials",
        "required": True,
        "dataType": "OBJECT",
        "inputs": [
            {"type": "INPUT_FIELD", "key": "user", "name": "User", "required": True},
            {**TOKEN, "validationRegex": None},
        ],
    }
    ctx = make_ctx(schema(nested), state(), slug="collect")
    rows = [{"user": "a", "token": "s3cret-1"}, {"user": "b", "token": "s3cret-2"}]
    outcome = submit(ctx, {"creds": rows})
    assert outcome.outputs == {
        "creds": [{"user": "a", "token": MASK}, {"user": "b", "token": MASK}]
    }
    # Only the secret fields, each by its row: the users are not secrets.
    assert outcome.secrets == {
        "actions.collect.outputs.creds.0.token": "s3cret-1",
        "actions.collect.outputs.creds.1.token": "s3cret-2",
    }


# --- nested forms through the block ----------------------------------------------------------


def test_a_nested_form_with_a_bad_middle_row_shows_the_error_on_that_row():
    nested = {
        "type": "NESTED_FORM_FIELD",
        "key": "hosts",
        "name": "Hosts",
        "required": True,
        "dataType": "STRING",
        "minRows": 1,
        "maxRows": 5,
    }
    ctx = make_ctx(schema(nested), state())
    with pytest.raises(InputInvalid) as caught:
        submit(ctx, {"hosts": ["a", "", "c"]})
    assert caught.value.errors == {
        "hosts": {"__all__": [], "rows": {1: ["Row 2 is empty."]}}
    }
    assert submit(ctx, {"hosts": ["a", "c"]}).outputs == {"hosts": ["a", "c"]}


# --- jsValidatorScript --------------------------------------------------------------------------


def test_a_validator_script_that_returns_nothing_lets_the_values_through():
    script = 'if (inputs.region === "") { return "Region is empty"; }'
    outcome = submit(make_ctx(schema(REGION, script=script), state()), {"region": "eu"})
    assert outcome.status == "COMPLETED"


def test_a_validator_script_that_returns_a_message_rejects_the_form():
    script = 'if (inputs.env === "prod" && !inputs.region.startsWith("eu")) return "Prod lives in the EU";'
    ctx = make_ctx(schema(REGION, ENV, script=script), state())
    with pytest.raises(InputInvalid) as caught:
        submit(ctx, {"region": "us-east-1", "env": "prod"})
    assert caught.value.errors == {"__all__": ["Prod lives in the EU"]}
    assert submit(ctx, {"region": "eu-west-1", "env": "prod"}).status == "COMPLETED"


def test_a_validator_script_can_put_its_message_beside_an_input():
    script = 'return {region: "Pick a European region", other: "Something else"};'
    with pytest.raises(InputInvalid) as caught:
        submit(make_ctx(schema(REGION, script=script), state()), {"region": "us"})
    assert caught.value.errors == {
        "region": ["Pick a European region"],
        "__all__": ["Something else"],
    }


def test_a_validator_script_sees_the_values_under_the_blocks_slug_and_the_run_state():
    script = """
      const mine = actions["collect"].outputs;
      if (mine.region !== variables.expected) throw new Error(`Expected ${variables.expected}`);
    """
    ctx = make_ctx(schema(REGION, script=script), state(expected="eu"), slug="collect")
    assert submit(ctx, {"region": "eu"}).status == "COMPLETED"
    with pytest.raises(InputInvalid) as caught:
        submit(ctx, {"region": "us"})
    assert caught.value.errors == {"__all__": ["Expected eu"]}


def test_a_validator_message_never_repeats_a_secret():
    script = "return `Token ${inputs.token} is revoked`;"
    with pytest.raises(InputInvalid) as caught:
        submit(make_ctx(schema(TOKEN, script=script), state()), {"token": "ghp_abc123"})
    assert caught.value.errors == {"__all__": [f"Token {MASK} is revoked"]}


def test_a_validator_script_that_cannot_run_shows_why_and_keeps_the_form_open():
    with pytest.raises(InputInvalid) as caught:
        submit(make_ctx(schema(REGION, script="return {;"), state()), {"region": "eu"})
    assert "SyntaxError" in caught.value.errors["__all__"][0]


def test_a_validator_that_runs_too_long_says_it_is_the_validators_fault(monkeypatch):
    monkeypatch.setattr("workflows.blocks.user_input.VALIDATOR_TIMEOUT_MS", 200)
    loop = "if (inputs.region === 'loop') { while (true) {} }"
    ctx = make_ctx(schema(REGION, script=loop), state())
    with pytest.raises(InputInvalid) as caught:
        submit(ctx, {"region": "loop"})
    assert caught.value.errors["__all__"] == [
        "The form's validator could not finish (script timed out after 200 ms):"
        " ask the workflow's owner to fix it, or cancel the run."
    ]
    assert submit(ctx, {"region": "eu"}).outputs == {"region": "eu"}


def test_a_validator_rejecting_values_fixed_by_overrides_fails_the_block():
    overrides = [value_override("region", "variables.region")]
    ctx = make_ctx(
        schema(REGION, overrides=overrides, script='return "No";'), state(region="eu")
    )
    with pytest.raises(
        BlockFailed, match="validator rejected the overridden values: No"
    ):
        UserInput().execute(ctx)


def test_an_editable_value_override_writes_the_value_given_back_to_its_variable():
    overrides = [
        value_override("region", "variables.region", editable=True),
        value_override("env", "{{variables.release-env}}", editable=True),
    ]
    ctx = make_ctx(schema(REGION, ENV, overrides=overrides), state(region="eu-west-1"))
    completed = submit(ctx, {"region": "us-east-1", "env": "dev"})
    assert completed.variables == {"region": "us-east-1", "release-env": "dev"}


def test_only_an_editable_override_of_a_variable_writes_back():
    overrides = [
        value_override(
            "region", "variables.region"
        ),  # fixed: the value is the variable's
        value_override("env", "context.entity.tag", editable=True),
    ]
    ctx = make_ctx(schema(REGION, ENV, overrides=overrides), state(region="eu-west-1"))
    assert submit(ctx, {"env": "dev"}).variables is None


def test_an_inputs_name_description_and_placeholder_are_templates_over_the_run_state():
    size = {
        "type": "INPUT_FIELD",
        "key": "size",
        "name": "New size for {{variables.cluster}}",
        "description": "Currently {{variables.nodes}} nodes; write {{ like this",
        "placeholder": "{{variables.nodes}}",
        "defaultValue": "{{variables.nodes}}",  # a value, not a text: as written
    }
    rows = {
        "type": "NESTED_FORM_FIELD",
        "key": "pools",
        "name": "Pools",
        "dataType": "OBJECT",
        "inputs": [
            {"type": "INPUT_FIELD", "key": "p", "name": "Pool of {{variables.cluster}}"}
        ],
    }
    ctx = make_ctx(schema(size, rows), state(cluster="eu-1", nodes=3))
    form = UserInput().execute(ctx).inputs["form"]
    assert form[0]["name"] == "New size for eu-1"
    # Text that doesn't parse as Mustache is shown as written:
    assert (
        form[0]["description"]
        == "Currently {{variables.nodes}} nodes; write {{ like this"
    )
    assert form[0]["placeholder"] == "3"
    assert form[0]["defaultValue"] == "{{variables.nodes}}"
    assert form[1]["inputs"][0]["name"] == "Pool of eu-1"


def test_a_secret_field_left_blank_keeps_its_variable():
    overrides = [value_override("token", "variables.tok", editable=True)]
    ctx = make_ctx(
        schema({**TOKEN, "required": False}, overrides=overrides), state(tok="old")
    )
    assert submit(ctx, {"token": ""}).variables is None
    assert submit(ctx, {"token": "ghp_abc123"}).variables == {"tok": "ghp_abc123"}


def test_form_texts_are_not_html_escaped_twice():
    field = {
        "type": "INPUT_FIELD",
        "key": "size",
        "name": "Size for {{variables.team}}",
        "placeholder": "{{variables.team}} <team>",
    }
    ctx = make_ctx(schema(field), state(team='R&D "core"'))
    [shown] = UserInput().execute(ctx).inputs["form"]
    # The page escapes them once, as it does every label:
    assert shown["name"] == 'Size for R&D "core"'
    assert shown["placeholder"] == 'R&D "core" <team>'
