"""Reference paths into the run state, and declared variable types.

A reference path is what SET_VARIABLES sources and input overrides use:
dotted, without braces or a leading dot, segments may hold hyphens, and a
number indexes a list: `actions.get-entity.outputs.body.items.0.tag`, or
`items[0].tag` as in JavaScript and JQ.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from workflows.blocks.base import BlockFailed

VARIABLE_TYPES = (
    "STRING",
    "NUMBER",
    "BOOLEAN",
    "OBJECT",
    "ARRAY_OF_STRING",
    "ARRAY_OF_NUMBER",
    "ARRAY_OF_BOOLEAN",
    "ARRAY_OF_OBJECT",
)


class PathNotFound(BlockFailed, LookupError):
    """The path names nothing in the run state (a BlockFailed, so blocks can let it fail the step)."""


def lookup(state: dict, path: str) -> Any:
    """The value at `path` in state; raises PathNotFound.

    A value that is present but null is found (None); a path that runs through
    a null, a missing key or an index past the end of a list is not.
    Tolerates `{{…}}` around the path and a leading dot.
    """
    cleaned = clean_path(path)
    if not cleaned:
        raise PathNotFound("the reference path is empty")
    value: Any = state
    for part in cleaned.split("."):
        for segment in _segments(part, value):
            if isinstance(value, dict) and segment in value:
                value = value[segment]
            elif (
                isinstance(value, list) and list_index(segment, len(value)) is not None
            ):
                value = value[list_index(segment, len(value))]
            else:
                raise PathNotFound(f"path '{cleaned}' not found in the run state")
    return value


_INDEXED = re.compile(r"([^\[\]]*)((?:\[[0-9]+\])+)")


def _segments(path: str, value: Any) -> list[str]:
    """`items[1][0]` -> items, 1, 0: a part in that form is split unless the
    value it is looked up in has it as a key."""
    match = _INDEXED.fullmatch(path)
    if match is None or (isinstance(value, dict) and path in value):
        return [path]
    return ([match[1]] if match[1] else []) + re.findall(r"[0-9]+", match[2])


def list_index(segment: str, length: int) -> int | None:
    """A list index as JavaScript reads one from text: digits, no leading zero
    (`01` is no index), below the list's length; else None."""
    if not (segment.isascii() and segment.isdigit()):
        return None
    if len(segment) > 1 and segment[0] == "0":
        return None
    index = int(segment)
    return index if index < length else None


def clean_path(path: Any) -> str:
    """The path without `{{…}}` around it or a leading dot."""
    if not isinstance(path, str):
        return ""
    text = path.strip()
    if text.startswith("{{") and text.endswith("}}"):
        text = text.strip("{}&").strip()
    return text.removeprefix(".")


_SCALARS = {
    "STRING": lambda v: isinstance(v, str),
    "NUMBER": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "BOOLEAN": lambda v: isinstance(v, bool),
    "OBJECT": lambda v: isinstance(v, dict),
}


def from_text(value: Any, var_type: str) -> Any:
    """A form's value read for a variable of `var_type`: "80" for a NUMBER is
    80, "true" for a BOOLEAN is true, a number or true/false for a STRING its
    text, and blank is null for any but a STRING; anything else is returned as
    it is, for check_type to judge."""
    if var_type == "STRING":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return json.dumps(value)
        return value
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return None
    if var_type == "BOOLEAN" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if var_type == "NUMBER":
        try:  # JSON's numbers: not NaN, nor what a double can't hold (1e400)
            number = json.loads(text, parse_constant=_refuse)
        except ValueError:
            return value
        if (
            isinstance(number, int | float)
            and not isinstance(number, bool)
            and math.isfinite(number)
        ):
            return number
    return value


def _refuse(name: str):
    raise ValueError(name)


def check_type(value: Any, var_type: str) -> str | None:
    """None if value fits a declared variable type, else why not ("must be NUMBER, got 'abc'").

    null fits every type: a variable without a value is null (Cortex).
    """
    if var_type not in VARIABLE_TYPES:
        return f"has unknown type '{var_type}'"
    if value is None:
        return None
    if var_type in _SCALARS:
        return (
            None
            if _SCALARS[var_type](value)
            else f"must be {var_type}, got {show(value)}"
        )
    if not isinstance(value, list):
        return f"must be {var_type}, got {show(value)}"
    fits = _SCALARS[var_type.removeprefix("ARRAY_OF_")]
    for index, item in enumerate(value):
        if not fits(item):
            return (
                f"must be {var_type}, got {show(value)} (item {index} is {show(item)})"
            )
    return None


def show(value: Any, limit: int = 60) -> str:
    """A value for an error message: 'text', 12, true, {"a":1}.

    A longer one is described, never cut: a cut secret would escape the
    engine's verbatim masking.
    """
    if isinstance(value, str):
        text = f"'{value}'"
    else:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    if len(text) <= limit:
        return text
    if isinstance(value, str):
        return f"a string of {len(value)} characters"
    if isinstance(value, dict):
        return f"an object with {len(value)} keys"
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    return f"a {type(value).__name__} value"
