"""404, 403 and 500 pages of the dashboard: styled, with the navigation and ways on; the
API keeps its JSON errors."""

import re

import pytest
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory
from django.views import defaults

from tests.support.factories import make_user
from tests.web.accessibility import assert_accessible
from tests.web.conftest import log_in, screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


def test_a_missing_page_is_styled_and_leads_on(page, shop):
    log_in(page, "ana")
    response = page.goto("/no-such-page/")
    assert response.status == 404
    assert page.inner_text("h1") == "Page not found"
    assert page.is_visible(".mainnav a[href='/history/']")  # the site's own navigation
    assert_accessible(page, "404 page")
    screenshot(page, "error-404")
    page.click("#error-page >> text=Go to the workspace")
    page.wait_for_selector("#schema li.table")


def test_a_request_nobody_may_see_is_the_same_404_page(page, shop):
    log_in(page, "ana")
    response = page.goto("/approvals/999999")
    assert response.status == 404
    assert page.inner_text("h1") == "Page not found"


def test_the_api_still_answers_json(client):
    response = client.get("/api/v1/no-such-endpoint")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("render", "status", "title"),
    [
        (lambda request: defaults.permission_denied(request, PermissionDenied()), 403, "Not allowed"),
        (defaults.server_error, 500, "Something went wrong on our side"),
    ],
)
def test_403_and_500_pages_are_styled_and_lead_on(render, status, title):
    request = RequestFactory().get("/somewhere/")
    request.user = make_user("viewer")
    response = render(request)
    body = response.content.decode()
    assert response.status_code == status
    assert f"<h1>{title}</h1>" in body
    assert 'href="/"' in body and 'href="/history/"' in body
    # The dashboard's own style, not a bare page (under its hashed name once collected).
    assert re.search(r"/static/querybase/app(\.[0-9a-f]{12})?\.css", body)
