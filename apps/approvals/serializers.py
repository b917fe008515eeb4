from rest_framework import serializers

from apps.approvals import policy
from apps.approvals.models import ApprovalRequest, ApprovalReview, ApprovalStatus, Decision
from apps.sqlcore import invisible


class ReviewSerializer(serializers.ModelSerializer):
    reviewer = serializers.CharField(source="reviewer.username")

    class Meta:
        model = ApprovalReview
        fields = ["reviewer", "decision", "comment", "created_at"]


class ApprovalRequestSerializer(serializers.ModelSerializer):
    datasource_name = serializers.CharField(source="datasource.name")
    requester = serializers.CharField(source="requester.username")
    approvals = serializers.SerializerMethodField()
    sql_visible = serializers.SerializerMethodField(help_text="The SQL with ⟦U+XXXX⟧ for each hidden character.")
    hidden_characters = serializers.SerializerMethodField()

    class Meta:
        model = ApprovalRequest
        fields = [
            "id",
            "status",
            "datasource",
            "datasource_name",
            "requester",
            "sql",
            "sql_visible",
            "hidden_characters",
            "sql_sha256",
            "params",
            "reason",
            "risk",
            "write_kinds",
            "required_approvals",
            "approvals",
            "created_at",
            "expires_at",
            "decided_at",
        ]

    def get_sql_visible(self, approval: ApprovalRequest) -> str:
        return invisible.reveal(approval.sql)

    def get_hidden_characters(self, approval: ApprovalRequest) -> list[str]:
        return [invisible.describe(character) for character in invisible.characters_in(approval.sql)]

    def get_approvals(self, approval: ApprovalRequest) -> int:
        """Approvals that still count: by reviewers who are still eligible."""
        return policy.counted_approvals(approval).count()


class ApprovalRequestDetailSerializer(ApprovalRequestSerializer):
    reviews = ReviewSerializer(many=True)
    execution = serializers.SerializerMethodField()
    classification = serializers.SerializerMethodField()

    class Meta(ApprovalRequestSerializer.Meta):
        fields = [
            *ApprovalRequestSerializer.Meta.fields,
            "classification",
            "reviews",
            "execution",
            "sandbox_evidence",
            "dry_run_result",
            "dry_run_at",
        ]

    def get_classification(self, approval: ApprovalRequest) -> dict:
        # Stored when the request was made; the visible text is derived here so requests
        # stored before it existed show it too.
        classification = dict(approval.classification or {})
        classification["statements"] = [
            {**statement, "visible_text": invisible.reveal(statement.get("text", ""))}
            for statement in classification.get("statements", [])
        ]
        return classification

    def get_execution(self, approval: ApprovalRequest) -> dict | None:
        if approval.started_at is None and not approval.error_code:
            return None  # not run yet (a request refused just before running has an error)
        error = {"code": approval.error_code, "message": approval.error_message} if approval.error_code else None
        return {
            "started_at": approval.started_at,
            "finished_at": approval.finished_at,
            "duration_ms": approval.duration_ms,
            "statements": approval.statement_results,
            "error": error,
        }


class ReviewInputSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=Decision.choices)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")


class ApprovalFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=ApprovalStatus.choices, required=False)
    datasource = serializers.IntegerField(required=False, min_value=1)
    requester = serializers.CharField(required=False)
    awaiting_my_review = serializers.BooleanField(required=False, default=False)


class ApproverSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    full_name = serializers.CharField(source="get_full_name")
