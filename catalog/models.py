"""The entity catalog: entity types, groups, teams and entities, all per workspace."""

import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse

from portal.models import Workspace
from portal.search import contains_text


class EntityType(models.Model):
    workspace = models.ForeignKey(
        Workspace, models.CASCADE, related_name="entity_types"
    )
    tag = models.SlugField(max_length=100)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="")
    # A Cortex definition's JSON schema, kept and given back as written (the
    # API's entity types); Cairn checks no entity against it.
    schema = models.JSONField(default=dict, blank=True)
    icon_tag = models.CharField(
        max_length=200, blank=True, default=""
    )  # Cortex's iconTag

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "tag"], name="entity_type_tag_unique"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Group(models.Model):
    workspace = models.ForeignKey(Workspace, models.CASCADE, related_name="groups")
    tag = models.CharField(max_length=100)

    class Meta:
        ordering = ["tag"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "tag"], name="group_tag_unique"
            )
        ]

    def __str__(self) -> str:
        return self.tag


class Team(models.Model):
    workspace = models.ForeignKey(Workspace, models.CASCADE, related_name="teams")
    tag = models.SlugField(max_length=100)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="teams", blank=True
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "tag"], name="team_tag_unique")
        ]

    def __str__(self) -> str:
        return self.name


class EntityQuerySet(models.QuerySet):
    def search(self, text: str):
        if not text:
            return self
        return self.filter(contains_text(text, "name", "tag"))


class Entity(models.Model):
    """A thing in the catalog: a service, a library, an environment…"""

    workspace = models.ForeignKey(Workspace, models.CASCADE, related_name="entities")
    tag = models.CharField(max_length=200)
    name = models.CharField(max_length=200)
    type = models.ForeignKey(EntityType, models.PROTECT, related_name="entities")
    description = models.TextField(blank=True)
    groups = models.ManyToManyField(Group, related_name="entities", blank=True)
    owner_teams = models.ManyToManyField(
        Team, related_name="owned_entities", blank=True
    )
    owner_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="owned_entities", blank=True
    )
    # The Cortex descriptor as imported (the `info` block with its x-cortex-* keys):
    descriptor = models.JSONField(default=dict, blank=True)
    # Custom data set through the API, by key: {"value", "description",
    # "dateUpdated"}. The descriptor's own (x-cortex-custom-metadata) stays there.
    custom_data = models.JSONField(default=dict, blank=True)
    archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = EntityQuerySet.as_manager()

    class Meta:
        ordering = ["name", "pk"]
        verbose_name_plural = "entities"
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "tag"], name="entity_tag_unique"
            )
        ]
        indexes = [models.Index(fields=["workspace", "name"])]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("catalog:entity-detail", args=[self.tag])


class MetricDataPoint(models.Model):
    """A custom metric value for an entity (cortex.addCustomMetricsDataPoint)."""

    workspace = models.ForeignKey(
        Workspace, models.CASCADE, related_name="metric_points"
    )
    entity = models.ForeignKey(Entity, models.CASCADE, related_name="metric_points")
    key = models.CharField(max_length=200)
    value = models.FloatField()
    timestamp = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["entity", "key", "-timestamp"]
        indexes = [models.Index(fields=["entity", "key", "-timestamp"])]

    def __str__(self) -> str:
        return f"{self.entity} {self.key}={self.value}"


class Deploy(models.Model):
    """A deploy of an entity, as Cortex's deploys API records it
    (`POST /api/v1/catalog/{tag}/deploys`, which deploy workflows call)."""

    class Type(models.TextChoices):
        DEPLOY = "DEPLOY"
        SCALE = "SCALE"
        ROLLBACK = "ROLLBACK"
        RESTART = "RESTART"

    uuid = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    entity = models.ForeignKey(Entity, models.CASCADE, related_name="deploys")
    title = models.CharField(max_length=500)
    type = models.CharField(max_length=10, choices=Type)
    timestamp = models.DateTimeField()
    sha = models.CharField(max_length=200, blank=True)
    environment = models.CharField(max_length=200, blank=True)
    url = models.CharField(max_length=2000, blank=True)
    deployer_email = models.CharField(max_length=254, blank=True)
    deployer_name = models.CharField(max_length=200, blank=True)
    custom_data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["entity", "-timestamp", "-pk"]
        indexes = [models.Index(fields=["entity", "-timestamp"])]

    def __str__(self) -> str:
        return f"{self.entity} {self.type} {self.title}"
