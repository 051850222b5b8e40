from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from rest_framework import serializers

from protocol import note
from protocol.errors import ProtocolError
from transparency.checkpoints import latest_checkpoint
from transparency.events import append_event
from transparency.models import Cosignature, WitnessKey

WITNESS_ORG_KINDS = ("treaty_body", "inspectorate")


class WitnessKeySerializer(serializers.ModelSerializer):
    organisation = serializers.SlugRelatedField(slug_field="code", read_only=True)
    public_key = serializers.CharField(write_only=True, help_text="Ed25519 public key, PEM SubjectPublicKeyInfo.")

    class Meta:
        model = WitnessKey
        fields = ["id", "organisation", "name", "public_key", "key_line", "created_at", "retired_at"]
        read_only_fields = ["key_line", "created_at", "retired_at"]

    def validate_name(self, value):
        if not value or any(c.isspace() for c in value) or "+" in value:
            raise serializers.ValidationError("A key name has no spaces and no '+'.")
        return value

    def validate_public_key(self, value):
        try:
            key = serialization.load_pem_public_key(value.encode())
        except ValueError:
            raise serializers.ValidationError("Not a PEM public key.", code="unsupported_key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise serializers.ValidationError("Witness keys are Ed25519.", code="unsupported_key")
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def validate(self, attrs):
        user = self.context["request"].user
        org = user.organisation
        if org is None or org.kind not in WITNESS_ORG_KINDS:
            raise serializers.ValidationError("Only treaty bodies and inspectorates register witness keys.")
        return attrs

    def create(self, validated):
        user = self.context["request"].user
        pub = validated["public_key"]
        witness = WitnessKey.objects.create(
            organisation=user.organisation,
            name=validated["name"],
            public_key=pub,
            key_line=note.cosigner_key_line(validated["name"], pub),
            created_by=user,
        )
        append_event(
            "witness.registered",
            witness.name,
            {"organisation": user.organisation.code, "key_line": witness.key_line, "by": user.username},
        )
        return witness


class CosignatureSerializer(serializers.Serializer):
    witness = serializers.CharField(help_text="The witness key's name.")
    size = serializers.IntegerField(min_value=1, help_text="The size of the checkpoint cosigned (the latest).")
    line = serializers.CharField(help_text="The tlog-cosignature signature line, '— <name> <base64>'.")
    timestamp = serializers.IntegerField(read_only=True)

    def validate(self, attrs):
        user = self.context["request"].user
        witness = WitnessKey.objects.filter(name=attrs["witness"], retired_at__isnull=True).first()
        if witness is None or witness.organisation_id != user.organisation_id:
            raise serializers.ValidationError({"witness": "No active witness key of your organisation has that name."})
        checkpoint = latest_checkpoint()
        if checkpoint is None or checkpoint.size != attrs["size"]:
            raise serializers.ValidationError({"size": "Cosign the current checkpoint (GET /api/v1/log/checkpoint)."})
        body = note.checkpoint_body(settings.CHIPREG_LOG_ORIGIN, checkpoint.size, bytes(checkpoint.root))
        line = attrs["line"].rstrip("\n")
        try:
            timestamp = note.verify_cosignature(line, body, witness.name, bytes(witness.public_key))
        except ProtocolError as exc:
            raise serializers.ValidationError({"line": exc.detail or "The cosignature does not verify."}) from None
        attrs.update(witness_obj=witness, checkpoint=checkpoint, line=line, timestamp=timestamp)
        return attrs

    def create(self, validated):
        return Cosignature.objects.create(
            checkpoint=validated["checkpoint"],
            witness=validated["witness_obj"],
            line=validated["line"],
            timestamp=validated["timestamp"],
        )

    def to_representation(self, instance):
        return {
            "witness": instance.witness.name,
            "size": instance.checkpoint.size,
            "line": instance.line,
            "timestamp": instance.timestamp,
        }
