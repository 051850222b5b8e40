"""Subscriptions (the secret is never serialised here: the views add it once) and deliveries with their log."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from compliance.delivery import hears_of
from compliance.delivery.destinations import DestinationRefused, check
from compliance.models import Delivery, DeliveryAttempt, Subscription
from core.countries import country_codes
from core.problems import Problem
from registry.choices import OrgKind


class SubscriptionSerializer(serializers.ModelSerializer):
    webhook_url = serializers.URLField(max_length=500, required=False, allow_blank=True)

    class Meta:
        model = Subscription
        fields = ["id", "name", "min_severity", "countries", "webhook_url", "email", "active", "created_at"]
        read_only_fields = ["created_at"]

    def _organisation(self):
        if self.instance is not None:
            return self.instance.organisation
        return self.context["request"].user.organisation

    def validate_countries(self, value):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise serializers.ValidationError("A list of ISO 3166-1 alpha-2 codes.")
        codes = sorted({v.strip().upper() for v in value})
        bad = [c for c in codes if c not in country_codes()]
        if bad:
            raise serializers.ValidationError(f"Not ISO 3166-1 alpha-2 codes: {', '.join(bad)}.")
        org = self._organisation()
        if org is not None and org.kind == OrgKind.INSPECTORATE:
            outside = [c for c in codes if c not in (org.jurisdictions or [])]
            if outside:
                raise serializers.ValidationError(f"Outside your jurisdictions: {', '.join(outside)}.")
        return codes

    def validate_webhook_url(self, value):
        if value:
            try:
                check(value)
            except DestinationRefused as exc:
                raise Problem(400, "destination_refused", f"The webhook URL is refused: {exc}.", field="webhook_url")
        return value

    def validate(self, attrs):
        def current(name):
            return attrs[name] if name in attrs else getattr(self.instance, name, "")

        if not current("webhook_url") and not current("email"):
            raise serializers.ValidationError("A subscription needs a webhook_url or an email (or both).")
        return attrs


class NewSubscriptionSerializer(SubscriptionSerializer):
    """The answer that creates a subscription: its symmetric webhook secret, shown this once."""

    secret = serializers.CharField(read_only=True, help_text="Signs the webhooks (Standard Webhooks); shown once.")

    class Meta(SubscriptionSerializer.Meta):
        fields = [*SubscriptionSerializer.Meta.fields, "secret"]


class SubscriptionSecretSerializer(serializers.Serializer):
    """A rotated secret, shown this once."""

    id = serializers.IntegerField()
    secret = serializers.CharField()


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["id", "at", "status_code", "response_bytes", "error", "duration_ms"]


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = Delivery
        fields = [
            "id",
            "subscription",
            "alert",
            "event",
            "sequence",
            "channel",
            "webhook_id",
            "state",
            "attempts",
            "first_attempt_at",
            "next_attempt_at",
            "delivered_at",
            "created_at",
        ]
        read_only_fields = fields


class DeliveryDetailSerializer(DeliverySerializer):
    log = DeliveryAttemptSerializer(many=True, read_only=True)
    payload = serializers.SerializerMethodField(
        help_text="The message as sent; null for one never delivered whose alert's country has since left the "
        "subscriber's jurisdictions (it is not sent, nor shown, to a party no longer entitled to it)."
    )

    @extend_schema_field({"type": "object", "nullable": True, "additionalProperties": True})
    def get_payload(self, delivery):
        if delivery.delivered_at is None and not hears_of(delivery.subscription.organisation, delivery.alert):
            return None
        return delivery.payload

    class Meta(DeliverySerializer.Meta):
        fields = [*DeliverySerializer.Meta.fields, "payload", "log"]
        read_only_fields = fields
