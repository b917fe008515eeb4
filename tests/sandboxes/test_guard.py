"""The wall around a sandbox, read from the text alone: what could reach beyond the copy is
refused, ordinary work inside it is not."""

import pytest

from apps.sandboxes.guard import outside_reach

REFUSED = [
    ("postgresql", "DROP DATABASE production"),
    ("postgresql", "ALTER DATABASE production OWNER TO me"),
    ("postgresql", "COMMENT ON DATABASE production IS 'x'"),
    ("postgresql", "CREATE ROLE intruder SUPERUSER"),
    ("postgresql", "ALTER ROLE CURRENT_USER PASSWORD 'known'"),
    ("postgresql", "ALTER SYSTEM SET fsync = off"),
    ("postgresql", "CREATE EXTENSION IF NOT EXISTS dblink"),
    ("postgresql", "CREATE SERVER prod FOREIGN DATA WRAPPER postgres_fdw"),
    ("postgresql", "IMPORT FOREIGN SCHEMA public FROM SERVER prod INTO public"),
    ("postgresql", "COPY customers FROM '/etc/passwd'"),
    ("postgresql", "DO $$BEGIN PERFORM 1; END$$"),
    ("postgresql", "SELECT dblink_exec('dbname=prod', 'DELETE FROM t')"),
    ("postgresql", "SELECT lo_export(1, '/tmp/x')"),
    ("postgresql", "CREATE FUNCTION f() RETURNS int LANGUAGE plpython3u AS $$return 1$$"),
    ("postgresql", "CREATE FUNCTION f() RETURNS void AS $f$BEGIN EXECUTE 'DROP TABLE t'; END$f$ LANGUAGE plpgsql"),
    ("postgresql", "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS 'SELECT pg_read_file(''/etc/passwd'')'"),
    ("mysql", "INSERT INTO production.orders VALUES (1)"),
    ("mysql", "DELETE FROM `production`.`orders`"),
    ("mysql", "CREATE TRIGGER t AFTER INSERT ON orders FOR EACH ROW DELETE FROM production.orders"),
    ("mysql", "CREATE PROCEDURE p() BEGIN PREPARE s FROM @sql; EXECUTE s; END"),
    ("mysql", "DROP SCHEMA production"),
    ("mysql", "CREATE USER intruder IDENTIFIED BY 'x'"),
    ("mysql", "SET PASSWORD = PASSWORD('known')"),
    ("mysql", "set password for current_user() = 'known'"),
    ("mysql", "ALTER USER CURRENT_USER() IDENTIFIED BY 'known'"),
    ("mysql", "CREATE EVENT e ON SCHEDULE EVERY 1 HOUR DO DELETE FROM orders"),
    ("mysql", "LOAD DATA INFILE '/etc/passwd' INTO TABLE t"),
    ("mysql", "SELECT * FROM orders INTO DUMPFILE '/tmp/x'"),
    ("mysql", "SET GLOBAL read_only = 1"),
    ("mysql", "USE production"),
    ("mysql", "SELECT LOAD_FILE('/etc/passwd')"),
    # Found by an outside attack: only the database's refusal stopped it.
    ("mysql", "CREATE TABLE t (a INT) DATA DIRECTORY = '/var/lib/other'"),
    ("mysql", "ALTER TABLE t ENGINE = MyISAM INDEX DIRECTORY '/tmp'"),
    ("sqlite", "ATTACH DATABASE '/var/lib/prod.sqlite3' AS prod"),
    ("sqlite", "VACUUM INTO '/tmp/copy.sqlite3'"),
    ("sqlite", "SELECT load_extension('/tmp/evil.so')"),
]

ALLOWED = [
    ("postgresql", "UPDATE customers SET name = 'x' WHERE id = 1"),
    ("postgresql", "CREATE TABLE notes (id serial PRIMARY KEY, body text)"),
    ("postgresql", "CREATE SCHEMA scratch"),
    ("postgresql", "CREATE UNIQUE INDEX CONCURRENTLY notes_body ON notes (body)"),
    ("postgresql", "CREATE OR REPLACE FUNCTION doubled(x int) RETURNS int LANGUAGE sql AS $$SELECT x * 2$$"),
    ("postgresql", "ALTER TABLE customers ADD COLUMN database text"),
    ("mysql", "UPDATE customers c JOIN orders o ON o.customer_id = c.id SET c.name = 'x'"),
    ("mysql", "CREATE TABLE notes (id INT PRIMARY KEY, body TEXT)"),
    ("mysql", "SELECT * FROM information_schema.tables"),
    ("mysql", "CREATE TABLE files (directory TEXT, data TEXT, INDEX (directory(20)))"),
    ("sqlite", "DELETE FROM orders WHERE total < 10"),
    ("sqlite", "CREATE INDEX orders_total ON orders (total)"),
]


@pytest.mark.parametrize(("dialect", "sql"), REFUSED)
def test_what_could_reach_beyond_the_copy_is_refused(dialect, sql):
    assert outside_reach(sql, dialect, other_databases={"production"}) is not None


@pytest.mark.parametrize(("dialect", "sql"), ALLOWED)
def test_work_inside_the_copy_is_not(dialect, sql):
    assert outside_reach(sql, dialect, other_databases={"production"}) is None
