"""The `querybase` console script: the root command, and errors turned into exit codes."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.text import Text

from querybase_client import __version__
from querybase_client.cli import config, output, session
from querybase_client.cli.commands import account, approvals, audit, queries, sandboxes, sources
from querybase_client.cli.exit_codes import ExitCode, exit_code_for
from querybase_client.errors import QueryBaseAPIError, QueryBaseError

app = typer.Typer(
    name="querybase",
    help="QueryBase from the command line: run reads, export, review approval requests, try writes in a sandbox.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for module in (account, sources, queries, approvals, sandboxes, audit):
    module.register(app)


def _show_version(value: bool) -> None:
    if value:
        output.console.print(f"querybase {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    profile: Annotated[
        str,
        typer.Option(envvar=config.PROFILE_ENV, help="Which stored login to use (several servers or users)."),
    ] = config.DEFAULT_PROFILE,
    version: Annotated[
        bool, typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    session.current.profile_name = profile


def report_error(error: QueryBaseError) -> None:
    """On stderr: a line for people, or the API's error object under --json."""
    if session.current.json_output:
        body = error.as_dict() if isinstance(error, QueryBaseAPIError) else {"code": "error", "message": str(error)}
        sys.stderr.write(output.json.dumps({"error": body}, ensure_ascii=False) + "\n")
        return
    output.err_console.print(Text(f"Error: {error}", style="red"))


def main() -> None:
    try:
        app()
    except QueryBaseError as error:
        report_error(error)
        sys.exit(exit_code_for(error))
    except OSError as error:  # a file that cannot be read or written: -f, -o
        report_error(QueryBaseError(f"{error.strerror or error}: {error.filename or ''}".rstrip(": ")))
        sys.exit(ExitCode.ERROR)
