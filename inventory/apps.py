from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "inventory"
    verbose_name = "Inventory and accountancy"

    def ready(self):
        from inventory import log_events  # noqa: F401  (declares the log event names)
