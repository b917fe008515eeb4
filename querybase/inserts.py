"""Rows that belong together, inserted in one round trip to the metadata database.

A read's history row and its audit event are written on every read: as separate ORM
saves in a transaction they cost four round trips (BEGIN, two INSERTs, COMMIT) and most of
the Python of a cache hit. On PostgreSQL they go as one statement, the first INSERTs as
data-modifying CTEs of the last: one statement is atomic by itself, so both rows are
there or neither is. Elsewhere (the embedded SQLite default), plain saves in one
transaction. No model signals are sent, as with bulk_create; the rows' own `save` is not
called (none of the models given here does more in it than refuse updates).
"""

from django.db import connection, models, transaction
from django.db.models.sql import InsertQuery


def insert_together(*objects: models.Model) -> None:
    """INSERT `objects` (new rows, primary keys set by Python or by the database) at once."""
    if connection.vendor != "postgresql":
        with transaction.atomic():
            for obj in objects:
                obj.save(force_insert=True)
        return
    statements, params = [], []
    for obj in objects:
        sql, values = _insert_sql(obj)
        statements.append(sql)
        params.extend(values)
    *leading, last = statements
    ctes = ", ".join(f"qb_insert_{index} AS ({sql})" for index, sql in enumerate(leading))
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {ctes} {last}" if ctes else last, params)
    for obj in objects:
        obj._state.adding = False
        obj._state.db = connection.alias


def _insert_sql(obj: models.Model) -> tuple[str, list]:
    meta = obj._meta
    # A database-assigned key (an identity column) is left to the database, as save() does.
    fields = [
        field
        for field in meta.local_concrete_fields
        if not getattr(field, "generated", False) and not (field is meta.auto_field and obj.pk is None)
    ]
    query = InsertQuery(type(obj))
    query.insert_values(fields, [obj])
    [(sql, values)] = query.get_compiler(connection=connection).as_sql()
    return sql, list(values)
