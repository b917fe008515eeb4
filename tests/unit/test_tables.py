"""Which tables SQL names: over-approximate, never miss (a dry-run relies on it)."""

import pytest

from apps.sqlcore.sqltext import statements_of
from apps.sqlcore.tables import TableName, attribute_names, called_functions, referenced_tables


def names(sql: str, dialect: str = "postgresql") -> list[str]:
    return [str(name) for name in referenced_tables(sql, dialect)]


@pytest.mark.parametrize(
    ("sql", "dialect", "expected"),
    [
        ("UPDATE other_schema.counter SET v = v + 1", "mysql", ["other_schema.counter"]),
        ("UPDATE `Other`.`Counter` SET v = 1", "mysql", ["other.counter"]),
        ('UPDATE "My"."Tab" t SET x = 1', "postgresql", ["my.tab"]),
        ("UPDATE db.sch.t SET x = 1", "postgresql", ["sch.t"]),
        ("UPDATE a, b x SET a.v = 1 WHERE a.id = x.id", "mysql", ["a", "b"]),
        ("DELETE t1, t2 FROM t1 JOIN other.t2 ON t1.id = t2.id", "mysql", ["t1", "other.t2"]),
        ("DELETE x FROM items x JOIN y.z ON 1", "mysql", ["items", "y.z"]),
        ("DELETE FROM a, b USING t1 a JOIN t2 b WHERE 1", "mysql", ["t1", "t2"]),
        ("DELETE FROM ledger WHERE id = 1", "postgresql", ["ledger"]),
        ("UPDATE t SET x = 1 FROM a, b AS c JOIN d ON true, e", "postgresql", ["t", "a", "b", "d", "e"]),
        ("UPDATE t SET y = EXTRACT(YEAR FROM ts) WHERE a IS DISTINCT FROM b", "postgresql", ["t"]),
        ("WITH w AS (SELECT * FROM src) UPDATE items SET p = 1 FROM w", "postgresql", ["src", "items"]),
        (
            "INSERT INTO t (a, b) SELECT a FROM generate_series(1, 2) g, (SELECT 1) s, real_t",
            "postgresql",
            ["t", "real_t"],
        ),
        ("INSERT IGNORE t SET a = 1", "mysql", ["t"]),
        ("INSERT INTO t VALUES (1) ON DUPLICATE KEY UPDATE v = REPLACE(v, 'a', 'b')", "mysql", ["t"]),
        ("UPDATE x SET a = (SELECT max(b) FROM `db`.`y` WHERE EXISTS (SELECT 1 FROM z))", "mysql", ["x", "db.y", "z"]),
        ("/*!UPDATE hidden SET a = 1*/ SELECT 1", "mysql", ["hidden"]),
        ("SELECT 1; UPDATE second SET a = 1", "postgresql", ["second"]),
        (
            "MERGE INTO tgt USING src ON tgt.id = src.id WHEN MATCHED THEN UPDATE SET v = 1",
            "postgresql",
            ["tgt", "src"],
        ),
        ("SELECT * FROM t FOR UPDATE SKIP LOCKED", "postgresql", ["t"]),
        ("UPDATE t SET note = 'FROM secret' -- FROM hidden_in_comment", "postgresql", ["t"]),
    ],
)
def test_referenced_tables(sql, dialect, expected):
    assert names(sql, dialect) == expected


def test_called_functions_are_qualified_when_written_so():
    sql = "UPDATE t SET a = pg_catalog.setval('s', 1), b = public.f(2), c = lower(c)"
    assert called_functions(sql, "postgresql") == [
        TableName("pg_catalog", "setval"),
        TableName("public", "f"),
        TableName(None, "lower"),
    ]


@pytest.mark.parametrize(("dialect", "quote"), [("postgresql", '"'), ("mysql", "`")])
def test_function_names_are_folded_one_letter_for_one_as_the_servers_fold_them(dialect, quote):
    # Python's upper() spelt `größe` as GRÖSSE, so the catalog was asked about `grösse`,
    # which does not exist, and the VOLATILE `größe()` ran as a read.
    sql = f"SELECT größe(), GRÖßE(), {quote}Äpfel{quote}(), benchmarK(1, 1), {quote}İx{quote}()"
    assert [function.name for function in called_functions(sql, dialect)] == ["größe", "äpfel", "benchmark", "ix"]


def test_attribute_names_are_every_name_after_a_dot_that_is_not_called():
    (statement,) = statements_of('SELECT o.id, (o).total, s.f(1), o."Row_Lock" FROM s.orders o', "postgresql")
    assert attribute_names(statement.tokens) == ["id", "total", "row_lock", "orders"]
