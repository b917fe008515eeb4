"""The Content-Security-Policy header of every response (django-csp's middleware).

Pages (the dashboard, the login page, the admin, the API docs, the error pages) get the
policy of CONTENT_SECURITY_POLICY in settings: scripts, styles, images, fonts and requests
from this origin only, and no inline script, inline style sheet or event handler at all,
so markup an attacker slips into a page runs nothing. Everything else (the API's JSON,
exports, the event stream, static files) is never a document that should load or run
anything, and gets `default-src 'none'; frame-ancestors 'none'`: a JSON answer opened in
a browser cannot be made to act as a page, nor be framed.
"""

from csp.constants import NONE
from csp.middleware import CSPMiddleware, PolicyParts
from django.http import HttpRequest
from django.http.response import HttpResponseBase

NOT_A_PAGE = {"default-src": [NONE], "frame-ancestors": [NONE]}


def is_page(response: HttpResponseBase) -> bool:
    return response.get("Content-Type", "").startswith("text/html")


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's, with NOT_A_PAGE for responses that are not HTML (the extension point
    its documentation names, `get_policy_parts`)."""

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if not report_only and parts.config is None and not is_page(response):
            parts.config = NOT_A_PAGE
        return parts
