from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "runs"
    verbose_name = "Training runs"

    def ready(self):
        from runs import log_events  # noqa: F401  (declares the log event names)
