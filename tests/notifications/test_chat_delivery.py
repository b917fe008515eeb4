"""Google Chat cards: posted by the worker to a real local HTTP server, retried with backoff."""

import time

import pytest

from apps.notifications.chat import webhook_allowed
from apps.notifications.models import Notification
from tests.support.webhook import RecordingWebhook

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


def wait_for_delivery(status: str = "sent", timeout: float = 30) -> Notification:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        notification = Notification.objects.filter(channel="google_chat").first()
        if notification is not None and notification.status == status:
            return notification
        time.sleep(0.1)
    raise AssertionError(f"no Chat notification reached {status}")


def test_new_request_posts_a_card(team):
    with RecordingWebhook() as chat:
        team.source.chat_webhook_url = chat.url
        team.source.save()
        request_id = team.request_write("DELETE FROM ledger", reason="reset <b>test</b> data")["id"]
        notification = wait_for_delivery()
    assert notification.attempts == 1
    assert len(chat.requests) == 1
    card = chat.requests[0]["json"]["cardsV2"][0]
    assert card["cardId"] == f"approval-request-{request_id}"
    header = card["card"]["header"]
    assert header["title"] == f"Write request #{request_id} on pg"
    assert header["subtitle"] == f"by {team.analyst.username} · risk HIGH"
    widgets = [w for section in card["card"]["sections"] for w in section["widgets"]]
    texts = [w.get("decoratedText", {}).get("text") or w.get("textParagraph", {}).get("text", "") for w in widgets]
    assert "pg" in texts and "HIGH" in texts
    assert any("reset &lt;b&gt;test&lt;/b&gt; data" in text for text in texts)  # user text is escaped
    assert any("DELETE FROM ledger" in text for text in texts)
    button = widgets[-1]["buttonList"]["buttons"][0]
    assert button["onClick"]["openLink"]["url"].endswith(f"/approvals/{request_id}")
    assert "approve" not in str(card).lower().replace("approval", "")  # no decision buttons in chat


def test_failed_deliveries_are_retried_with_backoff_and_visible(team):
    with RecordingWebhook() as chat:
        chat.fail_next(2)
        team.source.chat_webhook_url = chat.url
        team.source.save()
        started = time.monotonic()
        team.request_write("DELETE FROM ledger WHERE id = 1")
        notification = wait_for_delivery(timeout=60)
        took = time.monotonic() - started
    assert notification.attempts == 3
    assert len(chat.requests) == 3
    assert notification.last_error == ""
    # Backoff of 1 s, then 2 s (QUERYBASE_NOTIFY_RETRY_BASE_SECONDS=1 in tests). A lower
    # bound only: a busy machine makes this longer, never shorter, so it cannot flake.
    assert took >= 1 + 2


def test_a_delivery_that_keeps_failing_ends_failed_with_its_error(team):
    from apps.notifications import services

    with RecordingWebhook() as chat:
        chat.fail_next(100)
        notification = services.post_to_chat(chat.url, event="test", title="t", payload={"text": "x"})
        services.deliver(notification.pk, final_attempt=True)
    notification.refresh_from_db()
    assert notification.status == "failed"
    assert notification.last_error.startswith("HTTP 503")


def test_webhooks_outside_the_allowlist_are_never_called(team, settings):
    assert webhook_allowed("https://chat.googleapis.com/v1/spaces/x/messages?key=1")
    assert not webhook_allowed("https://chat.googleapis.com.evil.example/x")
    assert not webhook_allowed("http://chat.googleapis.com/x")  # https only for Google
    assert not webhook_allowed("https://169.254.169.254/latest/meta-data")
    assert not webhook_allowed("not a url")
    from apps.notifications import services

    notification = services.post_to_chat("https://10.0.0.1/hook", event="test", title="t", payload={})
    notification.refresh_from_db()
    assert notification.status == "failed"
    assert "ALLOWLIST" in notification.last_error


def test_datasource_webhook_must_be_allowed(admin_client, team):
    response = admin_client.patch(
        f"/api/v1/datasources/{team.source.pk}", {"chat_webhook_url": "https://evil.example/hook"}, format="json"
    )
    assert response.status_code == 400
    assert "chat_webhook_url" in response.json()["error"]["details"]
