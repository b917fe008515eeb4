"""Invariant 7: outbound webhooks go only where the allowlist says, checked with the
parser that sends.

Found by an outside review: `http://127.0.0.2:18398\\@127.0.0.1:18399/hook` passed a
check made with urllib's `urlsplit` (host 127.0.0.1) and was posted to 127.0.0.2 by
the HTTP client. Here a second local server listens on 127.0.0.2, outside the test
allowlist (`http://127.0.0.1`), and every hostile URL must leave it untouched: refused
when an admin saves it, and refused when a delivery is attempted.
"""

import pytest

from apps.notifications import services
from apps.notifications.exceptions import WebhookRefused
from apps.notifications.models import Notification
from apps.notifications.webhooks import post_json
from tests.support.factories import make_datasource
from tests.support.webhook import RecordingWebhook

pytestmark = pytest.mark.django_db


def hostile_urls(good: int, evil: int) -> list[str]:
    """Each is read as 127.0.0.1 (allowed) by some parser and as something else by another."""
    return [
        f"http://127.0.0.2:{evil}\\@127.0.0.1:{good}/hook",  # the reported one
        f"http://127.0.0.2:{evil}\\\\@127.0.0.1:{good}/hook",
        f"http://127.0.0.1:{good}@127.0.0.2:{evil}/",  # userinfo
        f"http://127.0.0.1@127.0.0.2:{evil}/",
        f"http://127.0.0.2:{evil}#@127.0.0.1:{good}/",  # fragment
        f"http://127.0.0.2:{evil}?@127.0.0.1:{good}/",
        f"http://127.0.0.2:{evil}\t@127.0.0.1:{good}/",  # tab
        f"http://127.0.0.2:{evil} @127.0.0.1:{good}/",  # space
        f"http://127.0.0.1:{good}/\r\nHost: 127.0.0.2",  # header injection
        f"http://127.0.0.2:{evil}\x00@127.0.0.1:{good}/",
        f"http://127.0.0.1%2f@127.0.0.2:{evil}/",  # percent-encoded host tricks
        f"http://127.0.0.1%40127.0.0.2:{evil}/",
        f"http://127%2E0%2E0%2E2:{evil}/",
        f"HTTP://127.0.0.1:{good}/hook",  # non-canonical: case, port, dot segments
        f"hTtP://127.0.0.2:{evil}/",
        f"http://127.0.0.1:0{good}/hook",
        f"http://127.0.0.1:{good}/a/../hook",
        f"http:/127.0.0.1:{good}/hook",
        f"http:127.0.0.1:{good}/hook",
        f"//127.0.0.1:{good}/hook",
        f"http://127.0.0.1.:{good}/hook",  # other spellings of an address
        f"http://127.2:{evil}/",
        f"http://2130706434:{evil}/",
        f"http://0x7f.0.0.2:{evil}/",
        f"http://0177.0.0.2:{evil}/",
        f"http://[::ffff:127.0.0.2]:{evil}/",
        f"http://[fe80::1%25lo]:{evil}/",  # IPv6 zone id
        f"http://127.0.0.\uff12:{evil}/",  # IDNA: a full-width 2
        f"http://\u2460\u2461\u2466.0.0.2:{evil}/",
        f"gopher://127.0.0.1:{good}/",
        "file:///etc/passwd",
        "",
    ]


@pytest.fixture
def servers():
    with RecordingWebhook("127.0.0.1") as good, RecordingWebhook("127.0.0.2") as evil:
        yield good, evil


def test_an_admin_cannot_save_a_hostile_webhook_url(admin_client, servers, shop_sqlite_path):
    good, evil = servers
    source = make_datasource("shop", database=str(shop_sqlite_path))
    for url in hostile_urls(good.port, evil.port):
        if not url:
            continue  # an empty URL means "no webhook"
        response = admin_client.patch(f"/api/v1/datasources/{source.pk}", {"chat_webhook_url": url}, format="json")
        assert response.status_code == 400, url
        assert response["Content-Type"] == "application/json"
        assert "chat_webhook_url" in response.json()["error"]["details"], url
    source.refresh_from_db()
    assert source.chat_webhook_url == ""
    saved = admin_client.patch(f"/api/v1/datasources/{source.pk}", {"chat_webhook_url": good.url}, format="json")
    assert saved.status_code == 200, saved.content


def test_hostile_urls_are_never_called(servers):
    good, evil = servers
    for url in hostile_urls(good.port, evil.port):
        # Queued through the service, as approvals do...
        queued = services.post_to_chat(url, event="test", title="t", payload={"text": "x"})
        queued.refresh_from_db()
        assert (queued.status, queued.attempts) == ("failed", 0), url
        assert queued.last_error, url
        # ...and a delivery stored before these rules existed, attempted now.
        if "\x00" in url:
            continue  # PostgreSQL text cannot hold it
        stored = Notification.objects.create(channel="google_chat", webhook_url=url, event="test", payload={})
        services.deliver(stored.pk, final_attempt=False)  # refused, not retried
        stored.refresh_from_db()
        assert (stored.status, stored.attempts) == ("failed", 1), url
    assert evil.requests == []
    assert good.requests == []


def test_the_allowed_url_still_delivers(servers):
    good, evil = servers
    notification = services.post_to_chat(good.url, event="test", title="t", payload={"text": "hello"})
    services.deliver(notification.pk, final_attempt=True)
    notification.refresh_from_db()
    assert (notification.status, notification.last_error) == ("sent", "")
    assert good.requests == [
        {"path": "/v1/spaces/test/messages?key=k&token=t", "host": f"127.0.0.1:{good.port}", "json": {"text": "hello"}}
    ]
    assert evil.requests == []


class FlippingResolver:
    """A DNS name that answers an allowed address once, then a different one."""

    def __init__(self, *answers: str):
        self.answers = list(answers)
        self.calls = 0

    def __call__(self, host, port, **kwargs):
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        return [(2, 1, 6, "", (answer, port))]


def test_the_request_goes_to_the_address_that_was_checked(servers, settings):
    good, evil = servers
    settings.QUERYBASE_WEBHOOK_ALLOWLIST = [*settings.QUERYBASE_WEBHOOK_ALLOWLIST, "http://hooks.example"]
    rebinding = FlippingResolver("127.0.0.1", "127.0.0.2")
    response = post_json(f"http://hooks.example:{good.port}/hook", {"n": 1}, timeout=5, resolver=rebinding)
    assert response.ok
    assert rebinding.calls == 1  # resolved once; no second lookup to rebind
    assert good.requests == [{"path": "/hook", "host": f"hooks.example:{good.port}", "json": {"n": 1}}]
    assert evil.requests == []


def test_an_allowed_name_resolving_to_an_address_nobody_allowed_is_refused(servers, settings):
    _, evil = servers
    settings.QUERYBASE_WEBHOOK_ALLOWLIST = [*settings.QUERYBASE_WEBHOOK_ALLOWLIST, "http://hooks.example"]
    with pytest.raises(WebhookRefused, match=r"resolves to 127\.0\.0\.2"):
        post_json(f"http://hooks.example:{evil.port}/hook", {}, timeout=5, resolver=FlippingResolver("127.0.0.2"))
    assert evil.requests == []
