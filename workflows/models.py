"""Workflows, their immutable versions, runs, steps, the audit trail and notifications.

Only `workflows.engine` changes a Run's or a Step's status.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone

from catalog.models import Entity
from portal.models import ApiKey, Membership, Workspace


class Workflow(models.Model):
    class Scope(models.TextChoices):
        GLOBAL = "GLOBAL", "Global"
        ENTITY = "ENTITY", "Entity"

    workspace = models.ForeignKey(Workspace, models.CASCADE, related_name="workflows")
    tag = models.CharField(max_length=200)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    is_draft = models.BooleanField(default=False)
    is_runnable_via_api = models.BooleanField(default=False)
    scope = models.CharField(max_length=10, choices=Scope, default=Scope.GLOBAL)
    # The latest version; set by services.workflow_upsert in the same transaction.
    current_version = models.ForeignKey(
        "WorkflowVersion", models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "tag"], name="workflow_tag_unique"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def descriptor(self) -> dict:
        return self.current_version.descriptor if self.current_version else {}


class WorkflowVersion(models.Model):
    """An immutable snapshot of a descriptor; each save makes one, and runs pin theirs."""

    workflow = models.ForeignKey(Workflow, models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    descriptor = models.JSONField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["workflow", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "number"], name="version_number_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.workflow} v{self.number}"


class RunStatus(models.TextChoices):
    QUEUED = "QUEUED", "Queued"
    IN_PROGRESS = "IN_PROGRESS", "In progress"
    PAUSED = "PAUSED", "Paused"
    CANCELLING = "CANCELLING", "Canceling"
    COMPLETED = "COMPLETED", "Successful"
    FAILED = "FAILED", "Error"
    CANCELLED = "CANCELLED", "Canceled"


TERMINAL_STATUSES = frozenset(
    {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED}
)
CANCELLABLE_STATUSES = frozenset(
    {RunStatus.QUEUED, RunStatus.IN_PROGRESS, RunStatus.PAUSED}
)


class Run(models.Model):
    Status = RunStatus

    class Source(models.TextChoices):
        UI = "UI", "UI"
        API = "API", "API"
        WORKFLOW = "WORKFLOW", "Workflow"

    class Priority(models.IntegerChoices):
        RESUMED = 0, "Resumed"  # a paused run that resumes goes ahead of new ones
        NEW = 1, "New"

    # No index of its own on workspace or workflow: the indexes of Meta lead
    # with them, and every index costs each run's insert and status change.
    workspace = models.ForeignKey(
        Workspace, models.CASCADE, related_name="runs", db_index=False
    )
    # Cortex's workflowRunId: what templates, the API and callers see.
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workflow = models.ForeignKey(
        Workflow, models.CASCADE, related_name="runs", db_index=False
    )
    version = models.ForeignKey(WorkflowVersion, models.PROTECT, related_name="runs")
    status = models.CharField(
        max_length=12, choices=RunStatus, default=RunStatus.QUEUED
    )
    entity = models.ForeignKey(
        Entity, models.SET_NULL, null=True, blank=True, related_name="workflow_runs"
    )
    initiator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="runs",
    )
    source = models.CharField(max_length=10, choices=Source, default=Source.UI)
    api_key = models.ForeignKey(
        ApiKey, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The Idempotency-Key of the API request that started it: which request
    # of an automation this run answers.
    idempotency_key = models.CharField(max_length=255, blank=True)
    initial_context = models.JSONField(default=dict, blank=True)
    # What templates see: {"context": …, "actions": {slug: {inputs, outputs}}, "variables": …}
    state = models.JSONField(default=dict, blank=True)
    # Where the walk is: {"pending": [slugs to run in order], "joins": [join slugs]}
    cursor = models.JSONField(default=dict, blank=True)
    # Fernet token of {path: value} for SECRET_FIELD values; wiped when the run ends.
    secrets_blob = models.TextField(blank=True)
    notification_recipients = models.JSONField(default=list, blank=True)
    response = models.TextField(
        blank=True, help_text="Rendered response template (Markdown)"
    )
    error = models.TextField(blank=True)
    queue_priority = models.PositiveSmallIntegerField(
        choices=Priority, default=Priority.NEW
    )
    queued_at = models.DateTimeField(default=timezone.now)
    # The worker holding the run writes its lease and heartbeat; the sweep takes
    # over runs whose heartbeat went stale, or whose holder (workflows.holder)
    # is a process on its machine that has died.
    lease = models.UUIDField(null=True, blank=True)
    lease_holder = models.CharField(max_length=120, blank=True, default="")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["workspace", "status", "queue_priority", "queued_at"]),
            models.Index(fields=["workspace", "-created_at"]),
            # The Runs tab's filters and "your recent runs" (bench/pages.py):
            models.Index(fields=["workspace", "status", "-created_at"]),
            models.Index(fields=["workspace", "initiator", "-created_at"]),
            models.Index(fields=["workflow", "-created_at"]),
            models.Index(fields=["status", "heartbeat_at"]),
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} of {self.workflow}"

    def get_absolute_url(self) -> str:
        return reverse("workflows:run-detail", args=[self.pk])

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def can_be_cancelled(self) -> bool:
        return self.status in CANCELLABLE_STATUSES


class Step(models.Model):
    """One execution of one block in a run. A block runs at most once per run."""

    class Status(models.TextChoices):
        PENDING = "PENDING", "Pending"
        RUNNING = "RUNNING", "Running"
        WAITING = "WAITING", "Waiting"
        COMPLETED = "COMPLETED", "Completed"
        FAILED = "FAILED", "Failed"
        SKIPPED = "SKIPPED", "Skipped"
        CANCELLED = "CANCELLED", "Canceled"

    # Indexed by the unique (run, slug) constraint, which leads with it:
    run = models.ForeignKey(Run, models.CASCADE, related_name="steps", db_index=False)
    slug = models.CharField(max_length=200)
    name = models.CharField(max_length=200, blank=True)
    type = models.CharField(max_length=60)
    status = models.CharField(max_length=10, choices=Status, default=Status.PENDING)
    position = models.PositiveIntegerField(default=0, help_text="Order of execution")
    inputs = models.JSONField(default=dict, blank=True)
    outputs = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    # What the step waits for (USER_INPUT, MANUAL_APPROVAL, CALLBACK, INITIATOR)
    waiting_for = models.CharField(max_length=20, blank=True)
    callback_id = models.UUIDField(null=True, blank=True, unique=True)
    # The callbacks that came before the block waited for them (the callee
    # answered at once, or the block's worker died mid-call), a list, oldest
    # first; applied once it waits.
    early_callback = models.JSONField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    attempt = models.PositiveSmallIntegerField(default=1)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # In the order the blocks ran, skipped ones (position 0) after them. By
        # run_id, not run: "run" would order by Run's own ordering, through a join.
        ordering = [
            "run_id",
            models.Case(
                models.When(position=0, then=models.Value(1)),
                default=models.Value(0),
            ),
            "position",
            "pk",
        ]
        constraints = [
            models.UniqueConstraint(fields=["run", "slug"], name="one_step_per_block")
        ]
        indexes = [models.Index(fields=["status", "deadline_at"])]

    def __str__(self) -> str:
        return f"{self.slug} ({self.status})"

    @property
    def is_retry(self) -> bool:
        return self.attempt > 1


class Decision(models.Model):
    """A manual-approval decision: who, when, which way and why."""

    class Verdict(models.TextChoices):
        APPROVED = "APPROVED", "Approved"
        REJECTED = "REJECTED", "Rejected"

    step = models.ForeignKey(Step, models.CASCADE, related_name="decisions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="+")
    verdict = models.CharField(max_length=10, choices=Verdict)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["step", "user"], name="one_decision_per_approver"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.verdict}"


class RunEvent(models.Model):
    """Append-only audit trail of a run."""

    run = models.ForeignKey(Run, models.CASCADE, related_name="events")
    created_at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=40)
    step_slug = models.CharField(max_length=200, blank=True)
    message = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


class Notification(models.Model):
    workspace = models.ForeignKey(
        Workspace, models.CASCADE, related_name="notifications"
    )
    user = models.ForeignKey(  # indexed by (user, workspace, read_at) below
        settings.AUTH_USER_MODEL,
        models.CASCADE,
        related_name="notifications",
        db_index=False,
    )
    run = models.ForeignKey(
        Run, models.CASCADE, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=40)
    message = models.CharField(max_length=500)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    # What a run asked of people; once answered or over, no longer news.
    REQUESTS = (
        "NEEDS_INPUT",
        "AWAITING_INPUT",
        "NEEDS_APPROVAL",
        "AWAITING_APPROVAL",
        "NEEDS_INITIATOR",
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "workspace", "read_at"])]

    def __str__(self) -> str:
        return self.message

    @property
    def asks(self) -> bool:
        return self.kind in self.REQUESTS

    @property
    def asked_in_vain(self) -> bool:
        """A request whose run has ended: nobody needs to act on it any more."""
        return self.asks and self.run is not None and self.run.is_terminal


class Secret(models.Model):
    """A workspace secret, reachable in blocks as `context.secrets.<tag>`."""

    workspace = models.ForeignKey(Workspace, models.CASCADE, related_name="secrets")
    tag = models.SlugField(max_length=100)
    name = models.CharField(max_length=200)
    encrypted_value = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["tag"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "tag"], name="secret_tag_unique"
            )
        ]

    def __str__(self) -> str:
        return self.tag


class SigningSecret(models.Model):
    """The workspace's request signing secret: HTTP blocks sign what they send
    with it (workflows.signing), as Cortex does, so callees can check the
    request came from this portal. Not reachable from blocks."""

    workspace = models.OneToOneField(
        Workspace, models.CASCADE, related_name="signing_secret"
    )
    encrypted_value = models.TextField()
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"signing secret of {self.workspace}"


class Integration(models.Model):
    """A workspace integration (Slack, Microsoft Teams, GitHub, PagerDuty, Jira, GitLab) with its base URL and token."""

    class Kind(models.TextChoices):
        SLACK = "SLACK", "Slack"
        MS_TEAMS = "MS_TEAMS", "Microsoft Teams"
        GITHUB = "GITHUB", "GitHub"
        PAGERDUTY = "PAGERDUTY", "PagerDuty"
        JIRA = "JIRA", "Jira"
        GITLAB = "GITLAB", "GitLab"

    workspace = models.ForeignKey(
        Workspace, models.CASCADE, related_name="integrations"
    )
    kind = models.CharField(max_length=20, choices=Kind)
    alias = models.CharField(max_length=100, default="default")
    base_url = models.URLField()
    encrypted_token = models.TextField(blank=True)

    class Meta:
        ordering = ["kind", "alias"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "kind", "alias"], name="integration_alias_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.alias})"

    @property
    def mapping_key(self) -> str:
        """The key of `context.initiatedBy.identityMappings` for this kind."""
        return MAPPING_KEYS[self.kind]


# Integration kind -> its key in a person's identityMappings (Cortex's example
# shows `github`; the others follow it: the name in lower case, no spaces).
MAPPING_KEYS = {
    Integration.Kind.SLACK: "slack",
    Integration.Kind.MS_TEAMS: "msteams",
    Integration.Kind.GITHUB: "github",
    Integration.Kind.PAGERDUTY: "pagerduty",
    Integration.Kind.JIRA: "jira",
    Integration.Kind.GITLAB: "gitlab",
}


class LinkedAccount(models.Model):
    """A member's account in one of the workspace's integrations (their GitHub
    login, say): what workflows see as `context.initiatedBy.identityMappings`."""

    membership = models.ForeignKey(
        Membership, models.CASCADE, related_name="linked_accounts"
    )
    integration = models.ForeignKey(
        Integration, models.CASCADE, related_name="linked_accounts"
    )
    account = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["membership", "integration"], name="one_account_per_integration"
            ),
            # Runs act on the account in its member's name: never two members.
            models.UniqueConstraint(
                Lower("account"), "integration", name="one_member_per_account"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account} on {self.integration}"


class OutboundAllowlistEntry(models.Model):
    """A host, address or CIDR range HTTP blocks may call although it is private or loopback."""

    workspace = models.ForeignKey(
        Workspace, models.CASCADE, related_name="outbound_allowlist"
    )
    host = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["host"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "host"], name="outbound_host_unique"
            )
        ]

    def __str__(self) -> str:
        return self.host
