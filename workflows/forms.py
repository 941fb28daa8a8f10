"""Django forms for the run page: a USER_INPUT form built from its input definitions.

`RunInputForm(definitions, workspace=…, runner=…, data=…)` turns the resolved
definitions a waiting USER_INPUT step holds (`step.inputs["form"]`) into fields
the template renders with crispy-forms, in the definitions' order. It only
renders and collects: `values()` gives the raw submitted values by input key,
the engine validates them (`workflows.inputs.validate`) and raises
`InputInvalid(errors)`, and `apply_errors(errors)` puts those messages beside
their fields and rows.

Field names are the input keys. A NESTED_FORM_FIELD's rows are named with dots,
which input keys can't contain, so names never collide:

    hostnames.TOTAL = 2             the number of rows
    hostnames.0.value, hostnames.1.value        a STRING row's text
    envVars.0.name, envVars.0.value             an OBJECT row's sub-form

Add and Remove are named submit buttons (`add_row=<prefix>`,
`remove_row=<prefix>.<index>`). `rows_changed()` rewrites the posted data with
a row appended or removed (later rows renumbered), and the form is bound to the
result, so everything typed stays where it was.

Secret fields are never prefilled from a definition, and what the person typed
in one is never rendered back. The run page's script keeps it in the browser
across a re-render (after Add, Remove or an error elsewhere), except when the
secret itself is invalid.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from crispy_forms.helper import FormHelper
from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.forms.utils import ErrorDict
from django.http import QueryDict
from django.template.defaultfilters import pluralize
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from portal.ids import parse_id

from .inputs import ALL, entity_options, user_options
from .templatetags.workflow_tags import markdown

SEP = "."
TOTAL = "TOTAL"
STRING_ROW_KEY = "value"
MAX_ROWS = 200  # a hard cap on rows whatever the descriptor or the post says
ADD = "add_row"
REMOVE = "remove_row"


def _locked(definition: dict) -> bool:
    return bool(definition.get("fixed") or definition.get("disabled"))


def _limit(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return max(0, int(float(value)))
    except (TypeError, ValueError, OverflowError):  # OverflowError: "inf", "1e309"
        return None


class DatalistInput(forms.TextInput):
    """A text input that suggests options (a select that allows other values)."""

    def __init__(self, options: list[tuple[str, str]], attrs=None):
        super().__init__(attrs)
        self.options = options

    def render(self, name, value, attrs=None, renderer=None):
        list_id = f"{(attrs or {}).get('id') or name}-options"
        attrs = {**(attrs or {}), "list": list_id}
        html = super().render(name, value, attrs, renderer)
        options = format_html_join("", '<option value="{}">{}</option>', self.options)
        return format_html('{}<datalist id="{}">{}</datalist>', html, list_id, options)


LONG_CHECKLIST = 8  # more options than this scroll in a box of their own


def _checklist(choices: list[tuple[str, str]]) -> forms.MultipleChoiceField:
    """Several people or entities: a checkbox each (a multiple <select> made a
    plain click drop the earlier choices). A long list scrolls in its own box
    (portal.css, `data-long-list`)."""
    attrs = {"data-long-list": ""} if len(choices) > LONG_CHECKLIST else {}
    return forms.MultipleChoiceField(
        choices=choices, widget=forms.CheckboxSelectMultiple(attrs=attrs)
    )


class ChecklistWithOther(forms.Widget):
    """A multiselect that allows other values: a checkbox per option, and a
    text input (`<name>.other`) for the others, separated by commas.

    Like Django's CheckboxSelectMultiple it is a group (`use_fieldset`): the
    field's label is the fieldset's legend, and its checkboxes and text input
    are grouped under it. `label` names the field in the text input's label.
    """

    use_fieldset = True

    def __init__(self, choices: list[tuple[str, str]], attrs=None, label: str = ""):
        super().__init__(attrs)
        self.choices = choices
        self.label = label

    def value_from_datadict(self, data, files, name) -> list[str]:
        chosen = data.getlist(name) if hasattr(data, "getlist") else data.get(name)
        if not isinstance(chosen, list):
            chosen = [chosen] if chosen else []
        other = str(data.get(f"{name}.other") or "")
        return [*chosen, *(part.strip() for part in other.split(",") if part.strip())]

    def value_omitted_from_data(self, data, files, name) -> bool:
        return False  # nothing ticked is a value too

    def id_for_label(self, id_):
        return ""  # a legend names the group: no <label for> points at it

    def render(self, name, value, attrs=None, renderer=None):
        attrs = self.build_attrs(self.attrs, attrs)
        base = attrs.get("id") or f"id_{name}"
        # BoundField sets aria-invalid on a field with errors; the message's
        # element is `<id>_error` (see RunInputForm._add):
        invalid = attrs.get("aria-invalid") == "true"
        state = (
            format_html(' aria-invalid="true" aria-describedby="{}_error"', base)
            if invalid
            else ""
        )
        invalid_class = " is-invalid" if invalid else ""
        value = value if isinstance(value, list) else [value] if value else []
        chosen = {str(v) for v in value}
        options = {option for option, _ in self.choices}
        boxes = format_html_join(
            "",
            '<div class="form-check"><input class="form-check-input{}" type="checkbox"'
            ' name="{}" value="{}" id="{}_{}"{}{}><label class="form-check-label"'
            ' for="{}_{}">{}</label></div>',
            (
                (invalid_class, name, option, base, i)
                + (" checked" if option in chosen else "", state, base, i, label)
                for i, (option, label) in enumerate(self.choices)
            ),
        )
        # The root's is-invalid class shows the .invalid-feedback after it:
        return format_html(
            '<div id="{}" class="checklist-with-other{}">{}'
            '<label class="form-label small text-body-secondary mt-1 mb-1"'
            ' for="{}_other">Other {}, separated by commas</label>'
            '<input type="text" class="form-control{}" name="{}.other"'
            ' id="{}_other" value="{}"{}></div>',
            base,
            invalid_class,
            boxes,
            base,
            self.label or "values",
            invalid_class,
            name,
            base,
            ", ".join(str(v) for v in value if str(v) not in options),
            state,
        )


def _choices(definition: dict) -> list[tuple[str, str]]:
    options = [str(o) for o in definition.get("options") or []]
    labels = [str(label) for label in definition.get("optionsLabels") or []]
    if len(labels) != len(options):
        labels = options
    return list(zip(options, labels, strict=True))


def _no_answer(definition: dict) -> bool:
    """A required select that offers nothing and takes nothing else."""
    return (
        bool(definition.get("required"))
        and not definition.get("allowAdditionalOptions")
        and not _choices(definition)
    )


def _number_widget(definition: dict) -> forms.NumberInput:
    integer = str(definition.get("format", "DECIMAL")).upper() == "INTEGER"
    attrs: dict[str, Any] = {"step": "1" if integer else "any"}
    for bound in ("min", "max"):
        if isinstance(definition.get(bound), int | float) and not isinstance(
            definition.get(bound), bool
        ):
            attrs[bound] = definition[bound]
    return forms.NumberInput(attrs=attrs)


def _date_initial(definition: dict, value: Any) -> str:
    """A default date or datetime in the shape <input type=date|datetime-local> takes."""
    if not isinstance(value, str) or not value:
        return ""
    if str(definition.get("format", "DATE")).upper() != "DATETIME":
        return value[:10]
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return moment.strftime("%Y-%m-%dT%H:%M")


def _more_help(help_html: str, sentence: str) -> str:
    """The field's help (HTML from its Markdown description), then a sentence of ours."""
    return format_html("{} {}" if help_html else "{}{}", help_html, sentence)


def build_field(
    definition: dict, *, workspace, runner=None, typed: bool = False
) -> forms.Field:
    """The Django field that renders one (non-nested) input definition.

    Fields never validate (the engine does): they only render and collect.
    `typed` says something was posted for it: a secret field then asks for its
    value again, as it is never sent back.
    """
    kind = definition.get("type")
    multiple = bool(definition.get("allowMultiple"))
    common: dict[str, Any] = {
        "label": definition.get("name") or definition.get("key"),
        # Cortex's descriptions are Markdown; crispy renders help text as it
        # is, so it is the sanitised HTML:
        "help_text": markdown(definition.get("description") or ""),
        "required": bool(definition.get("required")) and not _locked(definition),
        "disabled": _locked(definition),
    }
    placeholder = definition.get("placeholder") or ""
    text_attrs = {"placeholder": placeholder} if placeholder else {}
    default = definition.get("defaultValue")
    field: forms.Field
    if kind in ("SELECT_FIELD", "MULTISELECT_FIELD") and _no_answer(definition):
        common["help_text"] = _more_help(
            common["help_text"],
            "This field has no option to choose, and needs one.",
        )
    if kind == "TEXTAREA_FIELD":
        field = forms.CharField(widget=forms.Textarea(attrs={"rows": 4, **text_attrs}))
    elif kind == "SECRET_FIELD":
        attrs = {"autocomplete": "new-password", **text_attrs}
        if _locked(definition):
            attrs["placeholder"] = "Set by the workflow"
        elif typed:  # sent, and not sent back (after Add, Remove, an error)
            attrs["placeholder"] = "Type it again: a secret is never sent back"
        # Never rendered back into the page, even when valid: the page could be
        # cached or read from its source.
        field = forms.CharField(
            strip=False, widget=forms.PasswordInput(attrs=attrs, render_value=False)
        )
        default = None  # never prefilled
    elif kind == "NUMBER_FIELD":
        field = forms.CharField(widget=_number_widget(definition))
        if text_attrs:
            field.widget.attrs.update(text_attrs)
    elif kind == "TOGGLE_FIELD":
        common["required"] = False  # an unticked toggle is a value too
        field = forms.BooleanField(widget=forms.CheckboxInput(attrs={"role": "switch"}))
        default = bool(default)
    elif kind == "SELECT_FIELD":
        choices = _choices(definition)
        if definition.get("allowAdditionalOptions"):
            field = forms.CharField(widget=DatalistInput(choices, attrs=text_attrs))
        else:
            blank = [("", placeholder or "Choose…")]
            field = forms.ChoiceField(choices=blank + choices)
    elif kind == "MULTISELECT_FIELD":
        if definition.get("allowAdditionalOptions"):
            field = forms.Field(
                widget=ChecklistWithOther(_choices(definition), label=common["label"])
            )
        else:
            field = forms.MultipleChoiceField(
                choices=_choices(definition), widget=forms.CheckboxSelectMultiple
            )
        if not isinstance(default, list):
            default = [default] if default else []
    elif kind == "DATE_FIELD":
        with_time = str(definition.get("format", "DATE")).upper() == "DATETIME"
        input_type = "datetime-local" if with_time else "date"
        field = forms.CharField(widget=forms.TextInput(attrs={"type": input_type}))
        default = _date_initial(definition, default)
        if with_time:  # the browser shows no zone: say which the time is read in
            common["help_text"] = _more_help(
                common["help_text"],
                f"The time is in {timezone.get_current_timezone_name()}.",
            )
    elif kind == "CORTEX_ENTITY_FIELD":
        choices = [
            (e.tag, f"{e.name} ({e.tag})")
            for e in entity_options(definition, workspace, runner=runner)
        ]
        if not choices:  # else an empty list the runner can't tell why
            common["help_text"] = _more_help(
                common["help_text"],
                "There is no entity you may pick here: the field's filter or the"
                " catalog would have to change.",
            )
        if multiple:
            field = _checklist(choices)
        else:
            field = forms.ChoiceField(
                choices=[("", placeholder or "Choose an entity…")] + choices
            )
        items = default if isinstance(default, list) else [default] if default else []
        tags = [i.get("tag") if isinstance(i, dict) else i for i in items]
        default = tags if multiple else (tags[0] if tags else "")
    elif kind == "CORTEX_USER_FIELD":
        choices = [
            (u.email, f"{u.display_name} ({u.email})" if u.get_full_name() else u.email)
            for u in user_options(definition, workspace).order_by("email")
        ]
        if not choices:
            spec = definition.get("filter") or {}
            both = spec.get("teamCids") and spec.get("userEmails")
            common["help_text"] = _more_help(
                common["help_text"],
                "There is no one to pick here"
                + (
                    " (a person must be in one of the filter's teams and have one of"
                    " its emails)"
                    if both
                    else ""
                )
                + ": the field's filter or the workspace's members would have to"
                " change.",
            )
        if multiple:
            field = _checklist(choices)
        else:
            field = forms.ChoiceField(
                choices=[("", placeholder or "Choose a person…")] + choices
            )
        items = default if isinstance(default, list) else [default] if default else []
        emails = [i.get("email") if isinstance(i, dict) else i for i in items]
        default = emails if multiple else (emails[0] if emails else "")
    elif kind == "SLACK_FIELD":
        channels = [
            str(c).removeprefix("#")
            for c in (definition.get("filter") or {}).get("channels") or []
        ]
        if channels and multiple:
            field = forms.MultipleChoiceField(
                choices=[(c, f"#{c}") for c in channels],
                widget=forms.CheckboxSelectMultiple,
            )
        elif channels:
            field = forms.ChoiceField(
                choices=[("", placeholder or "Choose a channel…")]
                + [(c, f"#{c}") for c in channels]
            )
        else:
            field = forms.CharField(
                widget=forms.TextInput(attrs={"placeholder": placeholder or "#channel"})
            )
            if multiple:
                common["help_text"] = _more_help(
                    common["help_text"], "Separate channels with commas."
                )
        if isinstance(default, list) and not (channels and multiple):
            default = ", ".join(str(c) for c in default)
    else:  # INPUT_FIELD, and anything unknown is asked as text
        field = forms.CharField(widget=forms.TextInput(attrs=text_attrs))
    for name, value in common.items():
        setattr(field, name, value)
    if field.disabled:
        field.widget.attrs["aria-readonly"] = "true"
    if default is not None:
        field.initial = default
    return field


def _raw_value(definition: dict, bound_field: forms.BoundField) -> Any:
    """What the browser sent for one field, in the shape inputs.validate reads."""
    value = bound_field.data
    kind = definition.get("type")
    multiple = definition.get("allowMultiple")
    if kind == "SLACK_FIELD" and multiple and isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


# Checkboxes and radio buttons, whose role doesn't take aria-required:
_CHOICE_WIDGETS = (forms.CheckboxInput, forms.CheckboxSelectMultiple, forms.RadioSelect)


class RunInputForm(forms.Form):
    """A USER_INPUT form; see the module docstring."""

    use_required_attribute = False  # the engine's messages, not the browser's

    def __init__(
        self,
        definitions: list[dict],
        *,
        workspace,
        runner=None,
        data: QueryDict | dict | None = None,
        prefix: str | None = None,
        added: str | None = None,
    ):
        super().__init__(data=data, prefix=prefix, auto_id="id_%s")
        self.definitions = [d for d in definitions if isinstance(d, dict)]
        self.workspace = workspace
        self.runner = runner
        self.nested: dict[str, NestedRows] = {}
        # Errors come from the engine: the form never runs Django's validation.
        self._errors = ErrorDict()
        self.cleaned_data = {}
        for definition in self.definitions:
            key = str(definition.get("key"))
            if definition.get("type") == "NESTED_FORM_FIELD":
                self.nested[key] = NestedRows(
                    definition,
                    prefix=self.add_prefix(key),
                    data=data,
                    workspace=workspace,
                    runner=runner,
                    added=added,
                )
            else:
                field = self.fields[key] = build_field(
                    definition,
                    workspace=workspace,
                    runner=runner,
                    typed=data is not None and bool(data.get(self.add_prefix(key))),
                )
                # The red * says it to the eye; this to a screen reader (the
                # browser's own `required` would check before the engine does).
                if field.required and not isinstance(field.widget, _CHOICE_WIDGETS):
                    field.widget.attrs["aria-required"] = "true"
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True

    def add_prefix(self, field_name: str) -> str:
        return f"{self.prefix}{SEP}{field_name}" if self.prefix else field_name

    @property
    def entries(self) -> list[dict]:
        """What the template renders, in the definitions' order."""
        found = []
        for definition in self.definitions:
            key = str(definition.get("key"))
            if key in self.nested:
                found.append({"nested": self.nested[key], "definition": definition})
            else:
                found.append(
                    {
                        "field": self[key],
                        "definition": definition,
                        "toggle": definition.get("type") == "TOGGLE_FIELD",
                    }
                )
        return found

    @property
    def first_field(self) -> forms.BoundField | None:
        for entry in self.entries:
            if "field" in entry and not entry["field"].field.disabled:
                return entry["field"]
        return None

    def values(self) -> dict[str, Any]:
        """The submitted values by input key, unvalidated (locked inputs left out)."""
        found: dict[str, Any] = {}
        for definition in self.definitions:
            if _locked(definition):
                continue
            key = str(definition.get("key"))
            if key in self.nested:
                found[key] = self.nested[key].values()
            else:
                found[key] = _raw_value(definition, self[key])
        return found

    def apply_errors(self, errors: dict) -> None:
        """Show an InputInvalid's errors (structure in workflows.inputs) on the form."""
        for key, messages in errors.items():
            if key == ALL:
                self._add(NON_FIELD_ERRORS, messages)
            elif key in self.nested:
                self.nested[key].apply_errors(messages)
            elif key in self.fields:
                if isinstance(messages, dict):
                    messages = messages.get(ALL, [])
                self._add(key, messages)
            else:  # an input this form doesn't show (a locked nested field)
                flat = messages if isinstance(messages, list) else messages.get(ALL, [])
                self._add(NON_FIELD_ERRORS, [str(m) for m in flat])

    def _add(self, key: str, messages) -> None:
        if not messages:
            return
        if isinstance(messages, str):
            messages = [messages]
        error_class = "nonfield" if key == NON_FIELD_ERRORS else None
        existing = self._errors.get(key)
        if existing is None:
            # field_id names the message's element, which the input's
            # aria-describedby points to (as Django's own add_error does):
            self._errors[key] = self.error_class(
                [str(m) for m in messages],
                error_class=error_class,
                field_id=None if error_class else self[key].auto_id,
            )
        else:
            existing.extend(str(m) for m in messages)

    @property
    def has_errors(self) -> bool:
        return bool(self._errors) or any(n.has_errors for n in self.nested.values())

    def error_summary(self, within: str = "") -> list[dict]:
        """Each field's errors in the form's order, as {label, message, target}
        (the id of the element to go to): the list a form with errors starts
        with. `within` names the row a sub-form is in."""
        found = []
        for entry in self.entries:
            if "nested" in entry:
                found += entry["nested"].error_summary(within)
                continue
            field = entry["field"]
            # A group of radios or checkboxes has no one element to go to:
            target = field.id_for_label or f"div_{field.auto_id}"
            found += [
                {"label": f"{within}{field.label}", "message": m, "target": target}
                for m in field.errors
            ]
        return found


class NestedRow:
    def __init__(self, index: int, form: RunInputForm, *, autofocus: bool = False):
        self.index = index
        self.number = index + 1
        self.form = form
        self.errors: list[str] = []
        if autofocus and form.first_field is not None:
            form.first_field.field.widget.attrs["autofocus"] = True

    @property
    def string_field(self) -> forms.BoundField:
        return self.form[STRING_ROW_KEY]

    @property
    def element_id(self) -> str:
        """The id of an Object row's group on the page."""
        return f"{self.form.prefix}-row"

    @property
    def has_errors(self) -> bool:
        return bool(self.errors) or self.form.has_errors


class NestedRows:
    """The rows of one NESTED_FORM_FIELD: a STRING list or OBJECT sub-forms."""

    def __init__(
        self,
        definition: dict,
        *,
        prefix: str,
        data,
        workspace,
        runner,
        added: str | None = None,
    ):
        self.definition = definition
        self.prefix = prefix
        self.key = str(definition.get("key"))
        self.name = definition.get("name") or self.key
        self.help_text = definition.get("description") or ""
        self.locked = _locked(definition)
        self.required = bool(definition.get("required")) and not self.locked
        self.objects = str(definition.get("dataType", "STRING")).upper() == "OBJECT"
        self.min_rows = _limit(definition.get("minRows")) or 0
        max_rows = _limit(definition.get("maxRows"))
        self.max_rows = min(max_rows, MAX_ROWS) if max_rows is not None else MAX_ROWS
        self.errors: list[str] = []
        self.total_name = f"{prefix}{SEP}{TOTAL}"
        sub_definitions = self._sub_definitions()
        if data is not None and not self.locked:
            # The page offers no Add at maxRows and no Remove at minRows; a
            # forged post, whatever TOTAL it claims, gets as many rows as the
            # page could have shown, and an Add past maxRows adds nothing.
            claimed = _limit(data.get(self.total_name)) or 0
            count = max(min(claimed, self.max_rows), min(self.min_rows, self.max_rows))
            head, _, index = (added or "").rpartition(SEP)
            if head == prefix and index.isdigit() and int(index) >= count:
                added = None
            initials: list[Any] = [None] * count
            row_data = data
        else:
            default = definition.get("defaultValue")
            initials = list(default) if isinstance(default, list) else []
            if not initials and not self.locked:
                wanted = max(self.min_rows, 1)
                initials = [None] * min(wanted, self.max_rows)
            row_data = None
        self.rows = []
        for index, initial in enumerate(initials):
            row_prefix = f"{prefix}{SEP}{index}"
            defs = sub_definitions
            if initial is not None:
                defs = self._with_defaults(sub_definitions, initial)
            form = RunInputForm(
                defs,
                workspace=workspace,
                runner=runner,
                # A row just added starts from the sub-form's defaults:
                data=None if row_prefix == added else row_data,
                prefix=row_prefix,
                added=added,
            )
            if not self.objects:
                widget = form.fields[STRING_ROW_KEY].widget
                widget.attrs["class"] = "form-control"
                widget.attrs["aria-label"] = f"{self.name} row {index + 1}"
            self.rows.append(NestedRow(index, form, autofocus=added == row_prefix))

    def _sub_definitions(self) -> list[dict]:
        if self.objects:
            subs = [
                d for d in self.definition.get("inputs") or [] if isinstance(d, dict)
            ]
        else:
            subs = [{"key": STRING_ROW_KEY, "type": "INPUT_FIELD", "name": self.name}]
        if self.locked:
            subs = [{**d, "disabled": True} for d in subs]
        return subs

    def _with_defaults(self, subs: list[dict], initial: Any) -> list[dict]:
        if not self.objects:
            return [{**subs[0], "defaultValue": initial}]
        initial = initial if isinstance(initial, dict) else {}
        return [
            {**d, "defaultValue": initial[d.get("key")]}
            if d.get("key") in initial
            else d
            for d in subs
        ]

    @property
    def element_id(self) -> str:
        """The id of the field's fieldset on the page."""
        return f"{self.prefix}-field"

    @property
    def count(self) -> int:
        return len(self.rows)

    @property
    def rows_hint(self) -> str:
        """The row limits in words, least first: "1 to 3 rows", "Up to 4 rows",
        "At least 2 rows" ('' without limits)."""
        low, high = self.min_rows, self.max_rows if self.max_rows < MAX_ROWS else None
        if low and high:
            if low == high:
                return f"Exactly {low} row{pluralize(low)}."
            return f"{low} to {high} rows."
        if high:
            return f"Up to {high} row{pluralize(high)}."
        if low:
            return f"At least {low} row{pluralize(low)}."
        return ""

    @property
    def can_add(self) -> bool:
        return not self.locked and self.count < self.max_rows

    @property
    def can_remove(self) -> bool:
        return not self.locked and self.count > self.min_rows

    def values(self) -> list[Any]:
        if self.objects:
            # An optional field's row left as its sub-form's defaults was never
            # filled in: sent as blank, it is dropped instead of asking for the
            # fields that have no default.
            return [
                row.form.values() if self.required or row.form.has_changed() else {}
                for row in self.rows
            ]
        return [row.form.values().get(STRING_ROW_KEY) for row in self.rows]

    def apply_errors(self, errors: Any) -> None:
        if isinstance(errors, list):
            self.errors += [str(m) for m in errors]
            return
        self.errors += [str(m) for m in errors.get(ALL, [])]
        for index, row_errors in (errors.get("rows") or {}).items():
            try:
                row = self.rows[int(index)]
            except (IndexError, ValueError):
                continue
            if isinstance(row_errors, list):
                row.errors += [str(m) for m in row_errors]
                if not self.objects:
                    # Read out with the field, as other fields' errors are:
                    bound = row.form[STRING_ROW_KEY]
                    bound.field.widget.attrs.update(
                        {
                            "class": "form-control is-invalid",
                            "aria-invalid": "true",
                            "aria-describedby": f"{bound.auto_id}_error",
                        }
                    )
            else:
                row.errors += [str(m) for m in row_errors.get(ALL, [])]
                row.form.apply_errors({k: v for k, v in row_errors.items() if k != ALL})

    @property
    def has_errors(self) -> bool:
        return bool(self.errors) or any(row.has_errors for row in self.rows)

    def error_summary(self, within: str = "") -> list[dict]:
        """RunInputForm.error_summary for this field's own errors and its rows'."""
        name = f"{within}{self.name}"
        found = [
            {"label": name, "message": m, "target": self.element_id}
            for m in self.errors
        ]
        for row in self.rows:
            label = f"{name} row {row.number}"
            target = row.element_id if self.objects else row.string_field.auto_id
            messages = [*row.errors]
            if self.objects:  # a sub-form's message for the whole row too
                messages += row.form.non_field_errors()
            found += [
                {"label": label, "message": m, "target": target} for m in messages
            ]
            if self.objects:
                found += row.form.error_summary(f"{label}: ")
        return found


# --- Add and Remove ------------------------------------------------------------------


def rows_changed(
    data: QueryDict, *, add: str | None = None, remove: str | None = None
) -> tuple[QueryDict, str | None]:
    """A copy of posted form data with a row appended to `add` or removed at `remove`.

    `add` is a nested field's prefix (`envVars`, `envVars.0.ports`); `remove` is
    a row's prefix (`envVars.1`). Rows after a removed one move up by one, so
    names stay contiguous (`envVars.0`, `envVars.1`, …) and values stay with
    their rows. Returns the data and the prefix of the row added (or None).
    """
    changed = data.copy()
    added = None
    for name in (ADD, REMOVE):
        changed.pop(name, None)
    if add:
        total = f"{add}{SEP}{TOTAL}"
        count = _limit(changed.get(total)) or 0
        if count < MAX_ROWS:
            changed[total] = str(count + 1)
            added = f"{add}{SEP}{count}"
    if remove and SEP in remove:
        prefix, _, index_text = remove.rpartition(SEP)
        removed = parse_id(index_text)
        if removed is None:
            return changed, added
        total = f"{prefix}{SEP}{TOTAL}"
        count = _limit(changed.get(total)) or 0
        if removed >= count:
            return changed, added
        pattern = re.compile(rf"^{re.escape(prefix)}\.(\d+)(\..+)?$")
        rows: dict[str, list[str]] = {}
        for name in list(changed.keys()):
            match = pattern.match(name)
            if match is None:
                continue
            values = changed.getlist(name)
            del changed[name]
            index = int(match.group(1))
            if index == removed:
                continue
            if index > removed:
                index -= 1
            rows[f"{prefix}{SEP}{index}{match.group(2) or ''}"] = values
        for name, values in rows.items():
            changed.setlist(name, values)
        changed[total] = str(count - 1)
    return changed, added


def row_change(data: QueryDict) -> tuple[str | None, str | None] | None:
    """(add, remove) when the post is an Add or Remove click, else None."""
    add, remove = data.get(ADD), data.get(REMOVE)
    if add is None and remove is None:
        return None
    return add or None, remove or None
