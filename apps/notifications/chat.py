"""Google Chat: the cardsV2 card for a new request, and where cards may be posted."""

import html
from urllib.parse import urlsplit

from django.conf import settings

from apps.queries import invisible

SQL_EXCERPT_CHARS = 600


def webhook_allowed(url: str) -> bool:
    """Only URLs whose scheme and host (and port, when the entry names one) match an entry
    of QUERYBASE_WEBHOOK_ALLOWLIST: no server-side request to anywhere else."""
    try:
        target = urlsplit(url)
        target_port = target.port
    except ValueError:
        return False
    if not target.hostname:
        return False
    for entry in settings.QUERYBASE_WEBHOOK_ALLOWLIST:
        allowed = urlsplit(entry)
        if (allowed.scheme, allowed.hostname) != (target.scheme, target.hostname):
            continue
        if allowed.port is None or allowed.port == target_port:
            return True
    return False


def request_card(
    *, request_id: int, datasource: str, requester: str, risk: str, sql: str, reason: str, link: str
) -> dict:
    """The card approvers see. It only links to the request page: decisions are taken
    there, after login, never by a button in the chat (a forwarded card approves nothing)."""
    shown = invisible.reveal(sql)  # a hidden character must not hide anything in the card either
    excerpt = shown if len(shown) <= SQL_EXCERPT_CHARS else shown[:SQL_EXCERPT_CHARS] + "…"
    return {
        "cardsV2": [
            {
                "cardId": f"approval-request-{request_id}",
                "card": {
                    "header": {
                        "title": f"Write request #{request_id} on {datasource}",
                        "subtitle": f"by {requester} · risk {risk.upper()}",
                    },
                    "sections": [
                        {
                            "widgets": [
                                {"decoratedText": {"topLabel": "Data source", "text": html.escape(datasource)}},
                                {"decoratedText": {"topLabel": "Requested by", "text": html.escape(requester)}},
                                {"decoratedText": {"topLabel": "Risk", "text": html.escape(risk.upper())}},
                                {"textParagraph": {"text": f"<b>Reason:</b> {html.escape(reason or '(none given)')}"}},
                            ]
                        },
                        {
                            "header": "SQL",
                            "widgets": [
                                {"textParagraph": {"text": f'<font color="#444444">{html.escape(excerpt)}</font>'}}
                            ],
                        },
                        {
                            "widgets": [
                                {
                                    "buttonList": {
                                        "buttons": [
                                            {"text": "Open the request", "onClick": {"openLink": {"url": link}}}
                                        ]
                                    }
                                }
                            ]
                        },
                    ],
                },
            }
        ]
    }
