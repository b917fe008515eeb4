"""What the workspace costs a browser: its first load, with an empty cache, transfers less
than 200 KiB, every asset minified, compressed, under a hashed name and cached for long.

Transferred bytes are the browser's own count (the DevTools protocol's encodedDataLength:
headers and bodies as they crossed the wire, compressed), summed over every request of the
load, API calls included."""

import re

import pytest

from tests.web.conftest import log_in, screenshot, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

FIRST_LOAD_BUDGET_BYTES = 200 * 1024
HASHED = re.compile(r"/static/.+\.[0-9a-f]{12}\.(js|css|svg)$")
ONE_YEAR_S = 365 * 24 * 3600


def test_the_workspace_first_load_is_light_and_its_assets_are_cached_for_long(page, shop):
    log_in(page, "ana")
    page.wait_for_selector("#schema li.table")

    # An empty cache, as on a first visit (the session cookie stays).
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.clearBrowserCache")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    transferred: dict[str, int] = {}
    urls: dict[str, str] = {}
    cdp.on("Network.requestWillBeSent", lambda event: urls.__setitem__(event["requestId"], event["request"]["url"]))
    cdp.on(
        "Network.loadingFinished",
        lambda event: transferred.__setitem__(event["requestId"], int(event["encodedDataLength"])),
    )
    responses = []
    page.on("response", lambda response: responses.append(response))

    page.goto("/")
    page.wait_for_selector("#schema li.table")
    wait_until(page, "document.querySelector('#verdict').textContent !== ''")
    page.wait_for_load_state("networkidle")
    total = sum(transferred.values())
    by_url = sorted(((size, urls.get(request, "?")) for request, size in transferred.items()), reverse=True)
    print(f"workspace first load: {total / 1024:.1f} KiB in {len(transferred)} requests")
    for size, url in by_url:
        print(f"  {size / 1024:8.1f} KiB  {url}")
    screenshot(page, "workspace-first-load")
    assert total < FIRST_LOAD_BUDGET_BYTES, by_url

    assets = [response for response in responses if "/static/" in response.url]
    assert {re.sub(r"\.[0-9a-f]{12}\.", ".", a.url.rsplit("/", 1)[1]) for a in assets} >= {
        "app.css",
        "api.js",
        "workspace.js",
    }
    for asset in assets:
        assert HASHED.search(asset.url), f"{asset.url} is not served under a hashed name"
        headers = asset.headers
        max_age = int(re.search(r"max-age=(\d+)", headers["cache-control"]).group(1))
        assert max_age >= ONE_YEAR_S and "immutable" in headers["cache-control"], (asset.url, headers)
        if not asset.url.endswith(".svg"):  # the icon is smaller than a compressed copy would gain
            assert headers.get("content-encoding") in {"gzip", "br"}, (asset.url, headers)

    # Minified: the bundle is a few long lines, not the source's thousands.
    bundle = next(asset for asset in assets if "/workspace." in asset.url)
    assert bundle.text().count("\n") < 50


def test_a_bundle_loaded_on_first_use_comes_hashed_too(page, shop):
    log_in(page, "ana")
    page.wait_for_selector("#schema li.table")
    with page.expect_response(re.compile(r"workspace-format\.[0-9a-f]{12}\.js$")) as loaded:
        page.click("#format")
    assert "immutable" in loaded.value.headers["cache-control"]
