"""What the `github.*` and `gitlab.*` actions share: checked inputs, a REST client
for one integration, and the registry that runs an action by its identifier.

Each service module (workflows.github_actions, workflows.gitlab_actions) subclasses
`Inputs` and `Client` with its own parts (a repository, a project; its headers,
error messages and pages) and registers its handlers `(inputs, client) -> outputs`
on an `Actions`. Requests go through `workflows.outbound`, so the outbound rules
(timeout, size cap, refused private addresses) hold, and the token goes only in
the headers of requests to the integration's own address.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, urlencode

from workflows import outbound
from workflows.integrations import IntegrationError, find_integration

if TYPE_CHECKING:
    from portal.models import Workspace

MAX_PAGES = 10
PER_PAGE = 100


class ActionError(Exception):
    """The action can't run or the service refused it; the message is shown on the step."""

    def __init__(self, message: str, outputs: dict | None = None):
        super().__init__(message)
        self.outputs = outputs or {}


def kind(value: Any) -> str:
    return {dict: "an object", list: "a list", bool: "true or false"}.get(
        type(value), type(value).__name__
    )


def outputs(body: Any) -> dict:
    """A service's answer as step outputs: as it is under `response`, where
    Cortex's own descriptors read it (`.outputs.response[].name`,
    `.outputs.response.content`), and also spread out: an object's keys at the
    top, a list as `items`."""
    if body is None or body == "":
        return {"response": None}
    if isinstance(body, dict):
        return {**body, "response": body}
    if isinstance(body, list):
        return {"items": body, "response": body}
    return {"body": body, "response": body}


# Inputs ----------------------------------------------------------------------------

_NUMBER = re.compile(r"^[1-9][0-9]*$")
_COUNT = re.compile(r"^[0-9]+$")


class Inputs:
    """The rendered inputs, read with checks whose errors name the action and input."""

    error: ClassVar[type[ActionError]] = ActionError

    def __init__(self, action: str, raw: dict):
        self.action = action
        self.raw = raw

    def fail(self, problem: str) -> ActionError:
        return self.error(f"{self.action}: {problem}")

    def given(self, key: str) -> bool:
        value = self.raw.get(key)
        return not (value is None or (isinstance(value, str) and not value.strip()))

    def text(self, key: str, what: str = "") -> str:
        """A required string input (numbers are accepted as their text)."""
        if not self.given(key):
            hint = f" ({what})" if what else ""
            raise self.fail(f"inputs.{key} is required{hint}")
        return self._text(key)

    def optional_text(self, key: str) -> str | None:
        return self._text(key) if self.given(key) else None

    def _text(self, key: str) -> str:
        value = self.raw[key]
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(f"inputs.{key} must be a string, not {kind(value)}")
        return str(value).strip()

    def number(self, key: str, what: str = "") -> int:
        text = self.text(key, what)
        if not _NUMBER.match(text):
            raise self.fail(
                f"inputs.{key} must be a positive whole number, not {text!r}"
            )
        return int(text)

    def count(self, key: str, what: str = "") -> int:
        """A required whole number that may be 0."""
        text = self.text(key, what)
        if not _COUNT.match(text):
            raise self.fail(f"inputs.{key} must be a whole number, not {text!r}")
        return int(text)

    def _numbers(self, key: str) -> list[int]:
        """A list of ids, given as a list or as comma-separated text."""
        value = self.raw[key]
        items = value if isinstance(value, list) else None
        if isinstance(value, int | str) and not isinstance(value, bool):
            items = [part for part in str(value).split(",") if part.strip()]
        if items is None or not all(
            isinstance(v, int | str)
            and not isinstance(v, bool)
            and _COUNT.match(str(v).strip())
            for v in items
        ):
            raise self.fail(f"inputs.{key} must be a list of ids")
        return [int(str(v).strip()) for v in items]

    def flag(self, key: str) -> bool | None:
        if not self.given(key):
            return None
        value = self.raw[key]
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise self.fail(f"inputs.{key} must be true or false, not {value!r}")

    def required_mapping(self, key: str, what: str = "") -> dict:
        """A required object input, given as a mapping or as JSON text."""
        if not self.given(key):
            hint = f" ({what})" if what else ""
            raise self.fail(f"inputs.{key} is required{hint}")
        return self.mapping(key)

    def mapping(self, key: str) -> dict | None:
        """An object input, given as a mapping or as JSON text."""
        if not self.given(key):
            return None
        value = self.raw[key]
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise self.fail(
                    f"inputs.{key} must be an object (or JSON text of one)"
                ) from None
        if not isinstance(value, dict):
            raise self.fail(f"inputs.{key} must be an object, not {kind(value)}")
        return value

    def strings(self, key: str, what: str = "") -> list[str]:
        """A required list of strings; one string (or comma-separated text) also does."""
        if not self.given(key):
            hint = f" ({what})" if what else ""
            raise self.fail(f"inputs.{key} is required{hint}")
        items = self._list(key)
        if not items:
            raise self.fail(f"inputs.{key} is required{f' ({what})' if what else ''}")
        return items

    def _list(self, key: str) -> list[str]:
        """A list of strings, possibly empty; a string is comma-separated items."""
        value = self.raw[key]
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return [v.strip() for v in value if v.strip()]
        raise self.fail(f"inputs.{key} must be a string or a list of strings")

    def optional_fields(self, spec: dict[str, str]) -> dict:
        """The service's fields from the inputs of the same name that are given.

        spec maps a field to its kind: "text", "flag", "number", "count" (a whole
        number that may be 0), "numbers" (a list of ids), "object" or "list".
        """
        fields: dict[str, Any] = {}
        for key, kind_ in spec.items():
            if not self.given(key):
                continue
            if kind_ == "text":
                fields[key] = self._text(key)
            elif kind_ == "flag":
                fields[key] = self.flag(key)
            elif kind_ == "number":
                fields[key] = self.number(key)
            elif kind_ == "count":
                fields[key] = self.count(key)
            elif kind_ == "numbers":
                fields[key] = self._numbers(key)
            elif kind_ == "object":
                fields[key] = self.mapping(key)
            elif kind_ == "list":
                fields[key] = self._list(key)
            else:  # pragma: no cover - a typo in a spec
                raise AssertionError(kind_)
        return fields

    # Path parts --------------------------------------------------------------

    def segment(self, key: str, what: str = "") -> str:
        """A required input that is one segment of the URL path, escaped."""
        return self._quoted(key, self.text(key, what))

    def path(self, key: str, what: str = "") -> str:
        """A required input that may hold slashes (a branch, a file path), escaped."""
        value = self.text(key, what).strip("/")
        return "/".join(self._quoted(key, part) for part in value.split("/"))

    def _quoted(self, key: str, part: str) -> str:
        if part in ("", ".", ".."):
            raise self.fail(f"inputs.{key} has an empty, '.' or '..' path segment")
        return quote(part, safe="")


# The integration -------------------------------------------------------------------


@dataclass
class Client:
    """Calls a service's API for one action, as the integration; raises `error`."""

    service: ClassVar[str]  # the service's name in messages
    error: ClassVar[type[ActionError]] = ActionError

    action: str
    base_url: str
    workspace: Workspace | None
    token: str = field(repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)  # masked in errors

    @property
    def api(self) -> str:
        """The API's address; paths are appended to it."""
        return self.base_url.rstrip("/")

    def headers(self) -> dict[str, str]:
        """The headers that sign a request with the token."""
        raise NotImplementedError

    def problem(self, response: outbound.Response) -> str:
        """What a non-2xx answer says went wrong."""
        raise NotImplementedError

    def url(self, path: str, query: dict | None = None) -> str:
        url = self.api + path
        query = {k: v for k, v in (query or {}).items() if v is not None}
        return f"{url}?{urlencode(query)}" if query else url

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: dict | None = None,
        missing_ok: bool = False,
    ) -> Any:
        """The parsed answer to `method path`; None for an empty answer, or a 404 if missing_ok."""
        response = self._send(method, self.url(path, query), body)
        if missing_ok and response.status == 404:
            return None
        self._check(response)
        return response.body if response.body_bytes else None

    def list(self, path: str, query: dict | None = None) -> list:
        """Every item of a list endpoint, following the next pages up to MAX_PAGES."""
        items: list = []
        url: str | None = self.url(path, {"per_page": PER_PAGE, **(query or {})})
        for _ in range(MAX_PAGES):
            if url is None:
                break
            response = self._send("GET", url, None)
            self._check(response)
            if not isinstance(response.body, list):
                raise self.error(
                    f"{self.action}: {self.service} answered {response.url} with "
                    f"{kind(response.body)} where a list was expected"
                )
            items.extend(response.body)
            url = self.next_page(url, response.headers)
        return items

    def next_page(self, url: str, headers: dict[str, str]) -> str | None:
        """The `Link: rel="next"` address, if it is on the integration's own
        address (the token goes nowhere else)."""
        match = re.search(r'<([^>]+)>\s*;\s*rel="?next"?', headers.get("link", ""))
        if not match:
            return None
        following = match.group(1)
        return following if following.startswith(self.api + "/") else None

    def _send(self, method: str, url: str, body: Any) -> outbound.Response:
        from workflows.blocks.http_request import block_max_bytes, block_timeout

        headers = self.headers()
        content = None
        if body is not None:
            content = json.dumps(body)
            headers["Content-Type"] = "application/json"
        try:
            return outbound.send(
                method,
                url,
                headers=headers,
                content=content,
                workspace=self.workspace,
                timeout=block_timeout(),
                max_bytes=block_max_bytes(),
                secrets=self.secrets,
            )
        except outbound.OutboundError as exc:
            raise self.error(f"{self.action}: {exc}") from None

    def _check(self, response: outbound.Response) -> None:
        if response.ok:
            return
        raise self.error(
            f"{self.action}: {self.service} answered {response.status}: "
            f"{self.problem(response)}",
            outputs={"status": response.status, "body": response.body},
        )


# Actions ---------------------------------------------------------------------------


class Actions:
    """A service's handlers by identifier (`github.createBranch`), and running one."""

    def __init__(
        self,
        prefix: str,
        integration_kind: str,
        client: type[Client],
        inputs: type[Inputs],
    ):
        self.prefix, self.integration_kind = prefix, integration_kind
        self.client, self.inputs = client, inputs
        self.handlers: dict[str, Callable[[Any, Any], dict]] = {}

    def action(self, name: str) -> Callable:
        def register(handler: Callable) -> Callable:
            self.handlers[f"{self.prefix}.{name}"] = handler
            return handler

        return register

    def run(
        self,
        identifier: str,
        inputs: dict,
        *,
        workspace: Workspace | None,
        alias: str = "",
        label: str = "",
        secrets: Iterable[str] = (),
    ) -> dict:
        """Run an action; return its outputs or raise the client's error.

        Messages start with `label` (the identifier by default)."""
        handler = self.handlers.get(identifier)
        error = self.client.error
        if handler is None:
            raise error(f"Cairn cannot execute action {identifier!r} yet")
        label = label or identifier
        try:
            integration, token = find_integration(
                workspace, self.integration_kind, alias.strip()
            )
        except IntegrationError as exc:
            raise error(f"{label}: {exc}") from None
        client = self.client(
            label, integration.base_url, workspace, token, tuple(secrets)
        )
        return handler(self.inputs(label, inputs), client)
