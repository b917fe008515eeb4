"""Maintenance: settle the runs a dead process left behind (the sweeper, every minute)."""

from datetime import timedelta
from functools import partial
from typing import Any

from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.queries import run_finished_signal
from apps.queries.locks import runs_with_live_process
from apps.queries.models import QueryRun, RunStatus
from apps.queries.run_audit import record_run_end
from apps.queries.run_lifecycle import MAX_RUN_ATTEMPTS, enqueue, requeue
from apps.queries.state import RUN_STATUS

# A queued run waiting this long is sent to the queue again (see _resend_stale_queued_runs):
# long enough that a busy queue gets at most one extra message per run in that time.
QUEUED_RUN_RESEND_SECONDS = 300


WORKER_LOST_MESSAGE = (
    "The process running this read stopped {attempts} times before it finished; QueryBase "
    "gave up. Run it again, or ask an admin to look at the workers."
)
# A run in a sandbox is never handed to the workers: they read sources, not copies, and a
# write in the copy may or may not have been made.
SANDBOX_RUN_LOST_MESSAGE = (
    "The process running this in sandbox #{sandbox} stopped before it finished; a write may "
    "or may not have been made there. Look at the sandbox, then run it again."
)


def settle_abandoned_runs() -> int:
    """Runs shown as `running` whose process is gone (no live session holds their lock):
    handed back to the queue, since a read is safe to repeat, or failed as `worker_lost`
    once they have had MAX_RUN_ATTEMPTS (a run in a sandbox at once: the workers read
    sources only); queued runs whose message may be lost are sent again. Returns how many
    runs were settled or sent again.

    Safe against a live process: one that runs a read holds its lock from before the
    claim until after the run leaves `running`, and nobody can start a run that is not
    `queued`; each move is conditional, so a run that finishes meanwhile is left alone.
    """
    running = list(
        QueryRun.objects.filter(status=RunStatus.RUNNING).values_list("pk", "attempts", "user_id", "sandbox_id")
    )
    alive = runs_with_live_process([pk for pk, _, _, _ in running])
    settled = 0
    for pk, attempts, owner, sandbox in running:
        if pk in alive:
            continue
        if sandbox is None and attempts < MAX_RUN_ATTEMPTS:
            moved = requeue(QueryRun(pk=pk, user_id=owner))
            if moved:
                enqueue(QueryRun(pk=pk))
        else:
            message = (
                WORKER_LOST_MESSAGE.format(attempts=attempts)
                if sandbox is None
                else SANDBOX_RUN_LOST_MESSAGE.format(sandbox=sandbox)
            )
            fields: dict[str, Any] = {
                "finished_at": timezone.now(),
                "error_code": "worker_lost",
                "error_message": message,
            }
            moved = RUN_STATUS.move(
                pk,
                RunStatus.FAILED,
                from_={RunStatus.RUNNING},
                then=partial(_record_worker_lost, pk, fields),
                audience=[owner],
                **fields,
            )
            if moved:
                run_finished_signal.announce_finished(str(pk))
        settled += moved
    return settled + _resend_stale_queued_runs()


def _record_worker_lost(pk: Any, fields: dict[str, Any]) -> None:
    record_run_end(QueryRun.objects.select_related("user").get(pk=pk), RunStatus.FAILED, fields)


def _resend_stale_queued_runs() -> int:
    """Queued runs waiting longer than QUEUED_RUN_RESEND_SECONDS are sent to the queue
    again: a worker killed whole takes the messages it had reserved with it (they come
    back only after the broker's visibility timeout, an hour). A second message for a run
    still in the queue is harmless: only one delivery can claim it."""
    now = timezone.now()
    waiting_since = Coalesce("queued_at", "created_at")
    stale = QueryRun.objects.filter(status=RunStatus.QUEUED).alias(waiting_since=waiting_since)
    stale = stale.filter(waiting_since__lt=now - timedelta(seconds=QUEUED_RUN_RESEND_SECONDS))
    resent = 0
    for pk in stale.values_list("pk", flat=True):
        if QueryRun.objects.filter(pk=pk, status=RunStatus.QUEUED).update(queued_at=now):
            enqueue(QueryRun(pk=pk))
            resent += 1
    return resent
