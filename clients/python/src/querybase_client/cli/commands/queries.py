"""run, export, history."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from querybase_client.cli import output, session
from querybase_client.cli.commands.approvals import follow_request
from querybase_client.cli.commands.sandboxes import my_sandbox
from querybase_client.cli.exit_codes import ExitCode
from querybase_client.cli.inputs import JsonFlag, NamedParams, PositionalParams, SqlFile, parameters, read_sql, use_json
from querybase_client.errors import QueryBaseError

if TYPE_CHECKING:
    from querybase_client.client import QueryBaseClient

SourceArgument = Annotated[str, typer.Argument(help="Source name or id.")]
SqlArgument = Annotated[str | None, typer.Argument(help="The SQL ('-' or nothing: read stdin).")]


class ResultFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


class ExportFormat(StrEnum):
    csv = "csv"
    json = "json"


def run(
    source: SourceArgument,
    sql: SqlArgument = None,
    sql_file: SqlFile = None,
    positional: PositionalParams = None,
    named: NamedParams = None,
    output_format: Annotated[
        ResultFormat, typer.Option("--format", help="How to print the rows.")
    ] = ResultFormat.table,
    max_age: Annotated[int | None, typer.Option(help="Oldest cached result to accept, seconds; 0: run fresh.")] = None,
    reason: Annotated[str, typer.Option(help="Why, if the SQL turns out to be a write.")] = "",
    no_request: Annotated[
        bool, typer.Option("--no-request", help="Fail (exit 5) on a write instead of creating a request.")
    ] = False,
    wait: Annotated[
        float | None, typer.Option(help="Seconds the server may hold the answer before making it a job.")
    ] = None,
    timeout: Annotated[float | None, typer.Option(help="Stop waiting after this many seconds (exit 5).")] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-F",
            help="Print each status of the run as it happens (or follow the request a write becomes until it is "
            "settled), live from the server's event stream; polled where the server has none.",
        ),
    ] = False,
    sandbox: Annotated[
        str | None,
        typer.Option(
            "--sandbox",
            help="Run in your sandbox of SOURCE: its id, or 'mine' (got or made, waiting for the copy). "
            "Writes run there at once; their result is the rows each statement affected.",
        ),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Run SQL. A read prints its rows; anything else becomes an approval request (exit 5;
    with --follow, the exit status of `show --follow`), or runs at once with --sandbox. With
    --follow, each status of the run (queued, running, …) is printed on stderr as it happens.

    Ctrl-C while a job runs cancels it on the server, in the database too.
    """
    if json_output:
        output_format = ResultFormat.json
    use_json(output_format == ResultFormat.json)
    text = read_sql(sql, sql_file)
    params = parameters(positional, named)
    jobs: list[str] = []

    def remember_job(run_id: str) -> None:
        jobs.append(run_id)
        output.err_console.print(Text(f"Run {run_id} is running as a job; waiting (Ctrl-C cancels it).", style="dim"))

    def report_status(run_id: str, status: str) -> None:
        output.err_console.print(Text(f"Run {run_id} is {status}.", style="dim"))

    check_sandbox_option(sandbox)
    with session.client_for_profile() as client:
        datasource = client.datasources.resolve(source)
        sandbox_id = sandbox_to_use(client, datasource.id, sandbox, quiet=output_format != ResultFormat.table)
        try:
            outcome = client.queries.run(
                datasource,
                text,
                params,
                wait=wait,
                max_age=max_age,
                reason=reason,
                request_approval=not no_request,
                timeout=timeout,
                on_job=remember_job,
                on_status=report_status if follow else None,
                sandbox=sandbox_id,
            )
        except KeyboardInterrupt:
            _cancel_jobs(client, jobs)
            raise
        from querybase_client.models import ApprovalRequest  # loaded by the client already

        if isinstance(outcome, ApprovalRequest):
            if output_format == ResultFormat.json:
                output.print_json({"approval": outcome.raw})
            else:
                output.print_created_request(outcome)
            if follow:
                follow_request(client, outcome.id, output_format == ResultFormat.json, full=False)
            raise typer.Exit(ExitCode.APPROVAL)
    output.print_result(outcome, output_format.value)


def check_sandbox_option(sandbox: str | None) -> None:
    """`--sandbox` takes an id or 'mine'; anything else is a usage error, before any request."""
    if sandbox is not None and sandbox != "mine" and not sandbox.isdigit():
        raise typer.BadParameter("--sandbox takes a sandbox id or 'mine'")


def sandbox_to_use(client: QueryBaseClient, datasource_id: int, sandbox: str | None, *, quiet: bool) -> int | None:
    """The sandbox id `--sandbox` names: 'mine' is the caller's own on the source (got or
    made, waited for); None without the option (the source itself)."""
    if sandbox == "mine":
        return my_sandbox(client, str(datasource_id), quiet=quiet).id
    return int(sandbox) if sandbox is not None else None


def _cancel_jobs(client: QueryBaseClient, jobs: list[str]) -> None:
    """The user gave up on the run: stop it on the server too, rather than leave a query
    running against the source for nobody."""
    for run_id in jobs:
        try:
            client.queries.cancel(run_id)
        except QueryBaseError as error:
            output.err_console.print(Text(f"Could not cancel run {run_id}: {error}"))
            continue
        output.err_console.print(Text(f"Cancelled run {run_id}."))


def export(
    source: SourceArgument,
    sql: SqlArgument = None,
    output_path: Annotated[Path, typer.Option("-o", "--output", help="The file to write.", dir_okay=False)] = ...,
    export_format: Annotated[ExportFormat, typer.Option("--format", help="File format.")] = ExportFormat.csv,
    sql_file: SqlFile = None,
    positional: PositionalParams = None,
    named: NamedParams = None,
    sandbox: Annotated[
        str | None,
        typer.Option(
            "--sandbox",
            help="Read in your sandbox of SOURCE: its id, or 'mine' (got or made, waiting for the copy). "
            "The file holds the sandbox's rows, not the source's.",
        ),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Stream every row of a read (up to the source's row cap) into a file; with --sandbox,
    of the read in your sandbox."""
    use_json(json_output)
    text = read_sql(sql, sql_file)
    params = parameters(positional, named)
    check_sandbox_option(sandbox)
    # Only an export draws a progress bar: the other commands do not load it.
    from rich.progress import BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[rows]} rows"),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=output.err_console,
        disable=json_output,
        transient=False,
    )
    with session.client_for_profile() as client:
        datasource = client.datasources.resolve(source)
        # Got (or made and waited for) before the progress bar starts: its own progress shows.
        sandbox_id = sandbox_to_use(client, datasource.id, sandbox, quiet=json_output)
        with progress:
            task = progress.add_task(f"Exporting to {output_path.name}", total=None, rows=0)

            def advance(bytes_written: int, rows: int) -> None:
                progress.update(task, completed=bytes_written, rows=rows)

            summary = client.queries.export(
                datasource,
                text,
                output_path,
                params,
                export_format=export_format.value,
                on_progress=advance,
                sandbox=sandbox_id,
            )
    if json_output:
        output.print_json(
            {
                "path": summary.path,
                "format": summary.format,
                "bytes": summary.bytes_written,
                "rows": summary.rows,
                "truncated": summary.truncated,
            }
        )
        return
    output.err_console.print(Text(f"Exported {summary.rows} rows ({summary.bytes_written} bytes) to {summary.path}"))
    if summary.truncated:
        output.err_console.print(Text("The export stopped at the source's row cap: more rows exist."))


def history(
    source: Annotated[str | None, typer.Option("--source", help="Only this source (name or id).")] = None,
    status: Annotated[str | None, typer.Option(help="queued, running, succeeded, failed or cancelled.")] = None,
    limit: Annotated[int, typer.Option(help="How many runs, newest first.")] = 20,
    json_output: JsonFlag = False,
) -> None:
    """Your latest runs."""
    use_json(json_output)
    with session.client_for_profile() as client:
        datasource = client.datasources.resolve(source) if source else None
        runs = client.queries.history(datasource=datasource, status=status, limit=limit)
    if json_output:
        output.print_json([run.raw for run in runs])
        return
    output.table(
        ["run", "created", "source", "status", "rows", "ms", "sql"],
        (
            [
                run.id[:8],
                output.moment(run.created_at),
                run.datasource_name,
                output.styled(run.status, output.STATUS_STYLES),
                run.row_count,
                f"{run.duration_ms:.0f}" if run.duration_ms is not None else "",
                output.excerpt(run.sql),
            ]
            for run in runs
        ),
    )


def register(app: typer.Typer) -> None:
    app.command()(run)
    app.command()(export)
    app.command()(history)
