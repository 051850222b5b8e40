from django.apps import AppConfig


class AttestationsConfig(AppConfig):
    name = "attestations"
    verbose_name = "Signed attestations"

    def ready(self):
        from attestations import handlers, log_events  # noqa: F401  (outbox subscriptions, log event names)
