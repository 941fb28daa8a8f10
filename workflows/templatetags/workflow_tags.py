"""Template filters for workflow pages: status badges, block types, sanitised Markdown, the bell."""

import functools
import json
import re
from urllib.parse import parse_qs, urlsplit

import heroicons
import nh3
from django import template
from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils.html import escape
from django.utils.safestring import mark_safe
from markdown_it import MarkdownIt

from workflows.secrets import MASK

register = template.Library()

_BADGES = {
    "QUEUED": "text-bg-secondary",
    "IN_PROGRESS": "text-bg-primary",
    "PAUSED": "text-bg-warning",
    "CANCELLING": "text-bg-warning",
    "COMPLETED": "text-bg-success",
    "FAILED": "text-bg-danger",
    "CANCELLED": "text-bg-dark",
    # step statuses
    "PENDING": "text-bg-light border",
    "RUNNING": "text-bg-primary",
    "WAITING": "text-bg-warning",
    "SKIPPED": "text-bg-light border",
}


@register.filter
def status_badge(status: str) -> str:
    """Bootstrap badge classes for a run or step status."""
    return _BADGES.get(str(status), "text-bg-light border")


@register.filter
def json_value(value) -> str:
    """A descriptor's value as it would be written in JSON (`false`, `["a"]`), not
    as Python prints it (`False`, `['a']`)."""
    return json.dumps(value, ensure_ascii=False)


@register.filter
def block_type(name: str) -> str:
    """A block type (GITHUB_CREATE_OR_UPDATE_FILE) that may wrap after its
    underscores, so a long one stays in its column."""
    return mark_safe("_<wbr>".join(escape(part) for part in str(name).split("_")))  # noqa: S308 - each part escaped


# A masked secret (********) is Markdown for a rule or emphasis: it stands in
# as a plain word while Markdown renders, then comes back as it is. In a longer
# run of asterisks (**{{secret}}**) the mask is the middle of it.
_MASK_STAND_IN = "cairnmaskedsecret"
_ASTERISKS = re.compile(rf"\*{{{len(MASK)},}}")


def _stand_in(match: re.Match) -> str:
    extra = len(match.group()) - len(MASK)
    return "*" * (extra // 2) + _MASK_STAND_IN + "*" * (extra - extra // 2)


# CommonMark, as Cortex renders response templates: a list right after a line
# of text is a list (Python-Markdown wanted a blank line first), nested lists
# indent by two spaces. Plus GitHub's tables and strikethrough.
_MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def _render(text: str) -> str:
    return _MARKDOWN.render(_ASTERISKS.sub(_stand_in, text or "")).strip()


def _cortex_links(tag: str, attribute: str, value: str) -> str:
    """A link to an entity in Cortex's app (`https://app.getcortexapp.com/admin?tag=payments`,
    as Cortex's descriptors write their responses) leads to the entity's page here."""
    if tag != "a" or attribute != "href":
        return value
    parts = urlsplit(value)
    if (parts.hostname or "").lower() not in {
        host.lower() for host in settings.CORTEX_APP_HOSTS
    }:
        return value
    entity = (parse_qs(parts.query).get("tag") or [""])[0]
    try:
        return reverse("catalog:entity-detail", args=[entity]) if entity else value
    except NoReverseMatch:
        return value


_HEADING = re.compile(r"<(/?)h([1-6])>")


@register.filter
def markdown(text: str, top: int = 1) -> str:
    """Render Markdown (response templates) to HTML, sanitised by nh3; its
    headings start at level `top` (a `#` under the page's h2 is an h3)."""
    html = _render(text)
    if top > 1:
        html = _HEADING.sub(lambda m: f"<{m[1]}h{min(int(m[2]) + top - 1, 6)}>", html)
    html = nh3.clean(html, attribute_filter=_cortex_links)
    return mark_safe(html.replace(_MASK_STAND_IN, MASK))  # noqa: S308 - nh3 removed anything unsafe


@register.filter
def markdown_inline(text: str) -> str:
    """Markdown as one run of text (lists and the like): paragraphs, headings
    and links become plain text; code and emphasis stay."""
    html = nh3.clean(_render(text), tags={"code", "strong", "em"})
    return mark_safe(html.replace(_MASK_STAND_IN, MASK))  # noqa: S308 - nh3 removed anything unsafe


@register.simple_tag(takes_context=True)
def unread_notification_count(context) -> int:
    """Unread notifications of the current member in the current workspace (one query)."""
    from workflows.models import Notification

    request = context.get("request")
    user = getattr(request, "user", None)
    workspace = getattr(request, "workspace", None)
    if user is None or not user.is_authenticated or workspace is None:
        return 0
    return Notification.objects.filter(
        user=user, workspace=workspace, read_at__isnull=True
    ).count()


@functools.lru_cache(maxsize=512)
def _icon(style: str, name: str, size: int, css: str) -> str:
    return mark_safe(
        heroicons._render_icon(style, name, size, {"class": css} if css else {})
    )


@register.simple_tag
def icon(name: str, style: str = "outline", size: int = 20, css: str = "") -> str:
    """A heroicon, rendered once per (name, style, size, class) and then cached.

    heroicons' own tags parse and serialise the SVG on every use, which costs
    about 0.2 ms an icon: too much for icons in every row of a long table.
    """
    return _icon(style, name, int(size), str(css))
