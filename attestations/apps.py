from django.apps import AppConfig


class AttestationsConfig(AppConfig):
    name = "attestations"
    verbose_name = "Signed attestations"

    def ready(self):
        from attestations import handlers, log_events, shipments  # noqa: F401  (outbox subscriptions, log event names)
        from inventory import hooks

        hooks.on("chips.shipping", shipments.refuse_shipment_before_reports)
        hooks.on("chips.declaring", shipments.refuse_declaration_before_reports)
