"""Safe YAML as Cortex reads it: dates stay text, and bad input is a YAMLError.

JSON has no date type and Cortex (Jackson) reads `2024-05-01` as the string
it is written as, so the timestamp resolver is dropped. Other things PyYAML
can build that JSON can't store (`!!binary`, `!!set`) are left to
portal.storable to refuse with a message naming where they are, and so is an
integer longer than Python converts (kept as a storable.LongNumber). Input
nested so deep that PyYAML's recursive composer overflows is a YAMLError like
any other bad YAML, not a crash.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

import yaml

from portal.storable import LongNumber, too_long


class Loader(yaml.SafeLoader):
    pass


Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def construct_int(loader: Loader, node: yaml.ScalarNode) -> int | LongNumber:
    """An integer; one too long for Python is left for check_storable to name."""
    if too_long(node.value.replace("_", "")):
        return LongNumber(node.value)
    return loader.construct_yaml_int(node)


Loader.add_constructor("tag:yaml.org,2002:int", construct_int)


class StrictLoader(Loader):
    """Loader for what people write by hand (workflow descriptors, API bodies):
    keys are strings and appear once, and unquoted yes, no, on and off are
    their text, as in YAML 1.2 (YAML 1.1 made `name: no` false)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, str):
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"keys must be strings, not {key!r}",
                        key_node.start_mark,
                    )
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def construct_bool(loader: Loader, node: yaml.ScalarNode) -> bool | str:
    if node.value.lower() in ("true", "false"):
        return loader.construct_yaml_bool(node)
    return loader.construct_scalar(node)  # yes, no, on, off: their text


StrictLoader.add_constructor("tag:yaml.org,2002:bool", construct_bool)


@contextmanager
def _as_yaml_errors():
    try:
        yield
    except RecursionError:
        raise yaml.YAMLError("the YAML is nested too deeply") from None
    except (
        ValueError
    ) as exc:  # "Exceeds the limit (4300 digits) for integer string conversion"
        raise yaml.YAMLError(str(exc)) from None


def load(text: str, loader: type[Loader] = Loader) -> Any:
    """The one document in text."""
    with _as_yaml_errors():
        return yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader


def load_all(text: str, loader: type[Loader] = Loader) -> list[Any]:
    """Every document in text, in order."""
    with _as_yaml_errors():
        return list(yaml.load_all(text, Loader=loader))  # noqa: S506
