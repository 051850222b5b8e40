from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from attestations.bases import Basis, record_field
from attestations.delegations import reads_delivery
from attestations.models import (
    AnyUsageRecord,
    Attestation,
    Challenge,
    ChipEvidence,
    Delegation,
    KeyPurpose,
    Landmark,
    Rejection,
    SigningKey,
)
from core.fields import acts_for_own_organisation


class SigningKeySerializer(serializers.ModelSerializer):
    organisation = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = SigningKey
        fields = [
            "keyid",
            "organisation",
            "name",
            "algorithm",
            "purpose",
            "pem",
            "valid_from",
            "retired_at",
            "revoked_since",
            "revoked_at",
            "created_at",
            "log_index",
        ]


class RevokedKeySerializer(SigningKeySerializer):
    """The answer to a revocation: the key, and how many of its statements were flagged."""

    flagged_statements = serializers.IntegerField(
        read_only=True, help_text="Statements signed with the key since `revoked_since`, now flagged."
    )

    class Meta(SigningKeySerializer.Meta):
        fields = [*SigningKeySerializer.Meta.fields, "flagged_statements"]


class EnvelopeSignatureSerializer(serializers.Serializer):
    """One signature of a DSSE envelope (protocol/dsse.py accepts exactly these members)."""

    keyid = serializers.CharField()
    sig = serializers.CharField(help_text="Base64.")


class KeyRegistrationSerializer(serializers.Serializer):
    public_key = serializers.CharField(source="pem", help_text="PEM SubjectPublicKeyInfo: Ed25519, P-256 or P-384.")
    name = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    purpose = serializers.ChoiceField(choices=KeyPurpose.choices, required=False)
    valid_from = serializers.DateTimeField(
        required=False,
        help_text="Default: the registration (whole seconds). Never before it: an earlier instant is refused"
        " (400 backdated_key), so that a new key cannot vouch for statements dated before it existed.",
    )

    def validate(self, attrs):
        acts_for_own_organisation(
            self,
            "organisation",
            "A key is registered for your own organisation: another organisation's keys are registered by its "
            "own users.",
        )
        return attrs


class RetireSerializer(serializers.Serializer):
    at = serializers.DateTimeField(required=False, help_text="Default: now.")


class RevokeSerializer(serializers.Serializer):
    since = serializers.DateTimeField(help_text="Compromised since this instant.")
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Why, in words every party reads: the key.revoked log event is read by every signed-in party.",
    )


class LandmarkSerializer(serializers.ModelSerializer):
    organisation = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = Landmark
        fields = ["code", "name", "organisation", "latitude", "longitude", "created_at", "log_index"]
        read_only_fields = ["created_at", "log_index"]


class EnvelopeSerializer(serializers.Serializer):
    """The DSSE envelope (ATTESTATION.md section 2); sent as raw JSON, verified byte for byte."""

    payloadType = serializers.CharField()
    payload = serializers.CharField()
    signatures = EnvelopeSignatureSerializer(many=True, help_text="Exactly the members keyid and sig each.")


class AcceptedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    statement_sha256 = serializers.CharField()
    log_index = serializers.IntegerField()
    chips = serializers.IntegerField()
    flags = serializers.DictField(child=serializers.IntegerField())


class AttestationSerializer(serializers.ModelSerializer):
    operator = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    facility = serializers.SlugRelatedField(slug_field="code", read_only=True)
    landmark = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    # Who delivered it: the speaker itself, or the operator's delegated uploader (README "Delegated delivery"),
    # to those who read the operator's delegations; null to the other readers, whichever it was.
    uploaded_by_org = serializers.SerializerMethodField()

    class Meta:
        model = Attestation
        fields = [
            "id",
            "kind",
            "statement_sha256",
            "keyids",
            "operator",
            "landmark",
            "uploaded_by_org",
            "facility",
            "issued_at",
            "nonce",
            "header",
            "scope",
            "observed_at",
            "period_start",
            "period_end",
            "chip_count",
            "received_at",
            "log_index",
            "flagged",
        ]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_uploaded_by_org(self, att):
        request = self.context.get("request")
        if request is None or not reads_delivery(request.user, att.operator, att.uploaded_by_org_id):
            return None
        return att.uploaded_by_org.code


class RejectionSerializer(serializers.ModelSerializer):
    organisation = serializers.SlugRelatedField(slug_field="code", read_only=True)
    user = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Rejection
        fields = ["id", "at", "organisation", "user", "status", "code", "detail", "body_bytes", "body_sha256"]


class UsageRecordSerializer(serializers.ModelSerializer):
    facility = serializers.SlugRelatedField(slug_field="code", read_only=True)
    chip = serializers.CharField(source="chip_ref")
    statement = serializers.IntegerField(source="attestation_id")
    flop = serializers.SerializerMethodField(help_text="Upper-bound FLOP on the requested basis.")

    class Meta:
        model = AnyUsageRecord
        fields = [
            "id",
            "chip",
            "facility",
            "statement",
            "period_start",
            "period_end",
            "active_s",
            "utilization",
            "energy_j",
            "flop",
        ]

    def get_flop(self, obj) -> float | None:
        return getattr(obj, record_field(self.context.get("basis", Basis.FP16)))


class UsageTotalSerializer(serializers.Serializer):
    basis = serializers.CharField()
    active_s = serializers.FloatField()
    energy_j = serializers.FloatField()
    flop = serializers.FloatField()


class ChallengeSerializer(serializers.ModelSerializer):
    """A challenge (HARDWARE.md 1): the nonce to have each GPU sign a report over."""

    organisation = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = Challenge
        fields = ["nonce", "organisation", "expires_at"]
        read_only_fields = fields


class ChipEvidenceSerializer(serializers.ModelSerializer):
    """One entry of a chip's evidence history: which statement, when, what came of it."""

    statement = serializers.IntegerField(source="attestation_id", read_only=True)
    statement_kind = serializers.CharField(source="attestation.kind", read_only=True)
    log_index = serializers.IntegerField(source="attestation.log_index", read_only=True, allow_null=True)
    chip = serializers.CharField(source="chip_ref", read_only=True)

    class Meta:
        model = ChipEvidence
        fields = [
            "id",
            "statement",
            "statement_kind",
            "log_index",
            "chip",
            "observed_at",
            "outcome",
            "step",
            "detail",
            "identity",
            "key_sha256",
            "fwid",
            "driver_version",
            "enrolled",
        ]
        read_only_fields = fields


class IdentityEnrolmentSerializer(serializers.Serializer):
    device_identity = serializers.CharField(
        help_text="`<vendor>-<generation>:<HEX>`, e.g. nvidia-gh100:41431D480FE5E87274"
    )


class IdentityEnrolledSerializer(serializers.Serializer):
    chip = serializers.CharField()
    identity = serializers.CharField()
    source = serializers.CharField()
    enrolled_at = serializers.DateTimeField()
    log_index = serializers.IntegerField(allow_null=True)
    identity_mismatch = serializers.BooleanField(
        help_text="This enrolment contradicts one made on an operator's evidence: an identity_mismatch finding."
    )


class DelegationSerializer(serializers.ModelSerializer):
    operator = serializers.SlugRelatedField(slug_field="code", read_only=True)
    uploader = serializers.SlugRelatedField(slug_field="code", read_only=True)
    granted_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    revoked_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    in_force = serializers.SerializerMethodField()

    class Meta:
        model = Delegation
        fields = [
            "id",
            "operator",
            "uploader",
            "in_force",
            "granted_at",
            "granted_by",
            "log_index",
            "revoked_at",
            "revoked_by",
            "revoke_log_index",
        ]

    def get_in_force(self, obj) -> bool:
        return obj.revoked_at is None


class DelegationCreateSerializer(serializers.Serializer):
    uploader = serializers.CharField(max_length=64, help_text="The code of the operator that may deliver.")

    def validate(self, attrs):
        acts_for_own_organisation(
            self,
            "operator",
            "A delegation is granted by the operator whose statements are delivered: your own organisation.",
        )
        return attrs
