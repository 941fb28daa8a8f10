"""HTTP_REQUEST_ASYNC: make an HTTP call, then wait for the callee to call back.

The request is built as HTTP_REQUEST's (`workflows.blocks.http_request`), its
answer kept as the same outputs (`status`, `headers`, `body`), and its
templates also see `{{callbackUrl}}`: where the callee reports back
(`POST /api/v1/workflows/{tagOrId}/callback/{callbackId}`). A 2xx answer pauses
the step (waiting for CALLBACK) until `timeoutInSeconds` from the start, if set;
the engine fails the step when that deadline passes. The request itself never
gets longer than `timeoutInSeconds` either.

The callback body is Cortex's CallbackRequest:
`{"status": "SUCCESS"|"FAILURE"|"UPDATE", "message": "...", "response": {...}}`.

- SUCCESS completes the step: outputs gain `message`, `response` (the object,
  `{}` if none) and `result` (the callback body as received, which is where
  Cortex's own templates read it: `outputs.result.output.<field>`);
- FAILURE fails the step with the message;
- UPDATE keeps it waiting with the same deadline, sets `message` to the latest
  one and appends `{message, response, at}` to `updates`, which keeps the
  latest ones within UPDATES_CHARS (a callee sending large updates over hours
  filled the step past what it may store, and the run failed).

Aliases that Cortex's own callers send are accepted: `CANCELLED` is a FAILURE,
`IN_PROGRESS` an UPDATE, and `output` stands for `response` when `response` is
absent.
"""

from __future__ import annotations

import json
from datetime import timedelta
from difflib import get_close_matches
from typing import Any

from django.utils import timezone

from workflows import outbound
from workflows.templating import render_value

from .base import Block, BlockContext, Outcome
from .http_request import (
    ConfigError,
    block_timeout,
    call,
    prepare,
    response_outputs,
    status_error,
)

STATUSES = ("SUCCESS", "FAILURE", "UPDATE")
UPDATES_CHARS = 1_000_000
_ALIASES = {"CANCELLED": "FAILURE", "IN_PROGRESS": "UPDATE"}


def timeout_in_seconds(schema: dict) -> int | None:
    value = schema.get("timeoutInSeconds")
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigError("timeoutInSeconds must be a whole number of seconds")
    try:
        seconds = int(value)
    except ValueError:
        raise ConfigError(
            f"timeoutInSeconds {value!r} is not a whole number of seconds"
        ) from None
    if seconds <= 0:
        raise ConfigError("timeoutInSeconds must be more than 0")
    return seconds


# CallbackRequest's fields ("output": what older Cortex docs called "response"):
_FIELDS = frozenset({"status", "message", "response", "output"})


def parse_callback(payload: Any) -> tuple[str, str, dict | None]:
    """Validate a CallbackRequest body; return (status, message, response).

    Raises ValueError with a message fit for a 400 answer.
    """
    if not isinstance(payload, dict):
        raise ValueError("The callback body must be a JSON object")
    # Other fields are the caller's own (a job's URL, say): kept in `result`,
    # as Cortex takes them. One that looks like a misspelt field (another
    # case, a letter or two off: `Status`, `respones`, `outputs`) is refused,
    # or its value would be dropped unseen; `messageId` or `runStatus` is not.
    for key in map(str, payload):
        near = [
            field
            for field in _FIELDS
            if key not in _FIELDS
            and abs(len(key) - len(field)) <= 1
            and get_close_matches(key.lower(), [field], cutoff=0.8)
        ]
        if near:
            raise ValueError(
                f"{key!r}: not a field of a callback; did you mean {near[0]!r}?"
                " (it takes status, message and response, or output for response)"
            )
    status = payload.get("status")
    if status is None:
        raise ValueError(f"status is required (one of {', '.join(STATUSES)})")
    normal = str(status).upper()
    normal = _ALIASES.get(normal, normal)
    if normal not in STATUSES:
        raise ValueError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    message = payload.get("message")
    if message is None:
        raise ValueError("message is required")
    if not isinstance(message, str):
        raise ValueError("message must be a string")
    key = "response" if "response" in payload else "output"
    response = payload.get(key)
    if response is not None and not isinstance(response, dict):
        raise ValueError(f"{key} must be a JSON object")
    return normal, message, response


class HttpRequestAsync(Block):
    type = "HTTP_REQUEST_ASYNC"

    def execute(self, ctx: BlockContext) -> Outcome:
        # timeoutInSeconds counts from the first attempt, not a retry's:
        started = ctx.step.started_at or timezone.now()
        state = {**ctx.state, "callbackUrl": ctx.callback_url}
        try:
            seconds = timeout_in_seconds(ctx.schema)
            http = prepare(
                ctx.schema, lambda value: render_value(value, state), ctx.workspace
            )
        except ConfigError as exc:
            return Outcome.failed(f"Bad configuration: {exc}")
        inputs = http.as_inputs()
        timeout = min(block_timeout(), seconds) if seconds else None
        try:
            response = call(http, ctx, timeout=timeout)
        except outbound.OutboundError as exc:
            return Outcome.failed(str(exc), inputs=inputs)
        outputs = response_outputs(response)
        if not response.ok:
            return Outcome.failed(
                status_error(response, http.url), inputs=inputs, outputs=outputs
            )
        deadline = started + timedelta(seconds=seconds) if seconds else None
        return Outcome.waiting(
            "CALLBACK", inputs=inputs, deadline=deadline, outputs=outputs
        )

    def resume(self, ctx: BlockContext, payload: dict) -> Outcome:
        """Apply a callback. Raises ValueError (→ 400) when the body is malformed."""
        status, message, response = parse_callback(payload)
        inputs = ctx.step.inputs or {}
        outputs = dict(ctx.step.outputs or {})
        if status == "UPDATE":
            update = {"message": message, "at": timezone.now().isoformat()}
            if response is not None:
                update["response"] = response
                outputs["response"] = response
            outputs["message"] = message
            outputs["updates"] = _latest([*outputs.get("updates", []), update])
            return Outcome.waiting(
                "CALLBACK",
                inputs=inputs,
                deadline=ctx.step.deadline_at,
                outputs=outputs,
            )
        # `result` is the body as sent, where Cortex's solutions read
        # `result.output`; a callee that sends the spec's `response` finds it
        # there too (Cortex's own echo server: "include response for result.output").
        result = dict(payload)
        if response is not None:
            result.setdefault("output", response)
        outputs.update(message=message, response=response or {}, result=result)
        if status == "FAILURE":
            reason = (
                message or f"The callback reported {str(payload['status']).upper()}"
            )
            return Outcome.failed(reason, inputs=inputs, outputs=outputs)
        return Outcome.completed(outputs, inputs=inputs)


def _latest(updates: list) -> list:
    """The newest updates whose JSON text fits in UPDATES_CHARS (the newest
    always, however large)."""
    kept, size = [], 0
    for update in reversed(updates):
        size += len(json.dumps(update, ensure_ascii=False))
        if kept and size > UPDATES_CHARS:
            break
        kept.append(update)
    return kept[::-1]
