"""Hand-written SQL for the hottest paths, kept in step with the models.

On the paths that run for every API start and every block of a run, the ORM
spends more CPU building a statement than the database spends answering it
(0.3 to 1 ms against 0.05 ms). These helpers write the statement from the
model's own fields and give back the same instances the ORM would: `columns`
and `from_row` for reads, `insert` and `update` for writes. They use only what
SQLite and PostgreSQL share (RETURNING included).
"""

import weakref
from collections.abc import Callable
from contextlib import contextmanager
from contextvars import ContextVar

import psycopg
from django.db import connection, connections


def columns(model, alias: str, connection) -> str:
    """The SQL column list of every concrete field of `model`, for `from_row`."""
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(f.column)}" for f in model._meta.concrete_fields)


def from_row(model, connection, values):
    """The model instance that `values` (of `columns`, in order) describe, with the
    ORM's conversions (JSON, datetimes, booleans); None when its pk is NULL (the
    empty side of a LEFT JOIN)."""
    names, pk_index, converters = _converters(model, connection)
    values = list(values)
    if values[pk_index] is None:
        return None
    for i, col, convert in converters:
        values[i] = convert(values[i], col, connection)
    return model.from_db(connection.alias, names, values)


# Per connection (each thread has its own) and model: the field names, where
# the pk is, and the converters the ORM would apply, field by field.
_converter_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _converters(model, connection) -> tuple[list[str], int, list]:
    connection = connections[connection.alias]  # not the proxy: a weak key
    by_model = _converter_cache.setdefault(connection, {})
    if model not in by_model:
        fields = model._meta.concrete_fields
        converters = []
        for i, field in enumerate(fields):
            col = field.get_col(model._meta.db_table)
            found = connection.ops.get_db_converters(col)
            found += field.get_db_converters(connection)
            converters.extend((i, col, convert) for convert in found)
        by_model[model] = (
            [f.attname for f in fields],
            fields.index(model._meta.pk),
            converters,
        )
    return by_model[model]


def split_row(row, *models) -> list:
    """Cut a row of several models' `columns` (then any extra values) into lists."""
    parts, at = [], 0
    for model in models:
        width = len(model._meta.concrete_fields)
        parts.append(row[at : at + width])
        at += width
    return [*parts, *row[at:]]


# Fields whose plain Python values (str, int, bool) go to the driver as they
# are; everything else (JSON, dates, UUIDs…) takes the field's own preparation.
_PLAIN = {
    "CharField",
    "TextField",
    "SlugField",
    "EmailField",
    "IntegerField",
    "BigIntegerField",
    "SmallIntegerField",
    "PositiveIntegerField",
    "PositiveSmallIntegerField",
    "PositiveBigIntegerField",
    "BooleanField",
    "ForeignKey",
    "AutoField",
    "BigAutoField",
}


def _prep(field, value):
    if value is None or (
        type(value) in (str, int, bool) and field.get_internal_type() in _PLAIN
    ):
        return value
    return field.get_db_prep_save(value, connection)


def insert(objs: list, *, pks: bool = True) -> None:
    """INSERT unsaved instances of one model in one statement and set their pks:
    `bulk_create` for less CPU. It sends no save signals (nothing in Cairn
    listens to them) and knows no `db_default` or generated fields: use it
    only for models without them. Inside `together()` it waits for nothing:
    the pks are set when the block ends."""
    if not objs:
        return
    model = type(objs[0])
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    quote = connection.ops.quote_name
    sql = f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
    if connection.vendor == "postgresql" and len(objs) > 1:
        # As Django's bulk_create: one array per column, so the statement is
        # the same whatever the number of rows. psycopg then parses it once
        # (it parses anew each statement of more than 50 parameters, 0.6 ms
        # for a run's five steps) and PostgreSQL plans it once (prepared).
        sql += "SELECT * FROM UNNEST({})".format(
            ", ".join(f"(%s)::{f.db_type(connection).split('(')[0]}[]" for f in fields)
        )
        params = [[_prep(f, f.pre_save(obj, True)) for obj in objs] for f in fields]
    else:
        row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        sql += f"VALUES {', '.join([row] * len(objs))}"
        params = [_prep(f, f.pre_save(obj, True)) for obj in objs for f in fields]
    if pks:
        # In the order of the rows, on both (as bulk_create relies on):
        sql += f" RETURNING {quote(meta.pk.column)}"
    if not pks:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        return
    cursor = connection.cursor()
    cursor.execute(sql, params)

    def read_pks():
        with cursor:
            returned = cursor.fetchall()
        for obj, (pk,) in zip(objs, returned, strict=True):
            obj.pk = pk
            obj._state.adding, obj._state.db = False, connection.alias

    after(read_pks)


def update(model, values: dict, **where) -> int:
    """UPDATE `model` SET values WHERE each field equals its value (None: IS NULL,
    a list or tuple: IN); the number of rows changed. `QuerySet.update` for
    less CPU, for plain field values only. Not inside `together()`: see
    `update_later`."""
    with connection.cursor() as cursor:
        cursor.execute(*_update_statement(model, values, where))
        return cursor.rowcount


class Later:
    """The outcome of a statement sent inside `together()`, once the block ends."""

    _rowcount: int | None = None

    @property
    def rowcount(self) -> int:
        if self._rowcount is None:  # inside the block, or one it is nested in
            raise RuntimeError("the rowcount is known once the together() block ends")
        return self._rowcount


def update_later(model, values: dict, **where) -> Later:
    """`update`, inside `together()`: its rowcount is known when the block ends."""
    later, cursor = Later(), connection.cursor()
    cursor.execute(*_update_statement(model, values, where))

    def read_rowcount():
        with cursor:
            later._rowcount = cursor.rowcount

    after(read_rowcount)
    return later


def _update_statement(model, values: dict, where: dict) -> tuple[str, list]:
    meta = model._meta
    quote = connection.ops.quote_name
    sets, params = [], []
    for name, value in values.items():
        field = meta.get_field(name)
        if field.is_relation:
            value = getattr(value, "pk", value)  # an instance or its pk
        sets.append(f"{quote(field.column)} = %s")
        params.append(_prep(field, value))
    conditions = []
    for name, value in where.items():
        field = meta.pk if name == "pk" else meta.get_field(name)
        column = quote(field.column)
        if value is None:
            conditions.append(f"{column} IS NULL")
        elif isinstance(value, list | tuple):
            conditions.append(f"{column} IN ({', '.join(['%s'] * len(value))})")
            params += [field.get_db_prep_value(v, connection) for v in value]
        else:
            conditions.append(f"{column} = %s")
            params.append(field.get_db_prep_value(value, connection))
    sql = f"UPDATE {quote(meta.db_table)} SET {', '.join(sets)} WHERE {' AND '.join(conditions)}"
    return sql, params


# What to do with the results of the statements sent in the current
# together() block, once it ends; None outside one.
_pending: ContextVar[list[Callable[[], None]] | None] = ContextVar(
    "rawsql_pending", default=None
)


@contextmanager
def together():
    """Send the statements inside in one round trip where the connection can:
    PostgreSQL with server-side binding, through psycopg's pipeline mode.
    Inside, results are not there yet (rowcount is -1): read them after the
    block, each statement from a cursor of its own, or leave it to `after`.
    Elsewhere the statements go one by one, as without it. A block inside
    another is part of it: the outer one sends and reads."""
    if _pending.get() is not None:
        yield
        return
    connection.ensure_connection()
    raw = connection.connection
    pending: list[Callable[[], None]] = []
    token = _pending.set(pending)
    try:
        if connection.vendor == "postgresql" and not issubclass(
            raw.cursor_factory, psycopg.ClientCursor
        ):
            # Errors come out of the pipeline's end, where Django isn't
            # looking: turn them into Django's (IntegrityError…) as it would.
            with connection.wrap_database_errors, raw.pipeline():
                yield
        else:
            yield
    finally:
        _pending.reset(token)
    for read in pending:
        read()


def after(read: Callable[[], None]) -> None:
    """Call `read` once the results are there: when the current together()
    block ends, or now outside one."""
    pending = _pending.get()
    if pending is None:
        read()
    else:
        pending.append(read)
