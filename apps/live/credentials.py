"""The credentials an event stream was opened with, checked again while it stays open.

A stream is opened once and then lasts as long as its page: checked only when it opened,
it went on delivering after its user was deactivated, changed their password (which ends
every token and session issued before), signed out, had the API key revoked or the token
expire, none of which would have let it open again. So the stream asks again, with the
same authenticators and the same headers and session, before each thing it sends, and
ends as soon as they would no longer open it for the same user: the browser reconnects,
and is refused like any other request.
"""

from dataclasses import dataclass
from importlib import import_module

from django.conf import settings
from django.contrib import auth
from django.db import close_old_connections, connections
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject
from rest_framework.exceptions import APIException
from rest_framework.request import Request


@dataclass(frozen=True)
class StreamCredentials:
    user_id: int
    authorization: str
    session_key: str | None
    authenticators: tuple

    @classmethod
    def of(cls, request: Request) -> "StreamCredentials":
        user_id = request.user.pk
        assert user_id is not None  # IsAuthenticated
        session = getattr(request._request, "session", None)
        return cls(
            user_id=user_id,
            authorization=request._request.META.get("HTTP_AUTHORIZATION", ""),
            session_key=session.session_key if session is not None else None,
            authenticators=tuple(request.authenticators or ()),
        )

    def still_valid(self) -> bool:
        """Whether these credentials would open the stream now, for the same user. Blocking
        (the database, the cache); any failure counts as no: the client reconnects and
        hears why."""
        close_old_connections()
        try:
            user = Request(self._request_again(), authenticators=self.authenticators).user
            return bool(user.is_authenticated and user.pk == self.user_id)
        except APIException:  # refused: the same answer a new request would get
            return False
        except Exception:  # the database or the cache failed: a stream that cannot tell ends
            return False
        finally:
            release_database_connections()

    def _request_again(self) -> HttpRequest:
        again = HttpRequest()
        again.method = "GET"
        if self.authorization:
            again.META["HTTP_AUTHORIZATION"] = self.authorization
        store = import_module(settings.SESSION_ENGINE).SessionStore
        again.session = store(self.session_key)  # type: ignore[attr-defined]
        again.user = SimpleLazyObject(lambda: auth.get_user(again))  # type: ignore[assignment]
        return again


def release_database_connections() -> None:
    """An open stream holds no database connection (apps/live/views.py): left open, each
    would hold one for as long as it lasts."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close()
