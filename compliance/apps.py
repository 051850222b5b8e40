from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Compliance"

    def ready(self):
        from compliance import exports, handlers, log_events  # noqa: F401  (outbox subscriptions, log event names)
        from inventory import hooks

        hooks.on("exports.shipping", exports.refuse_forbidden_shipment)
