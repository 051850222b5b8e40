from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "inventory"
    verbose_name = "Inventory and accountancy"

    def ready(self):
        from inventory import log_events  # noqa: F401  (declares the log event names)
        from inventory.services import watch
        from registry import hooks

        # Lost or stolen chips raise their finding, and a manufacturer's report resolves its findings, in the
        # transaction of the registry's change (registry.hooks says why).
        hooks.on("chips.lost", watch.raise_lost)
        hooks.on("chips.reported", watch.resolve_reported)
