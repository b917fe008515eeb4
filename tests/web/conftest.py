"""Headless Chromium (Debian's package) driven by Playwright, against the live test server."""

import os
import shutil
import time
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import sync_playwright

from apps.sandboxes.engines import copies_for
from apps.sandboxes.models import GoldenCopy, Sandbox
from tests.support.factories import DEFAULT_PASSWORD, grant, make_datasource, make_group, make_user

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
# between browser steps are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Chromium is not installed: `make test` installs Debian's chromium package.")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


# Every page of a context reports what its Content-Security-Policy refused, before any of
# its own scripts run: an inline script, style or handler added later fails the test that
# visits it, rather than silently doing nothing in production.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  // axe-core (tests/web/accessibility.py) adds style sheets of its own while it runs.
  if (window.qbAxeRunning) return;
  window.qbCspViolation(`${event.effectiveDirective} refused ${event.blockedURI || "inline"} `
    + `in ${event.documentURI} (${event.sourceFile || "the page"}:${event.lineNumber})`);
});
"""


def watch_for_csp_violations(context) -> list[str]:
    """The violations of the pages of `context` (a Playwright browser context), as they happen."""
    violations: list[str] = []
    context.expose_function("qbCspViolation", lambda violation: violations.append(violation))
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    return violations


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, base_url=live_server.url)
    violations = watch_for_csp_violations(context)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"
    assert violations == [], f"Content-Security-Policy violations: {violations}"


def wait_until(page, expression: str, timeout: float = 30) -> None:
    """Playwright's wait_for_function, without its eval(): that runs the expression through
    eval() in the page, which the page's Content-Security-Policy refuses (no 'unsafe-eval').
    Here the expression is part of the function evaluate sends (the browser's own, not
    subject to the policy), which checks it every frame for a second at a time. An
    expression that is a function is called."""
    check_for_a_second = f"""async () => {{
      const check = () => {{ const value = ({expression}); return typeof value === "function" ? value() : value; }};
      const until = performance.now() + 1000;
      do {{
        if (await check()) return true;
        await new Promise((resolve) => requestAnimationFrame(resolve));
      }} while (performance.now() < until);
      return false;
    }}"""
    deadline = time.monotonic() + timeout
    while not page.evaluate(check_for_a_second):
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout}s: {expression}")


# The results grid (Tabulator) draws rows as divs, and only those in view.
GRID_ROWS = "#grid .tabulator-row"


def grid_rows(page) -> list[list[str]]:
    """The text of each cell of each row drawn in the results grid."""
    page.wait_for_selector(GRID_ROWS)
    return page.locator(GRID_ROWS).evaluate_all(
        "rows => rows.map(row => [...row.querySelectorAll('.tabulator-cell')].map(cell => cell.textContent))"
    )


def grid_header(page) -> list[str]:
    """The column names of the results grid (without their types)."""
    return page.locator("#grid .tabulator-col-title").evaluate_all(
        "titles => titles.map(title => title.firstChild.textContent)"
    )


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def log_in(page, username: str, password: str = DEFAULT_PASSWORD, *, signed_in: str = "text=Log out") -> None:
    """Sign in through the login page; `signed_in` is what shows once in (on a small screen
    Log out sits behind Menu)."""
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_selector(signed_in)


def log_out(page) -> None:
    page.click("text=Log out")
    page.wait_for_url("**/login/")


class Shop:
    """A copy of the demo shop as a SQLite source, an analyst and an approver."""

    def __init__(self, shop_sqlite_path: Path):
        path = settings.QUERYBASE_SQLITE_ROOTS[0] / "e2e_shop.sqlite3"
        shutil.copyfile(shop_sqlite_path, path)
        self.path = path
        self.source = make_datasource("Shop", database=str(path), dry_run_enabled=True)
        analysts, approvers = make_group("analysts"), make_group("approvers")
        grant(analysts, self.source, read=True, write=True)
        grant(approvers, self.source, read=True, approve=True)
        self.analyst = make_user("ana", groups=(analysts,))
        self.approver = make_user("pat", groups=(approvers,))


@pytest.fixture
def shop(transactional_db, shop_sqlite_path):
    return Shop(shop_sqlite_path)


@pytest.fixture
def sandboxed_shop(shop):
    """The shop with sandboxes on and an empty pool (a sandbox is copied when asked for);
    every copy made is dropped at the end."""
    shop.source.sandbox_enabled = True
    shop.source.sandbox_pool_size = 0
    shop.source.save()
    yield shop
    for copy in [*Sandbox.objects.all(), *GoldenCopy.objects.all()]:
        copies_for(shop.source).drop(copy.database_name)
