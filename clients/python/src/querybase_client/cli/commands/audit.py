"""audit records, audit events, audit search: the audit reports (auditors and admins;
anyone else sees only their own events)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from querybase_client.cli import output, session
from querybase_client.cli.inputs import JsonFlag, use_json

if TYPE_CHECKING:
    from querybase_client.models import AuditEvent

audit_app = typer.Typer(help="The audit log: a record's history, a user's actions, a time window, full text.")

Limit = Annotated[int, typer.Option(help="At most this many events.")]
Csv = Annotated[bool, typer.Option("--csv", help="Print the whole report as CSV.")]


def _show(events: list[AuditEvent], json_output: bool) -> None:
    if json_output:
        output.print_json([event.raw for event in events])
        return
    output.table(
        ["when", "user", "action", "object", "outcome", "tables", "sql / text"],
        (
            [
                output.moment(event.created_at),
                event.actor or "-",
                event.action,
                event.object_repr,
                output.styled(event.outcome, output.STATUS_STYLES),
                ", ".join(event.tables),
                output.excerpt(event.sql or event.text or event.error),
            ]
            for event in events
        ),
    )


def _source(text: str) -> int | str:
    """A source id as it is (an auditor may have no right on the source, so cannot look
    its name up); a name is looked up among the sources the user can see."""
    return int(text) if text.isdigit() else text


def _print_csv(report: str, **params) -> None:
    with session.client_for_profile() as client:
        body = client.audit.export_csv(report, **params)
    sys.stdout.write(body.decode("utf-8"))


@audit_app.command()
def records(
    source: Annotated[str, typer.Argument(help="Source id (or name, if you have rights on it).")],
    table: Annotated[str, typer.Argument(help="Table name (plain or schema-qualified).")],
    key: Annotated[str | None, typer.Option(help="A key value of the row.")] = None,
    limit: Limit = 200,
    csv: Csv = False,
    json_output: JsonFlag = False,
) -> None:
    """A record's lifetime: every run, request, review and execution that touched it."""
    use_json(json_output)
    with session.client_for_profile() as client:
        source_id = client.datasources.id_of(_source(source))
        if not csv:
            found = client.audit.records(source_id, table, key=key, limit=limit)
    if csv:
        _print_csv("records", datasource=source_id, table=table, key=key)
        return
    _show(found, json_output)


@audit_app.command()
def events(
    user: Annotated[str | None, typer.Option(help="Events of this user.")] = None,
    after: Annotated[str | None, typer.Option(help="From this moment (ISO 8601).")] = None,
    before: Annotated[str | None, typer.Option(help="Up to this moment (ISO 8601).")] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="Only this source (id, or name if you have rights).")
    ] = None,
    action: Annotated[str | None, typer.Option(help="Only this action, e.g. query.run.")] = None,
    limit: Limit = 200,
    csv: Csv = False,
    json_output: JsonFlag = False,
) -> None:
    """A user's actions with their outcomes, or what happened in a time window."""
    use_json(json_output)
    with session.client_for_profile() as client:
        datasource = client.datasources.id_of(_source(source)) if source else None
        if csv:
            body = client.audit.export_csv(
                "events", user=user, after=after, before=before, datasource=datasource, action=action
            )
        else:
            found = client.audit.events(
                user=user, after=after, before=before, datasource=datasource, action=action, limit=limit
            )
    if csv:
        sys.stdout.write(body.decode("utf-8"))
        return
    _show(found, json_output)


@audit_app.command()
def search(
    text: Annotated[str, typer.Argument(help="Words that must all appear (SQL, reasons, comments, errors).")],
    limit: Limit = 200,
    csv: Csv = False,
    json_output: JsonFlag = False,
) -> None:
    """Full text over the audit log."""
    use_json(json_output)
    if csv:
        _print_csv("search", q=text)
        return
    with session.client_for_profile() as client:
        found = client.audit.search(text, limit=limit)
    _show(found, json_output)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
