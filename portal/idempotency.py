"""`Idempotency-Key` for the API's writes (DESIGN.md, API).

    @router.post("/{tagOrId}/runs")
    @idempotent
    def run_create(request, ...): ...

Per workspace, kept 24 hours:

- the same key with the same request (same API key, method, path, query and
  body) answers the first response again, status and body, with the header
  `Idempotent-Replayed: true`, and does nothing;
- the same key with a different request → 422;
- the same key while the first request is still being handled → 409;
- a malformed key (empty, longer than 255 characters, anything but printable
  ASCII) → 400.

How it holds under concurrency, on SQLite and PostgreSQL alike: the record is
inserted (and committed) *before* the request is handled, so the unique
constraint on (workspace, key) lets exactly one of several concurrent requests
go ahead; the others see its record and answer 409 or replay it. The handler's
writes and the record's answer are then committed in one transaction, so a run
exists exactly when its record is DONE (a view that wants its reads outside
that transaction uses `@idempotent(atomic=False)` and calls `complete` in its
own). Only successful (2xx) answers are kept:
after an error nothing was done, so the record is dropped and the same key may
be sent again. A holder that died mid-request leaves a record in flight; after
`LEASE` another request takes it over (its writes were rolled back with it),
and a holder that was only slow finds its claim gone and rolls back.
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from datetime import timedelta

from django.db import IntegrityError, connections, transaction
from django.http import HttpResponse
from django.utils import timezone
from ninja.errors import HttpError

from .models import IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
MAX_LENGTH = 255
TTL = timedelta(hours=24)
# Longer than any request may take (gunicorn's timeout is 30 s):
LEASE = timedelta(minutes=2)

State = IdempotencyRecord.State


class _LostClaim(Exception):
    """Another request took the record over while this one was still working."""


def check_key(key: str) -> None:
    if not key or not key.strip():
        raise HttpError(400, f"{HEADER} must not be empty")
    if len(key) > MAX_LENGTH:
        raise HttpError(400, f"{HEADER} must be at most {MAX_LENGTH} characters")
    if any(not (" " <= ch <= "~") for ch in key):
        raise HttpError(400, f"{HEADER} must be printable ASCII characters only")
    if "," in key:  # how a server joins two headers of one name
        raise HttpError(
            400, f"{HEADER} must be one key without commas (two headers were sent?)"
        )


def fingerprint(request) -> str:
    """What makes two requests "the same": API key, method, path, query and body.

    JSON bodies are compared by value, so spacing and key order don't matter;
    1 and 1.0 differ (a branch's CEL tells an int from a double).
    """
    try:
        body = json.dumps(json.loads(request.body), sort_keys=True)
    except ValueError:
        body = hashlib.sha256(request.body).hexdigest()
    query = sorted((k, v) for k, values in request.GET.lists() for v in values)
    parts = [request.auth.api_key.pk, request.method, request.path, query, body]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(
        record.body, status=record.status_code, content_type=record.content_type
    )
    response[REPLAYED] = "true"
    return response


def _claim(workspace, key: str, digest: str):
    """Insert the record, or answer from the one already there.

    Returns (record id, lock) for the request to go ahead, or (an HttpResponse
    to replay, None); raises HttpError 409 or 422.
    """
    for _ in range(3):
        now = timezone.now()
        lock = uuid.uuid4()
        try:
            pk = _insert(
                workspace=workspace.pk,
                key=key,
                fingerprint=digest,
                state=State.IN_FLIGHT,
                lock=lock,
                locked_at=now,
                status_code=None,
                content_type="",
                body="",
                created_at=now,
                expires_at=now + TTL,
            )
            if pk % 100 == 0:  # now and then, forget expired keys
                IdempotencyRecord.objects.filter(expires_at__lt=now).delete()
            return pk, lock
        except IntegrityError:
            pass
        existing = IdempotencyRecord.objects.filter(
            workspace=workspace, key=key
        ).first()
        if existing is None:
            continue  # it expired and was deleted meanwhile
        if existing.expires_at <= now:
            IdempotencyRecord.objects.filter(
                pk=existing.pk, expires_at=existing.expires_at
            ).delete()
            continue
        if existing.fingerprint != digest:
            raise HttpError(
                422,
                f"This {HEADER} was already used for a different request; "
                "use a new key for a new request",
            )
        if existing.state == State.DONE:
            return _replay(existing), None
        if existing.locked_at < now - LEASE and (
            IdempotencyRecord.objects.filter(
                pk=existing.pk, state=State.IN_FLIGHT, lock=existing.lock
            ).update(lock=lock, locked_at=now)
        ):
            return existing.pk, lock
        raise HttpError(
            409,
            f"A request with this {HEADER} is still in progress; "
            "retry it once that one has finished",
        )
    raise HttpError(409, f"A request with this {HEADER} is still in progress")


# The INSERT and UPDATE every request with a key makes are written out by hand:
# the ORM takes about 1 ms of CPU to build each (see portal.rawsql).


def _params(connection, values: dict) -> list:
    """The values as the ORM sends them for these fields (UUIDs, datetimes)."""
    meta = IdempotencyRecord._meta
    return [
        meta.get_field(name).get_db_prep_save(value, connection)
        for name, value in values.items()
    ]


def _insert(**values) -> int:
    """INSERT the record (every field but the id) and commit it; returns its id.

    Raises IntegrityError if the workspace already has the key.
    """
    connection = connections[IdempotencyRecord.objects.db]
    quote, meta = connection.ops.quote_name, IdempotencyRecord._meta
    names = ", ".join(quote(meta.get_field(name).column) for name in values)
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({names}) "
        f"VALUES ({', '.join(['%s'] * len(values))}) RETURNING {quote(meta.pk.column)}"
    )
    params = _params(connection, values)

    def insert() -> int:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()[0]

    if connection.in_atomic_block:
        # A savepoint, so that a taken key leaves the caller's transaction usable:
        with transaction.atomic(using=connection.alias):
            return insert()
    # Outside a transaction the one statement commits itself (no BEGIN, COMMIT):
    return insert()


def _complete_sql(connection) -> str:
    quote = connection.ops.quote_name
    return (
        f"UPDATE {quote(IdempotencyRecord._meta.db_table)} SET "
        f"{quote('state')} = %s, {quote('status_code')} = %s, "
        f"{quote('content_type')} = %s, {quote('body')} = %s "
        f"WHERE {quote('id')} = %s AND {quote('state')} = %s AND {quote('lock')} = %s"
    )


class Claim:
    """A request's hold on its key; `complete` stores the answer."""

    def __init__(self, pk: int, lock: uuid.UUID):
        self.pk, self.lock, self.completed = pk, lock, False

    def complete(self, response: HttpResponse) -> None:
        """Store the answer; call it in the transaction of the request's writes.

        Raises _LostClaim (→ 409, and the transaction rolls back) when another
        request took the key over meanwhile.
        """
        connection = connections[IdempotencyRecord.objects.db]
        params = _params(
            connection,
            {
                "state": State.DONE,
                "status_code": response.status_code,
                "content_type": response.get("Content-Type", ""),
                "body": response.content.decode(),
                "id": self.pk,
            },
        ) + _params(connection, {"state": State.IN_FLIGHT, "lock": self.lock})
        with connection.cursor() as cursor:
            cursor.execute(_complete_sql(connection), params)
            kept = cursor.rowcount
        if not kept:
            raise _LostClaim
        self.completed = True

    def release(self) -> None:
        """Forget a claim whose request did nothing, so the key may be sent again."""
        IdempotencyRecord.objects.filter(
            pk=self.pk, state=State.IN_FLIGHT, lock=self.lock
        ).delete()


def complete(request, response: HttpResponse) -> None:
    """For views decorated with `@idempotent(atomic=False)`: store the answer
    inside the view's own write transaction (nothing happens without a key)."""
    claim = getattr(request, "idempotency_claim", None)
    if claim is not None and 200 <= response.status_code < 300:
        claim.complete(response)


def idempotent(view=None, *, atomic: bool = True):
    """Make an API view honour the Idempotency-Key header.

    The view must return an HttpResponse. By default it runs inside a
    transaction that also stores its answer. With `atomic=False` the view
    opens the transaction of its writes itself and calls `complete(request,
    response)` in it (so that it holds SQLite's write lock only while writing).
    """
    if view is None:
        return functools.partial(idempotent, atomic=atomic)

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return view(request, *args, **kwargs)
        check_key(key)
        claimed, lock = _claim(request.auth.workspace, key, fingerprint(request))
        if isinstance(claimed, HttpResponse):
            return claimed
        claim = request.idempotency_claim = Claim(claimed, lock)
        try:
            if atomic:
                with transaction.atomic():
                    response = view(request, *args, **kwargs)
                    if not 200 <= response.status_code < 300:
                        raise _Failed(response)
                    claim.complete(response)
            else:
                response = view(request, *args, **kwargs)
                if 200 <= response.status_code < 300 and not claim.completed:
                    claim.complete(response)
        except _Failed as failed:
            claim.release()
            return failed.response
        except _LostClaim:
            raise HttpError(
                409, f"A request with this {HEADER} is still in progress"
            ) from None
        except BaseException:
            claim.release()
            raise
        if not claim.completed:
            claim.release()
        return response

    return wrapper


class _Failed(Exception):
    """The view answered with an error: undo its writes, keep its answer."""

    def __init__(self, response: HttpResponse):
        super().__init__(response.status_code)
        self.response = response


# The header, for an @idempotent operation's openapi_extra:
OPENAPI_HEADER = {
    "parameters": [
        {
            "in": "header",
            "name": HEADER,
            "required": False,
            "description": "Retry safely: the same key with the same request answers "
            "the first response again (Idempotent-Replayed: true) for 24 hours.",
            "schema": {"type": "string", "maxLength": 255},
        }
    ]
}
