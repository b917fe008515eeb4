"""The scanner under the classifier and the parameter binder: where code is, where
statements end, and which `$n` / `:name` are placeholders."""

import pytest

from apps.sqlcore.sqltext import Placeholder, find_placeholders, statements_of


def keys(sql: str, dialect: str = "postgresql") -> list:
    return [placeholder.key for placeholder in find_placeholders(sql, dialect)]


@pytest.mark.parametrize("dialect", ["postgresql", "mysql", "sqlite"])
def test_placeholders_in_code_are_found_with_their_exact_offsets(dialect):
    sql = "SELECT * FROM orders WHERE id = $1 AND total > $2"
    found = find_placeholders(sql, dialect)
    assert found == [
        Placeholder("positional", 1, sql.index("$1"), sql.index("$1") + 2),
        Placeholder("positional", 2, sql.index("$2"), sql.index("$2") + 2),
    ]
    named = "SELECT * FROM orders WHERE day > :since AND id = :id_1"
    assert [(p.style, p.key, named[p.start : p.end]) for p in find_placeholders(named, dialect)] == [
        ("named", "since", ":since"),
        ("named", "id_1", ":id_1"),
    ]


@pytest.mark.parametrize(
    ("sql", "dialect"),
    [
        ("SELECT '$1', ':name' FROM t", "postgresql"),
        ("SELECT E'it\\'s $1' FROM t", "postgresql"),
        ('SELECT "$1", ":name" FROM t', "postgresql"),
        ("SELECT $$ $1 :name $$, $body$ $2 $body$", "postgresql"),
        ("SELECT 1 -- $1 :name\n", "postgresql"),
        ("SELECT 1 /* $1 /* nested :name */ $2 */", "postgresql"),
        ("SELECT created_at::date, x::text FROM t", "postgresql"),
        ("SELECT 'it\\'s $1' FROM t", "mysql"),
        ('SELECT "a :name" FROM t', "mysql"),
        ("SELECT `$1` FROM t # $2 :name", "mysql"),
        ("SELECT @total := 1", "mysql"),
        ("SELECT [$1], ':x' FROM t", "sqlite"),
    ],
)
def test_placeholder_lookalikes_outside_code_are_left_alone(sql, dialect):
    assert keys(sql, dialect) == []


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT a[x:y] FROM t", []),
        ("SELECT a[1:hi], a[lo:hi][2:n] FROM t", []),
        ('SELECT (f(a))[i:j], a[x::int:y], a["lo":up], a[$1:y] FROM t', [1]),
        ("SELECT a[:lo], a[:lo:hi] FROM t", ["lo", "lo"]),  # a subscript that is a placeholder
        ("SELECT a[x : :hi] FROM t", ["hi"]),
        ("SELECT a[x:y] FROM t WHERE b = :y", ["y"]),
        ("SELECT a[f(x, :p):y] FROM t", ["p"]),
    ],
)
def test_an_array_slice_is_no_named_placeholder(sql, expected):
    assert keys(sql) == expected


def test_a_repeated_placeholder_is_reported_at_each_use():
    assert keys("SELECT * FROM t WHERE a = :x OR b = :x") == ["x", "x"]


@pytest.mark.parametrize(
    ("sql", "dialect", "expected"),
    [
        ("SELECT 1; SELECT 2;", "postgresql", ["SELECT 1", "SELECT 2"]),
        ("SELECT ';' AS a; SELECT 2 -- ;\n", "postgresql", ["SELECT ';' AS a", "SELECT 2 -- ;"]),
        ("SELECT $$;$$; /* ; */ SELECT 3", "postgresql", ["SELECT $$;$$", "/* ; */ SELECT 3"]),
        ("SELECT 'a\\';b'; SELECT 2", "mysql", ["SELECT 'a\\';b'", "SELECT 2"]),
        ("SELECT 1 # ;\n; SELECT 2", "mysql", ["SELECT 1 # ;", "SELECT 2"]),
        ("SELECT 1 /*! ; SELECT 2 */", "mysql", ["SELECT 1 /*!", "SELECT 2 */"]),
        ("SELECT 1 /*! ; SELECT 2 */", "postgresql", ["SELECT 1 /*! ; SELECT 2 */"]),
        (";;  -- only a comment\n;", "sqlite", []),
        (
            "CREATE PROCEDURE p() BEGIN UPDATE t SET a = 1; IF a THEN DELETE FROM t; END IF; END; CALL p()",
            "mysql",
            ["CREATE PROCEDURE p() BEGIN UPDATE t SET a = 1; IF a THEN DELETE FROM t; END IF; END", "CALL p()"],
        ),
        (
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END; SELECT f()",
            "postgresql",
            ["CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END", "SELECT f()"],
        ),
        (
            "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO l VALUES (1); DELETE FROM x); SELECT 1",
            "postgresql",
            ["CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO l VALUES (1); DELETE FROM x)", "SELECT 1"],
        ),
    ],
)
def test_statements_split_where_the_server_splits_them(sql, dialect, expected):
    assert [statement.text for statement in statements_of(sql, dialect)] == expected
