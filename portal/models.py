"""Tenancy and access: users, workspaces, roles, memberships, API keys, IP allowlist."""

import hashlib
import ipaddress
import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from .permissions import BUILTIN_ROLES, Permission


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email, password=None, **extra):
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def get_by_natural_key(self, email):
        # Emails are stored lower-case; people type them however they like.
        return self.get(email__iexact=email)

    def create_superuser(self, email, password=None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **extra)


class User(AbstractUser):
    """A person. People sign in with their email address."""

    username = None
    email = models.EmailField("email address", unique=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.email


class Workspace(models.Model):
    """A tenant. Every row of workspace data points at one."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def ensure_builtin_roles(self) -> dict[str, "Role"]:
        """Create or refresh the built-in roles; returns them by name."""
        roles = {}
        for name, perms in BUILTIN_ROLES.items():
            role, _ = Role.objects.update_or_create(
                workspace=self,
                name=name,
                defaults={"permissions": sorted(perms), "is_builtin": True},
            )
            roles[name] = role
        return roles


class Role(models.Model):
    workspace = models.ForeignKey(Workspace, models.CASCADE, related_name="roles")
    name = models.CharField(max_length=60)
    permissions = models.JSONField(default=list)
    is_builtin = models.BooleanField(default=False)

    class Meta:
        ordering = ["-is_builtin", "name"]
        constraints = [
            models.UniqueConstraint(
                "workspace", Lower("name"), name="role_name_unique_per_workspace"
            )
        ]

    def __str__(self) -> str:
        return self.name

    def permission_labels(self) -> list[str]:
        """Labels of the role's permissions, in the order Permission declares them."""
        return [label for code, label in Permission.choices if code in self.permissions]


class Membership(models.Model):
    workspace = models.ForeignKey(Workspace, models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="memberships"
    )
    roles = models.ManyToManyField(Role, related_name="memberships")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["user__email"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "user"], name="one_membership_per_user"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace}"

    def permission_set(self) -> frozenset[str]:
        perms: set[str] = set()
        for role in self.roles.all():
            perms.update(role.permissions)
        return frozenset(perms)


class ApiKeyQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


KEY_PREFIX = "cairn_"


def hash_key(raw: str) -> str:
    # Keys carry 256 random bits, so a plain SHA-256 is enough (as for GitHub tokens):
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiKey(models.Model):
    """A workspace API key (with roles) or, when `user` is set, a personal access token.

    The raw key is shown once; only its SHA-256 and a short prefix are stored.
    """

    workspace = models.ForeignKey(Workspace, models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    roles = models.ManyToManyField(Role, related_name="api_keys", blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.CASCADE,
        null=True,
        blank=True,
        related_name="personal_tokens",
        help_text="Set for a personal access token, which acts as this user.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_personal(self) -> bool:
        return self.user_id is not None

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @staticmethod
    def generate() -> tuple[str, str, str]:
        """Return (raw key, prefix, hash)."""
        raw = KEY_PREFIX + secrets.token_urlsafe(32)
        return raw, raw[: len(KEY_PREFIX) + 6], hash_key(raw)


class IpAllowlistEntry(models.Model):
    """An address or CIDR range allowed to call the API when the list is not empty."""

    workspace = models.ForeignKey(
        Workspace, models.CASCADE, related_name="ip_allowlist"
    )
    address = models.CharField(max_length=64, help_text="An IP address or CIDR range")
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["address"]
        verbose_name_plural = "IP allowlist entries"
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "address"], name="ip_entry_unique"
            )
        ]

    def __str__(self) -> str:
        return self.address

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return self.parse(self.address)

    @staticmethod
    def parse(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        """The network an entry names. IPv4-mapped IPv6 (`::ffff:10.1.2.3`, as a
        dual-stack server shows a client) is the IPv4 network, as the client's
        address is read; raises ValueError for what is no address or range,
        and for an IPv6 zone (`::1%eth0`): a client's address has none."""
        if "%" in value:
            raise ValueError(f"{value!r} has an IPv6 zone")
        network = ipaddress.ip_network(value, strict=False)
        mapped = ipaddress.ip_network("::ffff:0:0/96")
        if network.version == 6 and network.subnet_of(mapped):
            low32 = int(network.network_address) & 0xFFFFFFFF
            return ipaddress.ip_network((low32, network.prefixlen - 96))
        return network

    @classmethod
    def canonical(cls, value: str) -> str:
        """How an entry is stored: a bare address, or the range's network
        (`10.1.2.3/8` is `10.0.0.0/8`); raises ValueError as `parse` does."""
        network = cls.parse(value.strip())
        if network.prefixlen == network.max_prefixlen:
            return str(network.network_address)
        return str(network)


class WorkerHeartbeat(models.Model):
    """Last time each Celery worker ran its periodic heartbeat task (shown on /health/)."""

    hostname = models.CharField(max_length=200, unique=True)
    seen_at = models.DateTimeField()

    class Meta:
        ordering = ["-seen_at"]

    def __str__(self) -> str:
        return f"{self.hostname} at {self.seen_at:%Y-%m-%d %H:%M:%S}"


class IdempotencyRecord(models.Model):
    """An `Idempotency-Key` the API has seen in a workspace, and the answer it gave.

    The row is inserted before the request is handled, so the unique constraint
    on (workspace, key) decides which of several concurrent requests goes ahead;
    the answer is stored in the same transaction as the request's own writes, so
    a run exists exactly when its record is DONE. Kept for 24 hours.
    """

    class State(models.TextChoices):
        IN_FLIGHT = "IN_FLIGHT", "In flight"
        DONE = "DONE", "Done"

    workspace = models.ForeignKey(Workspace, models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # SHA-256 of the API key, method, path, query and body: "the same request".
    fingerprint = models.CharField(max_length=64)
    state = models.CharField(max_length=10, choices=State, default=State.IN_FLIGHT)
    # Who holds the record while it is in flight; another request may take over
    # a claim whose holder has not finished for too long (it died).
    lock = models.UUIDField()
    locked_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    body = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "key"], name="idempotency_key_unique"
            )
        ]
        indexes = [models.Index(fields=["expires_at"])]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"
