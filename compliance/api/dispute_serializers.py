"""Answers (with their attachments and decision) and clarification requests, as the API shows and takes them."""

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from compliance.dispute_models import Answer, AnswerAttachment, AnswerDecision, ClarificationRequest
from compliance.disputes import is_overdue
from core.fields import ReasonField

# A run's public code, as given (compliance links it to its run once runs exist): visible ASCII, no spaces.
RUN_CODE = r"^[\x21-\x7e]{1,64}$"


class AttachmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = AnswerAttachment
        fields = ["position", "name", "content_type", "size", "sha256"]


class DecisionSerializer(serializers.ModelSerializer):
    by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    organisation = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = AnswerDecision
        fields = ["id", "outcome", "by", "organisation", "reason", "closed", "deadline", "at", "log_index"]


class AnswerSerializer(serializers.ModelSerializer):
    operator = serializers.SlugRelatedField(slug_field="code", read_only=True)
    by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    attachments = AttachmentSerializer(many=True, read_only=True)
    decision = serializers.SerializerMethodField()

    class Meta:
        model = Answer
        fields = [
            "id",
            "finding",
            "alert",
            "operator",
            "by",
            "at",
            "explanation",
            "run",
            "attachments",
            "decision",
            "log_index",
        ]

    @extend_schema_field(DecisionSerializer(allow_null=True))
    def get_decision(self, obj):
        try:
            return DecisionSerializer(obj.decision).data
        except AnswerDecision.DoesNotExist:
            return None


class ClarificationSerializer(serializers.ModelSerializer):
    operator = serializers.SlugRelatedField(slug_field="code", read_only=True)
    requester = serializers.SlugRelatedField(slug_field="code", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    overdue = serializers.SerializerMethodField(help_text="Awaiting its answer past the deadline.")

    class Meta:
        model = ClarificationRequest
        fields = [
            "id",
            "finding",
            "alert",
            "operator",
            "country",
            "other_country",
            "requester",
            "requested_by",
            "question",
            "at",
            "deadline",
            "state",
            "round",
            "overdue",
            "answer",
            "escalated_at",
            "escalation",
            "log_index",
        ]

    def get_overdue(self, obj) -> bool:
        return is_overdue(obj)


class AttachmentInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, trim_whitespace=False)
    content_type = serializers.CharField(
        max_length=100,
        help_text="One of application/pdf, image/png, image/jpeg, text/plain, text/csv, application/json.",
    )
    content = serializers.CharField(allow_blank=True, help_text="The file's bytes, base64 (RFC 4648, with padding).")


class AnswerInputSerializer(serializers.Serializer):
    explanation = serializers.CharField(max_length=10_000, trim_whitespace=True)
    run = serializers.RegexField(
        RUN_CODE,
        required=False,
        allow_blank=True,
        default="",
        help_text="The public code of the run the answer points to, stored as given.",
    )
    request = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**63 - 1,
        help_text="The clarification request it answers (default: every one awaiting your answer about it).",
    )
    attachments = serializers.ListField(
        child=AttachmentInputSerializer(),
        required=False,
        default=list,
        max_length=20,  # the real bound is CHIPREG_ANSWER_ATTACHMENTS_MAX (compliance.attachments)
        help_text=(
            f"At most {settings.CHIPREG_ANSWER_ATTACHMENTS_MAX} files of at most "
            f"{settings.CHIPREG_ANSWER_ATTACHMENT_MAX_BYTES} bytes each."
        ),
    )


class ClarificationInputSerializer(serializers.Serializer):
    question = serializers.CharField(min_length=3, max_length=5000)
    # Its range is judged by compliance.disputes.deadline_days (400 `invalid_deadline`, one code for any day count
    # out of it), not here.
    deadline_days = serializers.IntegerField(
        required=False,
        help_text=(
            f"Days to answer: {settings.CHIPREG_CLARIFICATION_DAYS} (the agreement's) by default, "
            f"more up to {settings.CHIPREG_CLARIFICATION_MAX_DAYS}, never fewer (else `invalid_deadline`)."
        ),
    )
    operator = serializers.CharField(
        required=False, max_length=64, help_text="The party asked, when the finding concerns two (default: the first)."
    )


class DecisionInputSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["accept", "reject"])
    reason = ReasonField(min_length=3, max_length=5000)
    close = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Accept: also resolve the finding or alert (its own logged transition).",
    )
    deadline_days = serializers.IntegerField(
        required=False,
        help_text=(
            f"Reject: the days to answer again, {settings.CHIPREG_CLARIFICATION_DAYS} to "
            f"{settings.CHIPREG_CLARIFICATION_MAX_DAYS} (else `invalid_deadline`)."
        ),
    )
