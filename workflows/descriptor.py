"""Parse, validate and export Cortex workflow descriptors (YAML or JSON).

    tag: hello-world
    name: Hello world
    filter: {type: GLOBAL}
    actions:
      - name: Greet
        slug: greet
        isRootAction: true
        outgoingActions: []
        schema: {type: JQ, expression: '"Hello"'}

`validate()` checks a parsed descriptor against the component schemas of Cortex's
OpenAPI file (`workflows/schema/cortex-workflows-openapi.json`, kept unchanged) plus
Cairn's additions (`CAIRN_SCHEMAS`, `NESTED_FORM_FIELD`, approval options), then
checks the block graph. It collects every problem and raises one DescriptorError
whose `.errors` each say where: `actions['create-entity'].schema.url: is required`.
An item of a list is named by its slug (actions, variables, branches) or key
(inputs) when it has a usable one, else by its index: `actions[2].slug`.

Decisions:

- Fields Cortex marks required but its own descriptors leave out get defaults:
  `description: ""`, `isDraft: false`, `isRunnableViaApi: false`, `variables: []`,
  `runRestrictionPolicies: []`, `restrictActionCompletionToRunnerUser: false`; an
  ENTITY filter without `ownershipScope` gets `ALL` (Cortex's own
  trigger-github-release.yaml has a bare `filter: {type: ENTITY}`). In blocks,
  `inputOverrides: []`, `headers: {}` and a GITHUB_CREATE_OR_UPDATE_FILE's
  `alias: ""` (the default integration); in inputs and overrides, the booleans
  Cortex documents as "Defaults to `false`" (`allowMultiple`,
  `allowAdditionalOptions`, `shouldDisplayOptionsAsHierarchy`, `disabled`,
  `editable`).
- A key whose value is null is absent (`jsValidatorScript: null`). Free-form JSON
  values are kept as written, nulls included: `defaultValue`, the `inputs` of
  ADVANCED_HTTP_REQUEST and AWS blocks, the `fields` of JIRA_CREATE_ISSUE.
- Scalars are read as Cortex reads them with Jackson (its OpenAPI file names
  Jackson's `JsonNode` type), which coerces them: a number or
  true/false where the schema wants a string is its text, as written
  (`options: [3.9, 3.10]` → "3.9", "3.10"; `accountId: 123456789012`, which
  Cortex's YAML export leaves unquoted); "300" where it wants a number is 300,
  "true"/"false" where it wants a boolean is true/false. Free-form JSON keeps what
  it holds; a list or mapping there, or other text, is still an error. (A YAML
  `yes` read as true becomes "true".)
- Unknown keys are kept: Cortex adds fields over time (`integration`, `type:
  CONDITIONAL` on branches), and a descriptor must import unchanged.
- The tag, action and variable slugs and input keys are letters, digits, `-` and
  `_`: templates use them in paths (`actions.collect-inputs.outputs.region`).
- The graph: exactly one root; every `outgoingActions` entry, `joiningAction` and
  branch target names an action (a branch target must also be in its block's
  `outgoingActions`); a block other than CONDITIONAL_BRANCH continues to at most
  one action; no cycles; every action is reachable from the root (an unreachable
  block is an error, not a warning: it can never run, so it is a mistake).
- JQ expressions, CEL branch expressions and `validationRegex` patterns must
  compile, so a typo fails on save rather than in the middle of a run.
- Keys come back in one fixed order (Cortex's fields in the order its exports use,
  any others after them alphabetically), so an export reads the same whatever
  database stored the descriptor. Free-form values (an ADVANCED_HTTP_REQUEST's
  `inputs`, a `defaultValue`, an `entityFilter`) keep the order they were stored in.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import re
from collections import Counter
from collections.abc import Iterable
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import regex
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from portal import yamlload
from portal.storable import LongNumber, Unstorable, check_storable, read_int
from workflows.blocks import BLOCK_TYPES

SCHEMA_FILE = (
    Path(__file__).resolve().parent / "schema" / "cortex-workflows-openapi.json"
)
_SCHEMA_URI = "urn:cairn:cortex-workflows-openapi"
_REF = "#/components/schemas/"

# Tags, slugs and keys appear in template paths (`actions.<slug>.outputs.<key>`):
SLUG_RE = re.compile(r"^[A-Za-z0-9_-]+$")
# Paths under /workflows/ and /api/v1/workflows/ that a tag would hide (urls.py):
RESERVED_TAGS = frozenset({"new", "runs", "notifications", "validate"})
MAX_TAG = MAX_NAME = 200  # the columns of workflows.models.Workflow
MAX_BYTES = 1_000_000
MAX_NODES = 200_000  # values in a parsed descriptor; stops YAML alias bombs
# Checking a descriptor compiles each block's JQ (2 ms each, whatever its
# size) and CEL (about 0.1 ms a token): these keep the worst a request can ask
# of a web worker to a few seconds, far above what real workflows use.
MAX_ACTIONS = 500
# Inputs whose default is checked without the database (fixed_default):
_PLAIN_INPUTS = frozenset(
    {
        "INPUT_FIELD",
        "TEXTAREA_FIELD",
        "NUMBER_FIELD",
        "SELECT_FIELD",
        "MULTISELECT_FIELD",
        "DATE_FIELD",
        "TOGGLE_FIELD",
    }
)
MAX_CEL_CHARS = 10_000  # all the branch expressions of a workflow together

# Unions whose member validate() picks by `type` (Cortex's discriminators):
_UNIONS = (
    "WorkflowActionSchema",
    "WorkflowInput",
    "InputOverride",
    "VariableSource",
    "WorkflowFilter",
)
_OVERRIDES = {"OPTION": "Option", "VALUE": "Value"}
_SOURCES = {"REFERENCE": "Reference", "JAVASCRIPT": "JavaScript"}
_FILTERS = ("GLOBAL", "ENTITY")

# Cairn's additions to Cortex's component schemas. Cortex lists NESTED_FORM_FIELD
# among input types without publishing its schema; this is DESIGN.md's shape.
CAIRN_SCHEMAS: dict[str, dict] = {
    "WorkflowInput.NESTED_FORM_FIELD": {
        "title": "NESTED_FORM_FIELD",
        "required": ["dataType", "key", "name", "required", "type"],
        "type": "object",
        "allOf": [
            {"$ref": _REF + "WorkflowInput"},
            {
                "type": "object",
                "properties": {
                    "key": {"type": "string"},
                    "name": {"type": "string"},
                    "required": {"type": "boolean"},
                    "description": {"type": "string"},
                    "dataType": {"type": "string", "enum": ["STRING", "OBJECT"]},
                    "inputs": {
                        "type": "array",
                        "description": "The sub-form of each row (dataType OBJECT)",
                        "items": {"$ref": _REF + "WorkflowInput"},
                    },
                    "minRows": {"type": "integer", "minimum": 0},
                    "maxRows": {"type": "integer", "minimum": 1},
                    "defaultValue": {"type": "array"},
                    "type": {"type": "string"},
                },
            },
        ],
    },
}
_NOT_BLANK = r"\S"
_APPROVAL_OPTIONS = {
    "type": "object",
    "properties": {
        "approvingTeamIds": {"minItems": 1, "items": {"pattern": _NOT_BLANK}},
        # A run can't wait for more approvals than any team has people:
        "requiredApprovals": {"type": "integer", "minimum": 1, "maximum": 1000},
        "preventSelfApproval": {"type": "boolean"},
        "timeoutInSeconds": {"type": "integer", "minimum": 1},
    },
}


# Blocks whose fields are not Mustache-rendered: code, expressions and form
# definitions may hold "{{" of their own.
_UNRENDERED_BLOCKS = frozenset(
    {
        "JQ",
        "JAVASCRIPT",
        "CONDITIONAL_BRANCH",
        "SET_VARIABLES",
        "USER_INPUT",
        "SCAFFOLDER",
    }
)

_TOP_DEFAULTS = {
    "description": "",
    "isDraft": False,
    "isRunnableViaApi": False,
    "variables": [],
    "runRestrictionPolicies": [],
    "restrictActionCompletionToRunnerUser": False,
}
# Kept by the server, not by whoever sends the descriptor (Cortex's API docs show
# them in a request's example): a value sent would be stored and shown as if
# it were when the workflow was made or changed.
_SERVER_KEPT = ("createdAt", "lastUpdatedAt")
_SCHEMA_DEFAULTS = {
    "USER_INPUT": {"inputOverrides": []},
    "SCAFFOLDER": {"inputOverrides": []},
    "HTTP_REQUEST": {"headers": {}},
    "HTTP_REQUEST_ASYNC": {"headers": {}},
    # Empty for the workspace's default GitHub integration; Cortex's own
    # functional-test template writes `alias: null`, as `integrationAlias: null`:
    "GITHUB_CREATE_OR_UPDATE_FILE": {"alias": ""},
}
_INPUT_DEFAULTS = {
    "SELECT_FIELD": {"allowAdditionalOptions": False},
    "MULTISELECT_FIELD": {"allowAdditionalOptions": False},
    "CORTEX_ENTITY_FIELD": {
        "allowMultiple": False,
        "shouldDisplayOptionsAsHierarchy": False,
    },
    "CORTEX_USER_FIELD": {"allowMultiple": False},
    "SLACK_FIELD": {"allowMultiple": False},
    "SECRET_FIELD": {"disabled": False},
    "NUMBER_FIELD": {"disabled": False},
    "DATE_FIELD": {"disabled": False},
}
_FREE_FORM = {
    "ADVANCED_HTTP_REQUEST": ("inputs",),
    "AWS": ("inputs",),
    "JIRA_CREATE_ISSUE": ("fields",),
}

_ORDER = {
    "top": (
        "tag",
        "name",
        "description",
        "isDraft",
        "isRunnableViaApi",
        "iconTag",
        "filter",
        "runRestrictionPolicies",
        "restrictActionCompletionToRunnerUser",
        "variables",
        "runResponseTemplate",
        "failedRunResponseTemplate",
        "actions",
    ),
    "filter": ("type", "ownershipScope", "entityFilter"),
    "variable": ("slug", "type", "description", "defaultValue"),
    "action": ("name", "slug", "isRootAction", "outgoingActions", "schema"),
    "input": (
        "name",
        "key",
        "type",
        "description",
        "required",
        "placeholder",
        "defaultValue",
        "options",
        "optionsLabels",
        "allowAdditionalOptions",
        "allowMultiple",
        "format",
        "min",
        "max",
        "disabled",
        "validationRegex",
        "entityFilter",
        "filter",
        "dataType",
        "minRows",
        "maxRows",
        "inputs",
    ),
    "override": ("type", "inputKey", "outputVariable", "editable"),
    "branch": ("name", "slug", "type", "expression", "outgoingAction"),
    "assignment": ("slug", "source"),
    "source": ("type", "path", "script"),
}

# A block's fields, after `type`, as Cortex's exports and docs list them:
_SCHEMA_ORDER = {
    "USER_INPUT": ("inputs", "inputOverrides", "jsValidatorScript"),
    "MANUAL_APPROVAL": (
        "approvingTeamIds",
        "approverDescription",
        "requiredApprovals",
        "preventSelfApproval",
        "timeoutInSeconds",
    ),
    "HTTP_REQUEST": (
        "httpMethod",
        "url",
        "integration",
        "integrationAlias",
        "headers",
        "payload",
    ),
    "HTTP_REQUEST_ASYNC": (
        "httpMethod",
        "url",
        "integration",
        "integrationAlias",
        "headers",
        "payload",
        "timeoutInSeconds",
    ),
    "ADVANCED_HTTP_REQUEST": ("actionIdentifier", "integrationAlias", "inputs"),
    "JQ": ("expression",),
    "JAVASCRIPT": ("script",),
    "CONDITIONAL_BRANCH": ("branches", "fallbackBranch", "joiningAction"),
    "SET_VARIABLES": ("variables",),
    "SLACK": ("channel", "message"),
    "MS_TEAMS_SEND_MESSAGE": ("teamId", "channelId", "message"),
    "GITHUB_CREATE_OR_UPDATE_FILE": (
        "alias",
        "repositoryName",
        "path",
        "content",
        "commitMessage",
        "branch",
        "author",
        "committer",
    ),
    "PAGERDUTY_CREATE_INCIDENT": (
        "serviceId",
        "title",
        "body",
        "fromEmail",
        "urgency",
        "incidentTypeName",
    ),
    "JIRA_CREATE_ISSUE": (
        "alias",
        "projectKey",
        "issueType",
        "issueSummary",
        "description",
        "labels",
        "components",
        "assignee",
        "reporter",
        "priority",
        "fields",
    ),
}

_VARIABLE_TYPES = {
    "STRING": (lambda v: isinstance(v, str), "a string"),
    "NUMBER": (lambda v: _is_number(v), "a number"),
    "BOOLEAN": (lambda v: isinstance(v, bool), "true or false"),
    "OBJECT": (lambda v: isinstance(v, dict), "a mapping"),
    "ARRAY_OF_STRING": (
        lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v),
        "a list of strings",
    ),
    "ARRAY_OF_NUMBER": (
        lambda v: isinstance(v, list) and all(_is_number(i) for i in v),
        "a list of numbers",
    ),
    "ARRAY_OF_BOOLEAN": (
        lambda v: isinstance(v, list) and all(isinstance(i, bool) for i in v),
        "a list of true/false values",
    ),
    "ARRAY_OF_OBJECT": (
        lambda v: isinstance(v, list) and all(isinstance(i, dict) for i in v),
        "a list of mappings",
    ),
}
_TYPE_WORDS = {
    "string": "a string",
    "boolean": "true or false",
    "integer": "a whole number",
    "number": "a number",
    "array": "a list",
    "object": "a mapping",
    "null": "null",
}


class DescriptorError(ValueError):
    """A descriptor that can't be saved; `.errors` lists every problem, each naming where."""

    def __init__(self, errors: str | Iterable[str]):
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        super().__init__("\n".join(self.errors))


# Parsing


class _Loader(yamlload.StrictLoader):
    """Safe YAML (dates kept as strings) that refuses duplicate or non-string
    keys, and keeps the text a number was written as (below)."""


class _Int(int):
    """A number read from a descriptor's text, with the text it was written as.

    Cortex reads a number where it expects a string as the number's text (Jackson),
    so `options: [3.9, 3.10]` are "3.9" and "3.10"; validate() needs the text for
    that, then returns plain numbers.
    """

    text: str


class _Float(float):
    __doc__ = _Int.__doc__
    text: str


def _written(cls: type, value: Any, text: str) -> Any:
    number = cls(value)
    number.text = text
    return number


def _yaml_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    number = yamlload.construct_int(loader, node)
    return (
        number if isinstance(number, LongNumber) else _written(_Int, number, node.value)
    )


def _json_int(text: str) -> int:
    number = read_int(text)
    return number if isinstance(number, LongNumber) else _written(_Int, number, text)


def _yaml_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> float:
    return _written(_Float, loader.construct_yaml_float(node), node.value)


_Loader.add_constructor("tag:yaml.org,2002:int", _yaml_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _yaml_float)


class _Word(str):
    """yes, no, on or off, unquoted in YAML: YAML 1.1 reads them as true or
    false, so `region: no` became "false" and `slug: yes` "true". Here they are
    their text, and a boolean field still takes them (_as_jackson_reads)."""

    meaning: bool


def _yaml_bool(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> bool | str:
    value = loader.construct_yaml_bool(node)
    if node.value.lower() in ("true", "false"):
        return value
    word = _Word(node.value)
    word.meaning = value
    return word


_Loader.add_constructor("tag:yaml.org,2002:bool", _yaml_bool)


def _json_object(pairs: list[tuple[str, Any]]) -> dict:
    data = dict(pairs)
    if len(data) < len(pairs):
        seen: set[str] = set()
        duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"duplicate key {duplicate!r}")
    return data


def parse(text: str | bytes, *, said_yaml: bool = False) -> dict:
    """The descriptor in a YAML or JSON text (a leading BOM is fine). Text that
    starts like JSON is read as JSON first; if it isn't, the YAML reader's
    problem is reported when the sender `said_yaml` (its Content-Type), else
    the JSON reader's.

    Raises DescriptorError("invalid YAML: line N, column M: …") when the text isn't
    YAML, and when it holds something other than one mapping. Nothing is validated
    beyond that: call validate() on the result. Numbers in the result remember
    how they were written (validate() reads one as text where Cortex wants text).
    """
    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            raise DescriptorError(f"the descriptor is larger than {MAX_BYTES} bytes")
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise DescriptorError("the descriptor is not UTF-8 text") from None
    text = text.removeprefix("\ufeff")
    if len(text) > MAX_BYTES:
        raise DescriptorError(f"the descriptor is larger than {MAX_BYTES} bytes")
    if not text.strip():
        raise DescriptorError("the descriptor is empty")

    data, loaded, json_problem = None, False, None
    if text.lstrip()[:1] in "{[":
        # Strict JSON first: PyYAML reads YAML 1.1, which differs from JSON in corners
        # (tabs between tokens). `{tag: x}` is YAML flow style, not JSON, so fall back.
        try:
            data = json.loads(
                text,
                object_pairs_hook=_json_object,
                parse_int=_json_int,
                parse_float=lambda t: _written(_Float, float(t), t),
            )
            loaded = True
        except json.JSONDecodeError as exc:
            if not said_yaml:
                json_problem = (
                    f"invalid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}"
                )
        except ValueError as exc:
            raise DescriptorError(f"invalid JSON: {exc}") from None
        except RecursionError:
            raise DescriptorError("invalid JSON: nested too deeply") from None
    if not loaded:
        try:
            data = yamlload.load(text, _Loader)
        except yaml.composer.ComposerError as exc:
            # One descriptor a file, but an empty document around it (a
            # trailing `---`, as generators and editors leave) is no other one.
            documents = [d for d in _all_documents(text) if d is not None]
            if len(documents) != 1:
                raise DescriptorError(json_problem or _yaml_problem(exc)) from None
            data = documents[0]
        except yaml.MarkedYAMLError as exc:
            raise DescriptorError(json_problem or _yaml_problem(exc)) from None
        except yaml.YAMLError as exc:
            raise DescriptorError(json_problem or f"invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise DescriptorError(
            "the descriptor must be a mapping with tag, name, filter and actions"
        )
    _check_size(data)
    return data


def _all_documents(text: str) -> list:
    try:
        return yamlload.load_all(text, _Loader)
    except yaml.YAMLError:  # bad YAML further on: the first error is the one said
        return []


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or "not valid YAML"
    if exc.context and exc.problem:
        problem = f"{problem} ({exc.context})"
    if mark is None:
        return f"invalid YAML: {problem}"
    return f"invalid YAML: line {mark.line + 1}, column {mark.column + 1}: {problem}"


def _check_size(data: Any) -> None:
    """Refuse what the database can't store, huge structures (YAML aliases can
    expand a small file) and deep ones (validation recurses)."""
    try:
        check_storable(data, "descriptor", max_values=MAX_NODES)
    except Unstorable as exc:
        raise DescriptorError(str(exc)) from None


# Schemas


@functools.cache
def _schemas() -> dict[str, dict]:
    document = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    schemas = copy.deepcopy(document["components"]["schemas"])
    # A union's members refer back to it with allOf, and validate() picks the member
    # by `type` itself, so the union keeps only its `type` (no oneOf, no recursion):
    for name in _UNIONS:
        schemas[name] = {
            "type": "object",
            "required": ["type"],
            "properties": {"type": {"type": "string"}},
        }
    # The generator wrote JsonNode as "object"; Cortex takes any JSON value there
    # (`dryRun: false` in ADVANCED_HTTP_REQUEST inputs, a variable's default "").
    schemas["JsonNode"] = {}
    schemas["VariableAssignment"]["properties"]["source"] = {
        "$ref": _REF + "VariableSource"
    }
    schemas.update(copy.deepcopy(CAIRN_SCHEMAS))
    schemas["WorkflowActionSchema.MANUAL_APPROVAL"]["allOf"].append(_APPROVAL_OPTIONS)
    schemas["WorkflowActionSchema.HTTP_REQUEST_ASYNC"]["allOf"].append(
        {"properties": {"timeoutInSeconds": {"minimum": 1}}}
    )
    return schemas


@functools.cache
def _registry() -> Registry:
    resource = Resource.from_contents(
        {"components": {"schemas": _schemas()}}, default_specification=DRAFT202012
    )
    return Registry().with_resource(_SCHEMA_URI, resource)


@functools.cache
def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(
        {"$ref": f"{_SCHEMA_URI}{_REF}{name}"}, registry=_registry()
    )


@functools.cache
def _schema_action_types() -> frozenset[str]:
    prefix = "WorkflowActionSchema."
    return frozenset(n.removeprefix(prefix) for n in _schemas() if n.startswith(prefix))


def _action_types() -> frozenset[str]:
    """Cortex's block types, and any Cairn runs beyond them (checked for `type` only)."""
    return _schema_action_types() | set(BLOCK_TYPES)


@functools.cache
def _input_types() -> tuple[str, ...]:
    prefix = "WorkflowInput."
    return tuple(n.removeprefix(prefix) for n in _schemas() if n.startswith(prefix))


# Normalisation


def _type_of(data: dict) -> str | None:
    """The `type` of a descriptor object, if it is a string (anything else is an error)."""
    kind = data.get("type")
    return kind if isinstance(kind, str) else None


def _without_nulls(value: Any) -> Any:
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    if not isinstance(value, dict):
        return value
    kept = ("defaultValue", *_FREE_FORM.get(_type_of(value), ()))
    return {
        k: (v if k in kept else _without_nulls(v))
        for k, v in value.items()
        if v is not None
    }


def _ordered(data: Any, kind: str) -> Any:
    """Known keys in their order, then any others alphabetically.

    A fixed order, whatever order the keys came in, so exports of a descriptor read
    the same after a database (PostgreSQL's jsonb) has reordered them.
    """
    if not isinstance(data, dict):
        return data
    if kind == "schema":
        first = ("type", *_SCHEMA_ORDER.get(_type_of(data), ()))
    else:
        first = _ORDER[kind]
    return {k: data[k] for k in first if k in data} | {
        k: data[k] for k in sorted(data, key=str) if k not in first
    }


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _dicts(value: Any) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _normalise_input(item: dict) -> dict:
    for key, default in _INPUT_DEFAULTS.get(_type_of(item), {}).items():
        item.setdefault(key, copy.deepcopy(default))
    if isinstance(item.get("inputs"), list):
        item["inputs"] = [
            _ordered(_normalise_input(i), "input") if isinstance(i, dict) else i
            for i in item["inputs"]
        ]
    return item


def _normalise_schema(schema: dict) -> dict:
    block_type = _type_of(schema)
    for key, default in _SCHEMA_DEFAULTS.get(block_type, {}).items():
        schema.setdefault(key, copy.deepcopy(default))
    if block_type == "USER_INPUT" and isinstance(schema.get("inputs"), list):
        schema["inputs"] = [
            _ordered(_normalise_input(i), "input") if isinstance(i, dict) else i
            for i in schema["inputs"]
        ]
    if isinstance(schema.get("inputOverrides"), list):
        overrides = []
        for override in schema["inputOverrides"]:
            if isinstance(override, dict) and override.get("type") == "VALUE":
                override.setdefault("editable", False)
            overrides.append(_ordered(override, "override"))
        schema["inputOverrides"] = overrides
    if block_type == "CONDITIONAL_BRANCH":
        if isinstance(schema.get("branches"), list):
            schema["branches"] = [_ordered(b, "branch") for b in schema["branches"]]
        if "fallbackBranch" in schema:
            schema["fallbackBranch"] = _ordered(schema["fallbackBranch"], "branch")
    if block_type == "SET_VARIABLES" and isinstance(schema.get("variables"), list):
        assignments = []
        for assignment in schema["variables"]:
            if isinstance(assignment, dict) and "source" in assignment:
                assignment["source"] = _ordered(assignment["source"], "source")
            assignments.append(_ordered(assignment, "assignment"))
        schema["variables"] = assignments
    return _ordered(schema, "schema")


def _normalise(data: dict) -> dict:
    d = _without_nulls(copy.deepcopy(data))
    for key in _SERVER_KEPT:
        d.pop(key, None)
    for key, default in _TOP_DEFAULTS.items():
        d.setdefault(key, copy.deepcopy(default))
    if isinstance(d.get("filter"), dict):
        if d["filter"].get("type") == "ENTITY":
            d["filter"].setdefault("ownershipScope", "ALL")
        d["filter"] = _ordered(d["filter"], "filter")
    if isinstance(d.get("variables"), list):
        d["variables"] = [_ordered(v, "variable") for v in d["variables"]]
    if isinstance(d.get("actions"), list):
        actions = []
        for action in d["actions"]:
            if isinstance(action, dict) and isinstance(action.get("schema"), dict):
                action["schema"] = _normalise_schema(action["schema"])
            actions.append(_ordered(action, "action"))
        d["actions"] = actions
    return _ordered(d, "top")


# Validation


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, str):
        return "a string"
    if _is_number(value):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


# How often each slug and key occurs in the lists of the descriptor being
# checked (by the list's id, the list kept so its id stays its own): counting
# once per list, not once per item, keeps _label linear (8,000 actions took
# 47 s to count item by item).
_label_counts: ContextVar[dict[int, tuple[list, Counter]] | None] = ContextVar(
    "label_counts", default=None
)


def _counts(items: list) -> Counter:
    cache = _label_counts.get()
    if cache is not None and id(items) in cache:
        return cache[id(items)][1]
    counts = Counter(
        (field, item[field])
        for item in items
        if isinstance(item, dict)
        for field in ("slug", "key")
        if isinstance(item.get(field), str)
    )
    if cache is not None:
        cache[id(items)] = (items, counts)
    return counts


def _label(items: list, index: int) -> str:
    """An item's name in a path: its slug or key when that is usable and unique."""
    item = items[index]
    if isinstance(item, dict):
        for field in ("slug", "key"):
            value = item.get(field)
            if (
                isinstance(value, str)
                and SLUG_RE.match(value)
                and _counts(items)[(field, value)] == 1
            ):
                return value
    return str(index)


def _join(where: str, part: str | int, container: Any = None) -> str:
    if isinstance(part, int):
        label = _label(container, part) if isinstance(container, list) else str(part)
        # A slug is quoted (actions['notify']): Cortex's CLI prints messages
        # with rich, which takes [notify] for markup and drops it.
        return (
            f"{where}[{label}]"
            if label.isascii() and label.isdigit()
            else f"{where}['{label}']"
        )
    return f"{where}.{part}" if where else part


def _item(where: str, items: list, index: int) -> str:
    return _join(where, index, items)


def _text(value: bool | int | float) -> str:
    """A scalar as Jackson reads it into a string: as written, else its JSON form."""
    written = getattr(value, "text", None)
    if isinstance(written, str):
        return written
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
_NUMBER_TEXT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def _as_jackson_reads(expected: Any, value: Any) -> Any:
    """`value` as Cortex (Jackson) reads it into a field of JSON type `expected`,
    or None when it doesn't: a number or true/false as its text where a string is
    wanted, "300" where a number is, "true"/"false" where a boolean is."""
    wanted = set(expected) if isinstance(expected, list) else {expected}
    if "string" in wanted and isinstance(value, bool | int | float):
        return _text(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if "boolean" in wanted and isinstance(value, _Word):
        return value.meaning
    if "boolean" in wanted and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if wanted & {"integer", "number"} and _INTEGER_TEXT.fullmatch(text):
        return int(text)
    if "number" in wanted and _NUMBER_TEXT.fullmatch(text):
        number = float(text)
        return number if math.isfinite(number) else None
    return None


_JSON_TYPES = {"STRING": "string", "NUMBER": "number", "BOOLEAN": "boolean"}


def _default_as_typed(var_type: str, value: Any) -> Any:
    """A variable's defaultValue read for its type as Jackson reads scalars:
    "3" for a NUMBER is 3, "true" for a BOOLEAN is true (item by item in an
    ARRAY_OF_ one); anything else is left for the type check to judge."""
    wanted = _JSON_TYPES.get(var_type.removeprefix("ARRAY_OF_"))
    if wanted is None:
        return value
    if var_type.startswith("ARRAY_OF_"):
        if not isinstance(value, list):
            return value
        return [_default_as_typed(var_type.removeprefix("ARRAY_OF_"), v) for v in value]
    read = _as_jackson_reads(wanted, value)
    return value if read is None else read


def _read_scalars_as_jackson_does(
    validator: Draft202012Validator, instance: Any
) -> None:
    """Where the schema wants another scalar type than the one written, the value
    Cortex reads there (see _as_jackson_reads), in place.

    Cortex reads descriptors with Jackson, which coerces scalars so, and its YAML
    export writes numeric strings (an AWS account id, "3.10") unquoted. A list or
    mapping where a scalar is wanted, or text that isn't a number or true/false
    where one is wanted, stays an error.
    """
    for error in list(validator.iter_errors(instance)):
        path = error.path
        if error.validator != "type" or not path:
            continue
        read = _as_jackson_reads(error.validator_value, error.instance)
        if read is None:
            continue
        node = instance
        try:
            for part in list(path)[:-1]:
                node = node[part]
            if node[path[-1]] is error.instance:
                node[path[-1]] = read
        except (KeyError, IndexError, TypeError):
            continue


def _plain(value: Any) -> Any:
    """`value` with the numbers parse() read (which keep their text) as plain ones."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, _Int):
        return int(value)
    if isinstance(value, _Float):
        return float(value)
    if isinstance(value, _Word):
        return str(value)
    return value


def _templated_method(path: str, value: Any) -> bool:
    """An HTTP block's httpMethod given as Mustache (`{{variables.method}}`):
    Cortex's schema lists the methods, and Cairn also renders one."""
    return path.endswith(".httpMethod") and isinstance(value, str) and "{{" in value


class _Checker:
    def __init__(self, descriptor: dict):
        self.d = descriptor
        self.errors: list[str] = []
        self.declared: set[str] = set()  # variable slugs, once run() has read them
        self.scripts: list[tuple[str, str]] = []  # (where, JavaScript), checked last
        self.cel_chars = 0  # of the branch expressions compiled so far

    def add(self, where: str, message: str) -> None:
        self.errors.append(f"{where}: {message}" if where else message)

    # Structure, against the OpenAPI component schemas

    def schema(self, name: str, instance: Any, where: str) -> None:
        validator = _validator(name)
        _read_scalars_as_jackson_does(validator, instance)
        for error in validator.iter_errors(instance):
            path, node = where, instance
            for part in error.absolute_path:
                path = _join(path, part, node)
                try:
                    node = node[part]
                except (KeyError, IndexError, TypeError):
                    node = None
            self._schema_error(error, path)

    def _schema_error(self, error, path: str) -> None:
        rule, expected = error.validator, error.validator_value
        if rule == "required":
            match = re.match(r"^'(.*)' is a required property$", error.message)
            field = match.group(1) if match else str(expected)
            self.add(_join(path, field), "is required")
        elif rule == "type":
            types = [expected] if isinstance(expected, str) else expected
            wanted = " or ".join(_TYPE_WORDS.get(t, t) for t in types)
            self.add(path, f"must be {wanted}, not {_kind(error.instance)}")
        elif rule == "enum" and _templated_method(path, error.instance):
            pass  # rendered when the block runs; templates() checks the Mustache
        elif rule == "enum":
            choices = ", ".join(str(c) for c in expected)
            self.add(path, f"must be one of {choices} (not {error.instance!r})")
        elif rule == "minimum":
            self.add(path, f"must be at least {expected}")
        elif rule == "maximum":
            self.add(path, f"must be at most {expected}")
        elif rule == "pattern" and expected == _NOT_BLANK:
            self.add(path, "must not be blank")
        elif rule == "minItems":
            self.add(path, "must not be empty" if expected == 1 else error.message)
        elif rule == "uniqueItems":
            self.add(path, "must not list the same value twice")
        else:
            self.add(path, error.message)

    def union(self, instance: Any, where: str, members: dict[str, str], what: str):
        """Validate a member of a union picked by `type`; returns the type or None."""
        if not isinstance(instance, dict):
            return None
        kind = instance.get("type")
        if not isinstance(kind, str):
            return None  # the union's own schema reports it
        if kind not in members:
            choices = ", ".join(members)
            self.add(
                _join(where, "type"), f"unknown {what} {kind!r} (one of {choices})"
            )
            return None
        self.schema(members[kind], instance, where)
        return kind

    # The descriptor

    def run(self) -> None:
        d = self.d
        actions = d.get("actions")
        if isinstance(actions, list) and len(actions) > MAX_ACTIONS:
            self.add(
                "actions",
                f"{len(actions):,} actions; a workflow may have at most {MAX_ACTIONS}",
            )
            return  # checking each would take a long while
        self.schema("WorkflowDefinition", d, "")
        # After the schema pass, which may have read a slug written as a number:
        self.declared = {
            v["slug"]
            for v in _dicts(d.get("variables"))
            if isinstance(v.get("slug"), str)
        }
        self.tag_and_name()
        self.union(
            d.get("filter"),
            "filter",
            {t: f"WorkflowFilter.{t}" for t in _FILTERS},
            "filter type",
        )
        self.variables()
        for key in ("runResponseTemplate", "failedRunResponseTemplate"):
            self.templates(d.get(key), key)
        actions = d.get("actions")
        if isinstance(actions, list):
            # An empty list saves, as in Cortex (a stub to fill in later); such
            # a workflow can't be run (engine.start says so).
            for index, action in enumerate(actions):
                if isinstance(action, dict):
                    self.action(action, _item("actions", actions, index))
            self.graph(actions)
        self.javascript()

    def javascript(self) -> None:
        """Scripts that don't parse would fail every run: refuse them now."""
        scripts = [(w, s) for w, s in self.scripts if s.strip()]
        if not scripts:
            return
        from .js import syntax_errors

        for (where, _), error in zip(
            scripts, syntax_errors([s for _, s in scripts]), strict=True
        ):
            if error:
                self.add(where, f"is not valid JavaScript: {error}")

    def tag_and_name(self) -> None:
        tag, name = self.d.get("tag"), self.d.get("name")
        if isinstance(tag, str):
            if not SLUG_RE.match(tag):
                self.add(
                    "tag",
                    f"{tag!r} is not a valid tag (letters, digits, hyphens and underscores)",
                )
            elif len(tag) > MAX_TAG:
                self.add("tag", f"must be at most {MAX_TAG} characters")
            elif tag.isdigit():  # /workflows/{tagOrId} would find another workflow
                self.add(
                    "tag",
                    f"{tag!r} is only digits, which the API reads as a workflow's id; add a letter",
                )
            elif tag in RESERVED_TAGS:
                self.add(
                    "tag",
                    f"{tag!r} is reserved (a page and an API path use it); choose another tag",
                )
        if isinstance(name, str):
            if not name.strip():
                self.add("name", "must not be blank")
            elif len(name) > MAX_NAME:
                self.add("name", f"must be at most {MAX_NAME} characters")

    def variables(self) -> None:
        variables = self.d.get("variables")
        if not isinstance(variables, list):
            return
        first: dict[str, int] = {}
        for index, variable in enumerate(variables):
            if not isinstance(variable, dict):
                continue
            where = _item("variables", variables, index)
            slug = variable.get("slug")
            if isinstance(slug, str):
                if not SLUG_RE.match(slug):
                    self.add(
                        f"{where}.slug",
                        f"{slug!r} is not a valid slug (letters, digits, hyphens and underscores)",
                    )
                if slug in first:
                    self.add(
                        f"variables[{index}].slug",
                        f"{slug!r} is already declared by variables[{first[slug]}]",
                    )
                first.setdefault(slug, index)
            check = _VARIABLE_TYPES.get(_type_of(variable))
            if check and "defaultValue" in variable:
                variable["defaultValue"] = _default_as_typed(
                    _type_of(variable), variable["defaultValue"]
                )
            if (
                check
                and "defaultValue" in variable
                and not check[0](variable["defaultValue"])
            ):
                self.add(
                    f"{where}.defaultValue",
                    f"must be {check[1]}, as the variable's type is {variable['type']}",
                )

    # Actions

    def action(self, action: dict, where: str) -> None:
        slug = action.get("slug")
        if isinstance(slug, str) and not SLUG_RE.match(slug):
            self.add(
                f"{where}.slug",
                f"{slug!r} is not a valid slug (letters, digits, hyphens and underscores)",
            )
        schema = action.get("schema")
        if not isinstance(schema, dict):
            return
        where = f"{where}.schema"
        block_type = schema.get("type")
        if not isinstance(block_type, str):
            return
        if block_type not in _action_types():
            self.add(f"{where}.type", f"unknown block type {block_type!r}")
            return
        if f"WorkflowActionSchema.{block_type}" in _schemas():
            self.schema(f"WorkflowActionSchema.{block_type}", schema, where)
        check = getattr(self, f"block_{block_type.lower()}", None)
        if check:
            check(action, schema, where)
        if block_type not in _UNRENDERED_BLOCKS:
            for key, value in schema.items():
                self.templates(value, f"{where}.{key}")

    def templates(self, value: Any, where: str) -> None:
        """Mustache that doesn't parse (an unclosed section) would fail the run."""
        if isinstance(value, dict):
            for key, item in value.items():
                self.templates(item, f"{where}.{key}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.templates(item, f"{where}[{index}]")
        elif isinstance(value, str) and "{{" in value:
            from .templating import template_problem

            problem = template_problem(value)
            if problem:
                self.add(where, f"is not a valid Mustache template: {problem}")

    def block_user_input(self, action: dict, schema: dict, where: str) -> None:
        if isinstance(schema.get("jsValidatorScript"), str):
            self.scripts.append(
                (f"{where}.jsValidatorScript", schema["jsValidatorScript"])
            )
        # An override gives its input the value (or options) it has at run time:
        overridden = {o.get("inputKey") for o in _dicts(schema.get("inputOverrides"))}
        keys = self.inputs(
            schema.get("inputs"), f"{where}.inputs", nested=False, overridden=overridden
        )
        self.overrides(schema.get("inputOverrides"), f"{where}.inputOverrides", keys)

    def block_scaffolder(self, action: dict, schema: dict, where: str) -> None:
        self.overrides(schema.get("inputOverrides"), f"{where}.inputOverrides", None)

    def block_javascript(self, action: dict, schema: dict, where: str) -> None:
        if isinstance(schema.get("script"), str):
            self.scripts.append((f"{where}.script", schema["script"]))

    def block_jq(self, action: dict, schema: dict, where: str) -> None:
        expression = schema.get("expression")
        if not isinstance(expression, str):
            return
        if not expression.strip():
            self.add(f"{where}.expression", "must not be blank")
            return
        from workflows.blocks.jq_block import JqCompileError, compile_jq

        try:
            compile_jq(expression)
        except JqCompileError as exc:
            self.add(f"{where}.expression", f"is not a valid JQ expression: {exc}")

    def block_conditional_branch(self, action: dict, schema: dict, where: str) -> None:
        outgoing = {
            o for o in _list(action.get("outgoingActions")) if isinstance(o, str)
        }
        branches = schema.get("branches")
        branches = branches if isinstance(branches, list) else []
        paths = [
            (_item(f"{where}.branches", branches, i), b) for i, b in enumerate(branches)
        ]
        if isinstance(schema.get("fallbackBranch"), dict):
            paths.append((f"{where}.fallbackBranch", schema["fallbackBranch"]))
        seen: dict[str, str] = {}
        for path, branch in paths:
            if not isinstance(branch, dict):
                continue
            slug = branch.get("slug")
            if isinstance(slug, str):
                if slug in seen:
                    self.add(
                        f"{path}.slug", f"{slug!r} is already used by {seen[slug]}"
                    )
                seen.setdefault(slug, path)
            target = branch.get("outgoingAction")
            if isinstance(target, str) and target not in outgoing:
                self.add(
                    f"{path}.outgoingAction",
                    f"{target!r} is not in the block's outgoingActions",
                )
            expression = branch.get("expression")
            if isinstance(expression, str):
                self.cel(expression, f"{path}.expression")

    def cel(self, expression: str, where: str) -> None:
        if not expression.strip():
            self.add(where, "must not be blank")
            return
        from workflows.cel import CelCompileError, compile_cel

        self.cel_chars += len(expression)
        if self.cel_chars > MAX_CEL_CHARS:
            self.add(
                where,
                f"not checked: the workflow's branch expressions are longer than"
                f" {MAX_CEL_CHARS:,} characters in all",
            )
            return
        try:
            compile_cel(expression)
        except CelCompileError as exc:
            self.add(where, f"is not a valid CEL expression: {exc}")

    def block_set_variables(self, action: dict, schema: dict, where: str) -> None:
        assignments = schema.get("variables")
        if not isinstance(assignments, list):
            return
        for index, assignment in enumerate(assignments):
            if not isinstance(assignment, dict):
                continue
            path = _item(f"{where}.variables", assignments, index)
            slug = assignment.get("slug")
            if isinstance(slug, str) and slug not in self.declared:
                self.add(
                    f"{path}.slug",
                    f"{slug!r} is not a declared variable (declare it under variables)",
                )
            self.union(
                assignment.get("source"), f"{path}.source", _SOURCES, "source type"
            )
            source = assignment.get("source")
            if (
                isinstance(source, dict)
                and source.get("type") == "JAVASCRIPT"
                and isinstance(source.get("script"), str)
            ):
                self.scripts.append((f"{path}.source.script", source["script"]))

    # Inputs of USER_INPUT blocks and nested forms

    def inputs(
        self, inputs: Any, where: str, *, nested: bool, overridden: set = frozenset()
    ) -> set[str]:
        """Check each input by its type; returns the keys."""
        if not isinstance(inputs, list):
            return set()
        members = {t: f"WorkflowInput.{t}" for t in _input_types()}
        first: dict[str, int] = {}
        for index, item in enumerate(inputs):
            if not isinstance(item, dict):
                continue
            path = _item(where, inputs, index)
            key = item.get("key")
            if isinstance(key, str):
                if not SLUG_RE.match(key):
                    self.add(
                        f"{path}.key",
                        f"{key!r} is not a valid key (letters, digits, hyphens and underscores)",
                    )
                if key in first:
                    self.add(
                        f"{where}[{index}].key",
                        f"{key!r} is already used by {where}[{first[key]}]",
                    )
                first.setdefault(key, index)
            if nested and item.get("type") == "NESTED_FORM_FIELD":
                self.add(
                    f"{path}.type", "a nested form can't hold another NESTED_FORM_FIELD"
                )
                continue
            kind = self.union(item, path, members, "input type")
            pattern = item.get("validationRegex")
            if isinstance(pattern, str):
                try:
                    regex.compile(pattern)  # as inputs.py reads it
                except regex.error as exc:
                    self.add(
                        f"{path}.validationRegex",
                        f"is not a valid regular expression: {exc}",
                    )
            if kind == "NUMBER_FIELD":
                low, high = item.get("min"), item.get("max")
                if _is_number(low) and _is_number(high) and low > high:
                    self.add(f"{path}.min", f"must not be greater than max ({high})")
            if kind == "NESTED_FORM_FIELD":
                self.nested_form(item, path)
            if (
                item.get("disabled") is True
                and kind in _PLAIN_INPUTS
                and key not in overridden
            ):
                self.fixed_default(item, path)
        return set(first)

    def fixed_default(self, item: dict, where: str) -> None:
        """A disabled input's value is its default, which nobody can change:
        one its own rules refuse (2.5 for an INTEGER field, an option not
        offered) would leave every run on a form that can't be sent."""
        from workflows.inputs import error_messages, validate

        _, errors = validate([_plain(item)], {}, workspace=None)
        if errors:
            self.add(
                f"{where}.defaultValue",
                "a disabled input keeps its default, and this one is not valid: "
                + " ".join(error_messages(errors, [item])),
            )

    def nested_form(self, item: dict, where: str) -> None:
        data_type, inputs = item.get("dataType"), item.get("inputs")
        if data_type == "OBJECT":
            if not inputs:
                self.add(f"{where}.inputs", "is required for dataType OBJECT")
            else:
                self.inputs(inputs, f"{where}.inputs", nested=True)
        elif data_type == "STRING" and inputs:
            self.add(f"{where}.inputs", "only applies to dataType OBJECT")
        low, high = item.get("minRows"), item.get("maxRows")
        if isinstance(low, int) and isinstance(high, int) and low > high:
            self.add(f"{where}.minRows", f"must not be greater than maxRows ({high})")
        default = item.get("defaultValue")
        if isinstance(default, list):
            want, check = {
                "STRING": ("a list of strings", lambda v: isinstance(v, str)),
                "OBJECT": ("a list of mappings", lambda v: isinstance(v, dict)),
            }.get(data_type, ("", None))
            if check and not all(check(v) for v in default):
                self.add(
                    f"{where}.defaultValue", f"must be {want} for dataType {data_type}"
                )

    def overrides(self, overrides: Any, where: str, keys: set[str] | None) -> None:
        if not isinstance(overrides, list):
            return
        for index, override in enumerate(overrides):
            path = f"{where}[{index}]"
            kind = self.union(override, path, _OVERRIDES, "override type")
            if kind is None:
                continue
            key = override.get("inputKey")
            if keys is not None and isinstance(key, str) and key not in keys:
                self.add(f"{path}.inputKey", f"no input of this block has key {key!r}")
            target = override.get("outputVariable")
            if isinstance(target, str) and target.startswith("variables."):
                slug = target.removeprefix("variables.")
                if slug not in self.declared:
                    self.add(
                        f"{path}.outputVariable",
                        f"{slug!r} is not a declared variable (declare it under variables)",
                    )

    # The graph

    def graph(self, actions: list) -> None:
        index_of: dict[str, int] = {}
        where_of: dict[str, str] = {}
        for index, action in enumerate(actions):
            slug = action.get("slug") if isinstance(action, dict) else None
            if not isinstance(slug, str):
                continue
            if slug in index_of:
                self.add(
                    f"actions[{index}].slug",
                    f"{slug!r} is already used by actions[{index_of[slug]}]",
                )
                continue
            index_of[slug] = index
            where_of[slug] = _item("actions", actions, index)

        roots = [
            a["slug"]
            for a in _dicts(actions)
            if a.get("isRootAction") is True and isinstance(a.get("slug"), str)
        ]
        if actions and not roots:
            self.add(
                "actions", "no action has isRootAction: true (one must be the root)"
            )
        elif len(roots) > 1:
            listed = ", ".join(roots)
            self.add(
                "actions",
                f"{len(roots)} root actions ({listed}); only one may be the root",
            )

        edges: dict[str, list[str]] = {slug: [] for slug in index_of}
        for slug, index in index_of.items():
            action, where = actions[index], where_of[slug]
            schema = (
                action.get("schema") if isinstance(action.get("schema"), dict) else {}
            )
            block_type = schema.get("type")
            outgoing = action.get("outgoingActions")
            if isinstance(outgoing, list):
                for position, target in enumerate(outgoing):
                    if not isinstance(target, str):
                        continue
                    if target not in index_of:
                        self.add(
                            f"{where}.outgoingActions[{position}]",
                            f"no action has slug {target!r}",
                        )
                    elif target in edges[slug]:
                        self.add(
                            f"{where}.outgoingActions[{position}]",
                            f"lists {target!r} twice",
                        )
                    else:
                        edges[slug].append(target)
                if block_type != "CONDITIONAL_BRANCH" and len(outgoing) > 1:
                    self.add(
                        f"{where}.outgoingActions",
                        f"a block of type {block_type} continues to at most one "
                        "action (only CONDITIONAL_BRANCH splits the path)",
                    )
            joining = (
                schema.get("joiningAction")
                if block_type == "CONDITIONAL_BRANCH"
                else None
            )
            if isinstance(joining, str):
                if joining not in index_of:
                    self.add(
                        f"{where}.schema.joiningAction",
                        f"no action has slug {joining!r}",
                    )
                elif joining not in edges[slug]:
                    edges[slug].append(joining)

        for cycle in _cycles(edges):
            self.add("actions", f"the actions form a cycle: {' → '.join(cycle)}")
        if len(roots) == 1:
            reached = _reachable(edges, roots[0])
            for slug in index_of:
                if slug not in reached:
                    self.add(
                        where_of[slug],
                        f"can't be reached from the root action {roots[0]!r}",
                    )


def _cycles(edges: dict[str, list[str]]) -> list[list[str]]:
    """One list per cycle found (first slug repeated at the end), in a stable order."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    found: list[list[str]] = []
    seen: set[frozenset[str]] = set()

    for start in edges:
        if state.get(start):
            continue
        path: list[str] = [start]
        stack = [iter(edges[start])]
        state[start] = 1
        while stack:
            target = next(stack[-1], None)
            if target is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(target) == 1:
                cycle = path[path.index(target) :] + [target]
                if frozenset(cycle) not in seen:
                    seen.add(frozenset(cycle))
                    found.append(cycle)
            elif not state.get(target):
                state[target] = 1
                path.append(target)
                stack.append(iter(edges[target]))
    return found


def _reachable(edges: dict[str, list[str]], root: str) -> set[str]:
    reached, todo = {root}, [root]
    while todo:
        for target in edges.get(todo.pop(), []):
            if target not in reached:
                reached.add(target)
                todo.append(target)
    return reached


def _dedupe(errors: list[str]) -> list[str]:
    return list(dict.fromkeys(errors))


def validate(data: Any) -> dict:
    """The normalised descriptor (defaults filled, nulls dropped, keys ordered).

    Raises DescriptorError listing every problem found; `data` is not changed.
    """
    if not isinstance(data, dict):
        raise DescriptorError(
            "the descriptor must be a mapping with tag, name, filter and actions"
        )
    token = _label_counts.set({})
    try:
        descriptor = _normalise(data)
        checker = _Checker(descriptor)
        checker.run()
    finally:
        _label_counts.reset(token)
    if checker.errors:
        raise DescriptorError(_dedupe(checker.errors))
    return _plain(descriptor)


# Export


class _Dumper(yaml.SafeDumper):
    """Block style, lists indented under their key, multi-line strings as `|`."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def _canonical(descriptor: dict) -> dict:
    """The descriptor with keys in the fixed order (a store may have reordered them)."""
    d = copy.deepcopy(descriptor)
    if isinstance(d.get("filter"), dict):
        d["filter"] = _ordered(d["filter"], "filter")
    if isinstance(d.get("variables"), list):
        d["variables"] = [_ordered(v, "variable") for v in d["variables"]]
    if isinstance(d.get("actions"), list):
        d["actions"] = [
            _ordered(
                {**a, "schema": _normalise_schema(a["schema"])}
                if isinstance(a, dict) and isinstance(a.get("schema"), dict)
                else a,
                "action",
            )
            for a in d["actions"]
        ]
    return _ordered(d, "top")


def export(descriptor: dict, fmt: str = "yaml") -> str:
    """The descriptor as YAML (block style, `|` for multi-line strings) or JSON.

    `parse(export(d)) == d` for every validated descriptor `d`.
    """
    data = _canonical(descriptor)
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        return yaml.dump(
            data,
            Dumper=_Dumper,
            sort_keys=False,
            allow_unicode=True,
            default_flow_style=False,
            width=4096,
        )
    raise ValueError(f"unknown export format {fmt!r} (yaml or json)")


# Helpers for the engine (for validated descriptors)


def actions_by_slug(descriptor: dict) -> dict[str, dict]:
    """Each action of the descriptor by its slug, in descriptor order."""
    return {action["slug"]: action for action in descriptor.get("actions", [])}


def root_slug(descriptor: dict) -> str:
    """The slug of the root action (a validated descriptor has exactly one)."""
    for action in descriptor.get("actions", []):
        if action.get("isRootAction") is True:
            return action["slug"]
    raise ValueError("the descriptor has no root action")
