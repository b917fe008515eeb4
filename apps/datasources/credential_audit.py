"""The credential audit: what a source's read credentials can do, how bad that is, and
the statement that fixes it.

Reads run in a read-only transaction, but that wall is only as good as the login behind
it: a read-only transaction does not stop pg_read_file, lo_export, dblink, COPY … TO
PROGRAM, pg_terminate_backend or MySQL's INTO OUTFILE, and it is one setting away from a
write for a login that holds write grants. The connectors report the facts
(`audit_privileges`), apps.datasources.credential_findings judges them; this module runs
the audit, stores it on the source, and gates reads on it.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.audit.services import record_event
from apps.datasources import services
from apps.datasources.connectors import ConnectionTestResult, ConnectorError, CredentialRole, connector_for
from apps.datasources.credential_findings import Finding, Severity, highest_severity, judge
from apps.datasources.crypto import CredentialDecryptionError
from apps.datasources.exceptions import CredentialsNotLeastPrivilege, DataSourceUnavailable
from apps.datasources.models import DataSource


@dataclass(frozen=True)
class CredentialAudit:
    datasource_id: int
    datasource_name: str
    engine: str
    credentials: str  # "read" (the separate read credentials) or "main" (their fallback)
    login: str
    findings: list[Finding]
    audited_at: datetime
    notes: list[str] = field(default_factory=list)

    @property
    def highest_severity(self) -> Severity | None:
        return highest_severity([finding.severity for finding in self.findings])

    @property
    def clean(self) -> bool:
        """Clean enough to read through: no high finding (medium and low are reported only)."""
        return self.highest_severity is not Severity.HIGH

    def as_dict(self) -> dict[str, Any]:
        highest = self.highest_severity
        return {
            "datasource_id": self.datasource_id,
            "datasource_name": self.datasource_name,
            "engine": self.engine,
            "credentials": self.credentials,
            "login": self.login,
            "findings": [finding.as_dict() for finding in self.findings],
            "highest_severity": str(highest) if highest else None,
            "clean": self.clean,
            "notes": self.notes,
            "audited_at": self.audited_at.isoformat(),
        }


# Running the audit ---------------------------------------------------------------------


def audited_credentials(datasource: DataSource) -> str:
    """Reads use the separate read credentials when set, else the main ones."""
    return "read" if datasource.has_read_credentials else "main"


def audit_credentials(datasource: DataSource, *, actor=None, request=None) -> CredentialAudit:
    """Connect with the credentials reads use, judge what they can do, store the result
    on the source and audit the event. An unreachable source is DataSourceUnavailable (502)."""
    snapshot = _credential_snapshot(datasource)
    try:
        report = connector_for(datasource, CredentialRole.READ).audit_privileges()
    except ConnectorError as error:
        raise DataSourceUnavailable(
            f"Could not audit the credentials: {error.message}", details={"reason": error.code}
        ) from error
    except CredentialDecryptionError as error:
        raise DataSourceUnavailable(str(error), details={"reason": CredentialDecryptionError.code}) from error
    audit = CredentialAudit(
        datasource_id=datasource.pk,
        datasource_name=datasource.name,
        engine=datasource.engine,
        credentials=audited_credentials(datasource),
        login=report.login,
        findings=judge(report),
        audited_at=timezone.now(),
        notes=report.notes,
    )
    with transaction.atomic():
        # Stored only if the credentials are still those audited: an edit made meanwhile
        # has already dropped the old audit, and this one would describe the old login.
        stored = DataSource.objects.filter(pk=datasource.pk, **snapshot).update(
            credential_audit=audit.as_dict(), credential_audited_at=audit.audited_at
        )
        if stored:
            datasource.credential_audit, datasource.credential_audited_at = audit.as_dict(), audit.audited_at
        record_event(
            "datasource.credential_audit",
            actor=actor,
            target=datasource,
            request=request,
            detail={
                "credentials": audit.credentials,
                "highest_severity": audit.as_dict()["highest_severity"],
                "codes": [finding.code for finding in audit.findings],
            },
        )
    return audit


def _credential_snapshot(datasource: DataSource) -> dict[str, Any]:
    return {name: getattr(datasource, name) for name in DataSource.CREDENTIAL_FIELDS}


@dataclass(frozen=True)
class ConnectionCheck:
    """ "Test connection": the connection test, and the audit when the test passed."""

    result: ConnectionTestResult
    audit: CredentialAudit | None
    audit_error: str = ""

    def as_dict(self) -> dict[str, Any]:
        audit = self.audit.as_dict() if self.audit else None
        return {
            **self.result.as_dict(),
            "credential_audit": audit,
            "audit_error": self.audit_error,
            "warning": high_finding_warning(audit),
        }


def test_and_audit(datasource: DataSource, *, actor=None, request=None) -> ConnectionCheck:
    """Test the connection, then audit the credentials reads use (an admin who has just
    set credentials tests them: that is when the audit is due)."""
    result = services.test_datasource(datasource, actor=actor, request=request)
    if not result.ok:
        return ConnectionCheck(result=result, audit=None)
    try:
        audit = audit_credentials(datasource, actor=actor, request=request)
    except DataSourceUnavailable as error:
        return ConnectionCheck(result=result, audit=None, audit_error=error.message)
    return ConnectionCheck(result=result, audit=audit)


# The read gate and the stored result ---------------------------------------------------


def refuse_reads_unless_least_privilege(datasource: DataSource) -> None:
    """Raise unless `datasource` may be read: it does not require least privilege, or its
    latest audit has no high finding. No audit (never run, or dropped when the
    credentials changed) is not clean: the gate fails closed."""
    if not datasource.require_least_privilege:
        return
    summary = stored_audit_summary(datasource)
    if summary["status"] == "not_audited":
        raise CredentialsNotLeastPrivilege(
            "This source only runs reads once its read credentials pass the credential audit, "
            "and they have not been audited since they were last set. An administrator must run "
            "the audit (GET /api/v1/datasources/{id}/credential-audit or manage.py audit_credentials).".replace(
                "{id}", str(datasource.pk)
            ),
            details={"audit": summary},
        )
    if summary["warning"]:
        raise CredentialsNotLeastPrivilege(
            "This source's read credentials can do more than read (a high finding in the credential "
            "audit), and the source requires least privilege. An administrator must fix the "
            "credentials and run the audit again.",
            details={"audit": summary},
        )


def stored_audit_summary(datasource: DataSource) -> dict[str, Any]:
    """The latest stored audit in brief, without connecting: for lists and the read gate."""
    stored = datasource.credential_audit
    if not stored:
        return {"status": "not_audited", "audited_at": None, "credentials": None, "counts": {}, "warning": False}
    severities = [Severity(finding["severity"]) for finding in stored.get("findings", [])]
    counts = {str(severity): severities.count(severity) for severity in Severity if severity in severities}
    highest = highest_severity(severities)
    return {
        "status": str(highest) if highest else "clean",
        "audited_at": stored.get("audited_at"),
        "credentials": stored.get("credentials"),
        "counts": counts,
        "warning": highest is Severity.HIGH,
    }


def high_finding_warning(audit: dict[str, Any] | None) -> str:
    """The plain warning shown while a high finding stands ("" when none does)."""
    if not audit:
        return ""
    high = [finding for finding in audit.get("findings", []) if finding["severity"] == Severity.HIGH]
    if not high:
        return ""
    titles = "; ".join(finding["title"] for finding in high)
    return (
        f"Warning: the {audit['credentials']} credentials of this source can do more than read "
        f"({len(high)} high finding{'s' if len(high) != 1 else ''}: {titles}). The read-only transaction "
        "is then the only wall left. Apply the fixes and run the credential audit again."
    )
