import factory

from catalog.models import Entity, EntityType, Group, Team
from portal.models import ApiKey, Membership, User, Workspace


class WorkspaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workspace
        django_get_or_create = ("slug",)
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"ws{n}")
    name = factory.LazyAttribute(lambda o: o.slug.upper())

    @factory.post_generation
    def builtin_roles(obj, create, extracted, **kwargs):
        if create:
            obj.ensure_builtin_roles()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("email",)

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = factory.django.Password("password")


def member(workspace: Workspace, user: User, *role_names: str) -> Membership:
    """Make `user` a member of `workspace` with the named roles (default: User)."""
    membership, _ = Membership.objects.get_or_create(workspace=workspace, user=user)
    membership.roles.set(workspace.roles.filter(name__in=role_names or ("User",)))
    return membership


class EntityTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EntityType
        django_get_or_create = ("workspace", "tag")

    workspace = factory.SubFactory(WorkspaceFactory)
    tag = "service"
    name = factory.LazyAttribute(lambda o: o.tag.title())


class GroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Group
        django_get_or_create = ("workspace", "tag")

    workspace = factory.SubFactory(WorkspaceFactory)
    tag = factory.Sequence(lambda n: f"group-{n}")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("workspace", "tag")

    workspace = factory.SubFactory(WorkspaceFactory)
    tag = factory.Sequence(lambda n: f"team-{n}")
    name = factory.LazyAttribute(lambda o: o.tag.title())


class EntityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Entity

    workspace = factory.SubFactory(WorkspaceFactory)
    tag = factory.Sequence(lambda n: f"entity-{n}")
    name = factory.LazyAttribute(lambda o: o.tag.replace("-", " ").title())
    type = factory.SubFactory(
        EntityTypeFactory, workspace=factory.SelfAttribute("..workspace")
    )


def api_key(
    workspace: Workspace, *role_names: str, user: User | None = None, name="key"
) -> tuple[ApiKey, str]:
    """Create an API key (a personal token when `user` is given); returns (key, raw)."""
    raw, prefix, digest = ApiKey.generate()
    key = ApiKey.objects.create(
        workspace=workspace, name=name, prefix=prefix, key_hash=digest, user=user
    )
    if user is None:
        key.roles.set(workspace.roles.filter(name__in=role_names or ("Admin",)))
    return key, raw


def integration(workspace: Workspace, kind: str = "GITHUB", alias: str = "default"):
    """A workspace integration of `kind` (its base URL is never called)."""
    from workflows.models import Integration

    return Integration.objects.create(
        workspace=workspace, kind=kind, alias=alias, base_url="https://api.example.com"
    )
