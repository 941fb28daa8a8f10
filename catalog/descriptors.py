"""Parse and validate Cortex entity descriptors (OpenAPI-style YAML with x-cortex-* keys).

    openapi: 3.0.1
    info:
      title: Payments
      x-cortex-tag: payments
      x-cortex-type: service
      x-cortex-groups: [backend]
      x-cortex-owners:
        - {type: group, name: platform, provider: CORTEX}
        - {type: email, email: ada@example.com}

Errors name the field (`info.x-cortex-owners[1].email`), so the message alone
says what to fix.
"""

import re
from dataclasses import dataclass, field

import yaml
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email

from portal import yamlload
from portal.storable import Unstorable, check_storable

TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# The column sizes of catalog.models (Entity.tag and .name; EntityType, Group, Team tags):
MAX_ENTITY_TAG = MAX_NAME = 200
MAX_TAG = 100


class DescriptorError(ValueError):
    """A descriptor problem: `field` is the path of the bad field ("" for the whole file)."""

    def __init__(self, field_path: str, message: str):
        self.field = field_path
        self.message = message
        super().__init__(f"{field_path}: {message}" if field_path else message)


@dataclass
class EntitySpec:
    tag: str
    name: str
    type_tag: str
    description: str = ""
    groups: list[str] = field(default_factory=list)
    owner_team_tags: list[str] = field(default_factory=list)
    owner_emails: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)


def _string(
    info: dict,
    key: str,
    *,
    required: bool = False,
    default: str = "",
    max_length: int = 0,
) -> str:
    value = info.get(key)
    if value is None:
        if required:
            raise DescriptorError(f"info.{key}", "is required")
        return default
    if not isinstance(value, str) or (required and not value.strip()):
        raise DescriptorError(f"info.{key}", "must be a non-empty string")
    if max_length and len(value.strip()) > max_length:
        raise DescriptorError(f"info.{key}", f"must be at most {max_length} characters")
    return value.strip()


# Paths under /api/v1/catalog/ that are not an entity's, as in Cortex:
RESERVED_ENTITY_TAGS = frozenset(
    {"custom-data", "definitions", "deploys", "descriptors"}
)

# Cortex's descriptors write custom data under x-cortex-custom-metadata (its
# docs, and its own solutions such as jenkins-deploy); x-cortex-custom-data is
# read too, and wins for a key in both.
CUSTOM_DATA_KEYS = ("x-cortex-custom-metadata", "x-cortex-custom-data")


def descriptor_custom_data(info: dict) -> dict:
    """The custom data an entity's descriptor (its `info`) defines, by key."""
    data = {}
    for name in CUSTOM_DATA_KEYS:
        found = (info or {}).get(name)
        if isinstance(found, dict):
            data.update(found)
    return data


def check_tag(value: str, path: str, max_length: int = MAX_TAG) -> str:
    if not TAG_RE.match(value):
        raise DescriptorError(
            path, f"{value!r} is not a valid tag (letters, digits, '.', '_' and '-')"
        )
    if len(value) > max_length:
        raise DescriptorError(path, f"must be at most {max_length} characters")
    return value


def check_group(value: object, path: str) -> str:
    """A group as Cortex writes them: any text (`cloudType:gcp`, `tier 1`), trimmed."""
    if not isinstance(value, str) or not value.strip():
        raise DescriptorError(path, "must be a non-empty string")
    if len(value.strip()) > MAX_TAG:
        raise DescriptorError(path, f"must be at most {MAX_TAG} characters")
    return value.strip()


# x-cortex-git's providers (Cortex's descriptor reference):
GIT_PROVIDERS = ("github", "gitlab", "bitbucket", "azure")


def _check_shapes(info: dict) -> None:
    """What Cairn reads of custom data, links and the repository must have the
    shape Cortex documents: else it would be stored and silently never used."""
    # A key written with no value (YAML's null) is as good as absent.
    for key in CUSTOM_DATA_KEYS:
        if info.get(key) is not None and not isinstance(info[key], dict):
            raise DescriptorError(f"info.{key}", "must be a mapping of keys to values")
    links = info.get("x-cortex-link")
    if links is None:
        links = []
    if not isinstance(links, list):
        raise DescriptorError(
            "info.x-cortex-link", "must be a list of links ({name, type, url})"
        )
    for i, link in enumerate(links):
        path = f"info.x-cortex-link[{i}]"
        if not isinstance(link, dict):
            raise DescriptorError(path, "must be a mapping with name, type and url")
        for name in ("name", "url"):
            if not isinstance(link.get(name), str) or not link[name].strip():
                raise DescriptorError(f"{path}.{name}", "is required (a string)")
    git = info.get("x-cortex-git")
    if git is None:
        return
    if not isinstance(git, dict) or not git:
        raise DescriptorError(
            "info.x-cortex-git",
            f"must be a mapping of one of {', '.join(GIT_PROVIDERS)}",
        )
    for provider, repo in git.items():
        path = f"info.x-cortex-git.{provider}"
        if provider not in GIT_PROVIDERS:
            raise DescriptorError(path, f"is not one of {', '.join(GIT_PROVIDERS)}")
        if not isinstance(repo, dict) or not isinstance(repo.get("repository"), str):
            raise DescriptorError(f"{path}.repository", "is required (owner/name)")


def parse_entity(data: object) -> EntitySpec:
    """Validate one parsed YAML document; raise DescriptorError naming the bad field."""
    if not isinstance(data, dict):
        raise DescriptorError(
            "", "the descriptor must be a mapping with 'openapi' and 'info'"
        )
    if "openapi" not in data:
        raise DescriptorError("openapi", "is required (for example: openapi: 3.0.1)")
    try:  # what the database can't store as JSON (a !!binary, NaN, NUL…)
        check_storable(data, "descriptor")
    except Unstorable as exc:
        raise DescriptorError("", str(exc)) from None
    info = data.get("info")
    if not isinstance(info, dict):
        raise DescriptorError("info", "is required and must be a mapping")

    tag = check_tag(
        _string(info, "x-cortex-tag", required=True),
        "info.x-cortex-tag",
        MAX_ENTITY_TAG,
    )
    if tag.isascii() and tag.isdigit():
        raise DescriptorError(
            "info.x-cortex-tag",
            f"{tag!r} is only digits, which the API reads as an entity's id; add a letter",
        )
    if tag.lower() in RESERVED_ENTITY_TAGS:
        raise DescriptorError(
            "info.x-cortex-tag",
            f"{tag!r} is reserved (the API's /catalog/{tag.lower()} is not an entity);"
            " choose another tag",
        )
    spec = EntitySpec(
        tag=tag,
        name=_string(info, "title", required=True, max_length=MAX_NAME),
        type_tag=check_tag(
            _string(info, "x-cortex-type", default="service"), "info.x-cortex-type"
        ),
        # Cortex's own solution catalogs write x-cortex-description:
        description=_string(info, "description")
        or _string(info, "x-cortex-description"),
        info=info,
    )

    groups = info.get("x-cortex-groups", [])
    if not isinstance(groups, list):
        raise DescriptorError("info.x-cortex-groups", "must be a list of strings")
    spec.groups = list(
        dict.fromkeys(
            check_group(group, f"info.x-cortex-groups[{i}]")
            for i, group in enumerate(groups)
        )
    )
    _check_shapes(info)

    owners = info.get("x-cortex-owners", [])
    if not isinstance(owners, list):
        raise DescriptorError("info.x-cortex-owners", "must be a list")
    for i, owner in enumerate(owners):
        path = f"info.x-cortex-owners[{i}]"
        if not isinstance(owner, dict):
            raise DescriptorError(path, "must be a mapping with a 'type'")
        kind = str(owner.get("type", "")).lower()
        if kind == "group":
            name = owner.get("name")
            if not isinstance(name, str) or not name.strip():
                raise DescriptorError(
                    f"{path}.name", "is required for an owner of type group"
                )
            spec.owner_team_tags.append(check_tag(name.strip(), f"{path}.name"))
        elif kind == "email":
            email = owner.get("email")
            try:
                if not isinstance(email, str):
                    raise DjangoValidationError("not a string")
                validate_email(email)
            except DjangoValidationError:
                raise DescriptorError(
                    f"{path}.email", f"{email!r} is not an email address"
                ) from None
            spec.owner_emails.append(email.lower())
        elif kind == "slack":
            pass  # Slack channels are notification targets, not owners Cairn resolves.
        else:
            raise DescriptorError(
                f"{path}.type",
                f"{owner.get('type')!r} is not one of group, email, slack",
            )
    return spec


def parse_entity_file(text: str) -> list[EntitySpec]:
    """Parse every YAML document in a file; raise DescriptorError on the first bad one."""
    try:
        documents = [d for d in yamlload.load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise DescriptorError("", f"invalid YAML: {exc}") from None
    if not documents:
        raise DescriptorError("", "the file holds no descriptor")
    specs: list[EntitySpec] = []
    first_seen: dict[str, int] = {}
    for number, document in enumerate(documents, start=1):
        try:
            spec = parse_entity(document)
            if spec.tag in first_seen:
                raise DescriptorError(
                    "info.x-cortex-tag",
                    f"{spec.tag!r} is already used by document {first_seen[spec.tag]}",
                )
        except DescriptorError as exc:
            if len(documents) == 1:
                raise
            # "document 2: info.title: is required", or "document 2: <message>":
            where = (
                f"document {number}: {exc.field}" if exc.field else f"document {number}"
            )
            raise DescriptorError(where, exc.message) from None
        first_seen[spec.tag] = number
        specs.append(spec)
    return specs
