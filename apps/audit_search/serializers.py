"""What the audit reports accept (query parameters) and answer."""

from rest_framework import serializers

from apps.audit_search.reports import MAX_PAGE_SIZE
from apps.audit_search.search_store.base import words_of

_BIGINT = 2**63 - 1


class _ReportParameters(serializers.Serializer):
    page = serializers.IntegerField(min_value=1, max_value=100_000, default=1)
    page_size = serializers.IntegerField(min_value=1, max_value=MAX_PAGE_SIZE, default=50)
    format = serializers.ChoiceField(
        choices=["json", "csv"], default="json", help_text="csv: the whole report (all pages) as CSV."
    )


class _Window(serializers.Serializer):
    after = serializers.DateTimeField(required=False, help_text="From this moment (ISO 8601), inclusive.")
    before = serializers.DateTimeField(required=False, help_text="Up to this moment (ISO 8601), exclusive.")
    datasource = serializers.IntegerField(required=False, min_value=1, max_value=_BIGINT)
    action = serializers.CharField(required=False, max_length=64, help_text="An action, e.g. query.run.")

    def validate(self, attrs):
        if "after" in attrs and "before" in attrs and attrs["after"] >= attrs["before"]:
            raise serializers.ValidationError({"before": "must be later than after."})
        return attrs


class EventsParameters(_ReportParameters, _Window):
    user = serializers.CharField(required=False, max_length=150, help_text="Events of this user (username).")


class RecordsParameters(_ReportParameters):
    datasource = serializers.IntegerField(min_value=1, max_value=_BIGINT)
    table = serializers.CharField(max_length=300, help_text="Table name, plain or schema-qualified.")
    key = serializers.CharField(
        required=False, max_length=200, help_text="A key value of the row (as written in the SQL or bound)."
    )


class SearchParameters(_ReportParameters, _Window):
    q = serializers.CharField(max_length=1000, help_text="Words that must all appear (SQL, reasons, comments).")
    user = serializers.CharField(required=False, max_length=150)

    def validate_q(self, value: str) -> str:
        if not words_of(value):
            raise serializers.ValidationError("must contain at least one word.")
        return value


class AuditDocumentSerializer(serializers.Serializer):
    event_id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    actor = serializers.CharField()
    action = serializers.CharField()
    object_type = serializers.CharField()
    object_id = serializers.CharField()
    object_repr = serializers.CharField()
    datasource_id = serializers.IntegerField(allow_null=True)
    ip_address = serializers.CharField()
    request_id = serializers.CharField()
    outcome = serializers.CharField(help_text="succeeded, failed, cancelled, rejected, expired, or empty.")
    error = serializers.CharField()
    sql = serializers.CharField()
    tables = serializers.ListField(child=serializers.CharField())
    keys = serializers.ListField(child=serializers.CharField())
    text = serializers.CharField(help_text="Reason, comment or name the event carries.")
    detail = serializers.DictField()


class AuditPageSerializer(serializers.Serializer):
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = AuditDocumentSerializer(many=True)
