"""Template filters for workflow pages: status badges and sanitised Markdown."""

import markdown as markdown_lib
import nh3
from django import template
from django.utils.safestring import mark_safe

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
def markdown(text: str) -> str:
    """Render Markdown (response templates) to HTML, sanitised by nh3."""
    html = markdown_lib.markdown(text or "", extensions=["fenced_code", "tables"])
    return mark_safe(nh3.clean(html))  # noqa: S308 - nh3 removed anything unsafe
