"""Errors of the audit search and reports."""

from querybase.errors import NotAllowed, QueryBaseError


class AuditNotAllowed(NotAllowed):
    """Someone who is neither an admin nor an auditor asked for others' events."""

    code = "audit_not_allowed"


class AuditSearchUnavailable(QueryBaseError):
    """The search store does not answer (the metadata database is never asked instead)."""

    code = "audit_search_unavailable"
