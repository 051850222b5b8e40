"""Tips and cases as the API takes and shows them."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from casework.choices import CaseState, LinkKind, TriageAction
from casework.models import Case, CaseLink, CaseStep, Tip
from core.fields import ReasonField


class CoordinatesSerializer(serializers.Serializer):
    lat = serializers.FloatField(min_value=-90, max_value=90)
    lon = serializers.FloatField(min_value=-180, max_value=180)


class TipAttachmentInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    content_type = serializers.CharField(max_length=100)
    content = serializers.CharField(help_text="The file, base64.")


class TipContentSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=20000, trim_whitespace=False)
    serials = serializers.ListField(child=serializers.CharField(max_length=128), max_length=1000, default=list)
    coordinates = CoordinatesSerializer(required=False, allow_null=True, default=None)
    attachments = TipAttachmentInputSerializer(many=True, default=list)


class TipInputSerializer(TipContentSerializer):
    anonymous = serializers.BooleanField(
        default=True,
        help_text="Signed in: true (the default) asks the treaty body, the only reader of who sent a tip, not "
        "to pass that on. The address and the token are never stored either way.",
    )


class AdditionInputSerializer(TipContentSerializer):
    receipt = serializers.CharField(max_length=100, help_text="The receipt code the tip's submission returned.")


class TipReceiptSerializer(serializers.Serializer):
    tip = serializers.UUIDField()
    receipt = serializers.CharField(help_text="Shown once, stored only as a hash: keep it to add to the tip later.")
    received_at = serializers.DateTimeField()
    log_index = serializers.IntegerField()


class AdditionReceiptSerializer(serializers.Serializer):
    received_at = serializers.DateTimeField()
    log_index = serializers.IntegerField()


class TipSerializer(serializers.ModelSerializer):
    case = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    triaged_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    additions = serializers.SerializerMethodField()

    class Meta:
        model = Tip
        fields = [
            "ref",
            "received_at",
            "size",
            "state",
            "additions",
            "case",
            "triaged_at",
            "triaged_by",
            "dismiss_reason",
            "log_index",
        ]

    def get_additions(self, tip) -> int:
        return len(tip.additions.all())


class TipDetailSerializer(TipSerializer):
    readable = serializers.SerializerMethodField()
    body = serializers.SerializerMethodField()
    addition_bodies = serializers.SerializerMethodField()

    class Meta(TipSerializer.Meta):
        fields = [*TipSerializer.Meta.fields, "readable", "body", "addition_bodies"]

    def get_readable(self, tip) -> bool:
        return self.context.get("opened") is not None

    @extend_schema_field({"type": "object", "additionalProperties": True, "nullable": True})
    def get_body(self, tip):
        opened = self.context.get("opened")
        return opened["tip"] if opened else None

    @extend_schema_field({"type": "array", "items": {"type": "object", "additionalProperties": True}})
    def get_addition_bodies(self, tip):
        opened = self.context.get("opened")
        return opened["additions"] if opened else []


class TriageInputSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=TriageAction.choices)
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    case = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    reason = ReasonField(due="dismiss", max_length=5000)


class CaseLinkSerializer(serializers.ModelSerializer):
    added_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = CaseLink
        fields = ["kind", "target", "added_at", "added_by"]


class CaseStepSerializer(serializers.ModelSerializer):
    by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = CaseStep
        fields = ["position", "at", "event", "by", "data", "log_index"]


class CaseSerializer(serializers.ModelSerializer):
    opened_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    inspectorates = serializers.SerializerMethodField()

    class Meta:
        model = Case
        fields = ["code", "title", "state", "conclusion", "opened_at", "opened_by", "closed_at", "inspectorates"]

    def get_inspectorates(self, case) -> list[str]:
        return [m.organisation.code for m in case.inspectorates.all()]


class CaseDetailSerializer(CaseSerializer):
    links = CaseLinkSerializer(many=True, read_only=True)
    steps = CaseStepSerializer(many=True, read_only=True)

    class Meta(CaseSerializer.Meta):
        fields = [*CaseSerializer.Meta.fields, "links", "steps"]


class CaseInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)


@extend_schema_field(serializers.ChoiceField(choices=LinkKind.choices))
class LinkKindField(serializers.CharField):
    """One of the link kinds in the schema; any other text reaches casework.links.check, whose 400
    `unknown_kind` is the documented answer (a ChoiceField answered a generic `invalid` first)."""


class LinkInputSerializer(serializers.Serializer):
    kind = LinkKindField(max_length=64)
    target = serializers.CharField(max_length=64)


class StateInputSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=CaseState.choices)
    conclusion = serializers.CharField(max_length=20000, required=False, allow_blank=True, default="")


class InspectorateInputSerializer(serializers.Serializer):
    organisation = serializers.CharField(max_length=32)
