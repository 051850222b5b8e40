from django.apps import AppConfig


class AttestationsConfig(AppConfig):
    name = "attestations"
    verbose_name = "Signed attestations"

    def ready(self):
        from attestations import log_events  # noqa: F401  (declares the log event names)
