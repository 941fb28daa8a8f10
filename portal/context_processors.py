def workspace(request):
    return {
        "workspace": getattr(request, "workspace", None),
        "memberships": getattr(request, "memberships", []),
        "perms_ws": getattr(request, "ws_perms", frozenset()),
    }
