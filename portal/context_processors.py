def workspace(request):
    return {
        "workspace": getattr(request, "workspace", None),
        "memberships": getattr(request, "memberships", []),
        "perms_ws": getattr(request, "ws_perms", frozenset()),
        "switch_next": _list_page(request.path),
    }


# Where switching workspace lands: the list page of the section you are in, as
# ids and tags of one workspace mean nothing in another; settings at their
# index, as your roles there may differ.
_LIST_PAGES = ("/workflows/runs/", "/workflows/notifications/", "/workflows/")
_SECTIONS = ("/catalog/", "/settings/")


def _list_page(path: str) -> str:
    for page in (*_LIST_PAGES, *_SECTIONS):
        if path.startswith(page):
            return page
    return "/"
