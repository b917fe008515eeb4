"""How the CLI shows things: rich tables for people, CSV and JSON for scripts.

Everything that comes from the server or the user (SQL, names, values) is printed as
plain `Text`, never as rich markup: SQL is full of square brackets, and `[red]` in a
value must be printed, not obeyed.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from querybase_client.models import ApprovalRequest, QueryResult

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

RISK_STYLES = {"high": "bold red", "medium": "yellow", "low": "green"}
DECISION_WORDS = {"approve": "approved", "reject": "rejected"}
STATUS_STYLES = {
    "pending": "yellow",
    "approved": "cyan",
    "succeeded": "green",
    "failed": "red",
    "rejected": "red",
    "cancelled": "dim",
    "expired": "dim",
}


def print_json(value: Any) -> None:
    """Machine output: one JSON document on stdout, nothing else."""
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def print_json_line(value: Any) -> None:
    """Machine output for what follows something: one JSON document per line, written
    out at once (a script reads each as it comes)."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def plain(value: Any) -> Text:
    if value is None:
        return Text("NULL", style="dim")
    if isinstance(value, (dict, list)):
        return Text(json.dumps(value, ensure_ascii=False))
    return Text(str(value))


def styled(value: str, styles: dict[str, str]) -> Text:
    return Text(value, style=styles.get(value, ""))


def moment(timestamp: str) -> str:
    """An API timestamp as 'YYYY-MM-DD HH:MM' (UTC, as the server sends it)."""
    return timestamp[:16].replace("T", " ")


def excerpt(sql: str, width: int = 60) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Cells wrap to fit the terminal rather than being cut, so no value is hidden."""
    grid = Table(*headers)
    for row in rows:
        grid.add_row(*(cell if isinstance(cell, Text) else plain(cell) for cell in row))
    console.print(grid)


def print_result(result: QueryResult, output_format: str) -> None:
    if output_format == "json":
        print_json(result.raw)
    elif output_format == "csv":
        write_csv(result)
    else:
        _print_earlier_statements(result)
        table(result.column_names, result.rows)
        notes = [f"{result.row_count} row{'s' if result.row_count != 1 else ''}"]
        if result.truncated:
            notes.append("truncated at the source's row cap")
        if result.took_ms is not None:
            notes.append(f"{result.took_ms:.0f} ms")
        if result.cached:
            notes.append(f"cached, computed {result.computed_at}")
        err_console.print(Text(" · ".join(notes), style="dim"))


def _print_earlier_statements(result: QueryResult) -> None:
    """SQL of several statements: each one's result before the last one's (the result)."""
    for entry in result.statements[:-1]:
        err_console.print(Text(f"Statement {entry.statement}: {excerpt(entry.sql)}", style="bold"))
        table(entry.column_names, entry.rows)
        shown = f", first {len(entry.rows)} shown" if len(entry.rows) < entry.row_count else ""
        err_console.print(Text(f"{entry.row_count} row{'s' if entry.row_count != 1 else ''}{shown}", style="dim"))
    if result.statements:
        last = result.statements[-1]
        err_console.print(Text(f"Statement {last.statement}: {excerpt(last.sql)}", style="bold"))


def write_csv(result: QueryResult) -> None:
    """The same cells as the server's CSV export: NULL empty, JSON values as JSON."""
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(result.column_names)
    for row in result.rows:
        writer.writerow([_csv_cell(value) for value in row])


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    return json.dumps(value, separators=(",", ":")) if isinstance(value, (dict, list)) else value


def print_request(request: ApprovalRequest) -> None:
    """Everything an approver must see before deciding: the exact SQL (hidden characters
    shown as markers), each statement with its kind and risk, and what happened so far."""
    header = Text()
    header.append(f"Request #{request.id}  ", style="bold")
    header.append(request.status, style=STATUS_STYLES.get(request.status, ""))
    header.append("  risk ")
    header.append(request.risk.upper() or "?", style=RISK_STYLES.get(request.risk, ""))
    console.print(header)
    console.print(Text(f"Source: {request.datasource_name} (#{request.datasource})   Requester: {request.requester}"))
    console.print(Text(f"Approvals: {request.approvals}/{request.required_approvals}   Created: {request.created_at}"))
    if request.reason:
        console.print(Text(f"Reason: {request.reason}"))
    if request.params not in (None, [], {}):
        console.print(Text(f"Params: {json.dumps(request.params, ensure_ascii=False)}"))
    if request.hidden_characters:
        console.print(Text(f"Hidden characters in the SQL: {', '.join(request.hidden_characters)}", style="bold red"))
    console.print(Text("SQL (exact text; hidden characters shown as ⟦U+XXXX⟧):", style="bold"))
    console.print(Text(request.sql_visible), soft_wrap=True)  # exactly its lines, never re-wrapped
    _print_statements(request)
    for review in request.reviews:
        line = f"Review: {review.reviewer} {DECISION_WORDS.get(review.decision, review.decision)}"
        console.print(Text(line + (f": {review.comment}" if review.comment else "")))
    if request.dry_run_result is not None:
        print_dry_run(request.dry_run_result)
    if request.execution:
        console.print(Text(f"Execution: {json.dumps(request.execution, ensure_ascii=False)}"))


def _print_statements(request: ApprovalRequest) -> None:
    if request.classification is None or not request.classification.statements:
        return
    console.print(Text("Statements:", style="bold"))
    for number, statement in enumerate(request.classification.statements, start=1):
        line = Text(f"  {number}. {statement.kind} {statement.verdict}, risk ")
        line.append(statement.risk, style=RISK_STYLES.get(statement.risk, ""))
        if statement.reasons:
            line.append(" — " + "; ".join(statement.reasons))
        console.print(line)
        console.print(Text("     " + excerpt(statement.visible_text, 200), style="dim"))


def print_dry_run(outcome: Any) -> None:
    """What the rolled-back run did: rows affected per statement, or why it failed."""
    if not isinstance(outcome, dict):
        console.print(Text(f"Dry run: {json.dumps(outcome, ensure_ascii=False)}"))
        return
    if not outcome.get("ok"):
        error = outcome.get("error") or {}
        console.print(Text(f"Dry run failed: {error.get('message', '')} ({error.get('code', '')})", style="red"))
        return
    took = f" in {outcome['took_ms']} ms" if outcome.get("took_ms") is not None else ""
    console.print(Text(f"Dry run (rolled back){took}:", style="bold"))
    for number, statement in enumerate(outcome.get("statements", []), start=1):
        rows = statement.get("affected_rows")
        console.print(
            Text(f"  {number}. {rows} row{'s' if rows != 1 else ''}: {excerpt(statement.get('statement', ''))}")
        )


def print_created_request(request: ApprovalRequest) -> None:
    """A write was submitted: say that nothing ran yet, and what happens next."""
    err_console.print(
        Text(f"Not a read: approval request #{request.id} was created ({request.status}). Nothing has run yet.")
    )
    print_request(request)
