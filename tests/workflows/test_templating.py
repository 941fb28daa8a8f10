"""Mustache over the run state: what a descriptor's `{{…}}` renders to."""

import pytest

from workflows.templating import TemplateError, render, render_value

STATE = {
    "variables": {
        "page-oncall": False,
        "public": True,
        "flags": [True, False],
        "names": ["pay", "", "ledger"],
        "counts": [0, 1],
        "rows": [{}, {"name": "b"}],
        "zero": 0,
        "blank": "",
        "nothing": None,
        "title": 'Tom & "Jerry" <3',
        "config": {"a": 1},
    },
    "actions": {"collect-inputs": {"outputs": {"tag": "payments"}}},
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{"page": {{variables.page-oncall}}}', '{"page": false}'),
        ('{"page": {{{variables.page-oncall}}}}', '{"page": false}'),
        ("{{variables.public}}", "true"),
        ("{{variables.zero}}|{{variables.blank}}|{{variables.nothing}}", "0||"),
        ("{{actions.collect-inputs.outputs.tag}}", "payments"),
        ("{{variables.title}}", "Tom &amp; &quot;Jerry&quot; &lt;3"),
        ("{{{variables.title}}}", 'Tom & "Jerry" <3'),
        ("{{variables.config}} {{variables.flags}}", "{&quot;a&quot;:1} [true,false]"),
        ("{{{variables.config}}}", '{"a":1}'),
        ("{{variables.names.0}}/{{variables.flags.1}}", "pay/false"),
    ],
)
def test_values_render_as_json_would_write_them(template, expected):
    assert render(template, STATE) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{#variables.page-oncall}}page{{/variables.page-oncall}}", ""),
        ("{{^variables.page-oncall}}quiet{{/variables.page-oncall}}", "quiet"),
        ("{{#variables.public}}public{{/variables.public}}", "public"),
        ("{{#variables.zero}}x{{/variables.zero}}", ""),
        ("{{#variables.flags.1}}x{{/variables.flags.1}}", ""),
    ],
)
def test_false_zero_and_empty_values_skip_their_sections(template, expected):
    assert render(template, STATE) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{#variables.flags}}[{{.}}]{{/variables.flags}}", "[true][false]"),
        ("{{#variables.names}}[{{.}}]{{/variables.names}}", "[pay][][ledger]"),
        ("{{#variables.counts}}[{{.}}]{{/variables.counts}}", "[0][1]"),
        ("{{#variables.rows}}[{{name}}]{{/variables.rows}}", "[][b]"),
    ],
)
def test_a_list_section_renders_once_per_item_false_and_empty_ones_too(
    template, expected
):
    assert render(template, STATE) == expected


def test_render_value_renders_every_string_inside_dicts_and_lists():
    value = {"a": ["{{variables.zero}}", {"b": "{{variables.public}}"}], "n": 3}
    assert render_value(value, STATE) == {"a": ["0", {"b": "true"}], "n": 3}


def test_a_template_that_does_not_parse_raises_saying_why():
    with pytest.raises(TemplateError) as caught:
        render("{{#variables.flags}}[{{.}}]", STATE)
    assert str(caught.value) == (
        'A template is not valid Mustache: the section "variables.flags" is never'
        " closed with {{/variables.flags}}"
    )
