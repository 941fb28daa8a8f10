from urllib.parse import quote, urlsplit

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render, resolve_url
from django.urls import Resolver404, get_script_prefix, resolve

from .api import error_body
from .tenancy import load_workspace


class WorkspaceMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        load_workspace(request)
        return self.get_response(request)


class HtmxSessionEndedMiddleware:
    """An htmx request after the session ended (a log out in another tab) gets
    a 401, not the view's redirect to the login page: the browser follows a
    redirect inside the request, and htmx swapped the whole login page into
    the region it updates (a poller's, a form's), losing what was typed. htmx
    swaps a 401 nowhere; the page says the session ended (base.html)."""

    # What an htmx request says the page was loaded for (base.html):
    USER_HEADER, WORKSPACE_HEADER = "X-Cairn-User", "X-Cairn-Workspace"

    def __init__(self, get_response):
        self.get_response = get_response

    def _changed(self, request) -> str:
        if request.headers.get("HX-Request") != "true":
            return ""
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return ""  # the session ended: the 401 below
        page_user = request.headers.get(self.USER_HEADER)
        if page_user and page_user != str(user.pk):
            return (
                f"This page was opened by another account; this browser is now"
                f" logged in as {user.email}. Reload the page before going on."
            )
        page_workspace = request.headers.get(self.WORKSPACE_HEADER)
        workspace = getattr(request, "workspace", None)
        if page_workspace and workspace and page_workspace != str(workspace.pk):
            return (
                f"This page is of another workspace; this browser has switched to"
                f" {workspace.name} (in another tab). Reload the page, or switch back."
            )
        return ""

    def __call__(self, request):
        changed = self._changed(request)
        if changed:
            # The page was loaded for another account or workspace than the
            # browser's session now has (a login or a switch in another tab):
            # acting on it would act as someone else, or elsewhere.
            return said_above_the_page(changed, status=409)
        response = self.get_response(request)
        if (
            request.headers.get("HX-Request") == "true"
            and response.status_code == 302
            and urlsplit(response["Location"]).path == resolve_url(settings.LOGIN_URL)
        ):
            return HttpResponse(
                "Your session has ended: log in again",
                status=401,
                content_type="text/plain; charset=utf-8",
            )
        return response


def said_above_the_page(message: str, *, status: int) -> HttpResponse:
    """An answer to an htmx request whose message base.html shows above the
    page (X-Cairn-Message, percent-encoded: a header is Latin-1)."""
    response = HttpResponse(message, status=status, content_type="text/plain")
    response["X-Cairn-Message"] = quote(message)
    return response


def _page_above(path: str) -> str:
    """The page a form at `path` is on: a settings section's list page, else
    the nearest address above `path` that names a page, else the home page."""
    parts = path.strip("/").split("/")
    if parts[0] == "settings" and len(parts) > 1:
        candidates = ["/".join(parts[:2])]
    else:
        candidates = ["/".join(parts[:n]) for n in range(len(parts) - 1, 0, -1)]
    for candidate in candidates:
        try:
            resolve(f"/{candidate}/")
        except Resolver404:
            continue
        return f"{get_script_prefix()}{candidate}/"
    return get_script_prefix()


class ContentEncodingMiddleware:
    """A body under /api/ is read as it comes: one sent compressed
    (`Content-Encoding: gzip`) would be read as bad JSON, so it is a 400 that
    says so. (Cortex's own API doesn't take compressed bodies either.)"""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        encoding = request.META.get("HTTP_CONTENT_ENCODING", "").strip()
        body = request.META.get("CONTENT_LENGTH", "") not in ("", "0") or (
            "HTTP_TRANSFER_ENCODING" in request.META
        )
        if (
            body
            and encoding
            and encoding.lower() != "identity"
            and request.path.startswith("/api/")
        ):
            message = (
                f"Content-Encoding {encoding} is not supported: send the body"
                " uncompressed"
            )
            return JsonResponse(error_body(400, message), status=400)
        return self.get_response(request)


class MethodNotAllowedMiddleware:
    """django-ninja answers a method a path doesn't take with a bare 405
    ("Method not allowed", as HTML); under /api/ it gets Cortex's error shape,
    naming the methods the path takes, like every other API error.

    ninja routes no HEAD either, which HTTP asks every GET resource to take:
    under /api/ a HEAD is answered as the GET, headers only.

    Elsewhere, a GET of an address that takes only a form's POST gets a page
    that says so, with a link up to the page the form is on."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        head = request.method == "HEAD" and request.path.startswith("/api/")
        if head:
            request.method = "GET"
        response = self.get_response(request)
        if head:
            request.method = "HEAD"
        if (
            response.status_code == 405
            and request.path.startswith("/api/")
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            # ninja's order varies from process to process:
            methods = set(response.get("Allow", "").split(", "))
            if "GET" in methods:
                methods.add("HEAD")
            allow = ", ".join(sorted(methods))
            message = (
                f"{request.method} is not allowed on {request.path}; it takes {allow}"
            )
            response = JsonResponse(error_body(405, message), status=405)
            response["Allow"] = allow
        elif (
            response.status_code == 405
            and request.method == "GET"
            and not request.path.startswith("/api/")
            and not response.content
        ):
            # A form's address opened in the browser (a bookmark, a reload):
            # Django's bare 405 made the browser show its own error page.
            allow = response.get("Allow", "")
            context = {"parent": _page_above(request.path_info)}
            response = render(request, "errors/405.html", context, status=405)
            response["Allow"] = allow
        if head and not response.streaming:
            response["Content-Length"] = str(len(response.content))
            response.content = b""
        return response
