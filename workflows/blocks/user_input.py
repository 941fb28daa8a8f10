"""USER_INPUT: pause the run until someone fills in a form.

An input's `name`, `description` and `placeholder` are Mustache over the run
state (a nested form's inputs' too). `execute` resolves the form and waits:
`Outcome.waiting("USER_INPUT", inputs={"form": [input definitions]})`. The
definitions are the descriptor's `inputs` with the `inputOverrides` applied,
and are what the browser form renders:

- `{type: OPTION, inputKey, outputVariable}`: the select's (or multiselect's)
  `options` become the list found at the `outputVariable` path of the run state
  (strings, or `{value, label}` objects, which also set `optionsLabels`). A path
  that holds no list fails the block, naming the input and the path.
- `{type: VALUE, inputKey, outputVariable, editable}`: the value at the path
  becomes the input's `defaultValue`; with `editable: true` and a path
  `variables.<slug>`, the value given is written back to that variable. With
  `editable: false` (Cortex's default) the input is also marked `fixed: true`:
  the form shows it read-only and the submitted value is ignored. A path that holds
  nothing (missing, null, "" or []) leaves the input's declared default: an
  editable input is asked for; a fixed one keeps that default or stays empty (a
  required one then fails the block, naming it). When every input is fixed
  the block completes at once, without waiting (a form with no inputs still waits:
  it is a "continue" step). A fixed value that is not valid fails the block.
  Secret fields are never prefilled by an editable override. Another input
  prefilled with a value that holds a secret shows it masked, as everything
  stored is; sent back unchanged, it stands for the prefilled value.

`resume(ctx, {"values": {...}, "user": User})` validates with
`workflows.inputs.validate` and raises `InputInvalid(errors)` (nothing stored,
the form is shown again) or completes with one output per input key. SECRET_FIELD
values are `********` in the outputs (and in the stored form); `Outcome.secrets`
holds the real ones by state path (`actions.<slug>.outputs.<key>`; for a nested
form holding a secret, the path of the whole nested value) for the engine to
encrypt.

`jsValidatorScript` runs after the field checks, in the JavaScript sandbox
(`workflows.js`, like a JAVASCRIPT block: `context`, `actions`, `variables`),
with the clean submitted values (secrets included: nothing leaves the sandbox
but the answer) as the global `inputs` and as `actions["<slug>"].inputs` and
`.outputs`. It passes when it returns nothing, null, true, "" or an empty
object/list. Otherwise the form is invalid and is shown again:

- a string → that message for the whole form;
- a list of strings → those messages;
- an object `{inputKey: message}` → the message beside that input (keys that name
  no input go to the whole form);
- false → "The values were rejected by the form's validator.";
- a thrown error (or a script that can't run: a syntax error, the time limit) →
  its message, so the person sees why and the run stays paused (they can cancel).

When every input is fixed by overrides there is nobody to show the form to, so
any of these fails the block instead.
"""

from __future__ import annotations

import copy
from typing import Any

from workflows.inputs import ALL, InputInvalid, error_messages, validate
from workflows.paths import PathNotFound, check_type, clean_path, from_text, lookup
from workflows.secrets import MASK, scrub
from workflows.templating import TemplateError, render

from .base import Block, BlockContext, BlockFailed, Outcome

VALIDATOR_TIMEOUT_MS = 2000
_MISSING = object()


class UserInput(Block):
    type = "USER_INPUT"

    def execute(self, ctx: BlockContext) -> Outcome:
        form = resolve_form(ctx.schema, ctx.state)
        fixed = [d for d in form if d.get("fixed")]
        if fixed:
            _, errors = validate(
                fixed, {}, workspace=ctx.workspace, runner=ctx.initiator
            )
            if errors:
                raise BlockFailed(
                    "An input override sets a value that is not valid: "
                    + " ".join(error_messages(errors, fixed))
                )
        if form and len(fixed) == len(form):
            return self._finish(
                ctx, form, {}, runner=ctx.initiator, person_waiting=False
            )
        return Outcome.waiting("USER_INPUT", inputs={"form": _masked_form(form)})

    def resume(self, ctx: BlockContext, payload: dict) -> Outcome:
        form = resolve_form(ctx.schema, ctx.state)
        runner = ctx.initiator or payload.get("user")
        values = _unmasked(form, payload.get("values"), ctx.secret_values)
        return self._finish(ctx, form, values, runner=runner)

    def _finish(
        self,
        ctx: BlockContext,
        form: list[dict],
        values: Any,
        *,
        runner,
        person_waiting: bool = True,
    ) -> Outcome:
        clean, errors = validate(form, values, workspace=ctx.workspace, runner=runner)
        if errors:
            # A message may quote a value, and a value prefilled from a secret
            # (_unmasked) holds it: the person sees it masked, as on the form.
            raise InputInvalid(scrub(errors, list(ctx.secret_values)))
        secrets = _secrets(form, clean, f"actions.{ctx.action.get('slug')}.outputs")
        script = ctx.schema.get("jsValidatorScript")
        if script:
            errors = _run_validator(ctx, script, form, clean)
            if errors:
                # The script may read any secret of the run, not only this form's:
                errors = scrub(errors, [*ctx.secret_values, *_secret_values(secrets)])
                if not person_waiting:
                    raise BlockFailed(
                        "The form's validator rejected the overridden values: "
                        + " ".join(error_messages(errors, form))
                    )
                raise InputInvalid(errors)
        variables, errors = _typed(
            _written_back(ctx.schema, form, clean), ctx.action.get("_declared"), form
        )
        if errors:
            if not person_waiting:
                raise BlockFailed(
                    "An input override sets a value that is not valid: "
                    + " ".join(error_messages(errors, form))
                )
            raise InputInvalid(errors)
        outputs = _masked_values(form, clean)
        return Outcome.completed(
            outputs,
            inputs={"form": _masked_form(form)},
            secrets=secrets,
            variables=variables or None,
        )


def _written_back(
    schema: dict, form: list[dict], clean: dict
) -> dict[str, tuple[str, Any]]:
    """{slug: (input key, value)} for each editable VALUE override whose `outputVariable` is
    a variable (`variables.<slug>`): the value given goes back there, as the
    name says, for later blocks. (A secret is masked there like everywhere;
    the engine keeps the real one for the blocks.) A secret field left blank
    keeps the variable: it was never shown, so blank is not a choice."""
    secret = {d.get("key") for d in form if d.get("type") == "SECRET_FIELD"}
    found = {}
    for override in schema.get("inputOverrides") or []:
        kind = str(override.get("type") or "VALUE").upper()
        head, _, slug = clean_path(override.get("outputVariable")).partition(".")
        key = override.get("inputKey")
        if (
            kind == "VALUE"
            and override.get("editable")
            and head == "variables"
            and slug
            and "." not in slug
            and key in clean
            and not (key in secret and not clean[key])
        ):
            found[slug] = (key, clean[key])
    return found


_TYPED_IN = frozenset({"INPUT_FIELD", "TEXTAREA_FIELD", "SECRET_FIELD"})


def _typed(
    found: dict[str, tuple[str, Any]], declared: dict | None, form: list[dict]
) -> tuple[dict, dict]:
    """The written-back values read for their variables' declared types ("80"
    for a NUMBER is 80), and errors by input key for those that don't fit.
    The message doesn't quote the value: it may be a secret."""
    by_key = {d.get("key"): d for d in form}
    variables, errors = {}, {}
    for slug, (key, value) in found.items():
        var_type = (declared or {}).get(slug)
        if var_type is not None:
            value = from_text(value, var_type)
            definition = by_key.get(key) or {}
            # Refused only where typing can put it right; another field's
            # value (a toggle, a list) goes as given, as it did before types.
            if check_type(value, var_type) and definition.get("type") in _TYPED_IN:
                errors[key] = [
                    f"{definition.get('name') or key} must be a {var_type} value,"
                    f" as it sets the variable {slug}."
                ]
                continue
        variables[slug] = value
    return variables, errors


# --- resolving the form ----------------------------------------------------------------


def resolve_form(schema: dict, state: dict) -> list[dict]:
    """The block's input definitions with its inputOverrides applied (see the module doc)."""
    declared = schema.get("inputs") or []
    if not isinstance(declared, list) or not all(isinstance(d, dict) for d in declared):
        raise BlockFailed("USER_INPUT inputs must be a list of input definitions")
    form = copy.deepcopy(declared)
    _render_texts(form, state)
    by_key = {d.get("key"): d for d in form}
    for override in schema.get("inputOverrides") or []:
        if not isinstance(override, dict):
            raise BlockFailed("Each of inputOverrides must be an object")
        key = override.get("inputKey")
        definition = by_key.get(key)
        if definition is None:
            raise BlockFailed(
                f'inputOverrides names "{key}", which is not one of the inputs'
            )
        name = definition.get("name") or key
        path = override.get("outputVariable") or ""
        value = _lookup(state, path)
        kind = str(override.get("type") or "VALUE").upper()
        if kind == "OPTION":
            _override_options(definition, name, path, value)
        elif kind == "VALUE":
            if not override.get("editable", False):
                # Never asked, whatever the path holds: a field fixed to
                # `context.initiatedBy.email` must not become one anybody
                # may type into when that is empty (an API run without runAs).
                definition["fixed"] = True
            if _is_unset(value):
                continue  # keeps its declared default, if any
            if definition.get("type") == "SECRET_FIELD" and override.get("editable"):
                continue
            definition["defaultValue"] = _as_default(definition, value)
        else:
            raise BlockFailed(f"inputOverrides for {name}: unknown type {kind!r}")
    return form


# What the form says about each input is Mustache over the run state, as
# Cortex's text fields are ("New size for {{actions.current.outputs.name}}");
# values, regexes and scripts are not.
_TEXTS = ("name", "description", "placeholder")


def _render_texts(form: list[dict], state: dict) -> None:
    for definition in form:
        for key in _TEXTS:
            text = definition.get(key)
            if isinstance(text, str) and "{{" in text:
                try:
                    # Not escaped here: the page escapes what it shows.
                    definition[key] = render(text, state, escape=False)
                except TemplateError:
                    pass  # "{{" that is no template: shown as written
        nested = definition.get("inputs")
        if isinstance(nested, list):
            _render_texts([d for d in nested if isinstance(d, dict)], state)


def _unmasked(form: list[dict], values: Any, secrets: tuple[str, ...]) -> Any:
    """`values` where an input prefilled with a value holding a secret (an
    editable override from `context.secrets.…`) comes back as the form showed
    it, masked: that means the prefilled value, which the browser never had."""
    if not isinstance(values, dict) or not secrets:
        return values
    kept = dict(values)
    for definition in form:
        key, default = definition.get("key"), definition.get("defaultValue")
        if definition.get("fixed") or key not in kept or default is None:
            continue
        shown = scrub(default, list(secrets))
        if shown != default and kept[key] == shown:
            kept[key] = default
    return kept


def _override_options(definition: dict, name: str, path: str, value: Any) -> None:
    if definition.get("type") not in ("SELECT_FIELD", "MULTISELECT_FIELD"):
        raise BlockFailed(
            f"An OPTION override can only give options to a select, not to {name}"
        )
    if not isinstance(value, list):
        raise BlockFailed(
            f"The options for {name} come from {path}, which holds no list"
        )
    options, labels = [], []
    for item in value:
        if isinstance(item, dict) and "value" in item:
            options.append(str(item["value"]))
            labels.append(str(item.get("label", item["value"])))
        elif isinstance(item, str | int | float) and not isinstance(item, bool):
            options.append(str(item))
            labels.append(str(item))
        else:
            raise BlockFailed(
                f"The options for {name} at {path} must be strings or {{value, label}}"
            )
    definition["options"] = options
    definition["optionsLabels"] = labels


def _is_unset(value: Any) -> bool:
    return value is _MISSING or value is None or value == "" or value == []


def _as_default(definition: dict, value: Any) -> Any:
    """An override value in the shape the input's defaultValue has in Cortex's schema."""
    kind = definition.get("type")
    if kind == "CORTEX_ENTITY_FIELD":  # string[] of tags
        items = value if isinstance(value, list) else [value]
        return [i.get("tag") if isinstance(i, dict) else i for i in items]
    if kind == "CORTEX_USER_FIELD":  # [{name, email}]
        items = value if isinstance(value, list) else [value]
        return [i if isinstance(i, dict) else {"email": i, "name": ""} for i in items]
    if kind in ("MULTISELECT_FIELD", "NESTED_FORM_FIELD") or (
        kind == "SLACK_FIELD" and definition.get("allowMultiple")
    ):
        return value if isinstance(value, list) else [value]
    return value


def _lookup(state: dict, path: str) -> Any:
    """The value at an override's reference path, or _MISSING when it names nothing."""
    try:
        return lookup(state, path)
    except PathNotFound:
        return _MISSING


# --- secrets ------------------------------------------------------------------------------


def _has_secret(definition: dict) -> bool:
    if definition.get("type") == "SECRET_FIELD":
        return True
    if definition.get("type") == "NESTED_FORM_FIELD":
        return any(_has_secret(d) for d in definition.get("inputs") or [])
    return False


def _masked_values(form: list[dict], clean: dict) -> dict:
    masked = dict(clean)
    for definition in form:
        key = definition.get("key")
        value = clean.get(key)
        if definition.get("type") == "SECRET_FIELD":
            masked[key] = MASK if value else value
        elif definition.get("type") == "NESTED_FORM_FIELD" and _has_secret(definition):
            subs = definition.get("inputs") or []
            masked[key] = [
                _masked_values(subs, row) if isinstance(row, dict) else row
                for row in value
            ]
    return masked


def _secrets(form: list[dict], clean: dict, prefix: str) -> dict:
    """Real values by state path, for the fields that hold secrets; a secret in
    a nested form's row is at `<key>.<row index>[.<sub-key>]`."""
    found = {}
    for definition in form:
        key = definition.get("key")
        value = clean.get(key)
        if definition.get("type") == "SECRET_FIELD" and value:
            found[f"{prefix}.{key}"] = value
        elif (
            definition.get("type") == "NESTED_FORM_FIELD"
            and _has_secret(definition)
            and isinstance(value, list)
        ):
            subs = definition.get("inputs") or []
            for index, row in enumerate(value):
                path = f"{prefix}.{key}.{index}"
                if isinstance(row, dict):  # OBJECT rows; STRING rows are plain text
                    found.update(_secrets(subs, row, path))
    return found


def _secret_values(secrets: dict) -> list[str]:
    found: list[str] = []

    def collect(value: Any) -> None:
        if isinstance(value, str) and value:
            found.append(value)
        elif isinstance(value, dict):
            for v in value.values():
                collect(v)
        elif isinstance(value, list):
            for v in value:
                collect(v)

    collect(list(secrets.values()))
    return found


def _masked_form(form: list[dict]) -> list[dict]:
    masked = copy.deepcopy(form)
    for definition in masked:
        if definition.get("type") == "SECRET_FIELD" and definition.get("defaultValue"):
            definition["defaultValue"] = MASK
    return masked


# --- the validator script ---------------------------------------------------------------------


def _run_validator(
    ctx: BlockContext, script: str, form: list[dict], clean: dict
) -> dict:
    """Errors from jsValidatorScript (empty when it passes)."""
    from workflows import js

    state = copy.deepcopy(ctx.state)
    state.setdefault("actions", {})[ctx.action.get("slug")] = {
        "inputs": copy.deepcopy(clean),
        "outputs": copy.deepcopy(clean),
    }
    state["inputs"] = copy.deepcopy(clean)
    # On the script's first line, so the line numbers of its errors stay right:
    prelude = "globalThis.inputs = state.inputs; "
    try:
        result = js.run_script(prelude + script, state, timeout_ms=VALIDATOR_TIMEOUT_MS)
    except js.JsLimitError as exc:  # the workflow's fault, not the values'
        return {
            ALL: [
                f"The form's validator could not finish ({exc}): ask the"
                " workflow's owner to fix it, or cancel the run."
            ]
        }
    except js.JsError as exc:
        return {ALL: [str(exc) or "The form's validator rejected the values."]}
    return _validator_errors(result, form)


def _validator_errors(result: Any, form: list[dict]) -> dict:
    kinds = {d.get("key"): d.get("type") for d in form}
    if result is None or result is True or result == "" or result == {} or result == []:
        return {}
    if result is False:
        return {ALL: ["The values were rejected by the form's validator."]}
    if isinstance(result, list):
        return (
            {ALL: [str(m) for m in result if m not in (None, "")]}
            if any(result)
            else {}
        )
    if isinstance(result, dict):
        errors: dict[str, list[str]] = {}
        for key, message in result.items():
            if message in (None, "", [], False):
                continue
            messages = (
                [str(m) for m in message]
                if isinstance(message, list)
                else [str(message)]
            )
            nested = kinds.get(key) == "NESTED_FORM_FIELD"
            if key not in kinds:
                errors.setdefault(ALL, []).extend(messages)
            elif nested:  # a nested field's errors always have __all__ and rows
                errors.setdefault(key, {ALL: [], "rows": {}})[ALL].extend(messages)
            else:
                errors.setdefault(key, []).extend(messages)
        return errors
    return {ALL: [str(result)]}
