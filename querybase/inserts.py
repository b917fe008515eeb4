"""Rows that belong together, written in one round trip to the metadata database.

A read's history row and its audit event are written on every read: as separate ORM
saves in a transaction they cost four round trips (BEGIN, two INSERTs, COMMIT) and most of
the Python of a cache hit. On PostgreSQL they go as one statement, the first INSERTs as
data-modifying CTEs of the last: one statement is atomic by itself, so both rows are
there or neither is. A run's end is the same: its status UPDATE and the audit event that
says how it ended are one statement (`update_then_insert`), the event inserted only if
the UPDATE moved the row. Elsewhere (the embedded SQLite default), plain saves in one
transaction. No model signals are sent, as with bulk_create; the rows' own `save` is not
called (none of the models given here does more in it than refuse updates).

Either statement may also carry one SQL expression of the caller's (`returning`, `also`):
a run's session lock is taken with its row and given back with its end
(querybase.session_locks.SessionLock), so holding it costs no round trip of its own.
"""

from collections.abc import Sequence
from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import QuerySet
from django.db.models.sql import InsertQuery, UpdateQuery

SqlExpression = tuple[str, list[Any]]


def _db() -> BaseDatabaseWrapper:
    """This thread's connection itself: `django.db.connection` is a proxy that looks the
    thread's connection up again on every attribute, which adds up over a row's fields."""
    return connections[DEFAULT_DB_ALIAS]


def insert_together(*objects: models.Model, returning: SqlExpression | None = None) -> Any:
    """INSERT `objects` (new rows, primary keys set by Python or by the database) at once.
    `returning`: an expression evaluated in the same statement; its value is returned
    (None where the metadata database is not PostgreSQL)."""
    connection = _db()
    if connection.vendor != "postgresql":
        with transaction.atomic():
            for obj in objects:
                obj.save(force_insert=True)
        return None
    statements, params = [], []
    for obj in objects:
        sql, values = _insert_sql(obj, connection)
        statements.append(sql)
        params.extend(values)
    *leading, last = statements
    if returning is not None:
        last = f"{last} RETURNING {returning[0]}"
        params.extend(returning[1])
    ctes = ", ".join(f"qb_insert_{index} AS ({sql})" for index, sql in enumerate(leading))
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {ctes} {last}" if ctes else last, params)
        value = cursor.fetchone()[0] if returning is not None else None
    _mark_saved(objects, connection)
    return value


def update_then_insert(
    rows: QuerySet, values: dict[str, Any], objects: Sequence[models.Model], *, also: SqlExpression | None = None
) -> int:
    """UPDATE `rows` with `values`, and INSERT `objects` only if that changed a row, as one
    statement; returns the number of rows updated. `also` is evaluated in the same
    statement, whether or not a row changed (where the metadata database is PostgreSQL)."""
    connection = _db()
    if connection.vendor != "postgresql":
        with transaction.atomic():
            updated = rows.update(**values)
            if updated:
                for obj in objects:
                    obj.save(force_insert=True)
        return updated
    query = rows.query.chain(UpdateQuery)
    assert isinstance(query, UpdateQuery)  # chain() makes one of the class it is given
    query.add_update_values(values)
    update_sql, params = query.get_compiler(connection=connection).as_sql()
    ctes = [f"qb_moved AS ({update_sql} RETURNING 1)"]
    params = list(params)
    for index, obj in enumerate(objects):
        sql, inserted = _conditional_insert_sql(obj, connection)
        ctes.append(f"qb_insert_{index} AS ({sql})")
        params.extend(inserted)
    extra = ""
    if also is not None:
        extra = f", {also[0]}"
        params.extend(also[1])
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(ctes)} SELECT (SELECT count(*) FROM qb_moved){extra}", params)
        updated = cursor.fetchone()[0]
    if updated:
        _mark_saved(objects, connection)
    return updated


def _mark_saved(objects: Sequence[models.Model], connection: BaseDatabaseWrapper) -> None:
    for obj in objects:
        obj._state.adding = False
        obj._state.db = connection.alias


def _insert_fields(obj: models.Model) -> list:
    meta = obj._meta
    # A database-assigned key (an identity column) is left to the database, as save() does.
    return [
        field
        for field in meta.local_concrete_fields
        if not getattr(field, "generated", False) and not (field is meta.auto_field and obj.pk is None)
    ]


def _insert_sql(obj: models.Model, connection: BaseDatabaseWrapper) -> tuple[str, list]:
    fields = _insert_fields(obj)
    text = _insert_text(type(obj), tuple(field.attname for field in fields), connection.alias)
    return text, _values_of(obj, fields, connection)


def _conditional_insert_sql(obj: models.Model, connection: BaseDatabaseWrapper) -> tuple[str, list]:
    fields = _insert_fields(obj)
    text = _conditional_insert_text(type(obj), tuple(field.attname for field in fields), connection.alias)
    return text, _values_of(obj, fields, connection)


def _values_of(obj: models.Model, fields: list, connection: BaseDatabaseWrapper) -> list:
    """Each field's value as an INSERT sends it (`pre_save` fills auto_now_add and the like)."""
    return [field.get_db_prep_save(field.pre_save(obj, True), connection=connection) for field in fields]


# The texts depend on the model and its columns only, so each is made once per process:
# compiling them was a good part of a read's Python.


@cache
def _insert_text(model: type[models.Model], attnames: tuple[str, ...], alias: str) -> str:
    """The INSERT of `model`'s `attnames`, as Django compiles it."""
    fields = [_field_by_attname(model, name) for name in attnames]
    query = InsertQuery(model)
    query.insert_values(fields, [model()])
    [(sql, _)] = query.get_compiler(connection=connections[alias]).as_sql()
    return sql


@cache
def _conditional_insert_text(model: type[models.Model], attnames: tuple[str, ...], alias: str) -> str:
    """INSERT … SELECT of `attnames`, inserting nothing unless qb_moved holds a row. In a
    SELECT list a value has no column to take its type from: each is cast to it."""
    connection = connections[alias]
    fields = [_field_by_attname(model, name) for name in attnames]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    casts = ", ".join(f"CAST(%s AS {field.db_type(connection)})" for field in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    return f"INSERT INTO {table} ({columns}) SELECT {casts} WHERE EXISTS (SELECT 1 FROM qb_moved)"


def _field_by_attname(model: type[models.Model], attname: str):
    return next(field for field in model._meta.local_concrete_fields if field.attname == attname)
