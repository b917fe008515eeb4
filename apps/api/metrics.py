"""GET /api/v1/metrics: Prometheus metrics, for admins (staff) only.

Counters and the latency histogram come from querybase/metrics.py (added up over the
gunicorn processes in multiprocess mode). The figures below are read when scraped, from
the database and the broker, so they are the same whichever process answers.
"""

from collections.abc import Iterator
from functools import cache as memoize

import redis
from django.conf import settings
from django.db.models import Count, Min
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from kombu.transport.redis import PRIORITY_STEPS
from kombu.transport.redis import Channel as RedisChannel
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.views import APIView

from apps.approvals.models import ApprovalRequest, ApprovalStatus
from apps.audit.models import OutboxEntry
from apps.datasources.connectors import postgresql
from apps.queries.models import QueryRun, RunStatus
from querybase import metrics
from querybase.logs import get_logger

logger = get_logger(__name__)


def _by_status(queryset, statuses: list[str]) -> dict[str, int]:
    counts = dict.fromkeys(statuses, 0)
    for row in queryset.order_by().values("status").annotate(n=Count("pk")):
        counts[row["status"]] = row["n"]
    return counts


def _queues() -> list[str]:
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    return sorted(routed | {settings.CELERY_TASK_DEFAULT_QUEUE})


@memoize
def _broker(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2)


def queue_depth(queue: str) -> int:
    """Messages waiting in a Celery queue on the Redis broker: kombu keeps one list per
    priority step, the queue's own name for the default priority."""
    client = _broker(settings.CELERY_BROKER_URL)
    keys = [f"{queue}{RedisChannel.sep}{step}" if step else queue for step in PRIORITY_STEPS]
    pipeline = client.pipeline(transaction=False)
    for key in keys:
        pipeline.llen(key)
    return sum(pipeline.execute())


class ScrapeTimeCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        runs = GaugeMetricFamily("querybase_query_runs", "Query runs recorded, by status.", labels=["status"])
        for status, count in _by_status(QueryRun.objects, RunStatus.values).items():
            runs.add_metric([status], count)
        yield runs
        approvals = GaugeMetricFamily(
            "querybase_approval_requests", "Approval requests recorded, by status.", labels=["status"]
        )
        for status, count in _by_status(ApprovalRequest.objects, ApprovalStatus.values).items():
            approvals.add_metric([status], count)
        yield approvals
        yield from self._audit_outbox()
        if settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
            yield from self._queue_depths()

    def _audit_outbox(self) -> Iterator[Metric]:
        """How far the audit search is behind: events not yet indexed, and the oldest's age."""
        summary = OutboxEntry.objects.aggregate(pending=Count("pk"), oldest=Min("created_at"))
        yield GaugeMetricFamily(
            "querybase_audit_outbox_pending", "Audit events not yet in the search store.", value=summary["pending"]
        )
        oldest = summary["oldest"]
        age = (timezone.now() - oldest).total_seconds() if oldest is not None else 0.0
        yield GaugeMetricFamily(
            "querybase_audit_outbox_oldest_seconds", "Age of the oldest audit event not yet indexed.", value=age
        )

    def _queue_depths(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("querybase_celery_queue_depth", "Tasks waiting in a Celery queue.", labels=["queue"])
        try:
            for queue in _queues():
                depth.add_metric([queue], queue_depth(queue))
        except redis.RedisError as error:
            # The rest of the scrape is still worth having; a missing series shows the gap.
            logger.warning("queue depth unavailable", error=str(error))
            return
        yield depth


def exposition(accept: str) -> tuple[bytes, str]:
    """The metrics in the format the scraper asked for (OpenMetrics or Prometheus text)."""
    postgresql.publish_pool_stats()
    registry = CollectorRegistry()
    if metrics.MULTIPROCESS:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(REGISTRY)
    registry.register(ScrapeTimeCollector())
    encoder, content_type = choose_encoder(accept)
    return encoder(registry), content_type


class _AnyAccept(BaseContentNegotiation):
    """Scrapers ask for text formats DRF has no renderer for: errors are JSON whatever
    they accept, and the metrics pick their own format (`choose_encoder`)."""

    def select_parser(self, request: Request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request: Request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class MetricsView(APIView):
    permission_classes = [IsAdminUser]
    content_negotiation_class = _AnyAccept

    @extend_schema(responses={(200, "text/plain"): OpenApiTypes.STR}, description="Prometheus metrics (admins).")
    def get(self, request: Request) -> HttpResponse:
        body, content_type = exposition(request.headers.get("Accept", ""))
        return HttpResponse(body, content_type=content_type)
