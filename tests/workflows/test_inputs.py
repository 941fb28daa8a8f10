"""workflows.inputs: validating submitted USER_INPUT values, one input type at a time."""

import pytest

from tests.factories import (
    EntityFactory,
    EntityTypeFactory,
    GroupFactory,
    TeamFactory,
    UserFactory,
)
from workflows.inputs import (
    InputInvalid,
    entity_options,
    error_messages,
    user_options,
    validate,
)


def field(type_, key="f", name="Field", required=False, **extra):
    return {"type": type_, "key": key, "name": name, "required": required, **extra}


def check(definition, raw, workspace=None, runner=None):
    """(clean value, errors for the field) of one input given one raw value."""
    clean, errors = validate(
        [definition], {definition["key"]: raw}, workspace=workspace, runner=runner
    )
    return clean.get(definition["key"]), errors.get(definition["key"])


# --- the form as a whole -----------------------------------------------------------


def test_every_input_key_gets_a_value_and_unknown_keys_are_ignored():
    inputs = [field("INPUT_FIELD", "region"), field("TOGGLE_FIELD", "dry")]
    clean, errors = validate(inputs, {"region": "eu", "extra": "x"}, workspace=None)
    assert errors == {}
    assert clean == {"region": "eu", "dry": False}


def test_values_that_are_not_an_object_are_a_form_error_not_a_crash():
    clean, errors = validate([field("INPUT_FIELD")], ["a"], workspace=None)
    assert clean == {}
    assert errors == {
        "__all__": ["The form data must be an object of values by input key."]
    }


def test_an_unknown_input_type_is_an_error_naming_the_field():
    _, errors = check(field("HOLOGRAM_FIELD", name="Vibe"), "x")
    assert errors == ["Vibe has an unknown input type 'HOLOGRAM_FIELD'."]


def test_a_fixed_input_takes_its_default_whatever_was_submitted():
    definition = field("INPUT_FIELD", defaultValue="prod", fixed=True, required=True)
    assert check(definition, "hacked") == ("prod", None)


def test_a_disabled_input_takes_its_default_and_is_not_required():
    definition = field("NUMBER_FIELD", format="INTEGER", disabled=True, required=True)
    assert check(definition, "7") == (None, None)
    assert check({**definition, "defaultValue": 3}, "7") == (3, None)


def test_input_invalid_reads_as_the_flattened_messages():
    error = InputInvalid({"region": ["Region is required."], "__all__": ["Nope."]})
    assert str(error) == "Region is required.; Nope."


# --- INPUT_FIELD and TEXTAREA_FIELD ----------------------------------------------------


def test_a_text_field_returns_the_text_without_surrounding_whitespace():
    assert check(field("INPUT_FIELD"), "  us-east-1 ") == ("us-east-1", None)


def test_a_required_text_field_left_blank_names_the_field():
    assert check(field("INPUT_FIELD", name="Region", required=True), "  ") == (
        None,
        ["Region is required."],
    )


def test_a_missing_optional_text_field_is_an_empty_string():
    clean, errors = validate([field("INPUT_FIELD")], {}, workspace=None)
    assert (clean, errors) == ({"f": ""}, {})


def test_a_text_field_must_match_its_validation_regex_in_full():
    definition = field(
        "INPUT_FIELD", name="Region", validationRegex=r"[a-z]+-[a-z]+-\d"
    )
    assert check(definition, "us-east-1") == ("us-east-1", None)
    assert check(definition, "us-east-1x") == (
        None,
        [
            r"Region is not in the expected format. The whole value must match the pattern [a-z]+-[a-z]+-\d."
        ],
    )


def test_a_regex_message_points_to_the_fields_help_when_it_has_some():
    definition = field(
        "INPUT_FIELD",
        name="GitHub handle",
        description="Lowercase letters, digits and dashes",
        validationRegex="[a-z0-9-]+",
    )
    assert check(definition, "Ada!") == (
        None,
        [
            "GitHub handle is not in the expected format (see the field's help)."
            " The whole value must match the pattern [a-z0-9-]+."
        ],
    )


def test_an_optional_blank_text_field_skips_the_regex():
    definition = field("INPUT_FIELD", validationRegex=r"\d+")
    assert check(definition, "") == ("", None)


def test_a_broken_validation_regex_is_reported_instead_of_raising():
    _, errors = check(field("INPUT_FIELD", name="Tag", validationRegex="(["), "x")
    assert errors == ["Tag can't be checked: its validation pattern is not valid."]


def test_a_validation_regex_may_use_java_and_javascript_syntax():
    pattern = r"(?<first>\p{Lu}\p{Ll}+) \p{Lu}\."
    definition = field("INPUT_FIELD", name="Owner", validationRegex=pattern)
    assert check(definition, "Émile Z.") == ("Émile Z.", None)
    assert check(definition, "emile z.") == (
        None,
        [
            f"Owner is not in the expected format. The whole value must match the pattern {pattern}."
        ],
    )


def test_a_validation_regex_that_backtracks_forever_is_stopped_and_reported():
    definition = field("INPUT_FIELD", name="Code", validationRegex=r"(a|a)+b")
    _, errors = check(definition, "a" * 40 + "!")
    assert errors == ["Code can't be checked: its validation pattern took too long."]


def test_a_text_field_takes_a_number_as_text_but_not_a_list():
    assert check(field("INPUT_FIELD"), 42) == ("42", None)
    assert check(field("INPUT_FIELD", name="Region"), ["a"]) == (
        None,
        ["Region must be text."],
    )


def test_a_textarea_keeps_its_lines_and_checks_its_regex():
    definition = field("TEXTAREA_FIELD", validationRegex=r"(?s).*ticket.*")
    assert check(definition, "line one\nticket 12\n") == ("line one\nticket 12\n", None)
    assert check(definition, "no reference")[1]


def test_a_textarea_keeps_what_was_typed_so_pasted_yaml_still_parses():
    """Before, it was stripped: the first line lost its indentation."""
    pasted = "  indented: true\r\n  second: 2\r\n"
    assert check(field("TEXTAREA_FIELD"), pasted) == (
        "  indented: true\n  second: 2\n",  # the browser's CRLF as LF
        None,
    )
    assert check(field("TEXTAREA_FIELD", name="Notes", required=True), " \r\n ") == (
        None,
        ["Notes is required."],
    )


# --- SECRET_FIELD ----------------------------------------------------------------------------


def test_a_secret_that_does_not_match_the_regex_is_rejected_without_repeating_it():
    definition = field(
        "SECRET_FIELD", name="Token", validationRegex=r"ghp_[A-Za-z0-9]{8}"
    )
    clean, errors = check(definition, "hunter2-password")
    assert errors == [
        "Token is not in the expected format. The whole value must match the pattern ghp_[A-Za-z0-9]{8}."
    ]
    assert not any("hunter2" in m for m in errors)


def test_a_secret_that_matches_is_kept_verbatim():
    definition = field("SECRET_FIELD", validationRegex=r" ?ghp_[A-Za-z0-9]{8}")
    assert check(definition, " ghp_abcd1234") == (" ghp_abcd1234", None)


def test_a_required_secret_left_blank_is_an_error():
    assert check(field("SECRET_FIELD", name="Token", required=True), "")[1] == [
        "Token is required."
    ]


def test_a_secret_of_the_wrong_type_is_rejected_without_repeating_it():
    _, errors = check(field("SECRET_FIELD", name="Token"), {"value": "s3cr3t"})
    assert errors == ["Token must be text."]


# --- NUMBER_FIELD ----------------------------------------------------------------------------


def test_an_integer_field_returns_an_int_from_text_or_json():
    definition = field("NUMBER_FIELD", format="INTEGER")
    assert check(definition, " 3 ") == (3, None)
    assert check(definition, "3.0") == (3, None)
    assert check(definition, 4) == (4, None)


def test_an_integer_field_rejects_a_fraction():
    definition = field("NUMBER_FIELD", name="Replicas", format="INTEGER")
    assert check(definition, "3.5")[1] == ["Replicas must be a whole number."]


def test_a_decimal_field_returns_a_fraction_as_a_float_and_a_whole_number_as_an_int():
    definition = field("NUMBER_FIELD", format="DECIMAL")
    assert check(definition, "2.5") == (2.5, None)
    # As the JSON number a browser sends: Mustache renders 4, CEL takes 4 % 2.
    for raw in ("4", "4.0", 4, 4.0):
        value, errors = check(definition, raw)
        assert (value, type(value), errors) == (4, int, None)
    assert check(definition, "1e20")[0] == 1e20  # past 2**53: a double, as JSON's
    assert type(check(definition, "1e20")[0]) is float


@pytest.mark.parametrize("raw", ["abc", "NaN", "Infinity", "1e999", True, [1]])
def test_a_number_field_rejects_what_is_not_a_finite_number(raw):
    _, errors = check(field("NUMBER_FIELD", name="Budget", format="DECIMAL"), raw)
    assert errors == ["Budget must be a number."]


def test_a_number_field_checks_its_min_and_max_inclusively():
    definition = field("NUMBER_FIELD", name="Replicas", format="INTEGER", min=1, max=10)
    assert check(definition, "1") == (1, None)
    assert check(definition, "10") == (10, None)
    assert check(definition, "0")[1] == ["Replicas must be at least 1."]
    assert check(definition, "11")[1] == ["Replicas must be at most 10."]


def test_a_blank_optional_number_is_none_and_a_required_one_is_an_error():
    definition = field("NUMBER_FIELD", name="Replicas", format="INTEGER")
    assert check(definition, "") == (None, None)
    assert check({**definition, "required": True}, "")[1] == ["Replicas is required."]


# --- TOGGLE_FIELD ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("on", True),
        ("true", True),
        ("True", True),
        (True, True),
        ("1", True),
        ("off", False),
        ("false", False),
        (False, False),
        (None, False),
        ("", False),
    ],
)
def test_a_toggle_reads_form_and_json_values(raw, value):
    assert check(field("TOGGLE_FIELD"), raw) == (value, None)


def test_a_toggle_left_off_is_false_even_when_required():
    clean, errors = validate([field("TOGGLE_FIELD", required=True)], {}, workspace=None)
    assert (clean, errors) == ({"f": False}, {})


def test_a_toggle_rejects_other_words():
    assert check(field("TOGGLE_FIELD", name="Dry run"), "maybe")[1] == [
        "Dry run must be on or off."
    ]


# --- SELECT_FIELD and MULTISELECT_FIELD -----------------------------------------------------


ENVIRONMENTS = ["prod", "staging", "dev"]


def test_a_select_accepts_one_of_its_options():
    definition = field("SELECT_FIELD", options=ENVIRONMENTS)
    assert check(definition, "staging") == ("staging", None)


def test_a_select_rejects_a_value_that_is_not_an_option():
    definition = field("SELECT_FIELD", name="Environment", options=ENVIRONMENTS)
    assert check(definition, "qa")[1] == [
        '"qa" is not one of the options for Environment.'
    ]


def test_a_select_with_additional_options_accepts_any_text():
    definition = field(
        "SELECT_FIELD", options=ENVIRONMENTS, allowAdditionalOptions=True
    )
    assert check(definition, "qa") == ("qa", None)


def test_a_required_select_left_blank_is_an_error():
    definition = field(
        "SELECT_FIELD", name="Environment", required=True, options=ENVIRONMENTS
    )
    assert check(definition, "")[1] == ["Environment is required."]


def test_a_multiselect_returns_the_chosen_options_once_each_in_order():
    definition = field("MULTISELECT_FIELD", options=ENVIRONMENTS)
    assert check(definition, ["dev", "prod", "dev"]) == (["dev", "prod"], None)
    assert check(definition, "dev") == (["dev"], None)
    assert check(definition, None) == ([], None)


def test_a_multiselect_names_every_value_that_is_not_an_option():
    definition = field("MULTISELECT_FIELD", name="Targets", options=ENVIRONMENTS)
    assert check(definition, ["dev", "qa", "uat"])[1] == [
        '"qa" is not one of the options for Targets.',
        '"uat" is not one of the options for Targets.',
    ]


def test_a_multiselect_of_the_wrong_type_or_empty_when_required_is_an_error():
    definition = field("MULTISELECT_FIELD", name="Targets", options=ENVIRONMENTS)
    assert check(definition, 5)[1] == ["Targets must be a list of options."]
    assert check({**definition, "required": True}, [])[1] == ["Targets is required."]


# --- DATE_FIELD --------------------------------------------------------------------------------


def test_a_date_field_returns_an_iso_date():
    assert check(field("DATE_FIELD", format="DATE"), "2025-05-16") == (
        "2025-05-16",
        None,
    )


def test_a_date_field_rejects_other_formats():
    definition = field("DATE_FIELD", name="Go-live", format="DATE")
    assert check(definition, "16/05/2025")[1] == [
        "Go-live must be a date (YYYY-MM-DD)."
    ]
    assert check(definition, "2025-05-16T10:00")[1]


def test_a_datetime_without_an_offset_is_in_the_current_time_zone(settings):
    settings.TIME_ZONE = "UTC"
    definition = field("DATE_FIELD", format="DATETIME")
    assert check(definition, "2025-05-16T21:42") == ("2025-05-16T21:42:00+00:00", None)
    assert check(definition, "2025-05-16T21:42:37Z") == (
        "2025-05-16T21:42:37+00:00",
        None,
    )
    assert check(definition, "2025-05-16T21:42+02:00") == (
        "2025-05-16T21:42:00+02:00",
        None,
    )


def test_a_datetime_field_rejects_a_date_alone():
    definition = field("DATE_FIELD", name="Window", format="DATETIME")
    assert check(definition, "2025-05-16")[1] == [
        "Window must be a date and time (YYYY-MM-DDTHH:MM)."
    ]


# --- SLACK_FIELD --------------------------------------------------------------------------------


def test_a_slack_field_returns_the_channel_name_without_its_hash():
    definition = field("SLACK_FIELD", allowMultiple=False, filter={"channels": []})
    assert check(definition, "#deployments") == ("deployments", None)


def test_a_slack_field_keeps_to_its_channel_filter():
    definition = field(
        "SLACK_FIELD",
        name="Channel",
        allowMultiple=True,
        filter={"channels": ["#ops", "dev"]},
    )
    assert check(definition, ["ops", "#dev"]) == (["ops", "dev"], None)
    assert check(definition, ["random"])[1] == [
        '"#random" is not one of the channels allowed for Channel.'
    ]


def test_a_slack_field_rejects_what_is_not_a_channel_name():
    definition = field("SLACK_FIELD", name="Channel", allowMultiple=False, filter={})
    assert check(definition, "two words")[1] == [
        "Channel must be a Slack channel name, like deployments."
    ]
    assert check(definition, ["a", "b"])[1] == ["Channel takes one channel."]


# --- CORTEX_ENTITY_FIELD ------------------------------------------------------------------------


def entity_field(required=True, allow_multiple=False, **entity_filter):
    return field(
        "CORTEX_ENTITY_FIELD",
        "service",
        "Service",
        required,
        allowMultiple=allow_multiple,
        shouldDisplayOptionsAsHierarchy=False,
        entityFilter=entity_filter,
    )


@pytest.fixture
def payments(ws):
    return EntityFactory(workspace=ws, tag="payments", name="Payments")


def test_an_entity_field_returns_tag_name_and_type(ws, payments):
    assert check(entity_field(), "payments", ws) == (
        {"tag": "payments", "name": "Payments", "type": "service"},
        None,
    )
    assert check(entity_field(), {"tag": "payments", "name": "x"}, ws)[1] is None


def test_an_entity_field_rejects_an_entity_of_another_workspace_like_an_unknown_one(
    ws, other_ws
):
    EntityFactory(workspace=other_ws, tag="secret-project")
    assert check(entity_field(), "secret-project", ws)[1] == [
        '"secret-project" is not an entity you can pick for Service.'
    ]
    assert check(entity_field(), "no-such-thing", ws)[1] == [
        '"no-such-thing" is not an entity you can pick for Service.'
    ]


def test_an_entity_field_with_allow_multiple_returns_a_list(ws, payments):
    EntityFactory(workspace=ws, tag="billing", name="Billing")
    clean, errors = check(
        entity_field(allow_multiple=True), ["billing", "payments"], ws
    )
    assert errors is None
    assert [e["tag"] for e in clean] == ["billing", "payments"]


def test_an_entity_field_without_allow_multiple_takes_one(ws, payments):
    EntityFactory(workspace=ws, tag="billing")
    assert check(entity_field(), ["billing", "payments"], ws)[1] == [
        "Service takes one entity."
    ]


def test_an_entity_field_keeps_to_its_type_filter(ws, payments):
    EntityFactory(
        workspace=ws,
        tag="prod-env",
        type=EntityTypeFactory(workspace=ws, tag="environment"),
    )
    definition = entity_field(typeFilter={"types": ["environment"]})
    assert check(definition, "prod-env", ws)[1] is None
    assert check(definition, "payments", ws)[1] == [
        '"payments" is not an entity you can pick for Service.'
    ]


def test_an_entity_field_keeps_to_its_groups_and_excluded_groups(ws, payments):
    backend = GroupFactory(workspace=ws, tag="backend")
    legacy = GroupFactory(workspace=ws, tag="legacy")
    payments.groups.add(backend)
    old = EntityFactory(workspace=ws, tag="old-billing")
    old.groups.add(backend, legacy)
    loner = EntityFactory(workspace=ws, tag="loner")
    definition = entity_field(groupTags=["backend"], excludedGroupTags=["legacy"])
    assert check(definition, "payments", ws)[1] is None
    assert check(definition, "old-billing", ws)[1]
    assert check(definition, "loner", ws)[1]
    assert [e.tag for e in entity_options(definition, ws)] == ["payments"]
    assert loner.tag not in [e.tag for e in entity_options(definition, ws)]


def test_an_entity_field_keeps_to_entities_owned_by_its_teams(ws, payments):
    platform = TeamFactory(workspace=ws, tag="platform")
    payments.owner_teams.add(platform)
    EntityFactory(workspace=ws, tag="orphan")
    by_tag = entity_field(teamIds=["platform"])
    by_id = entity_field(teamIds=[str(platform.pk)])
    for definition in (by_tag, by_id):
        assert check(definition, "payments", ws)[1] is None
        assert check(definition, "orphan", ws)[1]


def test_an_entity_field_keeps_to_entities_owned_by_its_email_owners(
    ws, payments, grace
):
    payments.owner_users.add(grace)
    EntityFactory(workspace=ws, tag="orphan")
    definition = entity_field(emailOwners=["Grace@Example.com"])
    assert check(definition, "payments", ws)[1] is None
    assert check(definition, "orphan", ws)[1]


def test_an_entity_field_keeps_to_entities_below_its_domains(ws):
    EntityFactory(workspace=ws, tag="commerce", descriptor={})
    EntityFactory(
        workspace=ws,
        tag="checkout",
        descriptor={"x-cortex-parents": [{"tag": "commerce"}]},
    )
    EntityFactory(
        workspace=ws, tag="cart", descriptor={"x-cortex-parents": [{"tag": "checkout"}]}
    )
    EntityFactory(workspace=ws, tag="hr-tool", descriptor={})
    definition = entity_field(domainIds=["commerce"])
    assert check(definition, "cart", ws)[1] is None
    assert check(definition, "hr-tool", ws)[1]


def test_an_entity_field_never_offers_archived_entities(ws, payments):
    payments.archived = True
    payments.save()
    assert check(entity_field(), "payments", ws)[1]


def test_an_entity_field_limited_to_the_runner_keeps_to_what_they_own(
    ws, payments, grace, ada
):
    team = TeamFactory(workspace=ws, tag="pay-team")
    team.members.add(grace)
    payments.owner_teams.add(team)
    definition = {**entity_field(), "limitEntitiesToRunnerUserScope": True}
    assert check(definition, "payments", ws, runner=grace)[1] is None
    assert check(definition, "payments", ws, runner=ada)[1]


def test_a_blank_optional_entity_field_is_none_or_an_empty_list(ws):
    assert check(entity_field(required=False), "", ws) == (None, None)
    assert check(entity_field(required=False, allow_multiple=True), [], ws) == (
        [],
        None,
    )
    assert check(entity_field(), "", ws)[1] == ["Service is required."]


def test_an_entity_field_of_the_wrong_type_says_so(ws):
    assert check(entity_field(), 12, ws)[1] == ["Service must be an entity tag."]


# --- CORTEX_USER_FIELD --------------------------------------------------------------------------


def user_field(allow_multiple=False, **user_filter):
    return field(
        "CORTEX_USER_FIELD",
        "reviewer",
        "Reviewer",
        True,
        allowMultiple=allow_multiple,
        filter=user_filter,
    )


def test_a_user_field_returns_email_and_name_of_a_member(ws, grace):
    grace.first_name, grace.last_name = "Grace", "Hopper"
    grace.save()
    assert check(user_field(), "GRACE@example.com", ws) == (
        {"email": "grace@example.com", "name": "Grace Hopper"},
        None,
    )
    assert check(user_field(), {"email": "grace@example.com"}, ws)[1] is None


def test_a_user_field_rejects_someone_who_is_not_a_member_of_this_workspace(ws, ted):
    UserFactory(email="nobody@example.com")
    for email in ("ted@example.com", "nobody@example.com"):
        assert check(user_field(), email, ws)[1] == [
            f'"{email}" is not a member you can pick for Reviewer.'
        ]


def test_a_user_field_rejects_an_inactive_member(ws, grace):
    grace.is_active = False
    grace.save()
    assert check(user_field(), "grace@example.com", ws)[1]


def test_a_user_field_keeps_to_its_teams_and_emails(ws, grace, ada):
    team = TeamFactory(workspace=ws, tag="platform")
    team.members.add(grace)
    assert check(user_field(teamCids=["platform"]), "grace@example.com", ws)[1] is None
    assert check(user_field(teamCids=["platform"]), "ada@example.com", ws)[1]
    assert (
        check(user_field(userEmails=["ada@example.com"]), "ada@example.com", ws)[1]
        is None
    )
    assert check(user_field(userEmails=["ada@example.com"]), "grace@example.com", ws)[1]
    assert list(user_options(user_field(teamCids=[str(team.pk)]), ws)) == [grace]


def test_a_user_field_with_allow_multiple_returns_a_list(ws, grace, ada):
    clean, errors = check(
        user_field(allow_multiple=True), ["ada@example.com", "grace@example.com"], ws
    )
    assert errors is None
    assert [u["email"] for u in clean] == ["ada@example.com", "grace@example.com"]
    assert check(user_field(), ["ada@example.com", "grace@example.com"], ws)[1] == [
        "Reviewer takes one person."
    ]


# --- NESTED_FORM_FIELD: STRING ---------------------------------------------------------------


def string_rows(required=True, **extra):
    return field(
        "NESTED_FORM_FIELD", "hosts", "Hosts", required, dataType="STRING", **extra
    )


def test_a_nested_string_field_returns_the_rows_as_strings():
    assert check(string_rows(), [" a.example.com", "b.example.com", 8080]) == (
        ["a.example.com", "b.example.com", "8080"],
        None,
    )


def test_a_blank_middle_row_of_a_required_nested_string_field_is_an_error_on_that_row():
    assert check(string_rows(), ["a", "  ", "c"])[1] == {
        "__all__": [],
        "rows": {1: ["Row 2 is empty."]},
    }


def test_blank_rows_of_an_optional_nested_string_field_are_dropped():
    assert check(string_rows(required=False), ["a", "", "c", None]) == (
        ["a", "c"],
        None,
    )
    assert check(string_rows(required=False), [""]) == ([], None)


def test_a_nested_string_field_checks_its_min_and_max_rows():
    definition = string_rows(minRows=2, maxRows=3)
    assert check(definition, ["a"])[1] == {
        "__all__": ["Add at least 2 rows to Hosts."],
        "rows": {},
    }
    assert check(definition, ["a", "b", "c", "d"])[1] == {
        "__all__": ["Hosts takes at most 3 rows."],
        "rows": {},
    }
    assert check(definition, ["a", "b"]) == (["a", "b"], None)


def test_an_optional_nested_field_left_empty_ignores_min_rows():
    assert check(string_rows(required=False, minRows=2), []) == ([], None)


def test_a_required_nested_field_without_rows_is_an_error():
    assert check(string_rows(), [])[1] == {
        "__all__": ["Hosts is required."],
        "rows": {},
    }


def test_a_nested_field_that_is_not_a_list_or_has_a_bad_row_says_so():
    assert check(string_rows(), "a")[1] == ["Hosts must be a list of rows."]
    assert check(string_rows(), ["a", {"x": 1}])[1] == {
        "__all__": [],
        "rows": {1: ["Row 2 must be text."]},
    }


# --- NESTED_FORM_FIELD: OBJECT ---------------------------------------------------------------


def object_rows(required=True, **extra):
    return field(
        "NESTED_FORM_FIELD",
        "servers",
        "Servers",
        required,
        dataType="OBJECT",
        inputs=[
            field("INPUT_FIELD", "host", "Host", True),
            field(
                "NUMBER_FIELD", "port", "Port", True, format="INTEGER", min=1, max=65535
            ),
            field("TOGGLE_FIELD", "tls", "TLS"),
        ],
        **extra,
    )


def test_a_nested_object_field_validates_each_row_with_its_sub_form():
    rows = [
        {"host": "a", "port": "80"},
        {"host": "b", "port": 443, "tls": "on", "extra": 1},
    ]
    assert check(object_rows(), rows) == (
        [
            {"host": "a", "port": 80, "tls": False},
            {"host": "b", "port": 443, "tls": True},
        ],
        None,
    )


def test_a_bad_middle_row_of_a_nested_object_field_carries_its_sub_field_errors():
    rows = [
        {"host": "a", "port": "80"},
        {"host": "", "port": "99999"},
        {"host": "c", "port": "1"},
    ]
    assert check(object_rows(), rows)[1] == {
        "__all__": [],
        "rows": {
            1: {"host": ["Host is required."], "port": ["Port must be at most 65535."]}
        },
    }


def test_a_blank_row_of_a_required_nested_object_field_is_reported_on_the_row():
    rows = [{"host": "a", "port": "80"}, {"host": "", "port": "", "tls": False}]
    assert check(object_rows(), rows)[1] == {
        "__all__": [],
        "rows": {1: {"__all__": ["Row 2 is empty."]}},
    }


def test_blank_rows_of_an_optional_nested_object_field_are_dropped():
    rows = [{"host": "", "port": ""}, {"host": "a", "port": "80"}]
    assert check(object_rows(required=False), rows) == (
        [{"host": "a", "port": 80, "tls": False}],
        None,
    )


def test_a_nested_object_row_that_is_not_an_object_is_reported_on_the_row():
    assert check(object_rows(), ["a.example.com"])[1] == {
        "__all__": [],
        "rows": {0: {"__all__": ["Row 1 must be an object of Servers's fields."]}},
    }


def test_a_nested_object_field_checks_its_min_and_max_rows():
    row = {"host": "a", "port": "80"}
    assert check(object_rows(minRows=2), [row])[1]["__all__"] == [
        "Add at least 2 rows to Servers."
    ]
    assert check(object_rows(maxRows=1), [row, row])[1]["__all__"] == [
        "Servers takes at most 1 row."
    ]


def test_nested_errors_flatten_into_sentences_naming_field_and_row():
    errors = {
        "hosts": {
            "__all__": ["Add at least 2 rows to Hosts."],
            "rows": {1: ["Row 2 is empty."]},
        },
        "servers": {"__all__": [], "rows": {2: {"port": ["Port is required."]}}},
    }
    inputs = [string_rows(), object_rows()]
    assert error_messages(errors, inputs) == [
        "Add at least 2 rows to Hosts.",
        "Hosts: Row 2 is empty.",
        "Servers, row 3: Port is required.",
    ]
