"""Serializers of disposal requests, the watch list and manufacturers' reports (issue #19)."""

from rest_framework import serializers

from core.fields import ReasonField
from registry.choices import DisposalKind
from registry.models import Chip, DisposalAttachment, DisposalRequest, ManufacturerReport


class DisposalAttachmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = DisposalAttachment
        fields = ["position", "name", "content_type", "size", "sha256"]


class DisposalAttachmentInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, trim_whitespace=False)
    content_type = serializers.CharField(max_length=100)
    content = serializers.CharField(help_text="The file's bytes, base64.", trim_whitespace=False)


class DisposalInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=DisposalKind.choices)
    chips = serializers.ListField(child=serializers.CharField(max_length=100), min_length=1)
    method = serializers.CharField(max_length=200)
    place = serializers.CharField(max_length=300)
    date = serializers.DateField()
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    attachments = DisposalAttachmentInputSerializer(many=True)


class DisposalDecisionInputSerializer(serializers.Serializer):
    reason = ReasonField(due="refuse", max_length=2000)


class DisposalRequestListSerializer(serializers.ModelSerializer):
    """A request in a list: its chips by count and SHA-256 (the detail names them)."""

    organisation = serializers.SlugRelatedField(slug_field="code", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    decided_by_organisation = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    attachments = DisposalAttachmentSerializer(many=True, read_only=True)

    class Meta:
        model = DisposalRequest
        fields = [
            "id",
            "kind",
            "state",
            "organisation",
            "requested_by",
            "requested_at",
            "country",
            "method",
            "place",
            "date",
            "reason",
            "chip_count",
            "chips_sha256",
            "attachments",
            "log_index",
            "decided_by",
            "decided_by_organisation",
            "decided_at",
            "decision_reason",
            "decision_log_index",
        ]


class DisposalRequestSerializer(DisposalRequestListSerializer):
    """A request with the ids of its chips."""

    chips = serializers.SerializerMethodField()
    chip_statuses = serializers.SerializerMethodField(
        help_text="How many of the chips were in each status when asked: what the witness is told they leave "
        "(a chip reported lost or stolen is on the watch list, and an acceptance takes it off)."
    )

    class Meta(DisposalRequestListSerializer.Meta):
        fields = [*DisposalRequestListSerializer.Meta.fields, "chips", "chip_statuses"]

    def get_chip_statuses(self, obj) -> dict[str, int]:
        from django.db.models import Count

        rows = obj.chips.values("status").annotate(n=Count("id")).order_by("status")
        return {r["status"]: r["n"] for r in rows}

    def get_chips(self, obj) -> list[str]:
        from protocol.serials import format_chip_id

        rows = obj.chips.order_by("id").values_list("chip__manufacturer__code", "chip__serial")
        return [format_chip_id(m, s) for m, s in rows]


class WatchEntrySerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    model = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    custodian = serializers.SlugRelatedField(slug_field="code", read_only=True)
    since = serializers.DateTimeField(read_only=True, allow_null=True)
    log_index = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = Chip
        fields = ["id", "model", "status", "custodian", "country", "since", "log_index", "last_verified_at"]


class ManufacturerReportInputSerializer(serializers.Serializer):
    serials = serializers.ListField(child=serializers.CharField(max_length=100), min_length=1)


class ManufacturerReportResultSerializer(serializers.Serializer):
    submitted = serializers.IntegerField()
    added = serializers.IntegerField()
    log_index = serializers.IntegerField(allow_null=True)


class ManufacturerReportSerializer(serializers.ModelSerializer):
    manufacturer = serializers.SlugRelatedField(slug_field="code", read_only=True)
    reported_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ManufacturerReport
        fields = ["id", "manufacturer", "serial", "reported_at", "reported_by", "log_index"]
