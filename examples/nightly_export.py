#!/usr/bin/env python3
"""Nightly export: every saved query you own, each to a dated CSV file.

Meant for cron, with an API key rather than a password:

    QUERYBASE_URL=https://querybase.example.com QUERYBASE_API_KEY=qb_… \\
        python examples/nightly_export.py --output-dir /srv/exports [--source "Demo shop (SQLite)"]

Each saved query runs with its default parameters and is streamed to
`<output-dir>/<YYYY-MM-DD>/<name>.csv` (never held in memory). A query that fails, or
that is not a read, is reported and skipped; the others still run. Exit status: 0 when
every export succeeded, 1 when one failed, 2 when none could start (no server, bad key).
"""

from __future__ import annotations

import argparse
import datetime
import re
import sys
from pathlib import Path

from querybase_client import QueryBaseAPIError, QueryBaseClient, QueryBaseError, SavedQuery


def file_name(saved: SavedQuery) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", saved.name).strip("-") or f"query-{saved.id}"
    return f"{slug}.csv"


def export_saved_queries(client: QueryBaseClient, output_dir: Path, source: str | None) -> int:
    """Export each saved query; returns how many failed."""
    day_dir = output_dir / datetime.date.today().isoformat()
    day_dir.mkdir(parents=True, exist_ok=True)
    datasource = client.datasources.resolve(source) if source else None
    me = client.account.me().username
    failures = 0
    for saved in client.saved_queries.list(datasource=datasource):
        if saved.owner != me:
            continue  # shared with us, not ours to export every night
        target = day_dir / file_name(saved)
        try:
            summary = client.queries.export(saved.datasource, saved.sql, target, saved.default_params)
        except QueryBaseAPIError as error:
            failures += 1
            print(f"FAILED {saved.name}: {error.message} ({error.code})", file=sys.stderr)
            continue
        print(f"ok {saved.name}: {summary.rows} rows, {summary.bytes_written} bytes -> {summary.path}")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--source", help="only saved queries on this source (name or id)")
    arguments = parser.parse_args()
    try:
        with QueryBaseClient.from_env() as client:
            failures = export_saved_queries(client, arguments.output_dir, arguments.source)
    except QueryBaseError as error:
        print(f"nightly export could not run: {error}", file=sys.stderr)
        return 2
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
