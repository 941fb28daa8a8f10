"""Mustache over the run state, as Cortex descriptors use it.

`{{a.b}}` is HTML-escaped, `{{{a.b}}}` is raw, sections work, and paths may hold
hyphens (`actions.collect-inputs.outputs.tag`). Objects, lists and booleans
render as JSON (`{"a": 1}`, `true`), not as Python reprs.
"""

import json
from typing import Any

import chevron


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


def render(template: str, state: dict) -> str:
    if not isinstance(template, str) or "{{" not in template:
        return template
    return chevron.render(template, _wrap(state), warn=False)


def render_value(value: Any, state: dict) -> Any:
    """Render every string inside value (dicts and lists recursively)."""
    if isinstance(value, str):
        return render(value, state)
    if isinstance(value, dict):
        return {k: render_value(v, state) for k, v in value.items()}
    if isinstance(value, list):
        return [render_value(v, state) for v in value]
    return value
