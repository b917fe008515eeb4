"""Who hears about a request, and when: approvers on creation, the requester on each
decision and on the execution result."""

from django.conf import settings
from django.contrib.auth.models import User

from apps.approvals.models import ApprovalRequest
from apps.notifications.chat import request_card
from apps.notifications.services import notify_in_app, post_to_chat


def request_path(request_id: int) -> str:
    return f"/approvals/{request_id}"


def request_link(request_id: int) -> str:
    return settings.QUERYBASE_BASE_URL.rstrip("/") + request_path(request_id)


def notify_new_request(approval: ApprovalRequest, approvers) -> None:
    source = approval.datasource.name
    requester = approval.requester.get_username()
    title = f"Write request #{approval.pk} on {source} awaits your review"
    notify_in_app(
        approvers,
        event="approval.created",
        title=title,
        body=f"{requester} ({approval.risk} risk): {approval.reason or 'no reason given'}",
        link=request_path(approval.pk),
    )
    webhook = approval.datasource.chat_webhook_url or settings.QUERYBASE_CHAT_WEBHOOK_URL
    if webhook:
        card = request_card(
            request_id=approval.pk,
            datasource=source,
            requester=requester,
            risk=approval.risk,
            sql=approval.sql,
            reason=approval.reason,
            link=request_link(approval.pk),
        )
        post_to_chat(webhook, event="approval.created", title=title, payload=card, link=request_link(approval.pk))


_DECISION_WORDS = {"approve": "approved", "reject": "rejected", "expire": "expired"}


def notify_decision(approval: ApprovalRequest, *, reviewer: User | None, decision: str, comment: str) -> None:
    who = reviewer.get_username() if reviewer is not None else "QueryBase"
    body = f"Now {approval.status}." + (f" Comment: {comment}" if comment else "")
    notify_in_app(
        [approval.requester],
        event=f"approval.{_DECISION_WORDS[decision]}",
        title=f"{who} {_DECISION_WORDS[decision]} your request #{approval.pk}",
        body=body,
        link=request_path(approval.pk),
    )


def notify_executed(approval: ApprovalRequest) -> None:
    outcome = "ran successfully" if approval.status == "succeeded" else "failed"
    notify_in_app(
        [approval.requester],
        event=f"approval.{approval.status}",
        title=f"Your request #{approval.pk} {outcome}",
        body=approval.error_message,
        link=request_path(approval.pk),
    )
