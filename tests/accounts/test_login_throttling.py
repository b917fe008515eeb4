"""Failed logins are throttled per account and per client address (counted in Redis),
on the API's token endpoint, the dashboard's login page and Django admin's.

Found by an outside review: 60 wrong passwords in a row were never slowed down. Then:
the count was read before the password check and written after it, so wrong passwords
sent at once all reached the check.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.test import Client

from apps.accounts.throttling import LoginThrottle
from apps.audit.models import AuditEvent
from tests.support.factories import DEFAULT_PASSWORD, make_user
from tests.support.servers import shipped_server

pytestmark = pytest.mark.django_db


@pytest.fixture
def limits(settings):
    settings.QUERYBASE_LOGIN_FAILURES_PER_ACCOUNT = 3
    settings.QUERYBASE_LOGIN_FAILURES_PER_ADDRESS = 6
    settings.QUERYBASE_LOGIN_LOCKOUT_SECONDS = 600
    return settings


@pytest.fixture
def clock(monkeypatch):
    """Time that passes when a test says so."""

    class Clock:
        now = 1_000_000.0

        def advance(self, seconds: float) -> None:
            self.now += seconds

    fake = Clock()
    monkeypatch.setattr(LoginThrottle, "clock", staticmethod(lambda: fake.now))
    return fake


def obtain(api_client, username, password, address="127.0.0.1"):
    return api_client.post(
        "/api/v1/auth/token", {"username": username, "password": password}, format="json", REMOTE_ADDR=address
    )


def test_sixty_wrong_passwords_are_stopped_after_the_limit(api_client, settings):
    make_user("ana")
    statuses = [obtain(api_client, "ana", f"guess-{n}").status_code for n in range(60)]
    limit = settings.QUERYBASE_LOGIN_FAILURES_PER_ACCOUNT
    assert statuses[:limit] == [401] * limit
    assert set(statuses[limit:]) == {429}


def test_a_locked_account_answers_429_json_with_retry_after_even_for_the_right_password(api_client, limits, clock):
    make_user("ana")
    for _ in range(3):
        assert obtain(api_client, "ana", "wrong").status_code == 401
    locked = obtain(api_client, "ana", DEFAULT_PASSWORD)
    assert locked.status_code == 429
    error = locked.json()["error"]
    assert error["code"] == "too_many_login_attempts"
    assert "Try again in 10 minutes" in error["message"]
    assert int(locked["Retry-After"]) == 600
    clock.advance(599)
    assert obtain(api_client, "ana", DEFAULT_PASSWORD).status_code == 429
    clock.advance(2)
    assert obtain(api_client, "ana", DEFAULT_PASSWORD).status_code == 200


def test_other_accounts_from_the_same_address_still_log_in_until_the_address_limit(api_client, limits):
    make_user("ana")
    make_user("bob")
    for _ in range(3):
        obtain(api_client, "ana", "wrong")
    assert obtain(api_client, "ana", DEFAULT_PASSWORD).status_code == 429
    assert obtain(api_client, "bob", DEFAULT_PASSWORD).status_code == 200
    # Guessing across many accounts from one address locks the address out...
    for n in range(3):
        assert obtain(api_client, f"nobody-{n}", "wrong").status_code == 401
    assert obtain(api_client, "bob", DEFAULT_PASSWORD).status_code == 429
    # ...but not the same account from elsewhere.
    assert obtain(api_client, "bob", DEFAULT_PASSWORD, address="10.1.2.3").status_code == 200


def test_a_successful_login_resets_the_account_count(api_client, limits):
    make_user("ana")
    for _ in range(2):
        obtain(api_client, "ana", "wrong")
    assert obtain(api_client, "ana", DEFAULT_PASSWORD).status_code == 200
    for _ in range(2):
        obtain(api_client, "ana", "wrong", address="10.1.2.3")
    assert obtain(api_client, "ana", DEFAULT_PASSWORD, address="10.1.2.4").status_code == 200


def test_the_login_page_says_why_it_refuses(limits):
    make_user("ana")
    make_user("bob")
    browser = Client()
    for _ in range(3):
        page = browser.post("/login/", {"username": "ana", "password": "wrong"})
        assert "did not match" in page.content.decode()
    refused = browser.post("/login/", {"username": "ana", "password": DEFAULT_PASSWORD})
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    text = refused.content.decode()
    assert "Too many login attempts. Try again in 10 minutes." in text
    assert "did not match" not in text
    assert browser.get("/").status_code == 302  # still not logged in
    welcomed = browser.post("/login/", {"username": "bob", "password": DEFAULT_PASSWORD}, follow=True)
    assert '<span class="who">bob</span>' in welcomed.content.decode()


def test_admin_login_is_throttled_too(api_client, limits):
    make_user("root", is_admin=True)
    for _ in range(3):
        obtain(api_client, "root", "wrong")
    browser = Client()
    browser.post("/admin/login/", {"username": "root", "password": DEFAULT_PASSWORD, "next": "/admin/"})
    assert browser.get("/admin/").status_code == 302  # refused: still sent to the login form


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_wrong_passwords_let_exactly_the_limit_reach_the_password_check(tmp_path):
    ana = make_user("ana")
    # The shipped server checks passwords with the production hasher, not the suite's fast one.
    hasher = PBKDF2PasswordHasher()
    ana.password = hasher.encode(DEFAULT_PASSWORD, hasher.salt())
    ana.save(update_fields=["password"])
    env = {
        "QUERYBASE_LOGIN_FAILURES_PER_ACCOUNT": "5",
        "QUERYBASE_LOGIN_FAILURES_PER_ADDRESS": "1000",
        "QUERYBASE_LOGIN_LOCKOUT_SECONDS": "600",
        # Two processes of 25 threads: all fifty are answered in parallel.
        "QUERYBASE_WEB_WORKERS": "2",
        "QUERYBASE_WEB_THREADS": "25",
    }
    with shipped_server(tmp_path / "web.log", env=env) as base:
        session = requests.Session()
        session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=50))
        right = {"username": "ana", "password": DEFAULT_PASSWORD}
        # The password is right (and a right one leaves no trace in the count).
        assert session.post(f"{base}/api/v1/auth/token", json=right, timeout=60).status_code == 200
        start = threading.Barrier(50)

        def guess(index: int) -> requests.Response:
            start.wait()  # all fifty leave together
            body = {"username": "ana", "password": f"guess-{index}"}
            return session.post(f"{base}/api/v1/auth/token", json=body, timeout=120)

        with ThreadPoolExecutor(max_workers=50) as pool:
            statuses = [response.status_code for response in pool.map(guess, range(50))]
        assert (statuses.count(401), statuses.count(429)) == (5, 45)
        # Only the five admitted reached the password check, each recorded as a failed login.
        assert AuditEvent.objects.filter(action="auth.login_failed", actor_username="ana").count() == 5
        refused = session.post(f"{base}/api/v1/auth/token", json=right, timeout=60)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "too_many_login_attempts"
    assert error["message"] == "Too many login attempts. Try again in 10 minutes."
    assert 0 < int(refused.headers["Retry-After"]) <= 600
