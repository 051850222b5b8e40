from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Compliance"

    def ready(self):
        from compliance import handlers, log_events  # noqa: F401  (outbox subscriptions, log event names)
