from django.apps import AppConfig


class CaseworkConfig(AppConfig):
    name = "casework"
    verbose_name = "Casework (tips and cases)"

    def ready(self):
        from casework import log_events  # noqa: F401  (log event names)
