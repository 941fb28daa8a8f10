"""Validate values submitted for a USER_INPUT form, one Cortex input type at a time.

`validate(inputs, values, *, workspace, runner=None)` takes the form's input
definitions (Cortex `WorkflowInput` objects, as the USER_INPUT block resolved
them) and the submitted values by key, and returns `(clean, errors)`:

- `clean` has one entry per input key, in the form's order, holding the typed
  value later blocks see as `actions.<slug>.outputs.<key>`. Keys in `values`
  that name no input are ignored.
- `errors` is empty when everything is valid. Otherwise:

      {
        "region": ["Region is required."],              # a plain field: messages
        "servers": {                                    # a NESTED_FORM_FIELD
          "__all__": ["Add at least 2 rows to Servers."],   # about the whole list
          "rows": {                                     # by 0-based index of the
            1: ["Row 2 is empty."],                     #  submitted row: STRING rows
          },                                            #  have messages,
        },
        "owners": {
          "__all__": [],
          "rows": {
            0: {"email": ["Email is required."]},       #  OBJECT rows have the errors
            2: {"__all__": ["Row 3 is empty."]},        #  of their sub-form (same
          },                                            #  structure, recursively)
        },
        "__all__": ["Production needs a ticket."],      # about the whole form
      }

  A nested field's error always has both `__all__` and `rows`. Every message
  names the field (or the row) it is about, so a flattened list
  (`error_messages`) still reads well; none repeats a SECRET_FIELD's value.

What each type accepts (raw values come from a browser form or JSON):

- INPUT_FIELD: text (numbers are taken as text), surrounding whitespace
  stripped; `validationRegex` must match the whole value. Blank → "".
- TEXTAREA_FIELD: the same, but kept as typed (pasted YAML keeps its first
  line's indentation and its last newline), line ends as LF. Blank → "".
- SECRET_FIELD: the same, but kept verbatim (no stripping). Blank → "".
- NUMBER_FIELD: `format` INTEGER → int (a whole number, "3.0" is 3), DECIMAL →
  a number, an int when whole ("4" and "4.0" are 4, "4.5" is 4.5), as JSON reads
  it; `min`/`max` inclusive. Blank → None.
- TOGGLE_FIELD: True/False, or "on"/"true"/"yes"/"1" and "off"/"false"/"no"/"0"/"".
  Missing means off (an unticked checkbox sends nothing), so a toggle always has
  a value and `required` does not force it on.
- SELECT_FIELD: one of `options` (any text with `allowAdditionalOptions`). Blank → "".
- MULTISELECT_FIELD: a list of options (a single string counts as one). Blank → [].
- DATE_FIELD: `format` DATE → "YYYY-MM-DD"; DATETIME → ISO 8601 with an offset
  (a time without one is in the current time zone). Blank → "".
- CORTEX_ENTITY_FIELD: entity tags (or `{tag: …}` objects) of non-archived
  entities of this workspace that match `entityFilter` (all of: `typeFilter.types`,
  in one of `groupTags`, in none of `excludedGroupTags`, owned by one of `teamIds`
  (team id or tag), owned by one of `emailOwners` (directly or through a team),
  below one of `domainIds` (entity id or tag) through `x-cortex-parents`) and,
  with `limitEntitiesToRunnerUserScope`, owned by the runner. Clean value
  `{tag, name, type}`, or a list of them with `allowMultiple`. Blank → None or [].
- CORTEX_USER_FIELD: emails (or `{email: …}` objects) of active members of this
  workspace, within `filter.teamCids` and `filter.userEmails`. Clean value
  `{email, name}` or a list. Blank → None or [].
- SLACK_FIELD: a channel name (a leading "#" is dropped), within
  `filter.channels` when that is not empty; a list with `allowMultiple`.
- NESTED_FORM_FIELD `{key, name, required, dataType: STRING|OBJECT, inputs,
  minRows, maxRows}`: a list of rows; STRING rows are text, OBJECT rows are
  objects validated with the sub-form `inputs`. A blank row is an error
  ("Row 2 is empty.") when the field is required and is dropped when it is not,
  so an untouched optional row never blocks a form (the page sends an optional
  OBJECT row still at its sub-form's defaults as blank). `minRows`/`maxRows` count
  the rows kept; a required field needs at least one.

An input with `fixed: true` (set by the block for a non-editable VALUE override)
or Cortex's `disabled: true` takes its `defaultValue`, whatever was submitted;
such a value is still checked, but a blank one is not "required".
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import regex
from django.db.models import Q
from django.utils import timezone

from portal.ids import parse_ids
from portal.storable import Unstorable, check_storable

if TYPE_CHECKING:
    from catalog.models import Entity
    from portal.models import User, Workspace

ALL = "__all__"

INPUT_TYPES = frozenset(
    {
        "INPUT_FIELD",
        "TEXTAREA_FIELD",
        "SELECT_FIELD",
        "MULTISELECT_FIELD",
        "TOGGLE_FIELD",
        "CORTEX_ENTITY_FIELD",
        "CORTEX_USER_FIELD",
        "SLACK_FIELD",
        "SECRET_FIELD",
        "NUMBER_FIELD",
        "DATE_FIELD",
        "NESTED_FORM_FIELD",
    }
)

_TRUE = frozenset({"on", "true", "yes", "1"})
_FALSE = frozenset({"off", "false", "no", "0", ""})
_PATTERN_SECONDS = 0.5
_SLACK_CHANNEL = re.compile(r"[\w.-]{1,80}")
_MAX_DOMAIN_DEPTH = 20


class InputInvalid(Exception):
    """Submitted values are not valid; `errors` has the structure described above."""

    def __init__(self, errors: dict):
        self.errors = errors
        super().__init__("; ".join(error_messages(errors)) or "The form is not valid.")


class _Invalid(Exception):
    def __init__(self, errors: list[str] | dict):
        self.errors = errors


def validate(
    inputs: list[dict],
    values: Any,
    *,
    workspace: Workspace,
    runner: User | None = None,
) -> tuple[dict, dict]:
    """Check `values` against the input definitions; return (clean, errors)."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        return {}, {ALL: ["The form data must be an object of values by input key."]}
    clean: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    for definition in inputs:
        key = definition.get("key")
        try:
            clean[key] = clean_value(
                definition, values.get(key), workspace=workspace, runner=runner
            )
        except _Invalid as exc:
            errors[key] = exc.errors
    return clean, errors


def clean_value(
    definition: dict,
    raw: Any,
    *,
    workspace: Workspace,
    runner: User | None = None,
) -> Any:
    """The clean value of one input; raises _Invalid (validate() catches it)."""
    field = _Field(definition, workspace, runner)
    if field.locked:
        raw = definition.get("defaultValue")
    cleaner = _CLEANERS.get(definition.get("type"))
    if cleaner is None:
        raise _Invalid(
            [f"{field.name} has an unknown input type {definition.get('type')!r}."]
        )
    return cleaner(field, raw)


def error_messages(errors: dict, inputs: list[dict] | None = None) -> list[str]:
    """Flatten an errors structure into sentences (for a log line or an API answer)."""
    names = {d.get("key"): d.get("name") or d.get("key") for d in inputs or []}
    found: list[str] = []
    for key, value in errors.items():
        if isinstance(value, list):
            found += value
            continue
        label = names.get(key) or key
        found += value.get(ALL, [])
        for index, row in sorted(value.get("rows", {}).items()):
            if isinstance(row, list):  # STRING rows: "Row 2 is empty."
                found += [f"{label}: {message}" for message in row]
                continue
            found += [f"{label}: {message}" for message in row.get(ALL, [])]
            inner = {k: v for k, v in row.items() if k != ALL}
            found += [f"{label}, row {index + 1}: {m}" for m in error_messages(inner)]
    return found


# --- helpers ---------------------------------------------------------------------


class _Field:
    def __init__(self, definition: dict, workspace, runner):
        self.d = definition
        self.key = definition.get("key")
        self.name = definition.get("name") or self.key or "This field"
        self.locked = bool(definition.get("fixed") or definition.get("disabled"))
        self.required = bool(definition.get("required")) and not self.locked
        self.workspace = workspace
        self.runner = runner

    def get(self, name: str, default: Any = None) -> Any:
        value = self.d.get(name)
        return default if value is None else value

    def missing(self, blank: Any) -> Any:
        """The value of a blank field: an error when required, else `blank`."""
        if self.required:
            raise _Invalid([f"{self.name} is required."])
        return blank


def _is_blank(value: Any) -> bool:
    if value is None or value is False:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | dict):
        return all(
            _is_blank(v) for v in (value.values() if isinstance(value, dict) else value)
        )
    return False


def _show(value: Any) -> str:
    """A submitted (non-secret) value, quoted and shortened, for a message."""
    text = str(value)
    return f'"{text[:60]}…"' if len(text) > 60 else f'"{text}"'


def _text(field: _Field, raw: Any, *, strip: bool = True) -> str:
    if raw is None:
        return ""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise _Invalid([f"{field.name} must be text."])
    text = str(raw)
    try:  # a NUL pasted into a field: the databases can't store it
        check_storable(text, field.name)
    except Unstorable as exc:
        raise _Invalid([f"{exc}."]) from None
    return text.strip() if strip else text


def _check_pattern(field: _Field, text: str) -> None:
    pattern = field.d.get("validationRegex")
    if not pattern:
        return
    try:
        # The regex module reads the Java and JavaScript syntax Cortex's authors
        # write (`(?<name>…)`, `\p{L}`), and bounds a pattern that backtracks:
        matched = regex.fullmatch(pattern, text, timeout=_PATTERN_SECONDS) is not None
    except regex.error:
        raise _Invalid(
            [f"{field.name} can't be checked: its validation pattern is not valid."]
        ) from None
    except TimeoutError:
        raise _Invalid(
            [f"{field.name} can't be checked: its validation pattern took too long."]
        ) from None
    if not matched:
        # Whoever fills the form in did not write the pattern: words first.
        help_ = " (see the field's help)" if field.d.get("description") else ""
        raise _Invalid(
            [
                f"{field.name} is not in the expected format{help_}. The whole value"
                f" must match the pattern {pattern}."
            ]
        )


def _as_list(field: _Field, raw: Any, what: str) -> list:
    if raw is None or raw == "":
        return []
    if isinstance(raw, list | tuple):
        return list(raw)
    if isinstance(raw, str | dict):
        return [raw]
    raise _Invalid([f"{field.name} must be {what}."])


def _one_or_many(field: _Field, items: list, what: str) -> Any:
    if field.get("allowMultiple", False):
        return items
    if len(items) > 1:
        raise _Invalid([f"{field.name} takes one {what}."])
    return items[0] if items else None


# --- text ---------------------------------------------------------------------------


def _clean_text(field: _Field, raw: Any) -> str:
    text = _text(field, raw)
    if not text:
        return field.missing("")
    _check_pattern(field, text)
    return text


def _clean_textarea(field: _Field, raw: Any) -> str:
    """Kept as typed (pasted YAML or code keeps its first line's indentation
    and its last newline), but with the browser's CRLF line ends as LF."""
    text = _text(field, raw, strip=False).replace("\r\n", "\n")
    if not text.strip():
        return field.missing("")
    _check_pattern(field, text)
    return text


def _clean_secret(field: _Field, raw: Any) -> str:
    text = _text(field, raw, strip=False)
    if not text.strip():
        return field.missing("")
    _check_pattern(field, text)
    return text


# --- numbers, toggles, dates ---------------------------------------------------------


def _clean_number(field: _Field, raw: Any) -> int | float | None:
    integer = str(field.get("format", "DECIMAL")).upper() == "INTEGER"
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return field.missing(None)
    if isinstance(raw, bool) or not isinstance(raw, str | int | float | Decimal):
        raise _Invalid([f"{field.name} must be a number."])
    try:
        number = Decimal(raw.strip() if isinstance(raw, str) else str(raw))
    except InvalidOperation:
        raise _Invalid([f"{field.name} must be a number."]) from None
    if not number.is_finite() or not math.isfinite(float(number)):
        raise _Invalid([f"{field.name} must be a number."])
    if integer and number != number.to_integral_value():
        raise _Invalid([f"{field.name} must be a whole number."])
    # A whole number is an int, DECIMAL or not, as the JSON number a browser
    # sends for "4" is: Mustache renders 4 (not 4.0), CEL takes `4 % 2`.
    # Past 2**53 a double, as JSON's numbers are, unless INTEGER asks for it.
    whole = number == number.to_integral_value()
    value: int | float = (
        int(number) if integer or (whole and abs(number) < 2**53) else float(number)
    )
    low, high = _limit(field.d.get("min")), _limit(field.d.get("max"))
    if low is not None and value < low:
        raise _Invalid([f"{field.name} must be at least {_number_text(low)}."])
    if high is not None and value > high:
        raise _Invalid([f"{field.name} must be at most {_number_text(high)}."])
    return value


def _limit(value: Any) -> float | None:
    """A bound from the descriptor (min, max, minRows, maxRows); None if unset or unusable."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _number_text(number: float) -> str:
    return str(int(number)) if number.is_integer() else str(number)


def _clean_toggle(field: _Field, raw: Any) -> bool:
    if raw is None or isinstance(raw, bool):
        return bool(raw)
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str):
        word = raw.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise _Invalid([f"{field.name} must be on or off."])


def _clean_date(field: _Field, raw: Any) -> str:
    with_time = str(field.get("format", "DATE")).upper() == "DATETIME"
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return field.missing("")
    if with_time:
        return _parse_datetime(field, raw).isoformat()
    if isinstance(raw, date) and not isinstance(raw, datetime):
        return raw.isoformat()
    try:
        return date.fromisoformat(raw.strip()).isoformat()
    except (AttributeError, ValueError):
        raise _Invalid([f"{field.name} must be a date (YYYY-MM-DD)."]) from None


def _parse_datetime(field: _Field, raw: Any) -> datetime:
    if isinstance(raw, datetime):
        moment = raw
    else:
        try:
            moment = datetime.fromisoformat(raw.strip())
        except (AttributeError, ValueError):
            raise _Invalid(
                [f"{field.name} must be a date and time (YYYY-MM-DDTHH:MM)."]
            ) from None
        if isinstance(raw, str) and len(raw.strip()) <= 10:  # a date alone
            raise _Invalid(
                [f"{field.name} must be a date and time (YYYY-MM-DDTHH:MM)."]
            )
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_current_timezone())
    return moment


# --- choices ------------------------------------------------------------------------


def _options(field: _Field) -> list[str]:
    return [str(o) for o in field.get("options", [])]


def _clean_select(field: _Field, raw: Any) -> str:
    value = _text(field, raw)
    if not value:
        return field.missing("")
    if not field.get("allowAdditionalOptions", False) and value not in _options(field):
        raise _Invalid([f"{_show(value)} is not one of the options for {field.name}."])
    return value


def _clean_multiselect(field: _Field, raw: Any) -> list[str]:
    chosen: list[str] = []
    for item in _as_list(field, raw, "a list of options"):
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise _Invalid([f"{field.name} must be a list of options."])
        text = str(item).strip()
        if text and text not in chosen:
            chosen.append(text)
    if not chosen:
        return field.missing([])
    if not field.get("allowAdditionalOptions", False):
        options = _options(field)
        bad = [c for c in chosen if c not in options]
        if bad:
            raise _Invalid(
                [f"{_show(b)} is not one of the options for {field.name}." for b in bad]
            )
    return chosen


def _clean_slack(field: _Field, raw: Any) -> Any:
    channels: list[str] = []
    for item in _as_list(field, raw, "a Slack channel name"):
        if not isinstance(item, str):
            raise _Invalid([f"{field.name} must be a Slack channel name."])
        name = item.strip().removeprefix("#")
        if name and name not in channels:
            channels.append(name)
    if not channels:
        return field.missing([] if field.get("allowMultiple", False) else "")
    allowed = [
        str(c).strip().removeprefix("#")
        for c in (field.get("filter", {}) or {}).get("channels") or []
    ]
    messages = []
    for name in channels:
        if not _SLACK_CHANNEL.fullmatch(name):
            messages.append(
                f"{field.name} must be a Slack channel name, like deployments."
            )
        elif allowed and name not in allowed:
            messages.append(
                f'"#{name[:60]}" is not one of the channels allowed for {field.name}.'
            )
    if messages:
        raise _Invalid(messages)
    return _one_or_many(field, channels, "channel")


# --- catalog entities and workspace members ------------------------------------------


def _email_q(lookup: str, emails: list) -> Q:
    """Match any of the emails, ignoring case (`lookup` is e.g. "owner_users__email")."""
    query = Q(pk__in=[])
    for email in emails:
        query |= Q(**{f"{lookup}__iexact": str(email).strip()})
    return query


def _ids_and_tags(values: list) -> tuple[list[int], list[str]]:
    texts = [str(v).strip() for v in values if v is not None]
    return parse_ids(texts), texts


def _teams(workspace: Workspace, ids: list):
    from catalog.models import Team

    pks, tags = _ids_and_tags(ids)
    return Team.objects.filter(workspace=workspace).filter(
        Q(tag__in=tags) | Q(pk__in=pks)
    )


def entity_options(
    definition: dict,
    workspace: Workspace,
    *,
    runner: User | None = None,
    tags: list[str] | None = None,
) -> list[Entity]:
    """The entities a CORTEX_ENTITY_FIELD offers (only those in `tags` when given)."""
    from catalog.models import Entity

    found = Entity.objects.filter(workspace=workspace, archived=False).select_related(
        "type"
    )
    if tags is not None:
        found = found.filter(tag__in=tags)
    spec = definition.get("entityFilter") or {}
    types = (spec.get("typeFilter") or {}).get("types") or []
    if types:
        found = found.filter(type__tag__in=types)
    if spec.get("groupTags"):
        found = found.filter(groups__tag__in=spec["groupTags"])
    if spec.get("excludedGroupTags"):
        found = found.exclude(groups__tag__in=spec["excludedGroupTags"])
    if spec.get("teamIds"):
        found = found.filter(owner_teams__in=_teams(workspace, spec["teamIds"]))
    if spec.get("emailOwners"):
        emails = spec["emailOwners"]
        found = found.filter(
            _email_q("owner_users__email", emails)
            | _email_q("owner_teams__members__email", emails)
        )
    if definition.get("limitEntitiesToRunnerUserScope") and runner is not None:
        found = found.filter(Q(owner_users=runner) | Q(owner_teams__members=runner))
    entities = list(found.distinct())
    if spec.get("domainIds"):
        entities = _below_domains(entities, workspace, spec["domainIds"])
    return entities


def _parent_tags(descriptor: Any) -> list[str]:
    if not isinstance(descriptor, dict):
        return []
    info = (
        descriptor.get("info")
        if isinstance(descriptor.get("info"), dict)
        else descriptor
    )
    parents = info.get("x-cortex-parents") or []
    tags = []
    for parent in parents if isinstance(parents, list) else []:
        tag = parent.get("tag") if isinstance(parent, dict) else parent
        if isinstance(tag, str):
            tags.append(tag)
    return tags


def _below_domains(
    entities: list[Entity], workspace: Workspace, domain_ids: list
) -> list[Entity]:
    """Keep entities that have one of the domains among their x-cortex-parents ancestors."""
    from catalog.models import Entity

    pks, texts = _ids_and_tags(domain_ids)
    rows = Entity.objects.filter(workspace=workspace).values_list(
        "pk", "tag", "descriptor"
    )
    parents = {tag: _parent_tags(descriptor) for _pk, tag, descriptor in rows}
    domains = set(texts) | {tag for pk, tag, _d in rows if pk in pks}

    def below(tag: str) -> bool:
        seen: set[str] = set()
        level = parents.get(tag, [])
        for _depth in range(_MAX_DOMAIN_DEPTH):
            if domains.intersection(level):
                return True
            seen.update(level)
            level = [p for t in level for p in parents.get(t, []) if p not in seen]
            if not level:
                return False
        return False

    return [e for e in entities if below(e.tag)]


def _refs(field: _Field, raw: Any, attribute: str, what: str) -> list[str]:
    refs: list[str] = []
    for item in _as_list(field, raw, what):
        if isinstance(item, dict):
            item = item.get(attribute)
        if not isinstance(item, str):
            raise _Invalid([f"{field.name} must be {what}."])
        item = item.strip()
        if item and item not in refs:
            refs.append(item)
    return refs


def _clean_entity(field: _Field, raw: Any) -> Any:
    tags = _refs(field, raw, "tag", "an entity tag")
    if not tags:
        return field.missing([] if field.get("allowMultiple", False) else None)
    _one_or_many(field, tags, "entity")
    found = {
        e.tag: e
        for e in entity_options(
            field.d, field.workspace, runner=field.runner, tags=tags
        )
    }
    # An entity of another workspace reads exactly like one that doesn't exist:
    bad = [t for t in tags if t not in found]
    if bad:
        raise _Invalid(
            [f"{_show(t)} is not an entity you can pick for {field.name}." for t in bad]
        )
    picked = [
        {"tag": t, "name": found[t].name, "type": found[t].type.tag} for t in tags
    ]
    return _one_or_many(field, picked, "entity")


def user_options(definition: dict, workspace: Workspace):
    """The workspace members a CORTEX_USER_FIELD offers (a User queryset)."""
    from portal.models import User

    found = User.objects.filter(memberships__workspace=workspace, is_active=True)
    spec = definition.get("filter") or {}
    if spec.get("teamCids"):
        found = found.filter(teams__in=_teams(workspace, spec["teamCids"]))
    if spec.get("userEmails"):
        found = found.filter(_email_q("email", spec["userEmails"]))
    return found.distinct()


def _clean_user(field: _Field, raw: Any) -> Any:
    emails = [e.lower() for e in _refs(field, raw, "email", "an email address")]
    emails = list(dict.fromkeys(emails))
    if not emails:
        return field.missing([] if field.get("allowMultiple", False) else None)
    _one_or_many(field, emails, "person")
    members = user_options(field.d, field.workspace).filter(_email_q("email", emails))
    found = {u.email.lower(): u for u in members}
    bad = [e for e in emails if e not in found]
    if bad:
        raise _Invalid(
            [f"{_show(e)} is not a member you can pick for {field.name}." for e in bad]
        )
    picked = [{"email": e, "name": found[e].display_name} for e in emails]
    return _one_or_many(field, picked, "person")


# --- nested forms ------------------------------------------------------------------------


def _clean_nested(field: _Field, raw: Any) -> list:
    if raw is None or raw == "":
        raw = []
    if not isinstance(raw, list | tuple):
        raise _Invalid([f"{field.name} must be a list of rows."])
    objects = str(field.get("dataType", "STRING")).upper() == "OBJECT"
    required = bool(field.d.get("required"))
    kept: list = []
    rows: dict[int, Any] = {}
    for index, row in enumerate(raw):
        number = index + 1
        if _is_blank(row):
            if required:
                rows[index] = (
                    {ALL: [f"Row {number} is empty."]}
                    if objects
                    else [f"Row {number} is empty."]
                )
            continue
        if objects:
            if not isinstance(row, dict):
                rows[index] = {
                    ALL: [f"Row {number} must be an object of {field.name}'s fields."]
                }
                continue
            value, row_errors = validate(
                field.get("inputs", []),
                row,
                workspace=field.workspace,
                runner=field.runner,
            )
            if row_errors:
                rows[index] = row_errors
                continue
        else:
            if isinstance(row, bool) or not isinstance(row, str | int | float):
                rows[index] = [f"Row {number} must be text."]
                continue
            value = str(row).strip()
            try:
                check_storable(value, f"Row {number}")
            except Unstorable as exc:
                rows[index] = [f"{exc}."]
                continue
        kept.append(value)
    whole: list[str] = []
    if not raw or (not kept and not rows):
        if required and not field.locked:
            whole.append(f"{field.name} is required.")
    else:
        low, high = _limit(field.d.get("minRows")), _limit(field.d.get("maxRows"))
        count = len(kept) + len(rows)
        if low is not None and count < low:
            whole.append(f"Add at least {_rows(low)} to {field.name}.")
        if high is not None and count > high:
            whole.append(f"{field.name} takes at most {_rows(high)}.")
    if whole or rows:
        raise _Invalid({ALL: whole, "rows": rows})
    return kept


def _rows(count: float) -> str:
    return "1 row" if count == 1 else f"{int(count)} rows"


_CLEANERS = {
    "INPUT_FIELD": _clean_text,
    "TEXTAREA_FIELD": _clean_textarea,
    "SECRET_FIELD": _clean_secret,
    "NUMBER_FIELD": _clean_number,
    "TOGGLE_FIELD": _clean_toggle,
    "SELECT_FIELD": _clean_select,
    "MULTISELECT_FIELD": _clean_multiselect,
    "DATE_FIELD": _clean_date,
    "CORTEX_ENTITY_FIELD": _clean_entity,
    "CORTEX_USER_FIELD": _clean_user,
    "SLACK_FIELD": _clean_slack,
    "NESTED_FORM_FIELD": _clean_nested,
}
