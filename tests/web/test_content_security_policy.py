"""Pages still work under their Content-Security-Policy (the headers themselves:
tests/security/test_pages_run_only_their_own_scripts.py). Every browser test fails on a
violation (conftest.watch_for_csp_violations): this module visits the pages no other test
does (the API docs, the admin's lists) and shows the watch catches an inline handler.
"""

import pytest

from tests.web.conftest import log_in, screenshot, watch_for_csp_violations

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_api_docs_render_from_this_origin(page, admin_user):
    log_in(page, admin_user.username, signed_in="text=Log out")
    loaded: list[str] = []
    page.on("request", lambda request: loaded.append(request.url))
    page.goto("/api/docs/")
    # Swagger UI's settings come as a script of their own, then the schema is read and drawn.
    page.wait_for_selector(".opblock-tag", timeout=30_000)
    assert page.locator(".opblock").count() > 10
    assert all(url.startswith(page.url.split("/api/")[0]) for url in loaded), loaded
    screenshot(page, "api-docs")


def test_the_admin_renders_its_lists_and_forms(page, admin_user, shop):
    log_in(page, admin_user.username, signed_in="text=Log out")
    sources = "/admin/datasources/datasource/"
    for path in ("/admin/", sources, f"{sources}{shop.source.pk}/change/"):
        page.goto(path)
        page.wait_for_selector("#content")
    page.wait_for_selector("#test-connection-box")
    # The box's style sheet is a file now: its border is drawn.
    assert page.locator("#test-connection-box").evaluate("box => getComputedStyle(box).borderTopStyle") == "solid"


def test_an_inline_handler_is_refused_and_the_watch_reports_it(browser, live_server, shop):
    context = browser.new_context(base_url=live_server.url)
    violations = watch_for_csp_violations(context)
    page = context.new_page()
    try:
        log_in(page, "ana")
        page.evaluate(
            """() => {
              document.body.insertAdjacentHTML("beforeend", '<img src="/missing.png" onerror="window.ran = true">');
              const script = document.createElement("script");
              script.textContent = "window.ran = true";
              document.body.append(script);
            }"""
        )
        page.wait_for_timeout(500)
        assert page.evaluate("window.ran") is None  # neither ran
    finally:
        context.close()
    assert any(violation.startswith("script-src-attr refused inline") for violation in violations), violations
    assert any(violation.startswith("script-src-elem refused inline") for violation in violations), violations
