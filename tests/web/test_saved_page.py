"""The Saved page: search, rename and delete in real dialogs, sharing and the share link
with a Copy button, all without reloading the page."""

import pytest

from apps.queries.models import SavedQuery
from apps.queries.saved_queries import save_query
from tests.support.factories import make_group
from tests.web.accessibility import assert_accessible
from tests.web.conftest import log_in, screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


def mark_page(page) -> None:
    """A flag on the window: still there later only if the page was never reloaded."""
    page.evaluate("window.__sameDocument = true")


def same_page(page) -> bool:
    return page.evaluate("window.__sameDocument === true")


@pytest.fixture
def three_saved(shop):
    shop.analyst.groups.add(make_group("finance"))
    for name, sql in (
        ("Delivered orders", "SELECT count(*) FROM orders WHERE status = 'delivered'"),
        ("Customers by country", "SELECT country, count(*) FROM customers GROUP BY country"),
        ("Top products", "SELECT name FROM products ORDER BY price DESC LIMIT 10"),
    ):
        save_query(shop.analyst, fields={"name": name, "datasource": shop.source, "sql": sql})
    return shop


def test_search_finds_by_name_and_by_sql(page, three_saved):
    log_in(page, "ana")
    page.goto("/saved/")
    rows = page.locator("#saved-list tr[data-id]:visible")
    assert rows.count() == 3
    page.fill("#saved-search", "country")
    assert rows.all_inner_texts()[0].startswith("Customers by country")
    assert rows.count() == 1
    page.fill("#saved-search", "price desc")  # words of the SQL, in any case
    assert [text.split("\n")[0] for text in rows.all_inner_texts()] == ["Top products"]
    assert page.inner_text("#saved-count") == "1 of 3 saved queries match."
    page.fill("#saved-search", "nothing like this")
    assert rows.count() == 0 and page.is_visible("#saved-no-match")
    assert_accessible(page, "saved page, no match")


def test_rename_share_copy_revoke_and_delete_without_a_reload(page, three_saved):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    log_in(page, "ana")
    page.goto("/saved/")
    mark_page(page)
    row = page.locator("#saved-list tr[data-id]", has_text="Top products")

    row.locator("button.rename").click()
    page.wait_for_selector("#rename-dialog[open]")
    assert page.input_value("#rename-input") == "Top products"
    assert_accessible(page, "rename dialog")
    page.fill("#rename-input", "Most expensive products")
    page.click("#rename-save")
    page.wait_for_selector("#rename-dialog:not([open])", state="attached")
    row = page.locator("#saved-list tr[data-id]", has_text="Most expensive products")
    assert row.count() == 1
    assert SavedQuery.objects.filter(name="Most expensive products").exists()

    row.locator("details.share summary").click()
    row.locator("input[data-name=finance]").check()
    row.locator("form.share-groups button[type=submit]").click()
    row.locator(".group-chips .chip", has_text="finance").wait_for()
    row.locator("button.link-create").click()
    row.locator(".copy-link").wait_for(state="visible")
    link = row.locator(".share-url").input_value()
    token = SavedQuery.objects.get(name="Most expensive products").share_token
    assert link.endswith(f"/shared/{token}/")
    row.locator(".copy-link").click()
    row.locator(".copy-link", has_text="Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == link
    screenshot(page, "saved-link-copied")

    row.locator("button.unlink").click()
    row.locator(".share-link-box").wait_for(state="hidden")
    assert row.locator("button.link-create").is_visible()
    assert SavedQuery.objects.get(name="Most expensive products").share_token in ("", None)

    row.locator("button.delete").click()
    page.wait_for_selector("#delete-dialog[open]")
    assert "Most expensive products" in page.inner_text("#delete-dialog")
    page.click("#delete-dialog button[value=cancel]")
    assert SavedQuery.objects.filter(name="Most expensive products").exists()
    row.locator("button.delete").click()
    page.click("#delete-confirm")
    row.wait_for(state="detached")
    assert not SavedQuery.objects.filter(name="Most expensive products").exists()
    assert page.locator("#saved-list tr[data-id]").count() == 2
    assert same_page(page)
