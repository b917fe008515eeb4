"""Write requests in the browser: what a write does before it is sent, a required reason,
a rejection that says why, a typed confirmation for a high-risk approval, notifications read
on opening, the pending count, and sending a rejected request again."""

import pytest

from apps.approvals.creation import create_request
from apps.approvals.decisions import review_request
from apps.approvals.models import ApprovalRequest
from apps.notifications.models import Notification
from tests.web.accessibility import assert_accessible
from tests.web.conftest import log_in, log_out, screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


def set_sql(page, sql: str) -> None:
    page.evaluate("sql => window.qbEditor.setValue(sql)", sql)


def test_the_write_panel_shows_each_statement_and_a_reason_is_required(page, shop):
    log_in(page, "ana")
    page.wait_for_selector("#schema li.table")
    set_sql(page, "SELECT 1; UPDATE orders SET status = 'x'; DELETE FROM orders WHERE id = 1")
    page.click("#run")
    page.wait_for_selector("#write-panel:not([hidden])")
    rows = page.locator("#write-statements tbody tr")
    assert rows.count() == 3
    assert rows.nth(0).locator("td").nth(2).inner_text() == "read"
    assert rows.nth(1).locator("td").nth(2).inner_text() == "DML"
    assert rows.nth(1).locator("td").nth(3).inner_text().lower() == "high"  # UPDATE without WHERE
    assert rows.nth(1).locator("td").nth(4).inner_text() != ""  # the classifier's reasons
    assert rows.nth(2).locator("td").nth(2).inner_text() == "DML"
    assert_accessible(page, "the write panel")
    screenshot(page, "write-panel-statements")

    page.click("#request-approval")
    assert page.is_visible("#reason-error")
    assert page.get_attribute("#reason", "aria-invalid") == "true"
    assert page.evaluate("document.activeElement.id") == "reason"
    assert ApprovalRequest.objects.count() == 0

    page.fill("#reason", "Test orders from the load test")
    page.click("#request-approval")
    page.wait_for_url("**/approvals/*")
    assert ApprovalRequest.objects.get().reason == "Test orders from the load test"


def test_an_approver_sees_the_count_reads_the_notification_and_must_say_why_to_reject(page, shop):
    approval = create_request(
        shop.analyst, datasource_id=shop.source.pk, sql="DELETE FROM orders WHERE id = 1", reason="test order"
    )
    log_in(page, "pat")
    assert page.inner_text("#awaiting-count") == "1"
    assert page.get_by_role("link", name="Approvals 1 awaiting your review", exact=True).count() == 1
    assert page.inner_text("#unread-count") == "1"
    page.click("#nav-approvals")
    page.click(f"#approval-list a[href='/approvals/{approval.pk}'] >> nth=0")
    page.wait_for_selector("#review-form")
    # Opening the request read its notification: the bell no longer counts it.
    assert page.is_hidden("#unread-count")
    assert Notification.objects.get(recipient=shop.approver).read_at is not None
    assert page.inner_text("#expires dt") == "Expires"

    page.click("#reject")
    assert page.is_visible("#comment-error")
    assert page.evaluate("document.activeElement.id") == "comment"
    assert ApprovalRequest.objects.get(pk=approval.pk).status == "pending"
    page.fill("#comment", "Order 1 is a real order")
    page.click("#reject")
    page.wait_for_selector("#timeline li.reject")
    assert page.inner_text("#approval-status") == "rejected"
    assert page.locator("#expires").count() == 0  # no expiry once decided
    assert page.inner_text("#decided dt") == "Decided"
    assert page.locator("#awaiting-count").count() == 0
    assert_accessible(page, "a rejected request")


def test_approving_a_high_risk_write_takes_typing_its_number(page, shop):
    approval = create_request(shop.analyst, datasource_id=shop.source.pk, sql="DELETE FROM order_items", reason="reset")
    assert approval.risk == "high"
    log_in(page, "pat")
    page.goto(f"/approvals/{approval.pk}")
    page.click("#approve")
    page.wait_for_selector("#confirm-approve[open]")
    assert_accessible(page, "the high-risk confirmation")
    screenshot(page, "approve-high-risk-confirmation")
    assert page.is_disabled("#confirm-approve-button")
    page.fill("#confirm-id", str(approval.pk + 1))
    assert page.is_disabled("#confirm-approve-button")
    page.keyboard.press("Escape")  # closing the dialog approves nothing
    assert ApprovalRequest.objects.get(pk=approval.pk).status == "pending"

    page.click("#approve")
    page.fill("#confirm-id", str(approval.pk))
    page.click("#confirm-approve-button")
    page.wait_for_selector("#execution.succeeded", timeout=30_000)
    assert ApprovalRequest.objects.get(pk=approval.pk).status == "succeeded"


def test_a_low_risk_approval_needs_no_typing(page, shop):
    approval = create_request(
        shop.analyst, datasource_id=shop.source.pk, sql="DELETE FROM order_items WHERE id = 1", reason="dup"
    )
    assert approval.risk != "high"
    log_in(page, "pat")
    page.goto(f"/approvals/{approval.pk}")
    assert page.locator("#confirm-approve").count() == 0
    page.click("#approve")
    page.wait_for_selector("#execution.succeeded", timeout=30_000)


def test_the_requester_resubmits_or_reopens_a_rejected_request(page, shop):
    sql = "UPDATE orders SET status = 'cancelled' WHERE id = :id"
    rejected = create_request(
        shop.analyst, datasource_id=shop.source.pk, sql=sql, params={"id": 3}, reason="customer asked"
    )
    review_request(shop.approver, rejected.pk, decision="reject", comment="Which ticket?")
    log_in(page, "ana")
    page.goto(f"/approvals/{rejected.pk}")
    page.click("#resubmit")
    page.wait_for_selector("#resubmit-dialog[open]")
    assert page.input_value("#resubmit-reason") == "customer asked"
    assert_accessible(page, "the resubmit dialog")
    page.fill("#resubmit-reason", "")
    page.click("#resubmit-send")
    assert "reason is required" in page.inner_text("#resubmit-error")
    page.fill("#resubmit-reason", "Customer asked, ticket SUP-42")
    page.click("#resubmit-send")
    page.wait_for_url(lambda url: url.rstrip("/").endswith(f"/approvals/{rejected.pk + 1}"))
    again = ApprovalRequest.objects.get(pk=rejected.pk + 1)
    assert (again.sql, again.params, again.reason, again.status) == (
        sql,
        {"id": 3},
        "Customer asked, ticket SUP-42",
        "pending",
    )

    page.goto(f"/approvals/{rejected.pk}")
    page.click("#open-request-in-workspace")
    page.wait_for_selector("#param-fields [data-key=':id']")
    assert page.evaluate("window.qbEditor.getValue()") == sql
    assert page.input_value("#param-fields [data-key=':id'] input") == "3"
    log_out(page)


def test_each_executed_statement_says_what_it_did_in_words(page, shop):
    sql = "CREATE TABLE notes (id integer); INSERT INTO notes VALUES (1), (2)"
    approval = create_request(shop.analyst, datasource_id=shop.source.pk, sql=sql, reason="Notes for the team")
    review_request(shop.approver, approval.pk, decision="approve", comment="Fine")
    log_in(page, "ana")
    page.goto(f"/approvals/{approval.pk}")
    page.wait_for_selector("#execution.succeeded", timeout=30_000)
    create, insert = page.locator("#execution li").all_inner_texts()
    # SQLite counts no rows for a CREATE TABLE (the driver's -1): said in words, not "-1 row(s)".
    assert create.endswith("→ done (the database counts no rows for this statement)")
    assert insert.endswith("→ 2 rows")
    screenshot(page, "request-executed-statements")
