"""sources, schema."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from querybase_client.cli import output, session
from querybase_client.cli.inputs import JsonFlag, use_json


def sources(json_output: JsonFlag = False) -> None:
    """The data sources you have rights on."""
    use_json(json_output)
    with session.client_for_profile() as client:
        found = client.datasources.list()
    if json_output:
        output.print_json([source.raw for source in found])
        return
    output.table(
        ["id", "name", "engine", "row cap", "description"],
        ([source.id, source.name, source.engine, source.max_rows, source.description] for source in found),
    )


def schema(
    source: Annotated[str, typer.Argument(help="Source name or id.")],
    json_output: JsonFlag = False,
) -> None:
    """Tables, views and columns of a source."""
    use_json(json_output)
    with session.client_for_profile() as client:
        tables = client.datasources.schema(client.datasources.resolve(source))
    if json_output:
        output.print_json(
            [
                {
                    "schema": table.schema,
                    "name": table.name,
                    "kind": table.kind,
                    "columns": [{"name": c.name, "type": c.type, "nullable": c.nullable} for c in table.columns],
                }
                for table in tables
            ]
        )
        return
    for table in tables:
        qualified = f"{table.schema}.{table.name}" if table.schema else table.name
        output.console.print(Text(f"{qualified} ({table.kind})", style="bold"))
        for column in table.columns:
            nullable = "" if column.nullable else " not null"
            output.console.print(Text(f"  {column.name}  {column.type}{nullable}"))


def register(app: typer.Typer) -> None:
    app.command()(sources)
    app.command()(schema)
