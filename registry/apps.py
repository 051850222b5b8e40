from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Registry"

    def ready(self):
        from registry import (
            log_events,  # noqa: F401  (declares the log event names)
            schema,  # noqa: F401  (registers the OpenAPI security scheme)
        )
