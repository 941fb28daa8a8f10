"""Mustache over the run state, as Cortex descriptors use it.

`{{a.b}}` is HTML-escaped, `{{{a.b}}}` is raw, sections work, and paths may hold
hyphens (`actions.collect-inputs.outputs.tag`). Objects, lists and booleans
render as JSON (`{"a": 1}`, `true`), not as Python reprs.

Templates are written by workflow authors, so they reach only the state: a name
is a dict key or a list index (`items.0`), never a Python attribute or method
(`{{title.upper}}`, `{{x.__class__}}` render nothing, as a missing key does),
and a partial (`{{>name}}`) renders nothing, as a partial that isn't found does
in Cortex: no file is ever read.
"""

import importlib.util
import json
import re
from typing import Any

import chevron
from chevron.tokenizer import tokenize

from workflows.paths import list_index


class _JsonDict(dict):
    raw: dict

    def __str__(self) -> str:
        return json.dumps(self.raw, separators=(",", ":"), default=str)


class _JsonList(list):
    raw: list

    def __str__(self) -> str:
        return json.dumps(self.raw, separators=(",", ":"), default=str)

    def __iter__(self):
        # chevron renders a list section once per item but skips an item
        # that is falsy (false, "", 0): hand it those wrapped, truthy.
        # Indexing (`{{list.0}}`) still gets the value itself.
        return (v if v else _Item(v) for v in super().__iter__())


class _Item:
    """A falsy list item, truthy so that its section renders; prints as itself."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __str__(self) -> str:
        return str(self.value)


class _JsonBool:
    __slots__ = ("value",)
    # chevron prints a falsy value as "" unless it carries this:
    _CHEVRON_return_scope_when_falsy = True

    def __init__(self, value: bool):
        self.value = value

    def __bool__(self) -> bool:
        return self.value

    def __str__(self) -> str:
        return "true" if self.value else "false"


def _wrap(value: Any) -> Any:
    if isinstance(value, bool):
        return _JsonBool(value)
    if isinstance(value, dict):
        wrapped = _JsonDict({k: _wrap(v) for k, v in value.items()})
    elif isinstance(value, list | tuple):
        wrapped = _JsonList(_wrap(v) for v in value)
    else:
        return "" if value is None else value
    wrapped.raw = value
    return wrapped


def _get_key(key: str, scopes: list, warn: bool = False) -> Any:
    """chevron's lookup of a tag's name in the scopes (innermost first), except
    that each dotted part is only a dict key or a list index: chevron's falls
    back to getattr, which reached methods, `__class__` and our wrappers' fields.
    """
    if key == ".":
        # A falsy list item is itself again inside its section: {{#.}} on
        # false renders nothing, {{^.}} renders.
        top = scopes[0]
        return top.value if isinstance(top, _Item) else top
    parts = key.split(".")
    for scope in scopes:
        for part in parts:
            if isinstance(scope, dict):
                try:
                    scope = scope[part]
                except KeyError:
                    break
            elif isinstance(scope, list):
                # As JavaScript indexes: "1", not "-1" (Python's last item),
                # " 1", "1_0" or "01".
                index = list_index(part, len(scope))
                if index is None:
                    break
                scope = scope[index]
            else:
                break
        else:
            # As chevron: 0 and false print as themselves, other falsy values as
            # "", except [] and {}, which print as JSON like any list or object
            # (a section over them still renders nothing: they are falsy).
            if scope in (0, False) or isinstance(
                scope, _JsonBool | _JsonList | _JsonDict
            ):
                return scope
            return scope or ""
    return ""


def _no_partial(name: str, *args: Any) -> str:
    return ""


def _tokenize(template: str, *args: str):
    """chevron's tokens, refusing a `{{{x}}` (closed with `}}`): chevron reads it
    as a tag of no known kind and renders nothing where the author meant a value.
    (After a `{{=<% %>=}}`, which chevron can't read `{x}` in either, it is left be.)"""
    delimited = False
    for tag, key in tokenize(template, *args):
        delimited = delimited or tag == "set delimiter"
        if tag == "no escape?" and not delimited:
            raise chevron.ChevronError(
                f"the tag {{{{{{{key}}}}} is closed with }}}} instead of }}}}}}"
            )
        yield tag, key


def _renderer(*, escape: bool = True):
    """A copy of chevron's renderer of our own, its lookup and partial loading
    replaced (and without escape, its HTML escaping): patching chevron.renderer
    would change chevron for everyone."""
    origin = importlib.util.find_spec("chevron.renderer").origin
    name = "chevron._cairn_renderer" + ("" if escape else "_plain")
    spec = importlib.util.spec_from_file_location(name, origin)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    replacements = [
        ("_get_key", _get_key),
        ("_get_partial", _no_partial),
        ("tokenize", _tokenize),
    ]
    if not escape:
        replacements.append(("_html_escape", str))
    for name, replacement in replacements:
        if not callable(getattr(module, name, None)):
            raise ImportError(f"chevron.renderer has no {name} to replace")
        setattr(module, name, replacement)
    return module


_chevron = _renderer()
# For text a page escapes itself (a form's labels): {{x}} as {{{x}}}.
_chevron_plain = _renderer(escape=False)


class TemplateError(ValueError):
    """A template that doesn't parse (an unclosed section…), explained."""


def template_problem(template: str) -> str | None:
    """Why the template doesn't parse, or None."""
    try:
        for _ in _tokenize(template):
            pass
    except chevron.ChevronError as exc:
        return _explain(exc)
    return None


def _explain(exc: chevron.ChevronError) -> str:
    """chevron's parse error in a sentence, without its line numbers (which are
    off by one)."""
    text = str(exc)
    names = re.findall(r'"([^"]*)"', text)
    if "never closed" in text and names:
        return f'the section "{names[0]}" is never closed with {{{{/{names[0]}}}}}'
    if "not opened" in text and names:
        return f"{{{{/{names[0]}}}}} closes a section that was never opened"
    if "last open tag" in text and len(names) > 1:
        return f'{{{{/{names[0]}}}}} closes a section while "{names[1]}" is open'
    if "unclosed tag" in text:
        return "a tag opened with {{ is never closed with }}"
    return text.splitlines()[0]


def render(template: str, state: dict, *, escape: bool = True) -> str:
    if not isinstance(template, str) or "{{" not in template:
        return template
    renderer = _chevron if escape else _chevron_plain
    try:
        return renderer.render(template, _wrap(state), partials_path=None, warn=False)
    except chevron.ChevronError as exc:
        raise TemplateError(
            f"A template is not valid Mustache: {_explain(exc)}"
        ) from None


def render_value(value: Any, state: dict) -> Any:
    """Render every string inside value (dicts and lists recursively)."""
    if isinstance(value, str):
        return render(value, state)
    if isinstance(value, dict):
        return {k: render_value(v, state) for k, v in value.items()}
    if isinstance(value, list):
        return [render_value(v, state) for v in value]
    return value
