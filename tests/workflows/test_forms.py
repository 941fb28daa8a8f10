"""The run page's USER_INPUT form: fields per input type, nested rows, errors."""

import re

import pytest
from crispy_forms.templatetags.crispy_forms_filters import as_crispy_field
from django.http import QueryDict
from django.template.loader import render_to_string

from catalog.models import Team
from tests.factories import EntityFactory, EntityTypeFactory, UserFactory, member
from workflows.forms import LONG_CHECKLIST, RunInputForm, row_change, rows_changed
from workflows.inputs import validate

HOSTNAMES = {
    "type": "NESTED_FORM_FIELD",
    "key": "hostnames",
    "name": "Hostnames",
    "required": False,
    "dataType": "STRING",
    "minRows": 0,
    "maxRows": 3,
}
ENV_VARS = {
    "type": "NESTED_FORM_FIELD",
    "key": "envVars",
    "name": "Environment variables",
    "required": False,
    "dataType": "OBJECT",
    "inputs": [
        {"type": "INPUT_FIELD", "key": "name", "name": "Name", "required": True},
        {"type": "INPUT_FIELD", "key": "value", "name": "Value", "required": True},
        {
            "type": "TOGGLE_FIELD",
            "key": "sensitive",
            "name": "Sensitive",
            "defaultValue": True,
        },
    ],
}


def form(definitions, ws, data=None, **kwargs):
    if isinstance(data, dict):
        query = QueryDict(mutable=True)
        for key, value in data.items():
            if isinstance(value, list):
                query.setlist(key, value)
            else:
                query[key] = value
        data = query
    return RunInputForm(definitions, workspace=ws, data=data, **kwargs)


def html(f, name):
    return str(f[name])


def page_html(f):
    """The form's fields as the run page renders them."""
    return render_to_string("workflows/_run_input_form.html", {"form": f})


def submit_buttons(rendered):
    return re.findall(r'<button type="submit"[^>]*>', rendered)


REGIONS = {
    "type": "MULTISELECT_FIELD",
    "key": "regions",
    "name": "Regions",
    "options": ["eu", "us"],
    "allowAdditionalOptions": True,
}


# --- one field per input type ----------------------------------------------------------


def test_an_input_field_is_a_text_input_with_its_label_help_placeholder_and_default(ws):
    f = form(
        [
            {
                "type": "INPUT_FIELD",
                "key": "contact",
                "name": "Owner contact",
                "description": "Who to call",
                "placeholder": "name@example.com",
                "defaultValue": "ops@example.com",
                "required": True,
            }
        ],
        ws,
    )
    field = f["contact"]
    assert field.label == "Owner contact"
    assert field.field.required
    assert field.help_text == "<p>Who to call</p>"
    rendered = html(f, "contact")
    assert 'type="text"' in rendered
    assert 'placeholder="name@example.com"' in rendered
    assert 'value="ops@example.com"' in rendered
    # The engine's messages, not the browser's; but a screen reader is told:
    assert not re.search(r"\srequired[\s>=]", rendered)
    assert 'aria-required="true"' in rendered


def test_required_fields_say_so_to_screen_readers_in_rows_too_and_others_do_not(ws):
    f = form(
        [
            {"type": "INPUT_FIELD", "key": "note", "name": "Note"},
            {
                "type": "SELECT_FIELD",
                "key": "env",
                "name": "Env",
                "required": True,
                "options": ["dev", "prod"],
            },
            ENV_VARS,
        ],
        ws,
    )
    rendered = page_html(f)
    assert "aria-required" not in html(f, "note")
    assert 'aria-required="true"' in html(f, "env")
    row = re.findall(r'<input[^>]*name="envVars[^"]*name"[^>]*>', rendered)
    assert row and 'aria-required="true"' in row[0]
    toggle = re.findall(r'<input[^>]*name="envVars[^"]*sensitive"[^>]*>', rendered)
    assert toggle and "aria-required" not in toggle[0]


def test_a_description_is_markdown_sanitised(ws):
    # As in Cortex's own exports: "**Toggle on**: …" (cortexapps/learn-cortex).
    description = "**Toggle on**: publish, see [docs](https://docs.example.com)\n\n<script>alert(1)</script>"
    f = form([{"type": "INPUT_FIELD", "key": "a", "description": description}], ws)
    help_text = f["a"].help_text
    assert "<strong>Toggle on</strong>: publish" in help_text
    assert '<a href="https://docs.example.com"' in help_text
    assert "<script>" not in help_text and "alert(1)" not in help_text


def test_a_textarea_field_is_a_textarea(ws):
    f = form([{"type": "TEXTAREA_FIELD", "key": "notes", "defaultValue": "hi"}], ws)
    assert html(f, "notes").startswith("<textarea")
    assert ">\nhi</textarea>" in html(f, "notes")


def test_an_integer_number_field_has_min_max_and_a_whole_step(ws):
    f = form(
        [
            {
                "type": "NUMBER_FIELD",
                "key": "replicas",
                "format": "INTEGER",
                "min": 1,
                "max": 10,
                "defaultValue": 2,
            }
        ],
        ws,
    )
    rendered = html(f, "replicas")
    assert 'type="number"' in rendered
    assert 'min="1"' in rendered and 'max="10"' in rendered
    assert 'step="1"' in rendered
    assert 'value="2"' in rendered


def test_a_decimal_number_field_takes_any_step(ws):
    f = form([{"type": "NUMBER_FIELD", "key": "ratio", "format": "DECIMAL"}], ws)
    assert 'step="any"' in html(f, "ratio")


def test_a_toggle_field_is_a_switch_ticked_by_its_default(ws):
    f = form(
        [
            {
                "type": "TOGGLE_FIELD",
                "key": "public",
                "name": "Public",
                "defaultValue": True,
            }
        ],
        ws,
    )
    rendered = html(f, "public")
    assert 'type="checkbox"' in rendered
    assert 'role="switch"' in rendered
    assert "checked" in rendered
    assert [e["toggle"] for e in f.entries] == [True]


def test_a_toggle_on_the_page_has_the_single_role_switch(ws):
    definition = {"type": "TOGGLE_FIELD", "key": "public", "name": "Public"}
    f = form([definition, {**ENV_VARS, "required": True}], ws)
    rendered = page_html(f)
    roles = re.findall(r'role="[^"]*"', rendered)
    # One switch per toggle (the object row around the second is a group):
    assert [r for r in roles if r != 'role="group"'] == ['role="switch"'] * 2
    assert '<label for="id_public" class="form-check-label">Public</label>' in rendered
    f = form([definition], ws, data={})
    f.apply_errors({"public": ["Public must be on."]})
    rendered = page_html(f)
    assert 'class="checkboxinput form-check-input is-invalid"' in rendered
    assert 'aria-describedby="id_public_error"' in rendered
    assert '<div id="id_public_error" class="invalid-feedback">' in rendered


def test_a_toggle_left_unticked_is_sent_as_off(ws):
    f = form([{"type": "TOGGLE_FIELD", "key": "public"}], ws, data={})
    assert f.values() == {"public": False}


def test_a_select_field_offers_its_options_with_their_labels(ws):
    f = form(
        [
            {
                "type": "SELECT_FIELD",
                "key": "env",
                "options": ["staging", "production"],
                "optionsLabels": ["Staging", "Production"],
                "defaultValue": "production",
            }
        ],
        ws,
    )
    rendered = html(f, "env")
    assert rendered.startswith("<select")
    assert '<option value="staging">Staging</option>' in rendered
    assert '<option value="production" selected>Production</option>' in rendered


def test_a_select_that_allows_other_options_is_a_text_input_with_suggestions(ws):
    f = form(
        [
            {
                "type": "SELECT_FIELD",
                "key": "region",
                "options": ["eu", "us"],
                "allowAdditionalOptions": True,
            }
        ],
        ws,
    )
    rendered = html(f, "region")
    assert 'list="id_region-options"' in rendered
    assert '<datalist id="id_region-options"><option value="eu">eu</option>' in rendered


def test_a_multiselect_field_is_checkboxes_and_sends_a_list(ws):
    definition = {
        "type": "MULTISELECT_FIELD",
        "key": "zones",
        "options": ["a", "b", "c"],
        "defaultValue": ["b"],
    }
    rendered = html(form([definition], ws), "zones")
    assert rendered.count('type="checkbox"') == 3
    assert 'value="b" id="id_zones_1" checked' in rendered
    f = form([definition], ws, data={"zones": ["a", "c"]})
    assert f.values() == {"zones": ["a", "c"]}


def test_a_date_field_is_a_date_input(ws):
    f = form([{"type": "DATE_FIELD", "key": "day", "defaultValue": "2026-05-01"}], ws)
    assert 'type="date"' in html(f, "day")
    assert 'value="2026-05-01"' in html(f, "day")


def test_a_datetime_field_is_a_local_datetime_input_showing_its_default_locally(
    ws, settings
):
    settings.TIME_ZONE = "UTC"
    f = form(
        [
            {
                "type": "DATE_FIELD",
                "key": "at",
                "format": "DATETIME",
                "defaultValue": "2026-05-01T10:30:00+02:00",
            }
        ],
        ws,
    )
    assert 'type="datetime-local"' in html(f, "at")
    assert 'value="2026-05-01T08:30"' in html(f, "at")
    # The browser shows no time zone: the field says which one it is read in.
    assert f["at"].help_text == "The time is in UTC."


def test_an_entity_field_offers_the_entities_its_filter_allows(ws, other_ws):
    service = EntityTypeFactory(workspace=ws, tag="service")
    EntityFactory(workspace=ws, tag="payments", name="Payments", type=service)
    EntityFactory(
        workspace=ws,
        tag="prod",
        name="Prod",
        type=EntityTypeFactory(workspace=ws, tag="environment"),
    )
    EntityFactory(workspace=other_ws, tag="rocket", name="Rocket")
    definition = {
        "type": "CORTEX_ENTITY_FIELD",
        "key": "svc",
        "entityFilter": {"typeFilter": {"types": ["service"]}},
        "defaultValue": ["payments"],
    }
    rendered = html(form([definition], ws), "svc")
    assert '<option value="payments" selected>Payments (payments)</option>' in rendered
    assert "prod" not in rendered
    assert "rocket" not in rendered


def test_an_entity_field_that_allows_several_is_a_checkbox_each(ws):
    """Not a multiple <select>, where a plain click drops the earlier choices."""
    EntityFactory(workspace=ws, tag="a")
    EntityFactory(workspace=ws, tag="b")
    definition = {"type": "CORTEX_ENTITY_FIELD", "key": "e", "allowMultiple": True}
    rendered = html(form([definition], ws), "e")
    assert rendered.count('type="checkbox"') == 2 and "<select" not in rendered
    assert "data-long-list" not in rendered
    f = form([definition], ws, data={"e": ["a", "b"]})
    assert f.values() == {"e": ["a", "b"]}


def test_a_long_list_of_people_to_choose_scrolls_in_its_own_box(ws):
    for n in range(LONG_CHECKLIST + 1):
        member(ws, UserFactory(email=f"p{n}@example.com"), "User")
    definition = {"type": "CORTEX_USER_FIELD", "key": "who", "allowMultiple": True}
    rendered = html(form([definition], ws), "who")
    assert rendered.count('type="checkbox"') == LONG_CHECKLIST + 1
    assert rendered.count("data-long-list") == LONG_CHECKLIST + 1


def test_a_user_field_offers_the_members_its_filter_allows(ws, grace, vera):
    team = Team.objects.create(workspace=ws, tag="platform", name="Platform")
    team.members.add(grace)
    outsider = UserFactory(email="out@example.com")
    definition = {
        "type": "CORTEX_USER_FIELD",
        "key": "who",
        "filter": {"teamCids": ["platform"]},
    }
    rendered = html(form([definition], ws), "who")
    assert 'value="grace@example.com"' in rendered
    assert "vera@example.com" not in rendered
    assert outsider.email not in rendered


def test_a_user_field_whose_filter_leaves_no_one_says_so(ws, grace, vera):
    Team.objects.create(workspace=ws, tag="platform", name="Platform").members.add(
        grace
    )
    definition = {
        "type": "CORTEX_USER_FIELD",
        "key": "who",
        "required": True,
        "filter": {"teamCids": ["platform"], "userEmails": ["vera@example.com"]},
    }
    rendered = page_html(form([definition], ws))
    assert "grace@example.com" not in rendered and "vera@example.com" not in rendered
    assert (
        "There is no one to pick here (a person must be in one of the filter&#x27;s"
        " teams and have one of its emails): the field&#x27;s filter or the"
        " workspace&#x27;s members would have to change." in rendered
    )
    definition["filter"] = {"teamCids": ["platform"]}
    assert "no one to pick" not in page_html(form([definition], ws))


def test_an_entity_field_whose_filter_leaves_nothing_says_so(ws):
    EntityFactory(workspace=ws, tag="payments")
    definition = {
        "type": "CORTEX_ENTITY_FIELD",
        "key": "svc",
        "entityFilter": {"typeFilter": {"types": ["no-such-type"]}},
    }
    rendered = page_html(form([definition], ws))
    assert "There is no entity you may pick here" in rendered
    assert "payments" not in rendered


@pytest.mark.parametrize("kind", ["SELECT_FIELD", "MULTISELECT_FIELD"])
def test_a_required_select_with_no_option_says_it_cannot_be_answered(ws, kind):
    definition = {"type": kind, "key": "env", "required": True, "options": []}
    said = "This field has no option to choose, and needs one"
    assert said in page_html(form([definition], ws))
    for enough in ({"options": ["prod"]}, {"allowAdditionalOptions": True}):
        assert said not in page_html(form([{**definition, **enough}], ws))


def test_a_user_field_preselects_its_default_people(ws, grace):
    definition = {
        "type": "CORTEX_USER_FIELD",
        "key": "who",
        "defaultValue": [{"email": "grace@example.com", "name": ""}],
    }
    assert 'value="grace@example.com" selected' in html(form([definition], ws), "who")


def test_a_slack_field_is_a_text_input_and_several_channels_are_split_on_commas(ws):
    definition = {"type": "SLACK_FIELD", "key": "ch", "allowMultiple": True}
    f = form([definition], ws, data={"ch": "#deploys, ops ,"})
    assert 'placeholder="#channel"' in html(f, "ch")
    assert "Separate channels with commas." in f["ch"].help_text
    assert f.values() == {"ch": ["#deploys", "ops"]}


def test_a_slack_field_limited_to_channels_is_a_select_of_them(ws):
    definition = {
        "type": "SLACK_FIELD",
        "key": "ch",
        "filter": {"channels": ["#deploys", "ops"]},
    }
    rendered = html(form([definition], ws), "ch")
    assert '<option value="deploys">#deploys</option>' in rendered
    assert '<option value="ops">#ops</option>' in rendered


def test_a_secret_field_is_a_password_input_never_prefilled(ws):
    definition = {
        "type": "SECRET_FIELD",
        "key": "token",
        "defaultValue": "********",
    }
    rendered = html(form([definition], ws), "token")
    assert 'type="password"' in rendered
    assert "value=" not in rendered
    assert 'autocomplete="new-password"' in rendered


def test_a_typed_secret_never_comes_back_on_a_re_render(ws):
    definition = {"type": "SECRET_FIELD", "key": "token"}
    f = form([definition], ws, data={"token": "s3cret-value"})
    rendered = html(f, "token")
    assert "s3cret-value" not in rendered
    assert 'placeholder="Type it again: a secret is never sent back"' in rendered
    assert f.values()["token"] == "s3cret-value"  # what was sent is still checked


def test_only_a_secret_that_was_typed_asks_to_be_typed_again(ws):
    definitions = [
        {"type": "SECRET_FIELD", "key": "token", "name": "Token"},
        {
            **ENV_VARS,
            "inputs": [{"type": "SECRET_FIELD", "key": "password", "name": "Password"}],
        },
    ]
    data = QueryDict("token=&envVars.TOTAL=1&envVars.0.password=pw", mutable=True)
    changed, added = rows_changed(data, add="envVars")
    f = form(definitions, ws, data=changed, added=added)
    again = 'placeholder="Type it again: a secret is never sent back"'
    assert again not in html(f, "token")  # left empty
    rows = f.nested["envVars"].rows
    assert again in str(rows[0].form["password"])  # typed, not sent back
    assert again not in str(rows[1].form["password"])  # just added
    # The row added is posted empty next time (another Add, or an error):
    changed, added = rows_changed(changed, add="envVars")
    rows = form(definitions, ws, data=changed, added=added).nested["envVars"].rows
    assert [again in str(row.form["password"]) for row in rows] == [True, False, False]


def test_a_fixed_input_is_shown_read_only_with_its_value_and_is_not_sent(ws):
    definitions = [
        {"type": "INPUT_FIELD", "key": "region", "defaultValue": "eu", "fixed": True},
        {"type": "INPUT_FIELD", "key": "team"},
    ]
    f = form(definitions, ws, data={"region": "us", "team": "x"})
    rendered = html(f, "region")
    assert "disabled" in rendered
    assert 'value="eu"' in rendered
    assert f.values() == {"team": "x"}


def test_a_disabled_input_is_read_only_too(ws):
    f = form(
        [{"type": "NUMBER_FIELD", "key": "n", "disabled": True, "defaultValue": 3}], ws
    )
    assert "disabled" in html(f, "n")
    assert not f["n"].field.required


def test_the_form_sends_what_was_typed_for_every_type_and_validate_accepts_it(
    ws, grace
):
    EntityFactory(workspace=ws, tag="payments", name="Payments")
    definitions = [
        {"type": "INPUT_FIELD", "key": "text"},
        {"type": "TEXTAREA_FIELD", "key": "area"},
        {"type": "NUMBER_FIELD", "key": "n", "format": "INTEGER"},
        {"type": "TOGGLE_FIELD", "key": "t"},
        {"type": "SELECT_FIELD", "key": "s", "options": ["a", "b"]},
        {"type": "MULTISELECT_FIELD", "key": "m", "options": ["a", "b"]},
        {"type": "DATE_FIELD", "key": "d"},
        {"type": "DATE_FIELD", "key": "dt", "format": "DATETIME"},
        {"type": "CORTEX_ENTITY_FIELD", "key": "e"},
        {"type": "CORTEX_USER_FIELD", "key": "u"},
        {"type": "SLACK_FIELD", "key": "sl"},
        {"type": "SECRET_FIELD", "key": "sec"},
        HOSTNAMES,
        ENV_VARS,
    ]
    data = {
        "text": "hello",
        "area": "line 1\nline 2",
        "n": "4",
        "t": "on",
        "s": "b",
        "m": ["a", "b"],
        "d": "2026-05-01",
        "dt": "2026-05-01T09:15",
        "e": "payments",
        "u": "grace@example.com",
        "sl": "#deploys",
        "sec": " padded secret ",
        "hostnames.TOTAL": "2",
        "hostnames.0.value": "a.example.com",
        "hostnames.1.value": "b.example.com",
        "envVars.TOTAL": "1",
        "envVars.0.name": "LOG_LEVEL",
        "envVars.0.value": "debug",
    }
    values = form(definitions, ws, data=data).values()
    clean, errors = validate(definitions, values, workspace=ws, runner=grace)
    assert errors == {}
    assert clean["n"] == 4
    assert clean["t"] is True
    assert clean["m"] == ["a", "b"]
    assert clean["dt"].startswith("2026-05-01T09:15")
    assert clean["e"] == {"tag": "payments", "name": "Payments", "type": "service"}
    assert clean["u"]["email"] == "grace@example.com"
    assert clean["sl"] == "deploys"
    assert clean["sec"] == " padded secret "
    assert clean["hostnames"] == ["a.example.com", "b.example.com"]
    assert clean["envVars"] == [
        {"name": "LOG_LEVEL", "value": "debug", "sensitive": False}
    ]


# --- errors ----------------------------------------------------------------------------------


def test_errors_appear_beside_their_fields_and_form_errors_above(ws):
    definitions = [{"type": "INPUT_FIELD", "key": "a", "name": "A", "required": True}]
    f = form(definitions, ws, data={"a": ""})
    f.apply_errors({"a": ["A is required."], "__all__": ["Production needs a ticket."]})
    assert f.errors["a"] == ["A is required."]
    assert f.non_field_errors() == ["Production needs a ticket."]
    assert f.has_errors


def test_a_multiselect_that_allows_other_values_takes_them_in_a_text_input(ws):
    definitions = [
        {
            "type": "MULTISELECT_FIELD",
            "key": "m",
            "name": "M",
            "options": ["x", "y", "z"],
            "allowAdditionalOptions": True,
            "defaultValue": ["y", "w-extra"],
        }
    ]
    html = str(form(definitions, ws)["m"])
    assert 'type="checkbox" name="m" value="y" id="id_m_1" checked' in html
    assert 'name="m.other" id="id_m_other" value="w-extra"' in html

    f = form(definitions, ws, data={"m": ["x"], "m.other": " w-extra, v ,, "})
    assert f.values() == {"m": ["x", "w-extra", "v"]}
    clean, errors = validate(definitions, f.values(), workspace=ws)
    assert not errors and clean["m"] == ["x", "w-extra", "v"]
    # Sent back after an error elsewhere, the other values stay where they were typed:
    html = str(form(definitions, ws, data={"m": ["x"], "m.other": "w-extra, v"})["m"])
    assert 'value="w-extra, v"' in html and 'value="x" id="id_m_0" checked' in html


def test_a_multiselect_that_allows_other_values_is_a_group_named_by_its_legend(ws):
    rendered = page_html(form([REGIONS], ws))
    assert re.search(
        r"<fieldset[^>]*>\s*<legend\s+class=\"form-label fs-6\">\s*Regions", rendered
    )
    assert '<label for="id_regions"' not in rendered  # a label names an input
    assert rendered.index("<fieldset") < rendered.index('name="regions"')
    assert rendered.index('name="regions.other"') < rendered.index("</fieldset>")


def test_the_other_values_box_has_a_label_naming_its_field(ws):
    rendered = page_html(form([REGIONS], ws))
    assert (
        '<label class="form-label small text-body-secondary mt-1 mb-1"'
        ' for="id_regions_other">Other Regions, separated by commas</label>'
    ) in rendered
    assert 'aria-label="Other values"' not in rendered


def test_a_multiselect_that_allows_other_values_shows_its_errors_tied_to_its_inputs(
    ws,
):
    f = form([REGIONS], ws, data={"regions": ["eu"], "regions.other": "mars"})
    f.apply_errors({"regions": ['"mars" is not a region.']})
    rendered = page_html(f)
    # Bootstrap shows .invalid-feedback only after an .is-invalid sibling:
    assert re.search(
        r'<div id="id_regions" class="checklist-with-other is-invalid">.*</div>\s*'
        r'<div id="id_regions_error" class="invalid-feedback">',
        rendered,
        re.S,
    )
    assert "&quot;mars&quot; is not a region." in rendered
    inputs = re.findall(r"<input [^>]*>", rendered)
    assert len(inputs) == 3
    for tag in inputs:
        assert "is-invalid" in tag
        assert 'aria-invalid="true"' in tag
        assert 'aria-describedby="id_regions_error"' in tag
    # Without errors, none of that:
    rendered = page_html(form([REGIONS], ws, data={"regions": ["eu"]}))
    assert "is-invalid" not in rendered and "aria-invalid" not in rendered


def test_an_inputs_error_is_the_element_its_aria_describedby_names(ws):
    definitions = [
        {"type": "INPUT_FIELD", "key": "a", "name": "A"},
        {"type": "MULTISELECT_FIELD", "key": "m", "name": "M", "options": ["x", "y"]},
    ]
    f = form(definitions, ws, data={"a": "", "m": []})
    f.apply_errors({"a": ["A is wrong."], "m": ["M is wrong."]})
    for key in ("a", "m"):
        html = as_crispy_field(f[key])  # as the run page renders it
        assert f'aria-describedby="id_{key}_error"' in html
        assert f'<div id="id_{key}_error" class="invalid-feedback">' in html


def test_the_form_never_runs_django_validation_of_its_own(ws):
    f = form(
        [{"type": "SELECT_FIELD", "key": "s", "options": ["a"], "required": True}],
        ws,
        data={"s": "zzz"},
    )
    assert not f.errors
    assert f.values() == {"s": "zzz"}


# --- nested rows ---------------------------------------------------------------------------


def test_a_string_nested_field_starts_with_one_empty_row(ws):
    nested = form([HOSTNAMES], ws).nested["hostnames"]
    assert nested.count == 1
    assert not nested.objects
    rendered = str(nested.rows[0].string_field)
    assert 'name="hostnames.0.value"' in rendered
    assert 'aria-label="Hostnames row 1"' in rendered


def test_a_nested_field_starts_with_min_rows_or_its_default_rows(ws):
    at_least_two = {**HOSTNAMES, "minRows": 2}
    assert form([at_least_two], ws).nested["hostnames"].count == 2
    with_default = {**HOSTNAMES, "defaultValue": ["x", "y", "z"]}
    nested = form([with_default], ws).nested["hostnames"]
    assert [row.form["value"].value() for row in nested.rows] == ["x", "y", "z"]


def test_an_object_nested_field_renders_the_sub_form_per_row(ws):
    f = form([ENV_VARS], ws, data={"envVars.TOTAL": "2"})
    nested = f.nested["envVars"]
    assert nested.objects
    assert [row.form.prefix for row in nested.rows] == ["envVars.0", "envVars.1"]
    assert 'name="envVars.1.value"' in str(nested.rows[1].form["value"])


@pytest.mark.parametrize("total", ["inf", "-inf", "1e309", "nan", "x", "", "²"])
def test_a_row_count_that_is_no_number_posts_as_the_starting_rows(ws, total):
    """float("inf") is fine but int() of it raised OverflowError: a 500."""
    data = QueryDict(mutable=True)
    data.update({"hostnames.TOTAL": total, "hostnames.0.value": "a.example.com"})
    for change in ({"add": "hostnames"}, {"remove": "hostnames.0"}, {}):
        changed, added = rows_changed(data, **change)
        nested = form([HOSTNAMES], ws, data=changed, added=added).nested["hostnames"]
        assert 0 <= nested.count <= 2


def test_add_appends_an_empty_row_and_keeps_what_was_typed(ws):
    data = QueryDict(mutable=True)
    data.update({"hostnames.TOTAL": "1", "hostnames.0.value": "a.example.com"})
    data["add_row"] = "hostnames"
    change = row_change(data)
    assert change == ("hostnames", None)
    changed, added = rows_changed(data, add=change[0], remove=change[1])
    assert added == "hostnames.1"
    f = form([HOSTNAMES], ws, data=changed, added=added)
    rows = f.nested["hostnames"].rows
    assert [row.form["value"].value() for row in rows] == ["a.example.com", None]
    assert "autofocus" in str(rows[1].string_field)


def test_a_row_added_to_an_object_field_starts_from_the_sub_form_defaults(ws):
    data = QueryDict("envVars.TOTAL=1&envVars.0.name=A&envVars.0.value=1", mutable=True)
    changed, added = rows_changed(data, add="envVars")
    f = form([ENV_VARS], ws, data=changed, added=added)
    rows = f.nested["envVars"].rows
    assert rows[0].form["sensitive"].value() is False  # unticked when it was posted
    assert rows[1].form["sensitive"].value() is True  # the default


def test_remove_drops_the_row_and_renumbers_the_rows_after_it(ws):
    data = QueryDict(mutable=True)
    data.update(
        {
            "hostnames.TOTAL": "3",
            "hostnames.0.value": "a",
            "hostnames.1.value": "b",
            "hostnames.2.value": "c",
            "other": "kept",
        }
    )
    changed, added = rows_changed(data, remove="hostnames.1")
    assert added is None
    assert changed["hostnames.TOTAL"] == "2"
    assert changed["hostnames.0.value"] == "a"
    assert changed["hostnames.1.value"] == "c"
    assert "hostnames.2.value" not in changed
    assert changed["other"] == "kept"
    f = form([HOSTNAMES], ws, data=changed)
    assert f.values() == {"hostnames": ["a", "c"]}


def test_removing_an_object_row_keeps_every_field_of_the_other_rows(ws):
    data = QueryDict(mutable=True)
    for i, (name, value, sensitive) in enumerate(
        [("A", "1", True), ("B", "2", False), ("C", "3", True)]
    ):
        data[f"envVars.{i}.name"] = name
        data[f"envVars.{i}.value"] = value
        if sensitive:
            data[f"envVars.{i}.sensitive"] = "on"
    data["envVars.TOTAL"] = "3"
    changed, _ = rows_changed(data, remove="envVars.0")
    values = form([ENV_VARS], ws, data=changed).values()
    assert values == {
        "envVars": [
            {"name": "B", "value": "2", "sensitive": False},
            {"name": "C", "value": "3", "sensitive": True},
        ]
    }


def test_rows_of_a_nested_field_inside_an_object_row_are_renumbered_too(ws):
    data = QueryDict(mutable=True)
    data.update(
        {
            "outer.TOTAL": "2",
            "outer.0.tags.TOTAL": "2",
            "outer.0.tags.0.value": "x",
            "outer.0.tags.1.value": "y",
            "outer.1.tags.TOTAL": "1",
            "outer.1.tags.0.value": "z",
        }
    )
    changed, _ = rows_changed(data, remove="outer.0.tags.0")
    assert changed["outer.0.tags.TOTAL"] == "1"
    assert changed["outer.0.tags.0.value"] == "y"
    assert changed["outer.1.tags.0.value"] == "z"
    changed, _ = rows_changed(data, remove="outer.0")
    assert changed["outer.TOTAL"] == "1"
    assert changed["outer.0.tags.TOTAL"] == "1"
    assert changed["outer.0.tags.0.value"] == "z"


@pytest.mark.parametrize("remove", ["hostnames.9", "hostnames.x", "nothing"])
def test_a_remove_naming_no_row_changes_nothing(remove):
    data = QueryDict("hostnames.TOTAL=1&hostnames.0.value=a", mutable=True)
    changed, _ = rows_changed(data, remove=remove)
    assert changed["hostnames.TOTAL"] == "1"
    assert changed["hostnames.0.value"] == "a"


def test_remove_and_add_buttons_are_named_by_their_field_and_row(ws):
    f = form(
        [HOSTNAMES, ENV_VARS],
        ws,
        data={"hostnames.TOTAL": "2", "envVars.TOTAL": "2"},
    )
    rendered = page_html(f)
    for number in (1, 2):
        # Its text, not an aria-label: in a String row the icon is all that shows.
        assert re.search(
            rf'name="remove_row" value="hostnames\.{number - 1}"[^>]*'
            rf' title="Remove Hostnames row {number}">(<svg.*?</svg>)'
            rf'<span class="visually-hidden">Remove Hostnames row {number}</span>',
            rendered,
            re.S,
        )
        # An Object row's says Remove, and which row to a screen reader:
        assert re.search(
            rf'name="remove_row" value="envVars\.{number - 1}"[^>]*>(<svg.*?</svg>)'
            rf' Remove<span class="visually-hidden"> Environment variables row {number}</span>',
            rendered,
            re.S,
        )
    for name, prefix in (
        ("Hostnames", "hostnames"),
        ("Environment variables", "envVars"),
    ):
        assert re.search(
            rf'name="add_row" value="{prefix}"[^>]*>(<svg.*?</svg>)?'
            rf'Add<span class="visually-hidden"> a row to {name}</span></button>',
            rendered,
            re.S,
        )
    assert 'aria-label="Remove"' not in rendered


def test_the_forms_first_submit_button_is_a_hidden_submit_not_remove_or_add(ws):
    """Enter in a field presses the form's first submit button (implicit submission)."""
    f = form([HOSTNAMES, {**ENV_VARS, "inputs": [*ENV_VARS["inputs"], HOSTNAMES]}], ws)
    buttons = submit_buttons(page_html(f))
    assert buttons[0] == (
        '<button type="submit" name="submit" value="1" class="visually-hidden"'
        ' tabindex="-1" aria-hidden="true" data-test="default-submit">'
    )
    # Only the form's own; a nested row's sub-form has none:
    assert [b for b in buttons if 'name="submit"' in b] == buttons[:1]
    assert len(buttons) > 1 and all("_row" in b for b in buttons[1:])


def test_add_is_offered_until_max_rows_and_remove_down_to_min_rows(ws):
    definition = {**HOSTNAMES, "minRows": 1, "maxRows": 2}
    one = form([definition], ws, data={"hostnames.TOTAL": "1"}).nested["hostnames"]
    assert one.can_add and not one.can_remove
    two = form([definition], ws, data={"hostnames.TOTAL": "2"}).nested["hostnames"]
    assert not two.can_add and two.can_remove


def test_a_plain_submit_is_not_a_row_change():
    assert row_change(QueryDict("submit=1")) is None
    assert row_change(QueryDict("remove_row=hostnames.0")) == (None, "hostnames.0")


def test_row_errors_appear_beside_their_rows(ws):
    f = form(
        [{**HOSTNAMES, "required": True}, ENV_VARS],
        ws,
        data={
            "hostnames.TOTAL": "2",
            "hostnames.0.value": "a",
            "envVars.TOTAL": "2",
            "envVars.0.name": "bad name",
            "envVars.0.value": "x",
        },
    )
    values = f.values()
    _, errors = validate(
        [{**HOSTNAMES, "required": True}, {**ENV_VARS, "required": True}],
        values,
        workspace=ws,
    )
    f.apply_errors(errors)
    hostnames, env_vars = f.nested["hostnames"], f.nested["envVars"]
    assert hostnames.rows[1].errors == ["Row 2 is empty."]
    assert "is-invalid" in str(hostnames.rows[1].string_field)
    assert hostnames.rows[0].errors == []
    assert env_vars.rows[1].errors == ["Row 2 is empty."]
    assert f.has_errors


def test_object_row_field_errors_land_on_the_row_sub_form(ws):
    f = form([ENV_VARS], ws, data={"envVars.TOTAL": "1", "envVars.0.value": "x"})
    f.apply_errors(
        {
            "envVars": {
                "__all__": ["Too few."],
                "rows": {0: {"name": ["Name is required."]}},
            }
        }
    )
    nested = f.nested["envVars"]
    assert nested.errors == ["Too few."]
    assert nested.rows[0].form.errors["name"] == ["Name is required."]
    assert nested.rows[0].has_errors


def test_a_fixed_nested_field_shows_its_rows_read_only_without_add_or_remove(ws):
    definition = {**HOSTNAMES, "fixed": True, "defaultValue": ["a", "b"]}
    f = form([definition], ws, data={"hostnames.TOTAL": "5"})
    nested = f.nested["hostnames"]
    assert nested.count == 2
    assert not nested.can_add and not nested.can_remove
    assert "disabled" in str(nested.rows[0].string_field)
    assert f.values() == {}


def test_a_member_list_for_user_fields_comes_from_the_workspace(ws, other_ws, ted):
    member(ws, UserFactory(email="zed@example.com"))
    rendered = html(form([{"type": "CORTEX_USER_FIELD", "key": "u"}], ws), "u")
    assert "zed@example.com" in rendered
    assert "ted@example.com" not in rendered


def test_an_optional_object_row_left_at_its_defaults_is_dropped_not_an_error(ws):
    # The browser posts the row's pre-filled defaults (Sensitive ticked) and
    # nothing else: the user never filled it in.
    f = form([ENV_VARS], ws, data={"envVars.TOTAL": "1", "envVars.0.sensitive": "on"})

    clean, errors = validate([ENV_VARS], f.values(), workspace=ws)

    assert errors == {}
    assert clean == {"envVars": []}


def test_a_required_object_row_left_at_its_defaults_asks_for_its_fields(ws):
    required = {**ENV_VARS, "required": True}
    f = form([required], ws, data={"envVars.TOTAL": "1", "envVars.0.sensitive": "on"})

    _, errors = validate([required], f.values(), workspace=ws)

    assert errors["envVars"]["rows"][0]["name"] == ["Name is required."]


def test_an_optional_object_row_with_something_typed_is_checked(ws):
    f = form(
        [ENV_VARS],
        ws,
        data={"envVars.TOTAL": "1", "envVars.0.sensitive": "on", "envVars.0.name": "A"},
    )

    _, errors = validate([ENV_VARS], f.values(), workspace=ws)

    assert errors["envVars"]["rows"][0]["value"] == ["Value is required."]


def test_an_add_posted_at_max_rows_adds_no_row(ws):
    """The page has no Add button at maxRows; a forged one must not grow the form."""
    definition = {**HOSTNAMES, "maxRows": 2}
    data = QueryDict("hostnames.TOTAL=2&hostnames.0.value=a&hostnames.1.value=b")
    changed, added = rows_changed(data, add="hostnames")
    nested = form([definition], ws, data=changed, added=added).nested["hostnames"]
    assert [row.form["value"].value() for row in nested.rows] == ["a", "b"]
    assert not nested.can_add
    # Whatever TOTAL it claims:
    lying = QueryDict("hostnames.TOTAL=50&hostnames.0.value=a")
    changed, added = rows_changed(lying, add="hostnames")
    nested = form([definition], ws, data=changed, added=added).nested["hostnames"]
    assert nested.count == 2


@pytest.mark.parametrize(
    "post, change",
    [
        ("hostnames.TOTAL=1000&hostnames.0.value=a", {"add": "hostnames"}),
        ("hostnames.TOTAL=1000&hostnames.0.value=a", {}),
        ("hostnames.TOTAL=1&hostnames.0.value=a", {"remove": "hostnames.0"}),
        ("hostnames.TOTAL=0", {}),
    ],
)
def test_a_forged_post_gets_no_more_than_max_rows_and_no_fewer_than_min_rows(
    ws, post, change
):
    definition = {**HOSTNAMES, "minRows": 1, "maxRows": 3}
    data = QueryDict(post)
    changed, added = rows_changed(data, **change) if change else (data, None)
    nested = form([definition], ws, data=changed, added=added).nested["hostnames"]
    assert 1 <= nested.count <= 3


@pytest.mark.parametrize(
    "limits, hint",
    [
        ({}, ""),
        ({"maxRows": 4}, "Up to 4 rows."),
        ({"maxRows": 1}, "Up to 1 row."),
        ({"minRows": 2}, "At least 2 rows."),
        ({"minRows": 1, "maxRows": 3}, "1 to 3 rows."),
        ({"minRows": 2, "maxRows": 2}, "Exactly 2 rows."),
    ],
)
def test_a_nested_fields_row_limits_read_least_first(ws, limits, hint):
    unlimited = {k: v for k, v in HOSTNAMES.items() if k not in ("minRows", "maxRows")}
    nested = form([{**unlimited, **limits}], ws).nested["hostnames"]
    assert nested.rows_hint == hint


def test_the_error_summary_lists_each_problem_in_form_order_linking_an_element_that_exists(
    ws,
):
    definitions = [
        {"type": "INPUT_FIELD", "key": "a", "name": "Service"},
        {"type": "MULTISELECT_FIELD", "key": "m", "name": "Tiers", "options": ["x"]},
        {**HOSTNAMES, "required": True},
        ENV_VARS,
    ]
    f = form(
        definitions,
        ws,
        data={
            "a": "",
            "hostnames.TOTAL": "2",
            "hostnames.0.value": "a",
            "envVars.TOTAL": "1",
            "envVars.0.value": "x",
        },
    )
    f.apply_errors(
        {
            "a": ["Service is required."],
            "m": ["Pick one."],
            "hostnames": {"__all__": ["Too few."], "rows": {1: ["Row 2 is empty."]}},
            "envVars": {
                "rows": {0: {"__all__": ["Clashes."], "name": ["Name is required."]}}
            },
        }
    )
    summary = f.error_summary()
    assert [(e["label"], e["message"]) for e in summary] == [
        ("Service", "Service is required."),
        ("Tiers", "Pick one."),
        ("Hostnames", "Too few."),
        ("Hostnames row 2", "Row 2 is empty."),
        ("Environment variables row 1", "Clashes."),
        ("Environment variables row 1: Name", "Name is required."),
    ]
    rendered = page_html(f)
    for error in summary:
        assert re.search(rf'\sid="{re.escape(error["target"])}"', rendered), error
    # A group is focusable, so the link can take focus there:
    for target in ("hostnames-field", "envVars.0-row"):
        assert re.search(rf'id="{re.escape(target)}" tabindex="-1"', rendered)
    assert form(definitions, ws).error_summary() == []


def test_an_object_rows_remove_comes_after_its_fields(ws):
    rendered = page_html(form([ENV_VARS], ws, data={"envVars.TOTAL": "1"}))
    remove = rendered.index('name="remove_row" value="envVars.0"')
    for name in ("envVars.0.name", "envVars.0.value", "envVars.0.sensitive"):
        assert rendered.index(f'name="{name}"') < remove


def test_the_error_summary_has_a_rows_message_for_the_whole_row_and_no_form_message(
    ws,
):
    f = form([ENV_VARS], ws, data={"envVars.TOTAL": "1", "envVars.0.value": "x"})
    # A validator's message for the whole form goes to the form's own alert,
    # one for a row's sub-form (a locked field in it) to the summary:
    f.apply_errors({"__all__": ["Production needs a ticket."]})
    f.nested["envVars"].rows[0].form.apply_errors({"__all__": ["Row clash."]})
    assert f.error_summary() == [
        {
            "label": "Environment variables row 1",
            "message": "Row clash.",
            "target": "envVars.0-row",
        }
    ]
