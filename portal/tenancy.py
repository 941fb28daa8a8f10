"""The current workspace, and the helpers every view uses to stay inside it.

A wrong-workspace id is indistinguishable from a missing one: lookups go
through `get_in_workspace`, which filters by the request's workspace and
answers 404 for everything else.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404

from .models import Membership

SESSION_KEY = "workspace_id"


def load_workspace(request: HttpRequest) -> None:
    """Set request.workspace, request.membership, request.memberships, request.ws_perms."""
    request.workspace = None
    request.membership = None
    request.memberships = []
    request.ws_perms = frozenset()
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return
    memberships = list(
        Membership.objects.filter(user=user)
        .select_related("workspace")
        .prefetch_related("roles")
        .order_by("workspace__name")
    )
    request.memberships = memberships
    if not memberships:
        return
    wanted = request.session.get(SESSION_KEY)
    # Without a choice in the session, the workspace the user joined first:
    first_joined = min(memberships, key=lambda m: (m.created_at, m.pk))
    current = next((m for m in memberships if m.workspace_id == wanted), first_joined)
    request.membership = current
    request.workspace = current.workspace
    request.ws_perms = current.permission_set()


def workspace_required(view: Callable) -> Callable:
    """Log in first, and 404 for a user who belongs to no workspace."""

    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        if request.workspace is None:
            raise Http404("You are not a member of any workspace.")
        return view(request, *args, **kwargs)

    return wrapper


def require_permission(*perms: str) -> Callable:
    """Refuse (403) members who lack any of `perms` in the current workspace."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        @workspace_required
        def wrapper(request, *args, **kwargs):
            if not set(perms) <= request.ws_perms:
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def get_in_workspace(
    request: HttpRequest, model_or_qs: type[Model] | QuerySet, **lookup
):
    qs = model_or_qs if isinstance(model_or_qs, QuerySet) else model_or_qs.objects.all()
    return get_object_or_404(qs.filter(workspace=request.workspace), **lookup)
