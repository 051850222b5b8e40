from django.contrib.auth.password_validation import validate_password
from rest_framework import serializers

from core.countries import country_codes
from registry.catalog import CONVENTIONS, h100_equivalents
from registry.choices import ChipStatus, OrgKind, Role
from registry.models import AcceleratorModel, AcceleratorModelRevision, APIToken, Chip, ChipEvent, Organisation, User
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
        if self.instance is not None:
            for field in ("code", "kind"):
                if field in attrs and attrs[field] != getattr(self.instance, field):
                    raise serializers.ValidationError({field: "cannot be changed."})
        kind = attrs.get("kind", getattr(self.instance, "kind", None))
        if attrs.get("jurisdictions") and kind != OrgKind.INSPECTORATE:
            raise serializers.ValidationError({"jurisdictions": "Only inspectorates have jurisdictions."})
        return attrs


class UserSerializer(serializers.ModelSerializer):
    organisation = serializers.SlugRelatedField(slug_field="code", read_only=True)
    password = serializers.CharField(write_only=True, required=False, style={"input_type": "password"})

    class Meta:
        model = User
        fields = ["id", "username", "email", "organisation", "role", "is_active", "password", "date_joined"]
        read_only_fields = ["date_joined"]

    def validate_password(self, value):
        validate_password(value)
        return value

    def create(self, validated):
        password = validated.pop("password", None)
        user = User(organisation=self.context["request"].user.organisation, **validated)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
        return user

    def update(self, instance, validated):
        password = validated.pop("password", None)
        if password:
            instance.set_password(password)
        return super().update(instance, validated)


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

    def create(self, validated):
        row, plaintext = APIToken.issue(self.context["request"].user, **validated)
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
        read_only_fields = ["slug", "name", "updated_at"]

    def get_h100e(self, obj) -> float | None:
        return h100_equivalents(obj)

    def get_h100e_by_convention(self, obj) -> dict:
        return {c: h100_equivalents(obj, c) for c in CONVENTIONS}

    def update(self, instance, validated):
        reason = validated.pop("reason", "")
        before = instance.figures()
        for field, value in validated.items():
            setattr(instance, field, value)
        after = instance.figures()
        if before != after:
            instance.save()
            AcceleratorModelRevision.objects.create(
                model=instance, changed_by=self.context["request"].user, reason=reason, before=before, after=after
            )
        return instance


class AcceleratorModelRevisionSerializer(serializers.ModelSerializer):
    changed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = AcceleratorModelRevision
        fields = ["id", "at", "changed_by", "reason", "before", "after"]


class ChipSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
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
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


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


class RegistrationResultSerializer(serializers.Serializer):
    batch = serializers.UUIDField(allow_null=True)
    submitted = serializers.IntegerField()
    created = serializers.IntegerField()
    existing = serializers.IntegerField()
    log_index = serializers.IntegerField(allow_null=True)


class ChipChangeSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=ChipStatus.choices, required=False)
    custodian = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Organisation.objects.all(),
        required=False,
        help_text="Hand the chip to another organisation (an operator or manufacturer).",
    )
    model = serializers.SlugRelatedField(slug_field="slug", queryset=AcceleratorModel.objects.all(), required=False)
    uuid = serializers.CharField(max_length=64, required=False, allow_blank=True)
    board_part_number = serializers.CharField(max_length=64, required=False, allow_blank=True)
    attestation_key_fingerprint = serializers.CharField(max_length=128, required=False, allow_blank=True)
    reason = serializers.CharField(required=False, allow_blank=True, default="")

    def validate_custodian(self, value):
        if value.kind not in (OrgKind.OPERATOR, OrgKind.MANUFACTURER):
            raise serializers.ValidationError("Chips are held by operators and manufacturers.")
        return value


class ChipEventSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)
    actor_organisation = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = ChipEvent
        fields = ["id", "at", "kind", "actor", "actor_organisation", "before", "after", "reason", "log_index"]


ROLE_CHOICES = Role.choices
