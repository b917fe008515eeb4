"""The least a recorded, authenticated cache hit can do, for `make bench`'s HTTP figures.

Served by the shipped gunicorn configuration like QueryBase, it does per request only what
no design of the product can leave out, each in the cheapest way Python has, with none of
Django, DRF or the ORM:

- the bearer token's signature checked once per process (the product caches it too), its
  expiry on every request;
- one Redis round trip (a pipeline) for the rate limit, the user's rights and the cached
  result;
- the run and its audit event written in one statement and committed before the answer
  (every run is recorded; none may be lost in a crash);
- one PUBLISH for the owner's live history.

It checks nothing else (no classification, no rights rule, no validation), so it is not a
product: its throughput is what the product's cache hit could at best reach on this
machine, to set beside the target. The bench makes its tables and keys (`prepare`) and
removes them (`remove`).
"""

import json
import os
import threading
import time
import uuid

import jwt
import psycopg
import redis

RUNS_TABLE = "bench_minimal_runs"
EVENTS_TABLE = "bench_minimal_events"
RIGHTS_KEY = "bench:minimal:rights"
RESULT_KEY = "bench:minimal:result"

_redis = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
_local = threading.local()
_verified: dict[str, dict] = {}


def prepare(database_url: str, result: dict) -> None:
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS {RUNS_TABLE} (id uuid PRIMARY KEY, user_id integer NOT NULL, "
            "sql text NOT NULL, at timestamptz NOT NULL DEFAULT now())"
        )
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS {EVENTS_TABLE} (id bigserial PRIMARY KEY, "
            f"run_id uuid NOT NULL REFERENCES {RUNS_TABLE}, detail jsonb NOT NULL, "
            "at timestamptz NOT NULL DEFAULT now())"
        )
    _redis.set(RIGHTS_KEY, json.dumps({"read": True}))
    _redis.set(RESULT_KEY, json.dumps(result))


def remove(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(f"DROP TABLE IF EXISTS {EVENTS_TABLE}, {RUNS_TABLE}")
    _redis.delete(RIGHTS_KEY, RESULT_KEY)


def _connection() -> psycopg.Connection:
    connection = getattr(_local, "connection", None)
    if connection is None:
        connection = _local.connection = psycopg.connect(os.environ["DATABASE_URL"])
    return connection


def _claims(token: str) -> dict:
    claims = _verified.get(token)
    if claims is None:
        claims = _verified[token] = jwt.decode(token, os.environ["DJANGO_SECRET_KEY"], algorithms=["HS256"])
    if claims["exp"] < time.time():
        raise PermissionError("expired")
    return claims


def application(environ, start_response):
    if environ["REQUEST_METHOD"] == "GET":  # the bench's check that the server is up
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "16")])
        return [b'{"status": "ok"}']
    body = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
    user_id = _claims(environ.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer "))["user_id"]
    pipeline = _redis.pipeline(transaction=False)
    pipeline.incr(f"bench:minimal:rate:{user_id}")
    pipeline.get(RIGHTS_KEY)
    pipeline.get(RESULT_KEY)
    _, rights, cached = pipeline.execute()
    if not json.loads(rights)["read"]:
        raise PermissionError("may not read")
    result = json.loads(cached)
    run_id = uuid.uuid4()
    connection = _connection()
    connection.execute(
        f"WITH run AS (INSERT INTO {RUNS_TABLE} (id, user_id, sql) VALUES (%s, %s, %s) RETURNING id) "
        f"INSERT INTO {EVENTS_TABLE} (run_id, detail) SELECT id, %s FROM run",
        (run_id, user_id, body["sql"], json.dumps({"sql": body["sql"], "from_cache": True})),
    )
    connection.commit()
    _redis.publish(f"bench:minimal:user:{user_id}", json.dumps({"run": str(run_id), "status": "succeeded"}))
    answer = json.dumps({"id": str(run_id), "status": "succeeded", "from_cache": True, "result": result}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))])
    return [answer]
