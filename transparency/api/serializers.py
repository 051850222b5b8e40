"""Witness keys and their cosignatures (LOG.md section 3).

Only treaty bodies and inspectorates witness the log: an operator cosigning
the log that records its own chips would add no independent view.
"""

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from rest_framework import serializers

from core.problems import Problem
from protocol import note
from protocol.errors import ProtocolError
from transparency import witnesses
from transparency.checkpoints import latest_checkpoint, public_key_bytes
from transparency.models import WitnessKey

WITNESS_ORG_KINDS = ("treaty_body", "inspectorate")


def require_witness_org(user):
    org = getattr(user, "organisation", None)
    if not user.is_superuser and (org is None or org.kind not in WITNESS_ORG_KINDS):
        raise Problem(403, "forbidden", "Only treaty bodies and inspectorates witness the log.")
    return org


class WitnessKeySerializer(serializers.ModelSerializer):
    organisation = serializers.CharField(read_only=True, help_text="The witness organisation's code.")
    public_key = serializers.CharField(write_only=True, help_text="Ed25519 public key, PEM SubjectPublicKeyInfo.")

    class Meta:
        model = WitnessKey
        fields = ["id", "organisation", "name", "public_key", "key_line", "created_at", "retired_at"]
        read_only_fields = ["key_line", "created_at", "retired_at"]

    def validate_name(self, value):
        # The signed-note rules for a key name: no space, no '+', no control character.
        if not value or "+" in value or any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            raise serializers.ValidationError("A key name has no spaces, no '+' and no control characters.")
        if value == settings.CHIPREG_LOG_ORIGIN:
            raise serializers.ValidationError("That name is the log's own key name.")
        return value

    def validate_public_key(self, value):
        try:
            key = serialization.load_pem_public_key(value.encode())
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise serializers.ValidationError("Not a PEM public key.", code="unsupported_key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise serializers.ValidationError("Witness keys are Ed25519.", code="unsupported_key")
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        if not note.is_strong_ed25519_key(raw):
            # A small-order key "verifies" forged cosignatures: anyone could cosign in its name.
            raise serializers.ValidationError("Not an Ed25519 key of large order.", code="unsupported_key")
        # A cosignature signs the checkpoint, not the witness's name (the name is bound only by
        # the key hash, which anyone recomputes): a key registered under a second name would turn
        # each cosignature of its holder into a second, "independent" one under that name. And
        # the log's own key is no witness of the log.
        if WitnessKey.objects.filter(public_key=raw).exists() or raw == public_key_bytes():
            raise serializers.ValidationError(witnesses.DUPLICATE_KEY, code="duplicate_key")
        return raw

    def validate(self, attrs):
        if require_witness_org(self.context["request"].user) is None:
            # A superuser of no organisation: a witness key is stored under its organisation's code.
            raise Problem(403, "forbidden", "A witness key belongs to an organisation; your account has none.")
        return attrs

    def create(self, validated):
        # The cap on active keys is judged under the organisation's lock, with the row's insert (witnesses).
        user = self.context["request"].user
        return witnesses.register(user.organisation.code, validated["name"], validated["public_key"], user)


class CosignatureSerializer(serializers.Serializer):
    witness = serializers.CharField(help_text="The witness key's name.")
    size = serializers.IntegerField(min_value=0, help_text="The size of the checkpoint cosigned (the latest).")
    line = serializers.CharField(help_text="The tlog-cosignature signature line, '— <name> <base64>'.")
    timestamp = serializers.IntegerField(read_only=True)

    def validate(self, attrs):
        user = self.context["request"].user
        witness = WitnessKey.objects.filter(name=attrs["witness"], retired_at__isnull=True).first()
        org = getattr(user, "organisation", None)
        if witness is None or org is None or witness.organisation != org.code:
            raise serializers.ValidationError({"witness": "No active witness key of your organisation has that name."})
        checkpoint = latest_checkpoint()
        if checkpoint is None or checkpoint.size != attrs["size"]:
            # A witness vouches for the head it saw; an old one says nothing about today's view.
            current = checkpoint.size if checkpoint else None
            raise Problem(
                409,
                "stale_checkpoint",
                f"Cosign the current checkpoint (size {current}); GET /api/v1/log/checkpoint and sign again.",
                current_size=current,
            )
        # The signed text is the stored note's own body, byte for byte.
        body = note.parse_checkpoint(checkpoint.note).body
        line = attrs["line"].rstrip("\n")
        try:
            timestamp = note.verify_cosignature(line, body, witness.name, bytes(witness.public_key))
        except ProtocolError as exc:
            raise Problem(400, "invalid_cosignature", exc.detail or "The cosignature does not verify.") from None
        attrs.update(witness_obj=witness, checkpoint=checkpoint, line=line, timestamp=timestamp)
        return attrs

    def create(self, validated):
        return witnesses.cosign(
            validated["checkpoint"], validated["witness_obj"], validated["line"], validated["timestamp"]
        )

    def to_representation(self, instance):
        return {
            "witness": instance.witness.name,
            "size": instance.checkpoint.size,
            "line": instance.line,
            "timestamp": instance.timestamp,
        }
