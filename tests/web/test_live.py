"""The dashboard follows a request live (GET /api/v1/events): the requester's open page
shows the approver arriving, the decision, the execution and the bell without a reload."""

import re

import pytest
from playwright.sync_api import expect

from apps.notifications.models import Notification
from tests.support.factories import client_for
from tests.web.conftest import log_in, screenshot, watch_for_csp_violations

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


@pytest.fixture
def two_browsers(browser, live_server):
    contexts, errors, violations = [], [], []
    pages = []
    for _ in range(2):
        context = browser.new_context(viewport={"width": 1300, "height": 900}, base_url=live_server.url)
        violations.append(watch_for_csp_violations(context))
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        contexts.append(context)
        pages.append(page)
    yield pages
    for context in contexts:
        context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"
    assert violations == [[], []], f"Content-Security-Policy violations: {violations}"


def test_the_requesters_page_follows_presence_decision_and_execution_live(two_browsers, shop):
    analyst, approver = two_browsers
    response = client_for(shop.analyst).post(
        "/api/v1/queries",
        {"datasource": shop.source.pk, "sql": "DELETE FROM order_items WHERE order_id = 2", "reason": "test order"},
        format="json",
    )
    request_id = response.json()["approval"]["id"]

    log_in(analyst, "ana")
    analyst.goto(f"/approvals/{request_id}")
    expect(analyst.locator("#approval-status")).to_have_text("pending")
    expect(analyst.locator("#unread-count")).to_be_hidden()

    log_in(approver, "pat")
    approver.goto(f"/approvals/{request_id}")
    # Each sees the other: the approver may still decide, so "reviewing".
    expect(analyst.locator("#presence")).to_have_text("pat is reviewing")
    expect(approver.locator("#presence")).to_have_text("ana is viewing")
    screenshot(analyst, "live-01-requester-sees-the-approver")

    analyst.evaluate("window.stillTheSamePage = true")
    approver.click("#approve")
    expect(analyst.locator("#approval-status")).to_have_text("succeeded", timeout=30_000)
    expect(analyst.locator("#timeline")).to_contain_text("pat approved it")
    expect(analyst.locator("#execution")).to_contain_text(re.compile(r"→ [\d,]+ rows?\b"))
    expect(analyst.locator("#waiting-note")).to_have_count(0)
    # The outcome reached the requester as a notification, which this page, open on the
    # request, has already shown: it is read, so the bell stays quiet.
    expect(analyst.locator("#unread-count")).to_be_hidden()
    outcome = Notification.objects.get(
        recipient=shop.analyst, channel="in_app", link=f"/approvals/{request_id}", event="approval.succeeded"
    )
    assert outcome.read_at is not None
    assert analyst.evaluate("window.stillTheSamePage") is True  # never reloaded
    screenshot(analyst, "live-02-requester-sees-the-outcome")

    # The approver leaves: the requester's page no longer lists them.
    approver.goto("/")
    expect(analyst.locator("#presence")).to_be_hidden()
