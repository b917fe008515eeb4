"""Options shared by several commands, and turning what the user typed into API input."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from querybase_client.cli import session

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of tables.")]
PositionalParams = Annotated[
    list[str] | None,
    typer.Option("-p", "--positional", help="A value for $1, $2, … in order (repeat). 42, true, null are JSON."),
]
NamedParams = Annotated[
    list[str] | None, typer.Option("--param", help="NAME=VALUE for :NAME (repeat). 42, true, null are JSON.")
]
SqlFile = Annotated[
    Path | None, typer.Option("-f", "--file", help="Read the SQL from this file ('-' for stdin).", dir_okay=False)
]


def use_json(json_output: bool) -> None:
    session.current.json_output = json_output


def parameter_value(text: str) -> Any:
    """A number, true/false or null when the text is one in JSON; otherwise the text.
    Quote it JSON-style ('"42"') to send a number as a string."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if value is None or isinstance(value, (bool, int, float, str)) else text


def parameters(positional: list[str] | None, named: list[str] | None) -> list[Any] | dict[str, Any] | None:
    if positional and named:
        raise typer.BadParameter("use either -p (for $1, $2…) or --param NAME=VALUE (for :name), not both")
    if positional:
        return [parameter_value(value) for value in positional]
    if not named:
        return None
    values: dict[str, Any] = {}
    for pair in named:
        name, separator, value = pair.partition("=")
        name = name.strip().lstrip(":")
        if not separator or not name:
            raise typer.BadParameter(f"--param takes NAME=VALUE, not {pair!r}")
        values[name] = parameter_value(value)
    return values


def read_sql(sql: str | None, sql_file: Path | None) -> str:
    """The SQL from the argument, from -f FILE, or from stdin when it is piped in."""
    if sql is not None and sql_file is not None:
        raise typer.BadParameter("give the SQL as an argument or with -f, not both")
    if sql_file is not None:
        text = sys.stdin.read() if str(sql_file) == "-" else sql_file.read_text()
    elif sql is not None:
        text = sys.stdin.read() if sql == "-" else sql
    elif not sys.stdin.isatty():
        text = sys.stdin.read()
    else:
        raise typer.BadParameter("no SQL: give it as an argument, with -f FILE, or on stdin")
    if not text.strip():
        raise typer.BadParameter("the SQL is empty")
    return text
