"""Every page carries a strict Content-Security-Policy: scripts, styles and the rest from
this origin only, nothing inline, never framed; anything that is not a page (the API's
JSON, the schema, the health check) gets one that allows nothing. That the pages still
work under it, and that no test page meets a violation, is checked in the browser
(tests/web/test_content_security_policy.py, tests/web/conftest.watch_for_csp_violations).
"""

import pytest

pytestmark = pytest.mark.django_db


NOT_A_PAGE = {"default-src": "'none'", "frame-ancestors": "'none'"}


def directives(header: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


@pytest.mark.parametrize("path", ["/login/", "/admin/login/", "/api/docs/", "/no-such-page/"])
def test_pages_allow_only_this_origin_and_nothing_inline(client, path):
    response = client.get(path)
    assert response["Content-Type"].startswith("text/html")
    policy = directives(response["Content-Security-Policy"])
    assert policy["script-src"] == policy["style-src"] == "'self'"
    assert (policy["default-src"], policy["object-src"], policy["frame-ancestors"]) == ("'self'", "'none'", "'none'")
    assert "unsafe" not in response["Content-Security-Policy"]


@pytest.mark.parametrize("path", ["/api/v1/auth/me", "/api/v1/no-such-endpoint", "/health", "/api/schema/"])
def test_what_is_not_a_page_may_load_nothing(admin_client, path):
    response = admin_client.get(path)
    assert not response["Content-Type"].startswith("text/html")
    assert directives(response["Content-Security-Policy"]) == NOT_A_PAGE
