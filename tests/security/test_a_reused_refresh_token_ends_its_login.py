"""A refresh token works once. Presented again after it was rotated, it was most likely
copied, and the thief cannot be told apart from the owner: every token of that login (its
family) stops, refresh and access tokens alike, at once; other logins of the same user go
on, and the event is audited.
"""

import threading
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.db import connections
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from apps.accounts.tokens import RefreshToken
from apps.audit.models import AuditEvent
from tests.support.accounts import me, refresh, token_pair
from tests.support.factories import make_user

pytestmark = pytest.mark.django_db


def assert_refused(response) -> None:
    assert response.status_code == 401, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "invalid_token", response.content


def test_a_rotated_refresh_token_used_again_ends_every_token_of_its_login(api_client, settings):
    settings.QUERYBASE_REFRESH_REUSE_GRACE_SECONDS = 0
    ana = make_user("ana")
    stolen = token_pair(api_client)
    elsewhere = token_pair(api_client)  # the same user signed in on another machine
    first = refresh(api_client, stolen["refresh"]).json()
    newest = refresh(api_client, first["refresh"]).json()
    assert me(api_client, newest["access"]).status_code == 200

    assert_refused(refresh(api_client, stolen["refresh"]))
    event = AuditEvent.objects.get(action="auth.refresh_token_reused")
    assert event.actor == ana
    assert event.detail["revoked"] == 3  # the login's refresh tokens, each blacklisted
    assert event.ip_address == "127.0.0.1"

    # Whoever holds the login now, owner or thief, holds nothing that works.
    assert_refused(refresh(api_client, newest["refresh"]))
    for access in (stolen["access"], first["access"], newest["access"]):
        refused = me(api_client, access)
        assert_refused(refused)
        assert "session was ended" in refused.json()["error"]["message"]
    # Another login of the same user is not that family.
    assert me(api_client, elsewhere["access"]).status_code == 200
    assert refresh(api_client, elsewhere["refresh"]).status_code == 200

    # Any rotated token of it presented again is refused and recorded again; the newest,
    # never rotated, was not reused. Signing in again works.
    assert_refused(refresh(api_client, first["refresh"]))
    assert AuditEvent.objects.filter(action="auth.refresh_token_reused").count() == 2
    again = token_pair(api_client)
    assert me(api_client, again["access"]).status_code == 200
    assert refresh(api_client, again["refresh"]).status_code == 200


def test_a_token_revoked_by_a_password_change_or_never_valid_is_not_taken_for_a_reused_one(api_client):
    ana = make_user("ana")
    tokens = token_pair(api_client)
    ana = get_user_model().objects.get(pk=ana.pk)
    ana.set_password("a-brand-new-passphrase")
    ana.save()
    assert_refused(refresh(api_client, tokens["refresh"]))
    assert_refused(refresh(api_client, tokens["refresh"][:-4] + "AAAA"))  # a signature not ours
    assert_refused(refresh(api_client, tokens["access"]))  # not a refresh token
    assert not AuditEvent.objects.filter(action="auth.refresh_token_reused").exists()


def test_two_clients_of_one_login_refreshing_together_do_not_end_it_but_a_late_reuse_does(api_client):
    """Two CLI commands sharing a profile refresh as the token nears its end: the slower
    one presents the token the faster one rotated a moment ago. It is refused, as any
    used token is, and the login goes on; the same token presented after the grace is a
    copy, and ends it."""
    make_user("ana")
    shared = token_pair(api_client)
    faster = refresh(api_client, shared["refresh"]).json()
    assert_refused(refresh(api_client, shared["refresh"]))  # the slower one, a moment later
    assert not AuditEvent.objects.filter(action="auth.refresh_token_reused").exists()
    assert me(api_client, faster["access"]).status_code == 200
    newest = refresh(api_client, faster["refresh"]).json()
    assert me(api_client, newest["access"]).status_code == 200

    BlacklistedToken.objects.update(blacklisted_at=timezone.now() - timedelta(minutes=1))
    assert_refused(refresh(api_client, shared["refresh"]))
    assert AuditEvent.objects.filter(action="auth.refresh_token_reused").count() == 1
    assert_refused(me(api_client, newest["access"]))
    assert_refused(refresh(api_client, newest["refresh"]))


@pytest.mark.django_db(transaction=True)
def test_two_logins_ended_at_the_same_moment_both_stay_ended(settings, monkeypatch):
    """Two stolen refresh tokens of one user, of two logins, presented again at the same
    moment, each from a thread of its own against the real Redis: both families end. The
    ended families were one set per user, read and written back, so of two revocations
    at once the last write kept only its own family, and the other's access tokens lived
    on for up to 15 minutes. Here both revocations are held just before they write to the
    cache, until both are there, so that each has done whatever it reads first."""
    settings.QUERYBASE_REFRESH_REUSE_GRACE_SECONDS = 0
    make_user("ana")
    client = APIClient()
    logins = [token_pair(client) for _ in range(2)]
    rotated = [refresh(client, login["refresh"]).json() for login in logins]

    backend = type(caches["default"])
    original_set = backend.set
    both_writing = threading.Barrier(2, timeout=10)

    def set_when_both_write(self, key, *args, **kwargs):
        if key.startswith("jwt-famil"):  # the ended families, whatever the key's shape
            both_writing.wait()
        return original_set(self, key, *args, **kwargs)

    monkeypatch.setattr(backend, "set", set_when_both_write)
    answers: dict[int, object] = {}

    def reuse(index: int) -> None:
        try:
            answers[index] = refresh(APIClient(), logins[index]["refresh"])
        except Exception as error:  # reported by the assertion below
            answers[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=reuse, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    monkeypatch.undo()

    for index in range(2):
        assert_refused(answers[index])
    assert AuditEvent.objects.filter(action="auth.refresh_token_reused").count() == 2
    for tokens in (*logins, *rotated):
        refused = me(client, tokens["access"])
        assert_refused(refused)
        assert "session was ended" in refused.json()["error"]["message"]


@pytest.mark.django_db(transaction=True)
def test_a_refresh_token_presented_twice_at_the_same_moment_is_rotated_once(monkeypatch):
    """simplejwt looks a refresh token up in the blacklist when it reads it, and blacklists
    it a moment later: two refreshes of one token in that moment were both rotated, two
    live branches of one login (a thief's and its owner's) that reuse detection never
    sees. Both refreshes are held here between the look-up and the blacklisting until both
    are there: one is rotated, the other refused as a used token is."""
    make_user("ana")
    client = APIClient()
    login = token_pair(client)
    original_blacklist = RefreshToken.blacklist
    both_rotating = threading.Barrier(2, timeout=10)

    def blacklist_when_both_rotate(self):
        both_rotating.wait()
        return original_blacklist(self)

    monkeypatch.setattr(RefreshToken, "blacklist", blacklist_when_both_rotate)
    answers: list = []

    def rotate() -> None:
        try:
            answers.append(refresh(APIClient(), login["refresh"]))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=rotate) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    monkeypatch.undo()

    assert sorted(answer.status_code for answer in answers) == [200, 401]
    assert_refused(next(answer for answer in answers if answer.status_code == 401))
    assert BlacklistedToken.objects.count() == 1
    assert not AuditEvent.objects.filter(action="auth.refresh_token_reused").exists()  # within the grace
    rotated = next(answer for answer in answers if answer.status_code == 200).json()
    assert me(client, rotated["access"]).status_code == 200
    assert refresh(client, rotated["refresh"]).status_code == 200
