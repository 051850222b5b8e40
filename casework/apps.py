from django.apps import AppConfig


class CaseworkConfig(AppConfig):
    name = "casework"
    verbose_name = "Casework (tips and cases)"

    def ready(self):
        from casework import handlers, log_events  # noqa: F401  (outbox subscriptions, log event names)
