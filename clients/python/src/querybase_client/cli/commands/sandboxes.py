"""sandbox list, get, reset, delete, upload, promote: a private writable copy of a source."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from querybase_client.cli import output, session
from querybase_client.cli.inputs import JsonFlag, use_json

if TYPE_CHECKING:
    from querybase_client.client import QueryBaseClient
    from querybase_client.models import Sandbox

sandbox_app = typer.Typer(
    name="sandbox",
    help="Your sandboxes: private writable copies of a source where writes run at once, without approval.",
    no_args_is_help=True,
)

SandboxId = Annotated[int, typer.Argument(help="The sandbox's id (see `querybase sandbox list`).")]
STATE_STYLES = {"active": "green", "idle": "cyan", "creating": "yellow", "pooled": "dim", "failed": "red"}


def my_sandbox(client: QueryBaseClient, source: str, *, quiet: bool, timeout: float | None = None) -> Sandbox:
    """The user's sandbox on `source`, ready: a copy still to make is made by the server's
    worker, and each change of what it is doing is said on stderr (unless `quiet`)."""
    sandbox = client.sandboxes.mine(client.datasources.resolve(source))
    if sandbox.state != "creating":
        return sandbox
    started = time.monotonic()
    said: list[str] = []

    def progress(now: Sandbox) -> None:
        step = now.progress or "Copying"
        if quiet or now.state != "creating" or (said and said[-1] == step):
            return
        said.append(step)
        output.err_console.print(Text(f"Sandbox #{now.id}: {step}…", style="dim"))

    progress(sandbox)  # what the server said first: the worker may be past it at the first look
    ready = client.sandboxes.wait(sandbox.id, timeout=timeout, on_progress=progress)
    if not quiet:
        seconds = time.monotonic() - started
        output.err_console.print(Text(f"Sandbox #{ready.id} is ready ({seconds:.1f} s).", style="dim"))
    return ready


def list_sandboxes(
    source: Annotated[str | None, typer.Option("--source", help="Only this source (name or id).")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Your sandboxes, with their state, size, last use and expiry (a failed one says why)."""
    use_json(json_output)
    with session.client_for_profile() as client:
        datasource = client.datasources.resolve(source) if source else None
        found = client.sandboxes.list(datasource=datasource)
    if json_output:
        output.print_json([sandbox.raw for sandbox in found])
        return
    output.table(
        ["id", "source", "state", "size", "last used", "expires", "note"],
        (
            [
                sandbox.id,
                sandbox.datasource_name,
                output.styled(sandbox.state, STATE_STYLES),
                _size(sandbox.size_bytes),
                output.moment(sandbox.last_used_at) if sandbox.last_used_at else "",
                output.moment(sandbox.expires_at) if sandbox.expires_at else "",
                sandbox.error_message or sandbox.progress or _sampled(sandbox),
            ]
            for sandbox in found
        ),
    )


def get(
    source: Annotated[str, typer.Argument(help="Source name or id.")],
    wait: Annotated[
        bool, typer.Option("--wait", help="If a copy has to be made, wait until it is ready, showing its progress.")
    ] = False,
    timeout: Annotated[
        float | None, typer.Option(help="With --wait: stop waiting after this many seconds (exit 5).")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Your sandbox on SOURCE: yours, a ready copy from the pool, or a new copy (made by the
    server in the background: without --wait it is printed while still `creating`)."""
    use_json(json_output)
    with session.client_for_profile() as client:
        if wait:
            sandbox = my_sandbox(client, source, quiet=json_output, timeout=timeout)
        else:
            sandbox = client.sandboxes.mine(client.datasources.resolve(source))
    _print_sandbox(sandbox, json_output)


def reset(sandbox_id: SandboxId, json_output: JsonFlag = False) -> None:
    """Replace the sandbox with a fresh copy of the source's golden copy (what you did there is gone)."""
    use_json(json_output)
    with session.client_for_profile() as client:
        sandbox = client.sandboxes.reset(sandbox_id)
    _print_sandbox(sandbox, json_output)


def delete(sandbox_id: SandboxId, json_output: JsonFlag = False) -> None:
    """Drop the sandbox's copy for real (a failed one is dismissed)."""
    use_json(json_output)
    with session.client_for_profile() as client:
        client.sandboxes.delete(sandbox_id)
    if json_output:
        output.print_json({"deleted": sandbox_id})
        return
    output.console.print(Text(f"Sandbox #{sandbox_id} deleted."))


def upload(
    sandbox_id: SandboxId,
    file: Annotated[Path, typer.Argument(help="The CSV file (UTF-8, with a header line).", dir_okay=False)],
    table: Annotated[str, typer.Option("--table", help="The new table's name (not needed with --preview).")] = "",
    preview: Annotated[
        bool, typer.Option("--preview", help="Only show the columns, inferred types and lines left out.")
    ] = False,
    json_output: JsonFlag = False,
) -> None:
    """A CSV file into the sandbox as a new table. Lines with a wrong number of fields are
    left out and listed with their line numbers."""
    use_json(json_output)
    if not preview and not table:
        raise typer.BadParameter("name the new table with --table NAME (or look first with --preview)")
    with session.client_for_profile() as client:
        answer = client.sandboxes.upload(sandbox_id, file, table=table, preview=preview)
    if json_output:
        output.print_json(answer)
        return
    _print_upload(answer, preview)


def promote(
    sandbox_id: SandboxId,
    reason: Annotated[str, typer.Option("-m", "--reason", help="Why the change is needed (the approver sees it).")],
    json_output: JsonFlag = False,
) -> None:
    """Request the sandbox's writes on the real source: one approval request, in the order
    they ran, with what each did in the sandbox."""
    use_json(json_output)
    with session.client_for_profile() as client:
        request = client.sandboxes.promote(sandbox_id, reason)
    if json_output:
        output.print_json({"approval": request.raw})
        return
    output.err_console.print(Text(f"Approval request #{request.id} was created ({request.status}) on the real source."))
    output.print_request(request)


def _print_sandbox(sandbox: Sandbox, json_output: bool) -> None:
    if json_output:
        output.print_json(sandbox.raw)
        return
    line = Text(f"Sandbox #{sandbox.id} of {sandbox.datasource_name}: ")
    line.append(sandbox.state, style=STATE_STYLES.get(sandbox.state, ""))
    if sandbox.progress:
        line.append(f" ({sandbox.progress})")
    output.console.print(line)
    if sandbox.sampled_tables:
        output.console.print(Text(_sampled(sandbox)))
    if sandbox.state == "creating":
        output.err_console.print(Text("Still being copied: `querybase sandbox get SOURCE --wait` waits for it."))


def _print_upload(answer: dict[str, Any], preview: bool) -> None:
    columns = answer.get("columns", [])
    output.table(["column", "type"], ([column["name"], column["type"]] for column in columns))
    if preview and answer.get("rows"):
        output.table([column["name"] for column in columns], answer["rows"][:5])
    rows = answer.get("rows_loaded", answer.get("row_count", 0))
    if preview:
        output.console.print(Text(f"{rows} row(s) would be loaded. Nothing was made yet."))
    else:
        output.console.print(Text(f"Loaded {rows} row(s) into table {answer.get('table')}."))
    errors = answer.get("errors", [])
    if errors:
        left_out = answer.get("error_count", len(errors))
        output.err_console.print(Text(f"{left_out} line(s) left out:", style="yellow"))
        for error in errors:
            output.err_console.print(Text(f"  line {error['line']}: {error['message']}"))
    for note in answer.get("renamed", []):
        output.err_console.print(Text(f"Renamed: {note}", style="dim"))


def _size(size_bytes: int | None) -> str:
    if size_bytes is None:
        return ""
    for unit in ("B", "KB", "MB", "GB"):
        if size_bytes < 1024 or unit == "GB":
            return f"{size_bytes:.0f} {unit}" if unit == "B" else f"{size_bytes:.1f} {unit}"
        size_bytes /= 1024  # type: ignore[assignment]
    return ""


def _sampled(sandbox: Sandbox) -> str:
    return f"Sampled tables: {', '.join(sandbox.sampled_tables)}" if sandbox.sampled_tables else ""


def register(app: typer.Typer) -> None:
    sandbox_app.command("list")(list_sandboxes)
    sandbox_app.command()(get)
    sandbox_app.command()(reset)
    sandbox_app.command()(delete)
    sandbox_app.command()(upload)
    sandbox_app.command()(promote)
    app.add_typer(sandbox_app)
