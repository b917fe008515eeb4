"""Dashboard pages: server-rendered shells; actions go through the REST API (session auth)."""

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.shortcuts import render
from django.templatetags.static import static

from apps.accounts import policy
from apps.approvals import policy as request_policy
from apps.approvals import selectors as approval_selectors
from apps.approvals.models import ApprovalStatus
from apps.approvals.notify import request_path
from apps.audit_search import reports
from apps.audit_search.exceptions import AuditSearchUnavailable
from apps.datasources.access import Action, rights_by_datasource
from apps.datasources.models import DataSource
from apps.notifications import services as notifications
from apps.queries import saved_queries, selectors
from apps.queries.exceptions import SharedQueryNotReadable
from apps.queries.models import QueryRun
from apps.web.forms import AuditSearchForm
from querybase.errors import QueryBaseError
from querybase.types import SignedInHttpRequest

PAGE_SIZE = 50
REOPENABLE = (ApprovalStatus.REJECTED, ApprovalStatus.EXPIRED, ApprovalStatus.CANCELLED, ApprovalStatus.FAILED)


def _sources_for(user: User) -> list[dict]:
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
            # A reader of a source with sandboxes gets "<source> — my sandbox" in the picker.
            "sandbox": source.sandbox_enabled and Action.READ in usable[source.pk],
        }
        for source in DataSource.objects.filter(pk__in=usable).order_by("name")
    ]


def favicon(request: HttpRequest) -> HttpResponseRedirect:
    """/favicon.ico, which browsers ask for on pages that name no icon (Django admin's,
    the API docs'): the site's icon, under its hashed name. Not a permanent redirect:
    the name changes with the file."""
    return HttpResponseRedirect(static("querybase/favicon.svg"))


@login_required
def workspace(request: SignedInHttpRequest):
    request_id = request.GET.get("request")
    if request_id:
        opening = approval_selectors.request_to_reopen(request.user, request_id)
    else:
        opening = selectors.query_to_open(
            request.user,
            run_id=request.GET.get("run"),
            saved_id=request.GET.get("saved"),
            share_token=request.GET.get("shared"),
        )
    context = {
        "sources": _sources_for(request.user),
        "initial": opening.initial,
        "opening": opening,
        "bundles": _bundles_on_demand(),
    }
    return render(request, "web/workspace.html", {**context, "nav": "workspace"})


def _bundles_on_demand() -> dict[str, dict[str, str]]:
    """The workspace's bundles loaded on first use (frontend/build.mjs), by their hashed URLs:
    the first load of the page carries only the editor."""
    return {
        "format": {"script": static("querybase/workspace-format.js")},
        "charts": {"script": static("querybase/workspace-charts.js")},
        "grid": {"script": static("querybase/workspace-grid.js"), "style": static("querybase/workspace-grid.css")},
    }


@login_required
def history(request: SignedInHttpRequest):
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
def saved(request: SignedInHttpRequest):
    queries = selectors.saved_queries_for(request.user)
    return render(
        request,
        "web/saved.html",
        {"queries": queries, "groups": request.user.groups.order_by("name"), "nav": "saved"},
    )


@login_required
def shared(request: SignedInHttpRequest, token: str):
    try:
        query = saved_queries.shared_query(request.user, token)
    except SharedQueryNotReadable as refused:
        # Who may not read the source is told whom to ask, and shown nothing of the query.
        access = selectors.source_access(request.user, refused.datasource)
        return render(request, "web/shared.html", {"query": None, "access": access, "nav": "saved"}, status=403)
    except QueryBaseError as error:
        raise Http404(error.message) from error
    access = selectors.source_access(request.user, query.datasource)
    return render(request, "web/shared.html", {"query": query, "access": access, "nav": "saved"})


@login_required
def approvals_inbox(request: SignedInHttpRequest):
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
def approval_detail(request: SignedInHttpRequest, request_id: int):
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
        "approvals_count": request_policy.counted_approvals(approval).count(),
        "may_review": request_policy.may_review(request.user, approval),
        "may_dry_run": request_policy.may_dry_run(request.user, approval),
        "may_cancel": pending and request_policy.may_cancel_request(request.user, approval),
        "is_requester": approval.requester_id == request.user.pk,
        # Ended without running: the requester may send it again, or edit it first.
        "reopenable_statuses": REOPENABLE,
        "resubmission": {"datasource": approval.datasource_id, "sql": approval.sql, "params": approval.params},
        "nav": "approvals",
    }
    return render(request, "web/approval_detail.html", context)


@login_required
def notifications_page(request: SignedInHttpRequest):
    page = Paginator(notifications.inbox(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "web/notifications.html", {"page": page, "nav": "notifications"})


@login_required
def audit_search(request: SignedInHttpRequest):
    """The audit reports for auditors and admins. Reads the search store only: the
    metadata database is asked nothing but who the user is and whether they audit."""
    if not policy.may_audit(request.user):
        raise PermissionDenied("Only admins and auditors may search the audit log.")
    form = AuditSearchForm(request.GET or None)
    context: dict = {"form": form, "nav": "audit", "documents": None}
    if form.is_bound and form.is_valid() and form.has_filters():
        kind, query = form.report()
        page_number = _page_number(request.GET.get("page"))
        try:
            found = reports.run_report(query, page=page_number, page_size=PAGE_SIZE)
        except AuditSearchUnavailable as error:
            context["unavailable"] = error.message
        else:
            others = {key: value for key, value in request.GET.items() if key != "page" and value}
            context.update(
                kind=kind,
                documents=found.documents,
                page_number=page_number,
                previous_url=f"?{urlencode({**others, 'page': page_number - 1})}" if page_number > 1 else None,
                next_url=f"?{urlencode({**others, 'page': page_number + 1})}" if found.has_more else None,
                csv_url=f"/api/v1/audit/{kind}?{urlencode(_api_parameters(kind, form.cleaned_data))}",
            )
    return render(request, "web/audit.html", context)


def _page_number(text: str | None) -> int:
    return int(text) if text and text.isdigit() and 0 < int(text) <= 100_000 else 1


def _api_parameters(kind: str, data: dict) -> dict[str, str]:
    """The same report's CSV export, from the API."""
    names = {
        "records": ("datasource", "table", "key"),
        "search": ("q", "user", "datasource", "action", "after", "before"),
    }
    wanted = names.get(kind, ("user", "datasource", "action", "after", "before"))
    parameters = {name: data[name] for name in wanted if data.get(name)}
    for moment in ("after", "before"):
        if moment in parameters:
            parameters[moment] = parameters[moment].isoformat()
    return {**{name: str(value) for name, value in parameters.items()}, "format": "csv"}
