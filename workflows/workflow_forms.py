"""Forms of the workflow pages: create, settings, descriptor (YAML), access, run filters.

They validate and clean; each editing form turns its fields into a whole
descriptor (`descriptor_for`) that the view passes through
`descriptor.validate` and `services.workflow_upsert`, so every save is a new
version and the same rules apply as for the API.
"""

import copy

from django import forms
from django.utils.text import slugify

from catalog.models import EntityType
from portal.forms import CrispyMixin
from portal.models import Workspace

from . import descriptor as descriptor_lib
from .models import Run, RunStatus
from .templating import template_problem

# Paths under /workflows/ that are pages, not workflow tags:
RESERVED_TAGS = descriptor_lib.RESERVED_TAGS

OWNERSHIP_CHOICES = [
    ("ALL", "Every entity that matches the filter"),
    ("OWNER", "Only entities the person running it owns"),
    ("EDITOR", "Owned entities; any entity for people who may edit entities"),
]


def _descriptor_errors(form: forms.Form, exc: descriptor_lib.DescriptorError) -> None:
    for error in exc.errors:
        form.add_error(None, error)


def scratch_descriptor(*, tag: str, name: str) -> dict:
    """The smallest useful workflow: a draft with one block that says hello."""
    return {
        "tag": tag,
        "name": name,
        "description": "",
        "isDraft": True,
        "isRunnableViaApi": False,
        "filter": {"type": "GLOBAL"},
        "actions": [
            {
                "name": "Say hello",
                "slug": "say-hello",
                "isRootAction": True,
                "outgoingActions": [],
                "schema": {"type": "JQ", "expression": '{message: "Hello"}'},
            }
        ],
    }


class _NewTagMixin:
    """A tag for a new workflow must be free in the workspace and not a page path."""

    workspace: Workspace

    def _check_new_tag(self, tag: str) -> str | None:
        if tag in RESERVED_TAGS:
            return f"“{tag}” is reserved for a page; choose another tag."
        if self.workspace.workflows.filter(tag=tag).exists():
            return (
                f"A workflow with the tag “{tag}” exists already; choose another tag."
            )
        return None


class WorkflowCreateForm(_NewTagMixin, CrispyMixin, forms.Form):
    name = forms.CharField(max_length=descriptor_lib.MAX_NAME)
    tag = forms.CharField(
        max_length=descriptor_lib.MAX_TAG,
        required=False,
        help_text="Letters, digits, - and _. Left empty, it is made from the name.",
    )

    def __init__(self, *args, workspace: Workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace = workspace

    def clean(self):
        data = super().clean()
        name = data.get("name", "").strip()
        if not name:
            return data
        tag = data.get("tag", "").strip() or slugify(name)
        if not tag:
            self.add_error("tag", "Enter a tag: the name has no letters or digits.")
            return data
        if not descriptor_lib.SLUG_RE.match(tag):
            self.add_error("tag", "Use only letters, digits, - and _.")
            return data
        if problem := self._check_new_tag(tag):
            self.add_error("tag", problem)
            return data
        try:
            data["descriptor"] = descriptor_lib.validate(
                scratch_descriptor(tag=tag, name=name)
            )
        except descriptor_lib.DescriptorError as exc:
            _descriptor_errors(self, exc)
        return data


class WorkflowImportForm(_NewTagMixin, CrispyMixin, forms.Form):
    # Not stripped: a final `|` block keeps its last newline, as in the file.
    yaml = forms.CharField(
        label="Descriptor (YAML or JSON)",
        required=False,
        strip=False,
        widget=forms.Textarea(
            attrs={"rows": 12, "class": "font-monospace", "spellcheck": "false"}
        ),
    )
    file = forms.FileField(
        label="…or upload a file", required=False, help_text=".yaml, .yml or .json"
    )

    def __init__(self, *args, workspace: Workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace = workspace

    def clean(self):
        data = super().clean()
        upload = data.get("file")
        text = upload.read() if upload else data.get("yaml", "")
        if not upload and not text.strip():
            raise forms.ValidationError("Paste a descriptor or choose a file.")
        try:
            data["descriptor"] = descriptor_lib.validate(descriptor_lib.parse(text))
        except descriptor_lib.DescriptorError as exc:
            _descriptor_errors(self, exc)
            return data
        if problem := self._check_new_tag(data["descriptor"]["tag"]):
            self.add_error(None, problem)
        return data


class DescriptorForm(CrispyMixin, forms.Form):
    """The whole descriptor as YAML; the tag names the workflow and can't change."""

    yaml = forms.CharField(
        label="Descriptor",
        strip=False,  # see WorkflowImportForm
        widget=forms.Textarea(
            attrs={"rows": 30, "class": "font-monospace small", "spellcheck": "false"}
        ),
        error_messages={"required": "the descriptor is empty"},
    )

    def __init__(self, *args, tag: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.tag = tag

    @property
    def problems(self) -> list[str]:
        """Every problem, the descriptor's and the field's (empty, NUL…), as listed."""
        return [*self.non_field_errors(), *self.errors.get("yaml", [])]

    def clean(self):
        data = super().clean()
        if "yaml" not in data:
            return data
        try:
            descriptor = descriptor_lib.validate(descriptor_lib.parse(data["yaml"]))
        except descriptor_lib.DescriptorError as exc:
            _descriptor_errors(self, exc)
            return data
        if descriptor["tag"] != self.tag:
            self.add_error(
                None,
                f"tag: can't be changed here (it is “{self.tag}”); change it in the"
                " workflow's Settings, or, to copy the workflow under a new tag,"
                " create a workflow from YAML.",
            )
            return data
        data["descriptor"] = descriptor
        return data


class WorkflowSettingsForm(_NewTagMixin, CrispyMixin, forms.Form):
    name = forms.CharField(max_length=descriptor_lib.MAX_NAME)
    tag = forms.CharField(
        max_length=descriptor_lib.MAX_TAG,
        required=False,  # left out or empty: unchanged
        help_text="Letters, digits, - and _. Pages, API calls and the CLI name the"
        " workflow by its tag: after a change, they use the new one.",
    )
    description = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Markdown.",
    )
    status = forms.ChoiceField(
        choices=[
            ("published", "Published: everyone who may see workflows sees it"),
            ("draft", "Draft: only people who may edit workflows see it"),
        ],
        widget=forms.RadioSelect,
    )
    scope = forms.ChoiceField(
        label="Runs on",
        choices=[
            ("GLOBAL", "Nothing in particular (global)"),
            ("ENTITY", "An entity, chosen when it starts"),
        ],
        widget=forms.RadioSelect,
    )
    entity_types = forms.MultipleChoiceField(
        label="Entity types",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="For entity workflows; none ticked: every type.",
    )
    ownership_scope = forms.ChoiceField(
        label="Ownership scope", choices=OWNERSHIP_CHOICES, required=False
    )
    restrict_completion = forms.BooleanField(
        label="Only the person who started a run may fill in its forms",
        required=False,
    )
    run_response_template = forms.CharField(
        label="Response when a run succeeds",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "class": "font-monospace small"}),
        help_text="Markdown with {{mustache}} paths, e.g. {{actions.greet.outputs.message}}.",
    )
    failed_run_response_template = forms.CharField(
        label="Response when a run fails",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "class": "font-monospace small"}),
    )

    def __init__(self, *args, workspace: Workspace, current: dict, **kwargs):
        flt = current.get("filter") or {}
        types = ((flt.get("entityFilter") or {}).get("typeFilter") or {}).get(
            "types"
        ) or []
        kwargs.setdefault(
            "initial",
            {
                "name": current.get("name", ""),
                "tag": current.get("tag", ""),
                "description": current.get("description", ""),
                "status": "draft" if current.get("isDraft") else "published",
                "scope": flt.get("type", "GLOBAL"),
                "entity_types": types,
                "ownership_scope": flt.get("ownershipScope", "ALL"),
                "restrict_completion": bool(
                    current.get("restrictActionCompletionToRunnerUser")
                ),
                "run_response_template": current.get("runResponseTemplate", ""),
                "failed_run_response_template": current.get(
                    "failedRunResponseTemplate", ""
                ),
            },
        )
        super().__init__(*args, **kwargs)
        self.current = current
        self.workspace = workspace
        known = list(
            EntityType.objects.filter(workspace=workspace).values_list("tag", "name")
        )
        # Types the descriptor names but the catalog lacks stay choosable:
        extra = [(t, t) for t in types if t not in {tag for tag, _ in known}]
        self.fields["entity_types"].choices = known + extra

    def descriptor_for(self) -> dict:
        """The current descriptor with this form's fields applied (not validated)."""
        data = self.cleaned_data
        d = copy.deepcopy(self.current)
        d["name"] = data["name"].strip()
        d["tag"] = data["tag"]
        d["description"] = data["description"]
        d["isDraft"] = data["status"] == "draft"
        d["restrictActionCompletionToRunnerUser"] = data["restrict_completion"]
        for key, field in (
            ("runResponseTemplate", "run_response_template"),
            ("failedRunResponseTemplate", "failed_run_response_template"),
        ):
            if data[field].strip():
                d[key] = data[field]
            else:
                d.pop(key, None)
        if data["scope"] == "ENTITY":
            old = self.current.get("filter") or {}
            entity_filter = dict(old.get("entityFilter") or {})
            if data["entity_types"]:
                entity_filter["typeFilter"] = {"types": list(data["entity_types"])}
            else:
                entity_filter.pop("typeFilter", None)
            d["filter"] = {
                "type": "ENTITY",
                "ownershipScope": data["ownership_scope"] or "ALL",
            }
            if entity_filter:
                d["filter"]["entityFilter"] = entity_filter
        else:
            d["filter"] = {"type": "GLOBAL"}
        return d

    def _template(self, field: str) -> str:
        # Checked here, not only with the descriptor after the other fields
        # pass: its error shows at once, under the field's own label.
        value = self.cleaned_data[field]
        problem = template_problem(value) if "{{" in value else None
        if problem:
            raise forms.ValidationError(f"Not a valid Mustache template: {problem}.")
        return value

    def clean_tag(self) -> str:
        tag = self.cleaned_data["tag"].strip() or self.current.get("tag", "")
        if tag == self.current.get("tag"):
            return tag
        if not descriptor_lib.SLUG_RE.match(tag):
            raise forms.ValidationError("Use only letters, digits, - and _.")
        if problem := self._check_new_tag(tag):
            raise forms.ValidationError(problem)
        return tag

    def clean_run_response_template(self) -> str:
        return self._template("run_response_template")

    def clean_failed_run_response_template(self) -> str:
        return self._template("failed_run_response_template")

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            data["descriptor"] = descriptor_lib.validate(self.descriptor_for())
        except descriptor_lib.DescriptorError as exc:
            _descriptor_errors(self, exc)
        return data


class AccessForm(forms.Form):
    runnable_via_api = forms.BooleanField(label="Runnable via API", required=False)


class RunFilterForm(forms.Form):
    """The Runs tab's filters (GET); a value that doesn't parse is ignored."""

    workflow = forms.CharField(required=False)
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *RunStatus.choices]
    )
    entity = forms.CharField(required=False)
    initiator = forms.CharField(required=False)
    source = forms.ChoiceField(
        required=False, choices=[("", "Any source"), *Run.Source.choices]
    )
    after = forms.DateField(
        label="Started after", required=False, widget=forms.DateInput(format="%Y-%m-%d")
    )
    before = forms.DateField(
        label="Started before",
        required=False,
        widget=forms.DateInput(format="%Y-%m-%d"),
    )

    def values(self) -> dict:
        """Cleaned values of the fields that are valid; invalid ones count as empty."""
        self.is_valid()
        cleaned = getattr(self, "cleaned_data", {})
        return {name: cleaned.get(name) or "" for name in self.fields}
