"""A saved query shared by link, opened by whoever has the link, in headless Chromium."""

import pytest

from apps.queries.saved_queries import create_share_link, save_query
from tests.support.factories import make_group, make_user, reader
from tests.web.conftest import GRID_ROWS, log_in, screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

SQL = "SELECT name FROM customers WHERE country = :country ORDER BY id LIMIT 3"


def shared_link(shop) -> str:
    saved = save_query(
        shop.analyst,
        fields={"name": "By country", "datasource": shop.source, "sql": SQL, "default_params": {"country": "DE"}},
    )
    return f"/shared/{create_share_link(saved, user=shop.analyst).share_token}/"


def test_a_link_recipient_who_may_read_the_source_opens_the_query_itself(page, shop):
    link = shared_link(shop)
    reader("rea", shop.source)  # reads Shop through a group the owner is not in
    log_in(page, "rea")
    page.goto(link)
    assert page.locator("#access-notice").count() == 0
    page.click("#open-in-workspace")
    page.wait_for_selector("#param-fields [data-key=':country']")
    assert page.evaluate("window.qbEditor.getValue()") == SQL
    assert page.input_value("#param-fields [data-key=':country'] input") == "DE"
    page.click("#run")
    page.wait_for_selector(GRID_ROWS)
    assert page.locator(GRID_ROWS).count() >= 1
    screenshot(page, "shared-link-opened-by-a-reader")


def test_a_link_recipient_who_may_not_read_is_told_whom_to_ask(page, shop):
    link = shared_link(shop)
    admin = make_user("root", is_admin=True)
    admin.first_name, admin.last_name, admin.email = "Rosa", "Admin", "rosa@example.com"
    admin.save()
    make_user("nora", groups=(make_group("sales"),))
    log_in(page, "nora")

    page.goto(link)
    notice = page.inner_text("#access-notice")
    assert "You may not read Shop" in notice
    assert "Rosa Admin (rosa@example.com)" in notice
    href = page.get_attribute("#request-access", "href")
    assert href.startswith("mailto:rosa@example.com?subject=Read%20access%20to%20Shop")
    assert page.locator("#open-in-workspace").count() == 0
    screenshot(page, "shared-link-without-read-rights")

    # The workspace, if reached with the link all the same, says so too.
    page.goto("/?shared=" + link.split("/")[2])
    assert "You may not read Shop" in page.inner_text("#access-notice")


def test_a_revoked_link_says_so_in_the_workspace(page, shop):
    log_in(page, "ana")
    page.goto("/?shared=no-such-token")
    page.wait_for_selector("#open-missing")
    assert "may have been revoked" in page.inner_text("#open-missing")
