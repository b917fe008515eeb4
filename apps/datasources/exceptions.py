"""What the datasources app refuses or fails with; each code's HTTP status is in querybase/errors.py."""

from querybase.errors import QueryBaseError


class CredentialsNotLeastPrivilege(QueryBaseError):
    """The source requires least-privilege read credentials and they are not proven so."""

    code = "credentials_not_least_privilege"


class DataSourceHasHistory(QueryBaseError):
    """Deleting the source would take its query runs and approval requests with it."""

    code = "datasource_has_history"


class DataSourceUnavailable(QueryBaseError):
    """The data source could not be reached or answered with an error."""

    code = "datasource_unavailable"
