"""Errors of the SQL core. Each carries a stable `code`; the application maps them to its
own errors at the one place it binds parameters (apps/queries/plan.py)."""

from typing import Any


class SqlCoreError(Exception):
    code = "invalid_sql"

    def __init__(self, message: str, *, details: Any = None):
        super().__init__(message)
        self.message = message
        self.details = details


class ParameterError(SqlCoreError):
    """The parameters do not fit the SQL's placeholders."""

    code = "invalid_parameters"
