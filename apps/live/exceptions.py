from querybase.errors import QueryBaseError


class LiveUpdatesUnavailable(QueryBaseError):
    code = "live_updates_unavailable"


class TooManyStreams(QueryBaseError):
    """The user holds QUERYBASE_LIVE_MAX_STREAMS event streams open already."""

    code = "too_many_streams"
