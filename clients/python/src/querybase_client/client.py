"""QueryBaseClient: one server, one identity, every endpoint group as an attribute."""

from __future__ import annotations

import os
from collections.abc import Callable

import httpx

from querybase_client import __version__
from querybase_client.auth import ApiKeyAuth, JWTAuth, Tokens, obtain_tokens
from querybase_client.errors import QueryBaseConnectionError, QueryBaseError
from querybase_client.events import Events
from querybase_client.resources.account import Account
from querybase_client.resources.approvals import Approvals
from querybase_client.resources.audit import Audit
from querybase_client.resources.datasources import DataSources
from querybase_client.resources.queries import Queries
from querybase_client.resources.sandboxes import Sandboxes
from querybase_client.resources.saved_queries import SavedQueries
from querybase_client.transport import DEFAULT_TIMEOUT, Transport


class QueryBaseClient:
    """A client for one QueryBase server.

    Authenticate with exactly one of: `api_key`; `username` and `password` (logs in on
    first use, and again if the refresh token is gone); or `tokens` from an earlier
    login (what the CLI keeps). `on_tokens` is called with each new token pair.

        with QueryBaseClient("https://querybase.example", api_key="qb_…") as qb:
            result = qb.queries.run("shop", "SELECT count(*) FROM orders")

    Groups: `account`, `datasources`, `queries`, `saved_queries`, `approvals`, `sandboxes`, `events`
    (live events; `queries.follow` and `approvals.follow` use them).
    """

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        username: str | None = None,
        password: str | None = None,
        tokens: Tokens | None = None,
        on_tokens: Callable[[Tokens], None] | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        http_transport: httpx.BaseTransport | None = None,
    ):
        self.url = url.rstrip("/")
        auth: httpx.Auth | None
        if api_key:
            auth = ApiKeyAuth(api_key)
        elif tokens or (username and password):
            auth = JWTAuth(self.url, tokens, username=username, password=password, on_tokens=on_tokens)
        else:
            auth = None  # only the endpoints anyone may call (login) will work
        self.auth = auth
        http = httpx.Client(
            base_url=self.url,
            auth=auth,
            timeout=timeout,
            transport=http_transport,
            headers={"User-Agent": f"querybase-client/{__version__}", "Accept": "application/json"},
        )
        self.transport = Transport(http)
        self.account = Account(self.transport)
        self.datasources = DataSources(self.transport)
        self.queries = Queries(self.transport, self.datasources)
        self.saved_queries = SavedQueries(self.transport, self.datasources)
        self.approvals = Approvals(self.transport, self.datasources)
        self.audit = Audit(self.transport, self.datasources)
        self.sandboxes = Sandboxes(self.transport, self.datasources)
        self.events = Events(self.transport)

    @classmethod
    def login(cls, url: str, username: str, password: str, **options) -> tuple[QueryBaseClient, Tokens]:
        """Log in now (so a wrong password fails here, not on the first call) and return
        the client with the tokens to keep."""
        http_transport = options.get("http_transport")
        with httpx.Client(base_url=url.rstrip("/"), timeout=DEFAULT_TIMEOUT, transport=http_transport) as http:
            try:
                tokens = obtain_tokens(http, username, password)
            except httpx.TransportError as error:
                raise QueryBaseConnectionError(f"Could not reach {url}: {error}") from error
        return cls(url, tokens=tokens, username=username, password=password, **options), tokens

    @classmethod
    def from_env(cls, **options) -> QueryBaseClient:
        """A client from QUERYBASE_URL and either QUERYBASE_API_KEY or
        QUERYBASE_USERNAME/QUERYBASE_PASSWORD: what scripts and cron jobs use."""
        url = os.environ.get("QUERYBASE_URL")
        if not url:
            raise QueryBaseError("Set QUERYBASE_URL (and QUERYBASE_API_KEY, or QUERYBASE_USERNAME/QUERYBASE_PASSWORD).")
        return cls(
            url,
            api_key=os.environ.get("QUERYBASE_API_KEY"),
            username=os.environ.get("QUERYBASE_USERNAME"),
            password=os.environ.get("QUERYBASE_PASSWORD"),
            **options,
        )

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> QueryBaseClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
