"""Reading what QueryBase logged, as the JSON objects a log collector would get."""

import io
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import structlog

from querybase.logs import logging_config


@contextmanager
def json_log_lines() -> Iterator[Callable[[], list[dict]]]:
    """Lines logged anywhere in this process meanwhile, rendered by the production formatter."""
    formatter_config = dict(logging_config(level="INFO", log_format="json")["formatters"]["structured"])
    formatter_config.pop("()")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(**formatter_config))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


def wait_for_json_line(path: Path, matches: Callable[[dict], bool], *, timeout: float = 15) -> dict:
    """The first JSON line of the log file at `path` for which `matches` is true."""
    deadline = time.monotonic() + timeout
    while True:
        for line in path.read_text().splitlines():
            if line.startswith("{"):
                entry = json.loads(line)
                if matches(entry):
                    return entry
        if time.monotonic() > deadline:
            raise AssertionError(f"no matching line in {path} within {timeout}s")
        time.sleep(0.1)
