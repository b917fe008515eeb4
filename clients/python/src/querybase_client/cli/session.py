"""The state of one CLI invocation: which profile, JSON or not, and the client for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from querybase_client.cli import config
from querybase_client.errors import AuthenticationError

if TYPE_CHECKING:
    from querybase_client.client import QueryBaseClient


@dataclass
class Invocation:
    profile_name: str = config.DEFAULT_PROFILE
    json_output: bool = False


# One per process: set by the root callback and by each command's --json, read by the
# error handler in app.main to decide how to report a failure.
current = Invocation()


def client_for_profile() -> QueryBaseClient:
    """A client signed in as the current profile; refreshed tokens are saved back."""
    # Imported here, by the commands that talk to a server: the client brings httpx, which
    # `querybase --help` and a usage error have no use for (and took most of their time).
    from querybase_client.auth import Tokens
    from querybase_client.client import QueryBaseClient

    name = current.profile_name
    profile = config.load_profile(name)
    if profile is None:
        raise AuthenticationError(
            f"Not logged in (profile {name!r}). Run: querybase login URL --username NAME",
            code="not_logged_in",
        )
    if profile.api_key:
        return QueryBaseClient(profile.url, api_key=profile.api_key)
    if not profile.refresh:
        raise AuthenticationError("Logged out. Run: querybase login URL --username NAME", code="not_logged_in")

    def keep(tokens: Tokens) -> None:
        profile.access, profile.refresh = tokens.access, tokens.refresh
        config.save_profile(name, profile)

    return QueryBaseClient(profile.url, tokens=Tokens(profile.access, profile.refresh), on_tokens=keep)
