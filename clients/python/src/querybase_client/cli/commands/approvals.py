"""requests, show, approve, reject."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from querybase_client.cli import output, session
from querybase_client.cli.exit_codes import ExitCode
from querybase_client.cli.inputs import JsonFlag, use_json

if TYPE_CHECKING:
    from querybase_client.client import QueryBaseClient
    from querybase_client.models import ApprovalRequest

RequestArgument = Annotated[int, typer.Argument(help="The request's number.")]


def requests(
    mine: Annotated[bool, typer.Option("--mine", help="Only requests you made.")] = False,
    to_review: Annotated[bool, typer.Option("--to-review", help="Only requests waiting for your decision.")] = False,
    status: Annotated[str | None, typer.Option(help="pending, approved, rejected, succeeded, failed, …")] = None,
    source: Annotated[str | None, typer.Option("--source", help="Only this source (name or id).")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
    json_output: JsonFlag = False,
) -> None:
    """Approval requests you can see."""
    use_json(json_output)
    if mine and to_review:
        raise typer.BadParameter("use --mine or --to-review, not both")
    with session.client_for_profile() as client:
        requester = client.account.me().username if mine else None
        datasource = client.datasources.resolve(source) if source else None
        found = client.approvals.list(
            status=status, datasource=datasource, requester=requester, awaiting_my_review=to_review, limit=limit
        )
    if json_output:
        output.print_json([request.raw for request in found])
        return
    output.table(
        ["id", "status", "risk", "source", "requester", "created", "sql"],
        (
            [
                request.id,
                output.styled(request.status, output.STATUS_STYLES),
                output.styled(request.risk, output.RISK_STYLES),
                request.datasource_name,
                request.requester,
                output.moment(request.created_at),
                output.excerpt(request.sql_visible),
            ]
            for request in found
        ),
    )


FollowFlag = Annotated[
    bool, typer.Option("--follow", "-f", help="Then follow it live until it is settled (exit status says how).")
]


def show(request_id: RequestArgument, follow: FollowFlag = False, json_output: JsonFlag = False) -> None:
    """A request in full: exact SQL, statements and risk, reviews, execution."""
    use_json(json_output)
    with session.client_for_profile() as client:
        if follow:
            follow_request(client, request_id, json_output, full=True)
            return
        request = client.approvals.get(request_id)
    if json_output:
        output.print_json(request.raw)
    else:
        output.print_request(request)


# How a followed request ended, as an exit status.
_SETTLED_EXIT = {"succeeded": ExitCode.OK, "failed": ExitCode.QUERY_FAILED}


def follow_request(client: QueryBaseClient, request_id: int, json_output: bool, *, full: bool) -> None:
    """Print the request as it changes (one line each, or one JSON object per line), and
    exit with how it ended: 0 succeeded, 7 failed, 1 rejected, cancelled or expired."""
    last = None
    request = None
    for request in client.approvals.follow(request_id):
        state = (request.status, request.approvals)
        if state == last:
            continue
        if json_output:
            output.print_json_line(request.raw)
        elif last is None and full:
            output.print_request(request)
        else:
            output.console.print(
                Text(f"Request #{request.id} is {request.status} ({request.approvals}/{request.required_approvals}).")
            )
        last = state
    if request is not None and request.execution and not json_output:
        output.console.print(Text(f"Execution: {json.dumps(request.execution, ensure_ascii=False)}"))
    status = request.status if request is not None else ""
    raise typer.Exit(_SETTLED_EXIT.get(status, ExitCode.ERROR))


def dry_run(request_id: RequestArgument, json_output: JsonFlag = False) -> None:
    """Dry-run a request: its statements in a rolled-back transaction, rows affected by each.

    Only where the source allows it and a rollback undoes every effect; the server
    refuses anything else.
    """
    use_json(json_output)
    with session.client_for_profile() as client:
        request = client.approvals.dry_run(request_id)
    if json_output:
        output.print_json(request.dry_run_result)
    else:
        output.print_dry_run(request.dry_run_result)


def approve(
    request_id: RequestArgument,
    comment: Annotated[str, typer.Option("-m", "--message", help="A comment for the requester.")] = "",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask to confirm a high-risk request.")] = False,
    json_output: JsonFlag = False,
) -> None:
    """Approve a request, after showing exactly what it will run.

    A high-risk request asks you to type its number first (--yes skips that, for scripts).
    """
    use_json(json_output)
    with session.client_for_profile() as client:
        request = client.approvals.get(request_id)
        if not json_output:
            output.print_request(request)
        # Only a pending request can be approved; for any other the server's refusal says why.
        if request.is_high_risk and request.status == "pending" and not yes:
            _confirm_high_risk(request)
        decided = client.approvals.approve(request_id, comment)
    _report_decision(decided, json_output)


def reject(
    request_id: RequestArgument,
    comment: Annotated[str, typer.Option("-m", "--message", help="Why: the requester sees it.")],
    json_output: JsonFlag = False,
) -> None:
    """Reject a request, with a comment saying why."""
    use_json(json_output)
    if not comment.strip():
        raise typer.BadParameter("say why with -m COMMENT")
    with session.client_for_profile() as client:
        if not json_output:
            output.print_request(client.approvals.get(request_id))
        decided = client.approvals.reject(request_id, comment)
    _report_decision(decided, json_output)


def _confirm_high_risk(request: ApprovalRequest) -> None:
    # Typing the number, not answering y/N, because a reflexive "y" is exactly the
    # mistake this guards against.
    output.err_console.print(Text(f"Request #{request.id} is HIGH RISK.", style="bold red"))
    typed = typer.prompt(
        f"Type the request number ({request.id}) to approve it", default="", show_default=False, err=True
    )
    if typed.strip() != str(request.id):
        output.err_console.print(Text("Not approved."))
        raise typer.Exit(ExitCode.ERROR)


def _report_decision(request: ApprovalRequest, json_output: bool) -> None:
    if json_output:
        output.print_json(request.raw)
        return
    output.console.print(
        Text(f"Request #{request.id} is now {request.status} ({request.approvals}/{request.required_approvals}).")
    )


def register(app: typer.Typer) -> None:
    app.command()(requests)
    app.command()(show)
    app.command(name="dry-run")(dry_run)
    app.command()(approve)
    app.command()(reject)
