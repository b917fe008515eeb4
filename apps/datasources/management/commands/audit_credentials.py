"""Audit the credentials reads use on every active data source (or one), print the
findings and store them on each source, for a cron job or a deployment check."""

from django.core.management.base import BaseCommand, CommandError

from apps.datasources.credential_audit import audit_credentials
from apps.datasources.credential_findings import Severity
from apps.datasources.exceptions import DataSourceUnavailable
from apps.datasources.models import DataSource

EXIT_CLEAN = 0
EXIT_HIGH_FINDING = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3


class Command(BaseCommand):
    help = (
        "Audit what each data source's read credentials (or its main ones, where no separate "
        "read credentials are set) can do beyond reading, print the findings with their fixes, "
        "and store the result on the source. Exit status: 0 no high finding on any audited source; "
        "1 at least one high finding stands; 2 bad arguments or no such source; "
        "3 some source could not be audited (unreachable, credentials refused) and none has a high finding."
    )

    def add_arguments(self, parser):
        parser.add_argument("--source", metavar="NAME", help="Audit only the data source with this name.")

    def handle(self, *args, source: str | None = None, **options):
        if source:
            datasources = list(DataSource.objects.filter(name=source))
            if not datasources:
                raise CommandError(f"No data source named {source!r}.", returncode=EXIT_USAGE)
        else:
            datasources = list(DataSource.objects.filter(is_active=True))
        high = unreachable = 0
        for datasource in datasources:
            try:
                audit = audit_credentials(datasource)
            except DataSourceUnavailable as error:
                unreachable += 1
                self.stdout.write(f"{datasource.name} ({datasource.engine}): NOT AUDITED: {error.message}")
                continue
            highest = audit.highest_severity
            verdict = str(highest).upper() if highest else "CLEAN"
            self.stdout.write(
                f"{datasource.name} ({datasource.engine}, {audit.credentials} credentials, login "
                f"{audit.login or '-'}): {verdict}"
            )
            for finding in audit.findings:
                self.stdout.write(f"  [{finding.severity}] {finding.code}: {finding.title}")
                self.stdout.write(f"      {finding.description}")
                self.stdout.write(f"      Fix: {finding.fix}")
            for note in audit.notes:
                self.stdout.write(f"  note: {note}")
            high += highest is Severity.HIGH
        self.stdout.write(f"{len(datasources)} source(s): {high} with a high finding, {unreachable} not audited.")
        if high:
            raise CommandError("A high finding stands: fix it and run the audit again.", returncode=EXIT_HIGH_FINDING)
        if unreachable:
            raise CommandError("Some sources could not be audited.", returncode=EXIT_UNREACHABLE)
