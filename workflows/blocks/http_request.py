"""HTTP_REQUEST: call a URL and keep the response as the step's outputs.

Schema (Cortex): `httpMethod` (GET, POST, PUT, DELETE, PATCH; Cairn also
renders a Mustache one, which must give one of them), `url`, `headers` (name →
value) and `payload` (a string), all Mustache-rendered over the run state. The call goes through `workflows.outbound` (address checks, redirects,
timeout, size cap).

- inputs: the request as sent: `{method, url, headers, payload}`
- outputs: `{status, headers, body}`; `body` is the parsed JSON when the
  response says it is JSON, else the text
- a non-2xx answer fails the step ("HTTP 500 from <url>: <start of the body>")
  and keeps the response in the outputs; a refused, timed-out or oversized call
  fails it with outbound's message
- a call to Cortex's own API (a host of `CORTEX_API_HOSTS`) goes to this
  Cairn's API at `BASE_URL`, path and query kept: descriptors written for
  Cortex read the catalog that way, and Cairn speaks Cortex's API

`HTTP_BLOCK_TIMEOUT` (seconds, default 30) and `HTTP_BLOCK_MAX_BYTES` (default
5 MiB) settings override outbound's limits.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from django.conf import settings

from portal import logpath
from workflows import outbound, signing
from workflows.integrations import (
    IntegrationError,
    find_integration,
    github_headers,
    gitlab_api_url,
    gitlab_headers,
)
from workflows.secrets import MASK, scrub

if TYPE_CHECKING:
    from portal.models import Workspace

from .base import Block, BlockContext, Outcome

METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")


class ConfigError(Exception):
    """The block's schema can't make a request; the message says which field is wrong."""


@dataclass
class HttpCall:
    method: str
    url: str
    headers: dict[str, str]
    payload: str
    # Headers carrying an integration's credentials: masked in the step's inputs.
    hidden: frozenset[str] = frozenset()
    # A host the outbound rules allow for this call (Cairn's own, see _at_cairn):
    allow_host: str = ""

    def as_inputs(self) -> dict:
        return {
            "method": self.method,
            "url": self.url,
            "headers": {
                name: MASK if name in self.hidden else value
                for name, value in self.headers.items()
            },
            "payload": self.payload,
        }


def block_timeout() -> float:
    return float(getattr(settings, "HTTP_BLOCK_TIMEOUT", outbound.DEFAULT_TIMEOUT))


def block_max_bytes() -> int:
    return int(getattr(settings, "HTTP_BLOCK_MAX_BYTES", outbound.DEFAULT_MAX_BYTES))


def prepare(
    schema: dict, render: Callable[[Any], Any], workspace: Workspace | None = None
) -> HttpCall:
    """Validate and render the request fields; raise ConfigError naming a bad field.

    With `integration` set (Cortex's `integration: GitHub`, or GitLab), a URL
    that starts with "/" is relative to the integration's API (GitHub's base
    URL; GitLab's base URL + /api/v4), and a request to that API carries the
    integration's credentials (headers the block sets itself win; the
    credentials are masked in the step's inputs). `integrationAlias` is
    rendered, so it may come from a variable.
    """
    method = schema.get("httpMethod")
    if not method:
        raise ConfigError(f"httpMethod is required (one of {', '.join(METHODS)})")
    if isinstance(method, str) and "{{" in method:
        rendered = str(render(method)).strip()
        if rendered.upper() not in METHODS:
            raise ConfigError(
                f"httpMethod {method!r} gave {rendered!r}, not one of "
                f"{', '.join(METHODS)}"
            )
        method = rendered
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise ConfigError(f"httpMethod {method!r} is not one of {', '.join(METHODS)}")

    base_url, integration_headers = _integration(schema, render, workspace)

    template = schema.get("url")
    if not template or not isinstance(template, str):
        raise ConfigError("url is required")
    url = render(template).strip()
    if not url:
        raise ConfigError(f"url is empty once rendered (template: {template})")
    if base_url and url.startswith("/"):
        url = base_url.rstrip("/") + url
    if "://" not in url:
        raise ConfigError(f"url {url!r} must be a full http:// or https:// address")
    if base_url and not _under(url, base_url):
        # The integration's token goes only to the integration's own address.
        integration_headers = {}
    url, allow_host = _at_cairn(url)

    raw_headers = schema.get("headers") or {}
    if not isinstance(raw_headers, dict):
        raise ConfigError("headers must map header names to values")
    headers: dict[str, str] = {}
    for name, value in render(raw_headers).items():
        if value is None or isinstance(value, dict | list):
            raise ConfigError(f"headers.{name} must be a string")
        headers[str(name)] = value if isinstance(value, str) else json.dumps(value)
    given = {name.lower() for name in headers}
    hidden = set()
    for name, value in integration_headers.items():
        if name.lower() not in given:
            headers[name] = value
            if name.lower() in _CREDENTIAL_HEADERS:
                hidden.add(name)

    payload = schema.get("payload")
    if payload is None:
        payload = ""
    elif isinstance(payload, dict | list):
        # Written as YAML structure rather than a string: send it as JSON.
        payload = json.dumps(render(payload))
    else:
        payload = render(str(payload))
    if payload and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = (
            "application/json" if _is_json(payload) else "text/plain; charset=utf-8"
        )
    return HttpCall(
        method.upper(), url, headers, payload, frozenset(hidden), allow_host
    )


def _at_cairn(url: str) -> tuple[str, str]:
    """(url, "") for most calls; for a call to Cortex's API, the same path and
    query on this Cairn's BASE_URL and its host, which the outbound rules then
    allow although it is usually private (the operator set it, not the author)."""
    parts = urlsplit(url)
    hosts = {h.strip().lower() for h in settings.CORTEX_API_HOSTS if h.strip()}
    if (parts.hostname or "").lower() not in hosts:
        return url, ""
    # Only the API: the rest of this server (its pages, /health/) is no
    # outside address an author may reach this way.
    segments = unquote(parts.path).split("/")
    if segments[:2] != ["", "api"] or {".", ".."} & set(segments):
        raise ConfigError(
            f"{parts.hostname} leads to this Cairn's API, whose paths start with"
            f" /api/; {parts.path or '/'} is not one"
        )
    cairn = urlsplit(settings.BASE_URL)
    path = cairn.path.rstrip("/") + parts.path
    return (
        urlunsplit((cairn.scheme, cairn.netloc, path, parts.query, "")),
        cairn.hostname or "",
    )


# Cortex's `integration` names → Cairn's integration kind, the API root that a
# relative URL starts from (given the integration's base URL), and its signer:
_INTEGRATIONS = {
    "github": ("GITHUB", lambda base_url: base_url, github_headers),
    "gitlab": ("GITLAB", gitlab_api_url, gitlab_headers),
}
_CREDENTIAL_HEADERS = frozenset({"authorization", "private-token"})


def _integration(
    schema: dict, render: Callable[[Any], Any], workspace: Workspace | None
) -> tuple[str, dict[str, str]]:
    """(base URL, credential headers) of the block's integration, or ("", {}) for none."""
    name = schema.get("integration")
    if not name:
        return "", {}
    known = _INTEGRATIONS.get(str(name).strip().lower())
    if known is None:
        raise ConfigError(
            f"Cairn cannot send requests through the {name} integration yet; "
            "use a full URL and pass the credentials in headers"
        )
    alias = render(schema.get("integrationAlias") or "")
    if not isinstance(alias, str):
        raise ConfigError("integrationAlias must be a string")
    kind, api_root, sign = known
    try:
        integration, token = find_integration(workspace, kind, alias.strip())
    except IntegrationError as exc:
        raise ConfigError(str(exc)) from None
    return api_root(integration.base_url), sign(token)


def _under(url: str, base_url: str) -> bool:
    """Whether url is base_url or below it (same scheme, host, port and path prefix)."""
    target, base = urlsplit(url), urlsplit(base_url)
    prefix = base.path.rstrip("/")
    return (target.scheme.lower(), target.netloc.lower()) == (
        base.scheme.lower(),
        base.netloc.lower(),
    ) and (target.path == prefix or target.path.startswith(prefix + "/"))


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def call(
    http: HttpCall, ctx: BlockContext, *, timeout: float | None = None
) -> outbound.Response:
    """Send the call for the run's workspace, signed when it has a signing
    secret (workflows.signing); raises outbound.OutboundError."""
    headers = {**http.headers, **_logged_path_headers(http.url, ctx.secret_values)}
    key = signing.signing_key(ctx.workspace)
    if key:  # the signature is ours to write, whatever the descriptor says
        headers = {
            name: value
            for name, value in headers.items()
            if name.lower() not in signing.SIGNATURE_HEADERS
        }
    return outbound.send(
        http.method,
        http.url,
        headers=headers,
        content=http.payload or None,
        workspace=ctx.workspace,
        timeout=timeout if timeout is not None else block_timeout(),
        max_bytes=block_max_bytes(),
        allow_hosts=(http.allow_host,) if http.allow_host else (),
        secrets=ctx.secret_values,
        sign=functools.partial(signing.signature_headers, key) if key else None,
    )


def _logged_path_headers(url: str, secret_values) -> dict[str, str]:
    """For a call to this Cairn with a secret in its path: how its logs should
    write the path (portal.logpath). None for other hosts: they see no extra header."""
    if not secret_values or not logpath.is_this_server(url):
        return {}
    path = unquote(urlsplit(url).path)
    logged = scrub(path, list(secret_values))
    return logpath.headers_for(path, logged) if logged != path else {}


def response_outputs(response: outbound.Response) -> dict:
    return {
        "status": response.status,
        "headers": response.headers,
        "body": response.body,
    }


def status_error(response: outbound.Response, url: str) -> str:
    """ "HTTP 500 from <url>: <start of the body>"."""
    message = f"HTTP {response.status} from {url}"
    short = response.short_body()
    return f"{message}: {short}" if short else message


class HttpRequest(Block):
    type = "HTTP_REQUEST"

    def integration_kind(self, schema: dict) -> str | None:
        known = _INTEGRATIONS.get(str(schema.get("integration") or "").strip().lower())
        return known[0] if known else None

    def execute(self, ctx: BlockContext) -> Outcome:
        try:
            http = prepare(ctx.schema, ctx.render, ctx.workspace)
        except ConfigError as exc:
            return Outcome.failed(f"Bad configuration: {exc}")
        inputs = http.as_inputs()
        try:
            response = call(http, ctx)
        except outbound.OutboundError as exc:
            return Outcome.failed(str(exc), inputs=inputs)
        outputs = response_outputs(response)
        if not response.ok:
            return Outcome.failed(
                status_error(response, http.url), inputs=inputs, outputs=outputs
            )
        return Outcome.completed(outputs, inputs=inputs)
