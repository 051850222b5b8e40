from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Console (server-rendered pages)"

    def ready(self):
        from console import reconciliation, tasks
        from outbox.relay import subscribe

        # Reconciliation snapshots go stale when the books or the listings of a facility change.
        subscribe("placements.changed", tasks.reconciliation_events, batched=True)
        reconciliation.connect_signals()
