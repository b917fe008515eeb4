"""Approval requests: list, show, decide, cancel, dry-run."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack

from querybase_client.events import RECONNECTED, Events, EventStream, EventsUnavailable
from querybase_client.models import ApprovalRequest
from querybase_client.resources.base import Resource
from querybase_client.resources.datasources import DataSources, SourceRef
from querybase_client.transport import Transport

# A request in one of these will not change again.
SETTLED = frozenset({"succeeded", "failed", "rejected", "cancelled", "expired"})
# Live events that mean a request changed (apps/live on the server).
_CHANGES = frozenset({"approval.status", "approval.reviewed"})
# Where no event stream is reachable (a proxy that does not route it, no Redis on the
# server), or it stays unreachable this long, the request is looked at every few seconds.
EVENTS_GIVE_UP_SECONDS = 30.0
POLL_SECONDS = 2.0


class Approvals(Resource):
    def __init__(self, transport: Transport, datasources: DataSources, *, sleep: Callable[[float], None] = time.sleep):
        super().__init__(transport)
        self._datasources = datasources
        self._events = Events(transport)
        self._sleep = sleep

    def follow(self, request_id: int) -> Iterator[ApprovalRequest]:
        """The request now, then again each time it changes (a review, a decision, its
        execution), until it is settled: live from the event stream (for requests the
        user made or may review: those are the ones whose changes reach it), by looking
        every few seconds where the server has no event stream."""
        with ExitStack() as stack:
            try:  # listening before the first look: nothing is missed
                events: EventStream | None = stack.enter_context(
                    self._events.open(give_up_after=EVENTS_GIVE_UP_SECONDS)
                )
            except EventsUnavailable:
                events = None
            request = self.get(request_id)
            yield request
            if request.status in SETTLED:
                return
            if events is not None:
                try:
                    for request in self._changes_heard(request_id, events):
                        yield request
                        if request.status in SETTLED:
                            return
                except EventsUnavailable:
                    pass  # the stream went away for good: what happens next is looked at
            yield from self._polled(request_id, request)

    def _changes_heard(self, request_id: int, events: EventStream) -> Iterator[ApprovalRequest]:
        for event in events:
            # Listening again after a drop: a look covers whatever the replay no longer holds.
            if event.kind == RECONNECTED or (event.kind in _CHANGES and event.data.get("request") == request_id):
                yield self.get(request_id)

    def _polled(self, request_id: int, last: ApprovalRequest) -> Iterator[ApprovalRequest]:
        """The request each time a look finds it changed, until it is settled."""
        while last.status not in SETTLED:
            self._sleep(POLL_SECONDS)
            request = self.get(request_id)
            if request.raw != last.raw:
                yield request
            last = request

    def list(
        self,
        *,
        status: str | None = None,
        datasource: SourceRef | None = None,
        requester: str | None = None,
        awaiting_my_review: bool = False,
        limit: int | None = 50,
    ) -> list[ApprovalRequest]:
        """Requests the user may see, newest first. `awaiting_my_review`: only those the
        user may still decide."""
        params = {
            "status": status,
            "datasource": self._datasources.id_of(datasource) if datasource is not None else None,
            "requester": requester,
            "awaiting_my_review": awaiting_my_review or None,
        }
        items = self._transport.paginate("/approvals", params=params, limit=limit)
        return [ApprovalRequest.from_api(item) for item in items]

    def get(self, request_id: int) -> ApprovalRequest:
        """The request with its classification, reviews, execution and dry-run."""
        return ApprovalRequest.from_api(self._transport.request("GET", f"/approvals/{request_id}"))

    def review(self, request_id: int, decision: str, comment: str = "") -> ApprovalRequest:
        body = {"decision": decision, "comment": comment}
        return ApprovalRequest.from_api(self._transport.request("POST", f"/approvals/{request_id}/review", json=body))

    def approve(self, request_id: int, comment: str = "") -> ApprovalRequest:
        return self.review(request_id, "approve", comment)

    def reject(self, request_id: int, comment: str) -> ApprovalRequest:
        return self.review(request_id, "reject", comment)

    def cancel(self, request_id: int) -> ApprovalRequest:
        """Withdraw one's own pending request."""
        return ApprovalRequest.from_api(self._transport.request("POST", f"/approvals/{request_id}/cancel"))

    def dry_run(self, request_id: int) -> ApprovalRequest:
        """Run the request's statements in a transaction that is rolled back, where the
        source makes that safe; the outcome is in `dry_run_result`."""
        return ApprovalRequest.from_api(self._transport.request("POST", f"/approvals/{request_id}/dry-run"))
