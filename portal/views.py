from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import DisallowedHost, RequestDataTooBig
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from .api import error_body
from .models import WorkerHeartbeat
from .tenancy import SESSION_KEY


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("catalog:entity-list")


@require_POST
@login_required
def workspace_switch(request: HttpRequest) -> HttpResponse:
    slug = request.POST.get("workspace", "")
    membership = next(
        (m for m in request.memberships if m.workspace.slug == slug), None
    )
    if membership is None:
        raise Http404("No such workspace.")
    request.session[SESSION_KEY] = membership.workspace_id
    # Ids of the old workspace mean nothing in the new one, so go to a list page:
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}):
        target = "/"
    return redirect(target)


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Database reachable, and when each worker last ran its heartbeat task."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    stale_after = settings.CELERY_BEAT_SCHEDULE["worker-heartbeat"]["schedule"] * 3
    now = timezone.now()
    workers = [
        {
            "hostname": hb.hostname,
            "seenAt": hb.seen_at.isoformat(),
            "alive": (now - hb.seen_at).total_seconds() < stale_after,
        }
        for hb in WorkerHeartbeat.objects.all()[:50]
    ]
    ok = any(w["alive"] for w in workers)
    return JsonResponse(
        {"database": "ok", "workers": workers, "ok": ok}, status=200 if ok else 503
    )


def error_400(request, exception=None):
    if isinstance(exception, RequestDataTooBig):
        limit = round(settings.DATA_UPLOAD_MAX_MEMORY_SIZE / 1_000_000, 1)
        reason = (
            f"What you sent is larger than {limit:g} MB, the most Cairn takes in"
            " one form."
        )
    elif isinstance(exception, DisallowedHost):
        reason = (
            "This server does not answer to that host name (the Host header); it"
            " answers to those in ALLOWED_HOSTS."
        )
    else:
        reason = "The request could not be read."
    if request.path_info.startswith("/api/"):  # API clients read Cortex's errors
        return JsonResponse(error_body(400, reason), status=400)
    return render(request, "errors/400.html", {"reason": reason}, status=400)


def error_403(request, exception=None):
    return render(request, "errors/403.html", status=403)


@csrf_exempt
def api_not_found(request: HttpRequest) -> JsonResponse:
    """A path under /api/ that no endpoint serves: Cortex's error shape, naming it,
    instead of a redirect to the path with a slash and an HTML page (an HTTP
    block calling an endpoint Cairn lacks gets a message it can show)."""
    message = (
        f"Cairn has no endpoint {request.method} {request.path}; "
        "its endpoints are listed at /api/v1/docs"
    )
    return JsonResponse(error_body(404, message), status=404)


def error_404(request, exception=None):
    return render(request, "errors/404.html", status=404)


def error_500(request):
    # No context processors: the database may be what failed.
    return render(request, "errors/500.html", status=500, using=None)


class LoginForm(AuthenticationForm):
    # Django's message says both fields may be case-sensitive; emails aren't here.
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "The email address or password is wrong.",
    }


class LoginView(auth_views.LoginView):
    authentication_form = LoginForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        # The session is gone; the message goes in the messages cookie:
        messages.info(request, "You have logged out.")
        return response
