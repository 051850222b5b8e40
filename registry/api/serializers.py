from contextlib import contextmanager

from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.validators import ASCIIUsernameValidator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.countries import country_codes
from core.fields import acts_for
from registry import authority, records
from registry.catalog import CONVENTIONS, THROUGHPUT_FIELDS, h100_equivalents
from registry.choices import ChipStatus, OrgKind, Role
from registry.models import (
    AcceleratorModel,
    AcceleratorModelRevision,
    APIToken,
    Chip,
    ChipEvent,
    HardwareIdentity,
    Organisation,
    User,
)
from registry.models.catalog import FIGURE_FIELDS


class OrganisationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organisation
        fields = ["id", "code", "name", "kind", "country", "jurisdictions", "created_at"]
        read_only_fields = ["created_at"]

    def validate_country(self, value):
        value = (value or "").upper()
        if value and value not in country_codes():
            raise serializers.ValidationError(f"{value!r} is not an ISO 3166-1 alpha-2 code.")
        return value

    def validate_jurisdictions(self, value):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise serializers.ValidationError("A list of ISO 3166-1 alpha-2 codes.")
        codes = sorted({v.upper() for v in value})
        bad = [c for c in codes if c not in country_codes()]
        if bad:
            raise serializers.ValidationError(f"Not ISO 3166-1 alpha-2 codes: {', '.join(bad)}.")
        return codes

    def validate(self, attrs):
        # The code is in every chip id and log event: it never changes.
        if self.instance is not None and "code" in attrs and attrs["code"] != self.instance.code:
            raise serializers.ValidationError({"code": "cannot be changed."})
        if self.instance is not None:
            # Who may change these at all comes before whether the values fit
            # (registry.records asks again before it writes).
            changed = {f for f, v in attrs.items() if getattr(self.instance, f) != v}
            authority.check_organisation_change(self.context["request"].user, self.instance, changed)
        kind = attrs.get("kind", getattr(self.instance, "kind", None))
        jurisdictions = attrs.get("jurisdictions", getattr(self.instance, "jurisdictions", None))
        if jurisdictions and kind != OrgKind.INSPECTORATE:
            raise serializers.ValidationError({"jurisdictions": "Only inspectorates have jurisdictions."})
        return attrs

    # Who may change which field is registry.authority's to decide; records writes and logs.
    def create(self, validated):
        with _as_validation_error():
            return records.create_organisation(self.context["request"].user, **validated)

    def update(self, instance, validated):
        validated.pop("code", None)
        with _as_validation_error():
            return records.update_organisation(instance, self.context["request"].user, validated)


@contextmanager
def _as_validation_error():
    """The model's own checks (full_clean in registry.records) answer 400, not 500."""
    try:
        yield
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages) from None


class UserSerializer(serializers.ModelSerializer):
    organisation = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    password = serializers.CharField(write_only=True, required=False, style={"input_type": "password"})

    class Meta:
        model = User
        fields = ["id", "username", "email", "organisation", "role", "is_active", "password", "date_joined"]
        read_only_fields = ["date_joined"]

    def validate_username(self, value):
        # Letters, digits and @.+-_ of ASCII only, as the schema's pattern says (JSON Schema's \w is ASCII): a
        # name in look-alike letters (Cyrillic "а" for "a") would pass for another user's in a log or a list.
        try:
            ASCIIUsernameValidator()(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
        return value

    def validate_password(self, value):
        validate_password(value)
        return value

    def validate(self, attrs):
        actor = self.context["request"].user
        home = self.instance.organisation if self.instance is not None else actor.organisation
        acts_for(
            self,
            "organisation",
            home.code if home is not None else None,
            "A user is created in your own organisation, and stays in its own: a registry administrator places "
            "users in other organisations through the Django admin.",
        )
        for flag in ("is_superuser", "is_staff"):
            acts_for(
                self,
                flag,
                bool(getattr(self.instance, flag, False)),
                "Only a superuser makes a registry administrator, in the Django admin.",
            )
        return attrs

    def create(self, validated):
        actor = self.context["request"].user
        user = records.create_user(
            actor,
            actor.organisation,
            username=validated["username"],
            role=validated.get("role", Role.READ_ONLY),
            password=validated.get("password"),
            email=validated.get("email", ""),
            is_active=validated.get("is_active", True),
        )
        return user

    def update(self, instance, validated):
        return records.update_user(instance, self.context["request"].user, dict(validated))


class APITokenSerializer(serializers.ModelSerializer):
    user = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = APIToken
        fields = ["id", "user", "name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]
        read_only_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]

    def validate_expires_at(self, value):
        from django.utils import timezone

        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("must be in the future.")
        return value

    def validate(self, attrs):
        acts_for(
            self,
            "user",
            self.context["request"].user.username,
            "A token is issued to its caller: each user issues its own (an organisation's admins list and revoke "
            "its users' tokens).",
        )
        return attrs

    def create(self, validated):
        user = self.context["request"].user
        with transaction.atomic():
            row, plaintext = APIToken.issue(user, **validated)
            records.record_token("token.issued", row, user)
        row.token = plaintext
        return row


class APITokenCreatedSerializer(APITokenSerializer):
    """The creation answer: the only time the token itself is shown."""

    token = serializers.CharField(read_only=True, help_text="The token itself: shown once, here.")

    class Meta(APITokenSerializer.Meta):
        fields = [*APITokenSerializer.Meta.fields, "token"]


class AcceleratorModelSerializer(serializers.ModelSerializer):
    manufacturer = serializers.SlugRelatedField(slug_field="code", read_only=True)
    h100e = serializers.SerializerMethodField(help_text="H100-equivalents per chip under the configured convention.")
    h100e_by_convention = serializers.SerializerMethodField()
    reason = serializers.CharField(write_only=True, required=False, help_text="Why the figures are corrected.")

    class Meta:
        model = AcceleratorModel
        fields = [
            "id",
            "slug",
            "manufacturer",
            "name",
            *FIGURE_FIELDS,
            "h100e",
            "h100e_by_convention",
            "updated_at",
            "reason",
        ]
        read_only_fields = ["slug", "name", "updated_at", "tpp"]
        extra_kwargs = {
            **{f: {"min_value": 0} for f in THROUGHPUT_FIELDS},
            "tpp": {
                "help_text": "Total Processing Performance (US ECCN 3A090): the largest over the chip's precisions "
                "of dense TOP/s x bit length. Derived from the throughput figures; correct those instead."
            },
            "source": {"help_text": "Where the figures come from: a document name or URL."},
        }

    def validate(self, attrs):
        # Read-only fields are silently dropped by default: a treaty body sending a TPP would believe it set.
        if "tpp" in self.initial_data:
            raise serializers.ValidationError(
                {"tpp": "TPP is derived from the throughput figures (dense TOP/s x bit length); correct those."},
                code="derived",
            )
        return attrs

    def get_h100e(self, obj) -> float | None:
        return h100_equivalents(obj)

    def get_h100e_by_convention(self, obj) -> dict:
        return {c: h100_equivalents(obj, c) for c in CONVENTIONS}

    def update(self, instance, validated):
        reason = validated.pop("reason", "")
        records.correct_model(instance, self.context["request"].user, validated, reason)
        instance.refresh_from_db()
        return instance


class AcceleratorModelRevisionSerializer(serializers.ModelSerializer):
    changed_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = AcceleratorModelRevision
        fields = ["id", "at", "changed_by", "reason", "before", "after"]


class HardwareIdentitySerializer(serializers.ModelSerializer):
    """A chip's device identity (HARDWARE.md 5): what, on whose word, when, and its log event."""

    key_sha256 = serializers.CharField(
        help_text="SHA-256 of the identity certificate's SubjectPublicKeyInfo; '' until known."
    )
    enrolled_by = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = HardwareIdentity
        fields = ["identity", "key_sha256", "source", "enrolled_by", "enrolled_at", "log_index"]
        read_only_fields = fields


class ChipSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    device_identity = serializers.SerializerMethodField()
    manufacturer = serializers.SlugRelatedField(slug_field="code", read_only=True)
    model = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    custodian = serializers.SlugRelatedField(slug_field="code", read_only=True)
    registered_by = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = Chip
        fields = [
            "id",
            "manufacturer",
            "serial",
            "model",
            "uuid",
            "board_part_number",
            "attestation_key_fingerprint",
            "status",
            "custodian",
            "registered_by",
            "country",
            "batch",
            "last_verified_at",
            "hardware_verified_at",
            "device_identity",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(HardwareIdentitySerializer(allow_null=True))
    def get_device_identity(self, chip):
        try:
            identity = chip.hardware_identity
        except HardwareIdentity.DoesNotExist:
            return None
        return HardwareIdentitySerializer(identity).data


class ChipRegistrationRowSerializer(serializers.Serializer):
    """One row of a registration (for the schema; rows are validated in bulk)."""

    chip = serializers.CharField(required=False, help_text="`<manufacturer>:<serial>`; or give both below.")
    manufacturer = serializers.CharField(required=False)
    serial = serializers.CharField(required=False)
    model = serializers.CharField(help_text="A model slug from /api/v1/models/.")
    uuid = serializers.CharField(required=False)
    board_part_number = serializers.CharField(required=False)
    attestation_key_fingerprint = serializers.CharField(required=False)
    status = serializers.ChoiceField(choices=ChipStatus.choices, required=False)
    device_identity = serializers.CharField(
        required=False,
        help_text="Manufacturers only: the chip's device identity `<vendor>-<generation>:<HEX>` (HARDWARE.md 5).",
    )


class RegistrationResultSerializer(serializers.Serializer):
    batch = serializers.UUIDField(allow_null=True)
    submitted = serializers.IntegerField()
    created = serializers.IntegerField()
    existing = serializers.IntegerField()
    log_index = serializers.IntegerField(allow_null=True)


class ChipChangeSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=ChipStatus.choices, required=False)
    # No custodian: custody moves only through a transfer the receiver confirms.
    model = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=AcceleratorModel.objects.all(),
        required=False,
        help_text="A correction of the chip's model: by its manufacturer or the treaty body only.",
    )
    uuid = serializers.CharField(max_length=64, required=False, allow_blank=True)
    board_part_number = serializers.CharField(max_length=64, required=False, allow_blank=True)
    attestation_key_fingerprint = serializers.CharField(max_length=128, required=False, allow_blank=True)
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class ChipModelCorrectedSerializer(serializers.Serializer):
    """The answer to a model correction by someone who does not hold the chip (its manufacturer)."""

    id = serializers.CharField()
    model = serializers.CharField()


class ChipEventSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    actor_organisation = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)

    class Meta:
        model = ChipEvent
        fields = ["id", "at", "kind", "actor", "actor_organisation", "before", "after", "reason", "log_index"]


ROLE_CHOICES = Role.choices
