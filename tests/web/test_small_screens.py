"""The dashboard on a phone (390 x 844): no page is wider than the screen, the navigation
collapses behind Menu, the workspace's sidebar is a drawer, wide tables scroll in their box.
At 1440 x 900 the navigation stays open."""

import pytest

from apps.approvals.creation import create_request
from apps.queries.saved_queries import create_share_link, save_query
from tests.web.conftest import GRID_ROWS, screenshot, watch_for_csp_violations
from tests.web.conftest import log_in as wide_log_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}


@pytest.fixture
def phone(browser, live_server):
    context = browser.new_context(viewport=PHONE, base_url=live_server.url, is_mobile=True, has_touch=True)
    violations = watch_for_csp_violations(context)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"
    assert violations == [], f"Content-Security-Policy violations: {violations}"


def log_in(page, username: str) -> None:
    wide_log_in(page, username, signed_in="#nav-toggle")


def overflow(page) -> int:
    """How many pixels the page is wider than the screen (0: no sideways scrolling)."""
    return page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")


def open_menu(page) -> None:
    page.click("#nav-toggle")
    page.wait_for_selector("#site-nav.open")


def test_no_page_is_wider_than_a_phone(phone, shop):
    long_sql = "SELECT " + ", ".join(f"very_long_column_name_number_{i}" for i in range(30)) + " FROM customers"
    saved = save_query(shop.analyst, fields={"name": "Wide one", "datasource": shop.source, "sql": long_sql})
    create_share_link(saved, user=shop.analyst)
    request = create_request(
        shop.analyst, datasource_id=shop.source.pk, sql="DELETE FROM orders WHERE id = 1", reason="x" * 300
    )
    page = phone
    page.goto("/login/")
    assert overflow(page) <= 0, "login"
    log_in(page, "ana")
    page.wait_for_selector("#schema li.table", state="attached")
    page.evaluate("sql => window.qbEditor.setValue(sql)", "SELECT * FROM orders")
    page.click("#run")
    page.wait_for_selector(GRID_ROWS)
    assert overflow(page) <= 0, "workspace with a result"
    # The result's wide table scrolls inside its own box.
    assert page.eval_on_selector("#grid .tabulator-tableholder", "box => box.scrollWidth > box.clientWidth")
    screenshot(page, "phone-workspace-result")
    for path in (
        "/history/",
        "/saved/",
        f"/shared/{saved.share_token}/",
        "/approvals/?tab=mine",
        f"/approvals/{request.pk}",
        "/notifications/",
        "/no-such-page/",
    ):
        page.goto(path)
        assert overflow(page) <= 0, path
        screenshot(page, "phone" + path.replace("/", "-").replace("?", "-").rstrip("-"))


def test_the_navigation_collapses_behind_menu_on_a_phone(phone, shop):
    page = phone
    log_in(page, "ana")
    assert page.is_hidden(".mainnav a[href='/history/']")
    assert page.get_attribute("#nav-toggle", "aria-expanded") == "false"
    open_menu(page)
    assert page.get_attribute("#nav-toggle", "aria-expanded") == "true"
    screenshot(page, "phone-menu-open")
    page.click(".mainnav a[href='/history/']")
    page.wait_for_url("**/history/")
    assert page.is_hidden(".mainnav a[href='/saved/']")  # a new page starts with it closed
    open_menu(page)
    page.keyboard.press("Tab")
    page.keyboard.press("Escape")
    assert page.is_hidden("#site-nav")
    assert page.evaluate("document.activeElement.id") == "nav-toggle"


def test_the_workspace_sidebar_is_a_drawer_on_a_phone(phone, shop):
    page = phone
    log_in(page, "ana")
    page.wait_for_selector("#schema li.table", state="attached")
    assert page.is_hidden("#sidebar")
    # The editor has the screen's width, not what a 280 px sidebar would leave.
    assert page.eval_on_selector(".cm-editor", "e => e.getBoundingClientRect().width") >= 330
    page.click("#drawer-toggle")
    page.wait_for_selector("#sidebar.open")
    assert page.is_visible("#schema li.table[data-table=customers]")
    screenshot(page, "phone-drawer-open")
    page.evaluate("window.qbEditor.setValue('')")
    page.click("#schema li.table[data-table=customers] .table-name")
    page.click("#schema li.table[data-table=customers] .column >> nth=0")
    assert page.is_hidden("#sidebar")  # picking a column closes the drawer over the editor
    assert page.evaluate("window.qbEditor.getValue()") == "id"


def test_on_a_wide_screen_the_navigation_and_sidebar_stay_open(browser, live_server, shop):
    context = browser.new_context(viewport=DESKTOP, base_url=live_server.url)
    violations = watch_for_csp_violations(context)
    page = context.new_page()
    try:
        wide_log_in(page, "ana")
        page.wait_for_selector("#schema li.table")
        assert page.is_hidden("#nav-toggle") and page.is_hidden("#drawer-toggle")
        assert page.is_visible(".mainnav a[href='/history/']") and page.is_visible("#sidebar")
        for path in ("/", "/history/", "/saved/", "/approvals/", "/notifications/"):
            page.goto(path)
            assert overflow(page) <= 0, path
        screenshot(page, "desktop-notifications")
    finally:
        context.close()
    assert violations == [], f"Content-Security-Policy violations: {violations}"
