"""Dashboard pages: server-rendered shells; actions go through the REST API (session auth)."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render

from apps.accounts import policy
from apps.approvals import selectors as approval_selectors
from apps.approvals.models import ApprovalStatus
from apps.approvals.notify import request_path
from apps.datasources.access import Action, rights_by_datasource
from apps.datasources.models import DataSource
from apps.notifications import services as notifications
from apps.queries import saved_queries, selectors
from apps.queries.models import QueryRun
from querybase.errors import QueryBaseError

PAGE_SIZE = 50
REOPENABLE = (ApprovalStatus.REJECTED, ApprovalStatus.EXPIRED, ApprovalStatus.CANCELLED, ApprovalStatus.FAILED)


def _sources_for(user) -> list[dict]:
    """Sources the user may query (read, or request writes), with their rights, for the picker."""
    rights = rights_by_datasource(user)
    usable = {pk: actions for pk, actions in rights.items() if {Action.READ, Action.WRITE} & actions}
    return [
        {
            "id": source.pk,
            "name": source.name,
            "engine": source.engine,
            "can_read": Action.READ in usable[source.pk],
            "can_write": Action.WRITE in usable[source.pk],
        }
        for source in DataSource.objects.filter(pk__in=usable).order_by("name")
    ]


@login_required
def workspace(request):
    opening = selectors.query_to_open(
        request.user,
        run_id=request.GET.get("run"),
        saved_id=request.GET.get("saved"),
        share_token=request.GET.get("shared"),
        request_id=request.GET.get("request"),
    )
    context = {"sources": _sources_for(request.user), "initial": opening.initial, "opening": opening}
    return render(request, "web/workspace.html", {**context, "nav": "workspace"})


@login_required
def history(request):
    filters = selectors.HistoryFilter(request.GET, queryset=selectors.history_for(request.user))
    page = Paginator(filters.qs if filters.is_valid() else QueryRun.objects.none(), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "web/history.html",
        {
            "page": page,
            "filters": filters,
            "sources": _sources_for(request.user),
            # Admins see everyone's runs: whose each is, and a filter by user.
            "show_users": policy.is_admin(request.user),
            "usernames": selectors.usernames_in_history(request.user),
            "nav": "history",
        },
    )


@login_required
def saved(request):
    queries = selectors.saved_queries_for(request.user)
    return render(
        request,
        "web/saved.html",
        {"queries": queries, "groups": request.user.groups.order_by("name"), "nav": "saved"},
    )


@login_required
def shared(request, token: str):
    try:
        query = saved_queries.saved_query_by_token(token)
    except QueryBaseError as error:
        raise Http404(error.message) from error
    access = selectors.source_access(request.user, query.datasource)
    return render(request, "web/shared.html", {"query": query, "access": access, "nav": "saved"})


@login_required
def approvals_inbox(request):
    tab = request.GET.get("tab", "awaiting")
    if tab == "awaiting":
        requests_ = approval_selectors.awaiting_review_by(request.user)
    elif tab == "mine":
        requests_ = approval_selectors.visible_requests(request.user).filter(requester=request.user)
    else:
        tab = "all"
        requests_ = approval_selectors.visible_requests(request.user)
    page = Paginator(requests_.order_by("-created_at"), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "web/approvals.html", {"page": page, "tab": tab, "nav": "approvals"})


@login_required
def approval_detail(request, request_id: int):
    try:
        approval = approval_selectors.get_request(request.user, request_id)
    except QueryBaseError as error:
        raise Http404(error.message) from error
    # Opening the request is reading what the notifications about it said.
    notifications.mark_read_about(request.user, link=request_path(approval.pk))
    reviews = list(approval.reviews.select_related("reviewer"))
    pending = approval.status == ApprovalStatus.PENDING
    context = {
        "approval": approval,
        "reviews": reviews,
        "approvals_count": policy.counted_approvals(approval).count(),
        "may_review": policy.may_review(request.user, approval),
        "may_dry_run": policy.may_dry_run(request.user, approval),
        "may_cancel": pending and policy.may_cancel_request(request.user, approval),
        "is_requester": approval.requester_id == request.user.pk,
        # Ended without running: the requester may send it again, or edit it first.
        "reopenable_statuses": REOPENABLE,
        "resubmission": {"datasource": approval.datasource_id, "sql": approval.sql, "params": approval.params},
        "nav": "approvals",
    }
    return render(request, "web/approval_detail.html", context)


@login_required
def notifications_page(request):
    page = Paginator(notifications.inbox(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "web/notifications.html", {"page": page, "nav": "notifications"})
