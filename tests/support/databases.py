"""Real source databases for connector tests: PostgreSQL and MariaDB, made and dropped here."""

import os
import random
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import MySQLdb
import psycopg

# A suffix lets two checkouts run the suite at once on one machine without sharing names.
_NAMESPACE = os.environ.get("QUERYBASE_TEST_NAMESPACE", "")
SOURCE_DB = f"qb_src_test{_NAMESPACE}"
MYSQL_USER = f"qb_tester{_NAMESPACE}"
MYSQL_PASSWORD = "Tr1cky'pass\"word"

SHOP_TABLES = (
    "CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL, country CHAR(2))",
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, total NUMERIC(10,2))",
    "CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 100",
    "INSERT INTO customers VALUES (1, 'Ada', 'GB'), (2, 'Ben', 'DE')",
    "INSERT INTO orders VALUES (1, 1, 42.50), (2, 2, 150.00)",
)


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    username: str
    password: str
    database: str


def postgres_admin_url() -> str:
    return os.environ["QUERYBASE_TEST_POSTGRES_URL"]


def create_postgres_source() -> Server:
    url = urlparse(postgres_admin_url())
    with psycopg.connect(postgres_admin_url(), autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {SOURCE_DB} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {SOURCE_DB}")
    server = Server(url.hostname, url.port or 5432, url.username or "postgres", "", SOURCE_DB)
    with psycopg.connect(host=server.host, port=server.port, user=server.username, dbname=SOURCE_DB) as connection:
        for statement in SHOP_TABLES:
            connection.execute(statement)
    return server


def drop_postgres_source() -> None:
    with psycopg.connect(postgres_admin_url(), autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {SOURCE_DB} WITH (FORCE)")


def mysql_root():
    url = urlparse(os.environ["QUERYBASE_TEST_MYSQL_URL"])
    return MySQLdb.connect(
        host=url.hostname, port=url.port or 3306, user=url.username or "root", password=url.password or ""
    )


def mysql_connection(server) -> MySQLdb.Connection:
    """A connection as `server`'s user to its database (anything with host, port,
    username, password and database: a test Server, a connector's settings)."""
    return MySQLdb.connect(
        host=server.host,
        port=server.port,
        user=server.username,
        password=server.password,
        database=server.database,
        charset="utf8mb4",
    )


def create_mysql_source() -> Server:
    """A database and a password-protected user that owns it."""
    url = urlparse(os.environ["QUERYBASE_TEST_MYSQL_URL"])
    connection = mysql_root()
    cursor = connection.cursor()
    cursor.execute(f"DROP DATABASE IF EXISTS {SOURCE_DB}")
    cursor.execute(f"CREATE DATABASE {SOURCE_DB}")
    cursor.execute(f"DROP USER IF EXISTS '{MYSQL_USER}'@'%'")
    cursor.execute(f"CREATE USER '{MYSQL_USER}'@'%%' IDENTIFIED BY %s", (MYSQL_PASSWORD,))
    cursor.execute(f"GRANT ALL ON {SOURCE_DB}.* TO '{MYSQL_USER}'@'%'")
    cursor.execute(f"USE {SOURCE_DB}")
    for statement in SHOP_TABLES:
        cursor.execute(statement)
    connection.commit()
    connection.close()
    return Server(url.hostname, url.port or 3306, MYSQL_USER, MYSQL_PASSWORD, SOURCE_DB)


def drop_mysql_source() -> None:
    connection = mysql_root()
    cursor = connection.cursor()
    cursor.execute(f"DROP DATABASE IF EXISTS {SOURCE_DB}")
    cursor.execute(f"DROP USER IF EXISTS '{MYSQL_USER}'@'%'")
    connection.close()


def end_other_sessions_on(connection) -> list[str]:
    """End every other session on the database `connection` (a Django connection) is on,
    as a server restart would, and wait until they are gone. Says which they were."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, application_name, state, left(query, 120), pg_terminate_backend(pid) "
            "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        ended = cursor.fetchall()
        pids = [row[0] for row in ended]
        deadline = time.monotonic() + 10
        while pids and time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [pids])
            if cursor.fetchone()[0] == 0:
                break
            time.sleep(0.05)
    return [f"pid {pid} ({app or 'unnamed'}, {state}: {query!r})" for pid, app, state, query, _ in ended]


def free_port() -> int:
    """A port nothing listens on: any, or one from QUERYBASE_TEST_PORTS ("18300-18399")
    when the machine's owner keeps test servers to a range."""
    span = os.environ.get("QUERYBASE_TEST_PORTS", "")
    candidates = [0]
    if span:
        low, high = (int(bound) for bound in span.split("-"))
        candidates = random.sample(range(low, high + 1), high - low + 1)
    for port in candidates:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError(f"no free port in {span}")


@contextmanager
def password_protected_postgres(password: str) -> Iterator[Server]:
    """A throwaway PostgreSQL cluster that demands a password (scram-sha-256) on TCP.

    The machine's own cluster trusts every local connection, so a wrong password
    could never fail there; this one is real password authentication.
    """
    bindir = _postgres_bindir()
    workdir = Path(tempfile.mkdtemp(prefix="qb-pg-"))
    port = free_port()
    (workdir / "pwfile").write_text(password + "\n")
    data = workdir / "data"
    shutil.chown(workdir, "postgres")
    (workdir / "pwfile").chmod(0o644)
    run_as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [
            *run_as_postgres,
            f"{bindir}/initdb",
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            f"--pwfile={workdir / 'pwfile'}",
            "-N",
        ],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [
            *run_as_postgres,
            f"{bindir}/pg_ctl",
            "-D",
            str(data),
            "-o",
            options,
            "-w",
            "-l",
            str(workdir / "log"),
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield Server("127.0.0.1", port, "postgres", password, "postgres")
    finally:
        subprocess.run(
            [*run_as_postgres, f"{bindir}/pg_ctl", "-D", str(data), "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(workdir, ignore_errors=True)


def _postgres_bindir() -> str:
    versions = sorted(Path("/usr/lib/postgresql").iterdir())
    if not versions:
        raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql")
    return str(versions[-1] / "bin")


@contextmanager
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and then never says a word: a hung server."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept_forever() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept_forever, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=2)
        for sock in accepted:
            sock.close()
        listener.close()


def elapsed(started: float) -> float:
    return time.monotonic() - started


# Ending the sources' sessions from outside, as a restart, a failover or an admin would ---


def _postgres_admin():
    return psycopg.connect(postgres_admin_url(), autocommit=True)


def _querybase_postgres_pids(admin, marker: str | None) -> list[int]:
    sql = (
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name LIKE 'querybase%%' "
        "AND pid <> pg_backend_pid()"
    )
    args: list = [SOURCE_DB]
    if marker is not None:
        sql += " AND state = 'active' AND query LIKE %s"
        args.append(f"%{marker}%")
    return [row[0] for row in admin.execute(sql, args).fetchall()]


def terminate_postgres_sessions(marker: str | None = None) -> list[int]:
    """pg_terminate_backend on QueryBase's sessions of the test source (only those running
    a query containing `marker`, if given); returns once they are gone."""
    with _postgres_admin() as admin:
        pids = _querybase_postgres_pids(admin, marker)
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        poll(
            lambda: not admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [pids]).fetchone()[0]
        )
    return pids


def kill_mysql_sessions(marker: str) -> list[int]:
    """KILL (the whole connection) of the test user's sessions running a query containing `marker`."""
    connection = mysql_root()
    try:
        cursor = connection.cursor()
        cursor.execute(
            "SELECT id FROM information_schema.PROCESSLIST WHERE user = %s AND info LIKE %s",
            (MYSQL_USER, f"%{marker}%"),
        )
        ids = [row[0] for row in cursor.fetchall()]
        for session in ids:
            cursor.execute(f"KILL {int(session)}")
    finally:
        connection.close()
    return ids


@contextmanager
def ending_sessions_once_running(kill: Callable[[str], list[int]], marker: str) -> Iterator[list[int]]:
    """In the background, wait for a query containing `marker` to run, and end its session
    once (`kill` is terminate_postgres_sessions or kill_mysql_sessions). Yields the list
    the ended session ids are added to."""
    ended: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set() and not ended:
            ended.extend(kill(marker))
            stop.wait(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield ended
    finally:
        stop.set()
        thread.join(timeout=10)


def poll(condition: Callable[[], object], timeout: float = 30.0, interval: float = 0.02) -> None:
    """Wait until `condition()` is true; fail (not hang) if it never becomes so."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not hold in time")
        time.sleep(interval)


@contextmanager
def film_database(server: Server) -> Iterator[Server]:
    """A PostgreSQL database of its own with partitions (and a sub-partitioned one), a
    materialized view, an enum and arrays: the schema browser's hard cases, kept out of
    the shared source whose tables other tests list."""
    name = f"qb_film{_NAMESPACE}"
    with psycopg.connect(postgres_admin_url(), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    with psycopg.connect(host=server.host, port=server.port, user=server.username, dbname=name) as db:
        db.execute("CREATE TYPE mpaa_rating AS ENUM ('G', 'PG', 'R')")
        db.execute("CREATE TABLE film (id int PRIMARY KEY, rating mpaa_rating, tags text[], price numeric(5,2))")
        db.execute("CREATE TABLE payment (id int, paid_on date NOT NULL, amount numeric) PARTITION BY RANGE (paid_on)")
        for month in range(1, 4):
            db.execute(
                f"CREATE TABLE payment_p2024_0{month} PARTITION OF payment "
                f"FOR VALUES FROM ('2024-0{month}-01') TO ('2024-0{month + 1}-01')"
            )
        db.execute("CREATE TABLE payment_rest PARTITION OF payment DEFAULT PARTITION BY LIST (id)")
        db.execute("CREATE TABLE payment_rest_one PARTITION OF payment_rest FOR VALUES IN (1)")
        db.execute("CREATE MATERIALIZED VIEW rating_counts AS SELECT rating, count(*) AS n FROM film GROUP BY rating")
    try:
        yield Server(server.host, server.port, server.username, server.password, name)
    finally:
        with psycopg.connect(postgres_admin_url(), autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
