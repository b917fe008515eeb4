import copy
from collections.abc import Mapping

from django.conf import settings
from rest_framework import serializers

from apps.queries.models import QueryRun, SavedQuery


class ParamsField(serializers.JSONField):
    """A list (for $n) or an object (for :name); values are checked against the SQL later."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value is not None and not isinstance(value, (list, dict)):
            raise serializers.ValidationError("Must be a list (for $1, $2 …) or an object (for :name).")
        return value


class SqlField(serializers.CharField):
    """SQL text: a JSON string, never a number coerced into one."""

    def __init__(self, **kwargs):
        super().__init__(trim_whitespace=False, max_length=settings.QUERYBASE_MAX_SQL_CHARS, **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class FieldsBuiltOnce:
    """Every serializer deep-copies its declared fields (each field made again from its
    arguments) before it validates a body: a good part of taking a small read's request.
    Built once per class, and each serializer gets shallow copies: binding a field to its
    serializer sets attributes of the copy alone (name, parent, source), and nothing a
    field shares with its copies (validators, a list's child) changes after it is made."""

    _built_fields: dict | None = None

    def get_fields(self):
        cls = type(self)
        built = cls.__dict__.get("_built_fields")
        if built is None:
            built = cls._built_fields = super().get_fields()  # type: ignore[misc]
        return {name: copy.copy(field) for name, field in built.items()}


class KnownFieldsOnly:
    """A field the request does not take is refused, not ignored: a misspelt `max_age`
    would serve a cached answer, a misspelt `sandbox` read the source instead of the copy,
    and the caller would never know."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            fields = self.fields  # type: ignore[attr-defined]
            unknown = sorted(str(name) for name in data if name not in fields)
            if unknown:
                known = ", ".join(fields)
                raise serializers.ValidationError(
                    {name: [f"Not a field of this request; it takes: {known}."] for name in unknown}
                )
        return super().to_internal_value(data)  # type: ignore[misc]


# Longest share link token a request may carry (tokens are shorter: apps/queries/models.py new_share_token).
SHARE_TOKEN_CHARS = 64


class QuerySubmitSerializer(KnownFieldsOnly, FieldsBuiltOnce, serializers.Serializer):
    datasource = serializers.IntegerField(min_value=1)
    sql = SqlField()
    params = ParamsField(required=False, allow_null=True, default=None)
    max_age = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=0, help_text="Seconds; 0 forces a fresh run."
    )
    wait = serializers.FloatField(
        required=False, min_value=0, help_text="Seconds to block for the result before answering 202."
    )
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=5000, default="", help_text="Why a write is needed."
    )
    sandbox = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        help_text="Run in this sandbox (yours, a copy of `datasource`): reads and allowed writes run at once.",
    )
    share_token = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=SHARE_TOKEN_CHARS,
        default="",
        help_text="With `sandbox`: the share link's token of a saved query pointing at someone else's sandbox.",
    )
    request_approval = serializers.BooleanField(
        default=True,
        help_text="For SQL that is not a read: create an approval request (default), or answer 409 "
        "approval_required with the classification, to ask the user for a reason first.",
    )


class QueryAnalyzeSerializer(KnownFieldsOnly, serializers.Serializer):
    datasource = serializers.IntegerField(min_value=1)
    sql = SqlField()


class PlaceholderSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="As written: $1 or :name.")
    style = serializers.ChoiceField(choices=["positional", "named"])  # type: ignore[assignment]  # the API's name
    occurrences = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField(), min_length=2, max_length=2),
        help_text="[start, end) of each occurrence, in Unicode code points of `sql`.",
    )


class QueryAnalysisSerializer(serializers.Serializer):
    dialect = serializers.CharField()
    placeholders = PlaceholderSerializer(many=True)
    classification = serializers.JSONField(help_text="verdict, risk and one entry per statement, as in a 409.")


class QueryExportSerializer(KnownFieldsOnly, serializers.Serializer):
    datasource = serializers.IntegerField(min_value=1)
    sql = SqlField()
    params = ParamsField(required=False, allow_null=True, default=None)
    format = serializers.ChoiceField(  # type: ignore[assignment]  # the API's own field name
        choices=["csv", "json"], default="csv"
    )
    statement = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        default=None,
        help_text="SQL of several statements: export statement N's result (from 1), every row up to the row cap. "
        "Default: the last statement's.",
    )
    sandbox = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        help_text="Export from this sandbox's copy of `datasource` (yours, or one a query is shared with you in), "
        "as a read there would show it.",
    )
    share_token = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=SHARE_TOKEN_CHARS,
        default="",
        help_text="With `sandbox`: the share link's token of a saved query pointing at someone else's sandbox.",
    )


class ResultColumnSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField(help_text="The engine's own type name.")


class StatementResultSerializer(serializers.Serializer):
    """One statement's result, in `statements` of a result of SQL with several."""

    statement = serializers.IntegerField(help_text="Its number in the SQL, from 1.")
    sql = serializers.CharField(help_text="The statement's text, as written.")
    columns = ResultColumnSerializer(many=True)
    rows = serializers.ListField(
        child=serializers.ListField(),
        required=False,
        help_text="Its first rows (at most one page); absent for the last statement, whose rows are the result's own.",
    )
    row_count = serializers.IntegerField(help_text="Rows the statement returned (up to the row cap).")
    truncated = serializers.BooleanField(help_text="The source's row cap cut it.")
    rows_in_result = serializers.BooleanField(
        required=False, help_text="True on the last statement: its rows are the result's, paged with `next`."
    )


class QueryResultPageSerializer(serializers.Serializer):
    """One page of a run's result (documents the shape; the service builds it). SQL of
    several statements answers with the last statement's result, and on its first page
    (and with `?statement=N`) `statements`: every statement's result."""

    columns = ResultColumnSerializer(many=True)
    rows = serializers.ListField(child=serializers.ListField(), help_text="This page's rows, in the result's order.")
    row_count = serializers.IntegerField(help_text="Rows in the whole result, every page.")
    truncated = serializers.BooleanField(help_text="The source's row cap cut the result.")
    took_ms = serializers.FloatField()
    page = serializers.IntegerField(help_text="This page's number, from 1.")
    page_count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True, help_text="The next page, null on the last.")  # type: ignore[assignment]
    previous = serializers.URLField(allow_null=True, help_text="The previous page, null on the first.")
    statement = serializers.IntegerField(
        required=False, help_text="SQL of several statements: which statement's result this is (from 1)."
    )
    statements = StatementResultSerializer(
        many=True, required=False, help_text="SQL of several statements: each one's result, in order."
    )


class QueryRunSerializer(serializers.ModelSerializer):
    cached = serializers.BooleanField(source="from_cache")
    error = serializers.SerializerMethodField()
    datasource_name = serializers.CharField(source="datasource.name")
    verdict = serializers.SerializerMethodField()
    approval: serializers.PrimaryKeyRelatedField = serializers.PrimaryKeyRelatedField(
        source="approval_request",
        read_only=True,
        allow_null=True,
        help_text="The approval request this submission became: long SQL is classified by a worker, "
        "which turns a write into a request when the submission asked for that.",
    )

    class Meta:
        model = QueryRun
        fields = [
            "id",
            "status",
            "datasource",
            "datasource_name",
            "sql",
            "params",
            "verdict",
            "cached",
            "computed_at",
            "created_at",
            "started_at",
            "finished_at",
            "duration_ms",
            "row_count",
            "truncated",
            "error",
            "approval",
            "sandbox",
        ]

    def get_error(self, run: QueryRun) -> dict | None:
        if not run.error_code:
            return None
        return {"code": run.error_code, "message": run.error_message}

    def get_verdict(self, run: QueryRun) -> str:
        return run.classification.get("verdict", "")

    def to_representation(self, run: QueryRun) -> dict:
        """The fields above, written out: every read answers with its run, and going field
        by field (each field copied, bound, asked for its attribute, then its value) was
        a seventh of a cached read's time. The declarations stay the schema's, and a test
        holds the two to the same output (tests/queries/test_run_representation.py)."""
        return {
            "id": str(run.pk),
            "status": str(run.status),
            "datasource": run.datasource_id,
            "datasource_name": run.datasource.name,
            "sql": run.sql,
            "params": run.params,
            "verdict": self.get_verdict(run),
            "cached": run.from_cache,
            "computed_at": _moment(run.computed_at),
            "created_at": _moment(run.created_at),
            "started_at": _moment(run.started_at),
            "finished_at": _moment(run.finished_at),
            "duration_ms": None if run.duration_ms is None else float(run.duration_ms),
            "row_count": None if run.row_count is None else int(run.row_count),
            "truncated": run.truncated,
            "error": self.get_error(run),
            "approval": run.approval_request_id,
            "sandbox": run.sandbox_id,
        }


_MOMENTS = serializers.DateTimeField()


def _moment(value) -> str | None:
    """A timestamp as the API writes every other one (DRF's ISO 8601, `Z` for UTC)."""
    return None if value is None else _MOMENTS.to_representation(value)


CHART_TYPES = ("bar", "line", "scatter", "pie")


class ChartSerializer(serializers.Serializer):
    """A saved query's chart: its kind, the column along x, and one to five columns plotted."""

    type = serializers.ChoiceField(choices=CHART_TYPES)
    x = serializers.CharField(max_length=200)
    y = serializers.ListField(child=serializers.CharField(max_length=200), min_length=1, max_length=5)


class SavedQuerySerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    sql = SqlField()
    default_params = ParamsField(required=False, allow_null=True)
    chart = ChartSerializer(required=False, allow_null=True)
    share_url = serializers.SerializerMethodField()

    class Meta:
        model = SavedQuery
        fields = [
            "id",
            "name",
            "description",
            "datasource",
            "sandbox",
            "sql",
            "default_params",
            "chart",
            "shared_with_groups",
            "owner",
            "share_url",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "owner", "share_url", "created_at", "updated_at"]

    def validate_chart(self, chart: dict | None) -> dict | None:
        # A PATCH is partial for the saved query's fields, which DRF passes on to the nested
        # chart: a chart missing its parts was stored, and every list showing it failed.
        if chart is None or not self.partial:
            return chart
        whole = ChartSerializer(data=self.initial_data["chart"])
        whole.is_valid(raise_exception=True)
        return whole.validated_data

    def get_share_url(self, saved: SavedQuery) -> str | None:
        if not saved.share_token or saved.owner_id != self.context["request"].user.pk:
            return None
        return f"/api/v1/saved-queries/shared/{saved.share_token}"
