from querybase.errors import QueryBaseError


class LiveUpdatesUnavailable(QueryBaseError):
    code = "live_updates_unavailable"
