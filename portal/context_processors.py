from django.urls import reverse


def workspace(request):
    return {
        "workspace": getattr(request, "workspace", None),
        "memberships": getattr(request, "memberships", []),
        "perms_ws": getattr(request, "ws_perms", frozenset()),
        "switch_next": _list_page(request.path_info),
    }


# Where switching workspace lands: the list page of the section you are in, as
# ids and tags of one workspace mean nothing in another; settings at their
# index, as your roles there may differ. Longest first:
_LIST_PAGES = (
    ("/workflows/runs/", "workflows:run-list"),
    ("/workflows/notifications/", "workflows:notifications"),
    ("/workflows/", "workflows:workflow-list"),
    ("/catalog/", "catalog:entity-list"),
    ("/settings/", "settings:index"),
)


def _list_page(path: str) -> str:
    for start, name in _LIST_PAGES:
        if path.startswith(start):
            return reverse(name)
    return reverse("home")
