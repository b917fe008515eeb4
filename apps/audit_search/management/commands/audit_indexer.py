"""Copy audit events from the outbox into the search store: run one or several of these
next to the web server (or rely on the Celery schedule, `maintenance.index_audit_outbox`)."""

import signal
import time

from django.core.management.base import BaseCommand

from apps.audit_search import indexer
from querybase.logs import get_logger

logger = get_logger(__name__)


class Command(BaseCommand):
    help = (
        "Index audit events into the audit search store. Several may run at once: each claims "
        "its own batches (SKIP LOCKED, with a lease), and a batch whose indexer died is taken "
        "over when its lease runs out. Runs until stopped (SIGTERM/SIGINT), or with --until-empty "
        "until the outbox is empty."
    )

    def add_arguments(self, parser):
        parser.add_argument("--until-empty", action="store_true", help="Stop once the outbox is empty.")
        parser.add_argument("--batch-size", type=int, default=None, help="Events per batch.")
        parser.add_argument("--lease-seconds", type=int, default=None, help="How long a claimed batch is ours.")
        parser.add_argument("--poll-seconds", type=float, default=1.0, help="Sleep when there is nothing to do.")
        parser.add_argument("--owner", default=None, help="Name in the leases (default host:pid).")
        parser.add_argument(
            "--hold-seconds",
            type=float,
            default=0.0,
            help="Keep each claimed batch this long before indexing it (to see a crash mid-batch in tests).",
        )

    def handle(self, *args, **options):
        owner = options["owner"] or indexer.default_owner()
        stopping = []

        def stop(signum, frame):
            stopping.append(signum)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        size, lease, poll = options["batch_size"], options["lease_seconds"], options["poll_seconds"]
        hold_seconds = options["hold_seconds"]

        def hold() -> None:
            time.sleep(hold_seconds)

        self.stdout.write(f"audit indexer {owner} started", ending="\n")
        self.stdout.flush()
        indexed = 0
        while not stopping:
            try:
                count = indexer.index_once(owner, size=size, lease_seconds=lease, hold=hold if hold_seconds else None)
            except Exception:
                # The store or the database is away: the batch keeps its lease, which runs
                # out; nothing is lost while indexing is down. Try again after a pause.
                logger.exception("audit indexing failed; retrying")
                time.sleep(poll)
                continue
            indexed += count
            if count:
                continue
            if options["until_empty"] and indexer.pending() == 0:
                break
            time.sleep(poll)
        self.stdout.write(f"audit indexer {owner} indexed {indexed} events", ending="\n")
