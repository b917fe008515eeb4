"""How the SDK proves who it is: JWT (with refresh) or an API key, as httpx auth flows.

The server's access tokens live 15 minutes and its refresh tokens work once (each
refresh returns a new one and blacklists the old). So `JWTAuth` refreshes shortly before
the access token expires and again on a 401, and hands every new pair to `on_tokens`,
which the CLI uses to write them back to its profile: a refresh token it forgot would be
gone for good.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass

import httpx

from querybase_client.errors import AuthenticationError, error_from_response

LOGIN_PATH = "/api/v1/auth/token"
REFRESH_PATH = "/api/v1/auth/token/refresh"
# Refresh this long before the access token's own expiry, so a request in flight does
# not arrive with a token that died on the way.
EXPIRY_MARGIN_SECONDS = 30


@dataclass(frozen=True)
class Tokens:
    access: str
    refresh: str


def token_expiry(token: str) -> float | None:
    """The `exp` claim of a JWT, read without checking the signature: the server checks
    it; the client only wants to know when to refresh."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, KeyError, TypeError, ValueError):
        return None


def obtain_tokens(http: httpx.Client, username: str, password: str) -> Tokens:
    """Log in with a username and password (`POST /auth/token`)."""
    response = http.post(LOGIN_PATH, json={"username": username, "password": password}, auth=None)
    if response.is_error:
        raise error_from_response(response)
    body = response.json()
    return Tokens(access=body["access"], refresh=body["refresh"])


class ApiKeyAuth(httpx.Auth):
    def __init__(self, api_key: str):
        self.api_key = api_key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Api-Key {self.api_key}"
        yield request


class JWTAuth(httpx.Auth):
    """Bearer tokens that renew themselves.

    With `username`/`password` it can also log in again when the refresh token is gone
    (expired, or used by another process); without them that is an AuthenticationError.
    """

    # Not True: httpx would then read every response whole before handing it over, an
    # export included. The flow reads only the token endpoints' answers itself.
    requires_response_body = False

    def __init__(
        self,
        base_url: str,
        tokens: Tokens | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        on_tokens: Callable[[Tokens], None] | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.username = username
        self.password = password
        self.on_tokens = on_tokens
        self.clock = clock
        self._lock = threading.Lock()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        with self._lock:
            if self.tokens is None or self._access_expiring():
                yield from self._renew()
        request.headers["Authorization"] = f"Bearer {self.tokens.access}"
        response = yield request
        if response.status_code != 401:
            return
        # Expired early, revoked, or the clocks disagree: renew once and try again.
        with self._lock:
            yield from self._renew()
        request.headers["Authorization"] = f"Bearer {self.tokens.access}"
        yield request

    def _access_expiring(self) -> bool:
        expiry = token_expiry(self.tokens.access) if self.tokens else None
        return expiry is not None and expiry - EXPIRY_MARGIN_SECONDS <= self.clock()

    def _renew(self) -> Generator[httpx.Request, httpx.Response, None]:
        if self.tokens is not None:
            response = yield httpx.Request("POST", self.base_url + REFRESH_PATH, json={"refresh": self.tokens.refresh})
            response.read()
            if response.status_code == 200:
                body = response.json()
                # ROTATE_REFRESH_TOKENS: a new refresh token comes back; keep the old one
                # only if a server configured otherwise sends none.
                self._store(Tokens(access=body["access"], refresh=body.get("refresh", self.tokens.refresh)))
                return
            if response.status_code not in (400, 401):
                raise error_from_response(response)
        if not (self.username and self.password):
            raise AuthenticationError(
                "The session has expired; log in again.", code="session_expired", status=401, details=None
            )
        response = yield httpx.Request(
            "POST", self.base_url + LOGIN_PATH, json={"username": self.username, "password": self.password}
        )
        response.read()
        if response.status_code != 200:
            raise error_from_response(response)
        body = response.json()
        self._store(Tokens(access=body["access"], refresh=body["refresh"]))

    def _store(self, tokens: Tokens) -> None:
        self.tokens = tokens
        if self.on_tokens is not None:
            self.on_tokens(tokens)
