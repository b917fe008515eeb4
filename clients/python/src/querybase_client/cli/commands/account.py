"""login, logout, whoami."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.text import Text

from querybase_client.cli import config, output, session
from querybase_client.cli.inputs import JsonFlag, use_json


def login(
    url: Annotated[str, typer.Argument(help="The server, e.g. https://querybase.example.com")],
    username: Annotated[str | None, typer.Option("--username", "-u", help="Your QueryBase user name.")] = None,
    api_key: Annotated[
        bool, typer.Option("--api-key", help="Sign in with an API key (QUERYBASE_API_KEY or a prompt).")
    ] = False,
    json_output: JsonFlag = False,
) -> None:
    """Sign in and remember the session (tokens, never the password) in the profile."""
    from querybase_client.client import QueryBaseClient  # see session.client_for_profile

    use_json(json_output)
    url = url.rstrip("/")
    if api_key:
        key = os.environ.get("QUERYBASE_API_KEY") or typer.prompt("API key", hide_input=True, err=True)
        profile = config.Profile(url=url, api_key=key)
        with QueryBaseClient(url, api_key=key) as client:
            me = client.account.me()
        profile.username = me.username
    else:
        if not username:
            raise typer.BadParameter("--username is required (or use --api-key)")
        password = os.environ.get("QUERYBASE_PASSWORD") or typer.prompt("Password", hide_input=True, err=True)
        client, tokens = QueryBaseClient.login(url, username, password)
        with client:
            me = client.account.me()
        profile = config.Profile(url=url, username=me.username, access=tokens.access, refresh=tokens.refresh)
    path = config.save_profile(session.current.profile_name, profile)
    if json_output:
        output.print_json({"url": url, "username": me.username, "profile": session.current.profile_name})
        return
    output.console.print(Text(f"Logged in to {url} as {me.username}. Session kept in {path}."))


def logout(json_output: JsonFlag = False) -> None:
    """Forget the stored session of the profile."""
    use_json(json_output)
    removed = config.delete_profile(session.current.profile_name)
    if json_output:
        output.print_json({"logged_out": removed, "profile": session.current.profile_name})
    elif removed:
        output.console.print("Logged out.")
    else:
        output.console.print("Not logged in.")


def whoami(json_output: JsonFlag = False) -> None:
    """Who the profile is signed in as, with their groups and rights per source."""
    use_json(json_output)
    with session.client_for_profile() as client:
        me = client.account.me()
    if json_output:
        output.print_json({**me.raw, "url": client.url})
        return
    role = " (admin)" if me.is_admin else ""
    output.console.print(Text(f"{me.username}{role} on {client.url}"))
    output.console.print(Text(f"Groups: {', '.join(me.groups) or '-'}"))
    output.table(
        ["source", "id", "engine", "read", "write", "approve"],
        (
            [
                source.get("name"),
                source.get("id"),
                source.get("engine"),
                _yes(source.get("can_read")),
                _yes(source.get("can_write")),
                _yes(source.get("can_approve")),
            ]
            for source in me.datasources
        ),
    )


def _yes(flag: object) -> str:
    return "yes" if flag else "-"


def register(app: typer.Typer) -> None:
    app.command()(login)
    app.command()(logout)
    app.command()(whoami)
