"""Query helpers the pages and the API share (reads only)."""

from django.db.models import OuterRef, QuerySet, Subquery
from django.db.models.fields.json import KT

from .models import Run, WorkflowVersion


def version_field(versions: QuerySet[WorkflowVersion], path: str) -> Subquery:
    """A key of the descriptor of the one version in `versions` ("name",
    "filter__type"), read by the database: the descriptor stays there."""
    return Subquery(versions.order_by().values(value=KT(f"descriptor__{path}"))[:1])


def with_version_name(runs: QuerySet[Run]) -> QuerySet[Run]:
    """Runs with `version_name`: the workflow's name in the version the run ran
    (a workflow renamed since keeps its old name on its old runs). Counts and
    `values_list` leave the subquery out. Rows show
    `run.version_name|default:run.workflow.name`."""
    versions = WorkflowVersion.objects.filter(pk=OuterRef("version_id"))
    return runs.annotate(version_name=version_field(versions, "name"))


def version_name(run: Run) -> str:
    """The workflow's name as the run ran it: from its version when loaded
    (the engine has it), else read alone (never the whole descriptor)."""
    name = getattr(run, "version_name", None)
    if name is None and Run.version.is_cached(run):
        name = (run.version.descriptor or {}).get("name")
    elif name is None:
        name = (
            WorkflowVersion.objects.filter(pk=run.version_id)
            .values_list(KT("descriptor__name"), flat=True)
            .first()
        )
    return name if isinstance(name, str) and name else run.workflow.name
