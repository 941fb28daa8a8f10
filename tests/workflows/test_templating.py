"""Mustache over the run state: what a descriptor's `{{…}}` renders to."""

import pytest

from workflows.templating import TemplateError, render, render_value, template_problem

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
        "no-regions": [],
        "no-meta": {},
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
        (
            '{"regions": {{{variables.no-regions}}}, "meta": {{{variables.no-meta}}}}',
            '{"regions": [], "meta": {}}',
        ),
        ("{{variables.no-regions}}{{variables.no-meta}}", "[]{}"),
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
        ("{{#variables.no-regions}}x{{/variables.no-regions}}", ""),
        ("{{^variables.no-regions}}none{{/variables.no-regions}}", "none"),
        ("{{#variables.no-meta}}x{{/variables.no-meta}}", ""),
        ("{{^variables.no-meta}}none{{/variables.no-meta}}", "none"),
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


def test_a_falsy_list_item_is_falsy_again_for_a_section_inside_the_lists():
    state = {"variables": {"flags": [True, False, "", 0, "x"]}}
    template = "{{#variables.flags}}{{#.}}Y{{/.}}{{^.}}N{{/.}}{{/variables.flags}}"
    assert render(template, state) == "YNNNY"


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


def test_a_list_index_is_digits_only_as_in_other_mustaches():
    state = {"tags": ["x", "y", "z"]}
    assert render("{{tags.0}}{{tags.2}}", state) == "xz"
    assert (
        render(
            "[{{tags.-1}}][{{tags.+1}}][{{tags. 1}}][{{tags.1_0}}][{{tags.01}}]", state
        )
        == "[][][][][]"
    )


def test_a_triple_brace_closed_with_two_is_refused_not_rendered_empty():
    with pytest.raises(TemplateError) as caught:
        render('{"summary": "{{{variables.public}}"}', STATE)
    assert str(caught.value) == (
        "A template is not valid Mustache: the tag {{{variables.public}} is closed"
        " with }} instead of }}}"
    )
    assert render("{{{variables.public}}}", STATE) == "true"
    # After a delimiter change chevron can't read `{x}` either; not ours to refuse:
    assert template_problem("{{=<% %>=}}<%{variables.public}%>") is None


@pytest.mark.parametrize("tag", ["{{>secret}}", "{{> secret}}", "{{>./secret}}"])
def test_a_partial_renders_nothing_even_when_a_mustache_file_of_its_name_exists(
    tag, tmp_path, monkeypatch
):
    (tmp_path / "secret.mustache").write_text("SECRET {{variables.public}}")
    monkeypatch.chdir(tmp_path)
    assert render(f"[{tag}]", STATE) == "[]"


def test_a_partial_naming_an_absolute_path_renders_nothing(tmp_path):
    (tmp_path / "secret.mustache").write_text("SECRET")
    assert render(f"[{{{{>{tmp_path / 'secret'}}}}}]", STATE) == "[]"


def test_a_partial_never_reads_a_file_from_disk(tmp_path, monkeypatch):
    def no_files(*args, **kwargs):
        raise AssertionError(f"a template opened a file: {args}")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("builtins.open", no_files)
    monkeypatch.setattr("io.open", no_files)
    assert (
        render("a{{>secret}}b{{#variables.names}}{{>.}}{{/variables.names}}c", STATE)
        == "abc"
    )


ATTRIBUTES = {
    "variables": {
        "text": "abc",
        "list": [1, 2],
        "dict": {"a": 1},
        "number": 5,
        "yes": True,
        "no": False,
    }
}


def _renders_nothing(path: str) -> None:
    """As a variable, raw, a section and an inverted section: as a missing key."""
    assert render(f"[{{{{{path}}}}}|{{{{{{{path}}}}}}}]", ATTRIBUTES) == "[|]"
    assert render(f"[{{{{#{path}}}}}x{{{{/{path}}}}}]", ATTRIBUTES) == "[]"
    assert render(f"[{{{{^{path}}}}}x{{{{/{path}}}}}]", ATTRIBUTES) == "[x]"


@pytest.mark.parametrize(
    "path",
    [
        "variables.text.__class__",
        "variables.text.__class__.__name__",
        "variables.text.upper",
        "variables.text.__len__",
        "variables.text.__doc__",
        "variables.list.__class__",
        "variables.list.__class__.__mro__",
        "variables.list.append",
        "variables.list.raw",
        "variables.list.__len__",
        "variables.number.__class__",
        "variables.number.real",
        "variables.number.__doc__",
        "variables.yes.__class__",
        "variables.yes.value",
        "variables.no.__class__",
        "variables.no.value",
    ],
)
def test_a_name_resolves_only_to_keys_never_to_python_attributes(path):
    _renders_nothing(path)


@pytest.mark.parametrize(
    "path",
    [
        f"variables.{value}.{name}"
        for value in ("dict", "text", "list")
        for name in ("__class__", "upper", "items", "keys", "raw", "__doc__")
    ],
)
def test_dicts_strings_and_lists_have_no_names_but_their_keys_and_indexes(path):
    _renders_nothing(path)


def test_a_method_named_as_a_section_renders_nothing_rather_than_failing():
    assert (
        render("[{{#variables.title.upper}}x{{/variables.title.upper}}]", STATE) == "[]"
    )


def test_an_item_in_a_list_section_exposes_no_python_attributes():
    template = "{{#variables.flags}}[{{value}}{{real}}]{{/variables.flags}}"
    assert render(template, STATE) == "[][]"
    template = "{{#variables.counts}}[{{value}}{{real}}]{{/variables.counts}}"
    assert render(template, STATE) == "[][]"


def test_an_inverted_section_exposes_no_python_attributes_of_its_true():
    template = (
        "{{^variables.page-oncall}}[{{real}}{{__class__}}]{{/variables.page-oncall}}"
    )
    assert render(template, STATE) == "[]"


def test_a_string_is_not_indexed_by_character():
    assert render("[{{variables.title.0}}]", STATE) == "[]"


def test_a_path_into_a_number_renders_nothing_rather_than_failing():
    assert render("[{{variables.zero.0}}]", STATE) == "[]"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{variables.names.0}}|{{variables.names.2}}", "pay|ledger"),
        ("{{variables.rows.1.name}}", "b"),
        ("[{{variables.names.9}}|{{variables.names.x}}]", "[|]"),
        ("{{methods.keys}}|{{methods.items.0}}|{{{methods.upper}}}", "k|1|<U>"),
        ("{{#methods}}{{keys}}{{/methods}}", "k"),
        ("[{{variables.missing}}|{{variables.missing.deeper}}|{{nope}}]", "[||]"),
        (
            "{{#variables.rows}}{{#name}}{{name}}@{{variables.zero}}{{/name}}{{/variables.rows}}",
            "b@0",
        ),
        ("{{#variables.names}}[{{.}}]{{/variables.names}}", "[pay][][ledger]"),
        ("{{{variables.title}}}", 'Tom & "Jerry" <3'),
    ],
)
def test_keys_list_indexes_and_enclosing_scopes_still_resolve(template, expected):
    state = {**STATE, "methods": {"keys": "k", "items": [1], "upper": "<U>"}}
    assert render(template, state) == expected
