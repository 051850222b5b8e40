"""`manage.py log_monitor URL`: check a running registry's log against a pinned key.

The work is in protocol.monitor (no Django), so the operator agent can run
the same check. Exit status: 0 consistent; 1 could not check (network, usage,
state file); 2 a checkpoint does not verify under the pinned key; 3 split view
(two signed checkpoints that cannot both hold, or a rollback). The state file
is only advanced after a successful check.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from protocol import monitor


class Command(BaseCommand):
    help = "Fetch a registry's checkpoint, verify it against a pinned key, and prove it extends the last one seen."

    def add_arguments(self, parser):
        parser.add_argument("url", help="The registry's root URL, e.g. https://registry.example")
        parser.add_argument("--state", help="JSON file remembering the last checkpoint seen (created if missing).")
        keys = parser.add_mutually_exclusive_group()
        keys.add_argument("--key", help="The log's verifier key line, name+hash+base64.")
        keys.add_argument("--key-file", help="A file whose first line is the verifier key line.")
        parser.add_argument("--timeout", type=float, default=10.0, help="Seconds per HTTP request.")

    def handle(self, url, state=None, key=None, key_file=None, timeout=10.0, **options):
        if key_file:
            try:
                key = Path(key_file).read_text(encoding="utf-8").strip().splitlines()[0]
            except (OSError, IndexError) as exc:
                raise CommandError(f"cannot read a key line from {key_file}: {exc}", returncode=1) from None

        def fetcher(target):
            return monitor.fetch(target, timeout=timeout)

        try:
            outcome = monitor.run(url, key, state, fetcher=fetcher)
        except monitor.SplitView as exc:
            evidence = ""
            if exc.seen and exc.served:
                evidence = f"\n--- remembered checkpoint ---\n{exc.seen}--- served checkpoint ---\n{exc.served}"
            raise CommandError(f"SPLIT VIEW: {exc}{evidence}", returncode=exc.exit_code) from None
        except monitor.SignatureFailure as exc:
            raise CommandError(f"SIGNATURE FAILURE: {exc}", returncode=exc.exit_code) from None
        except monitor.MonitorError as exc:
            raise CommandError(str(exc), returncode=exc.exit_code) from None
        self.stdout.write(outcome.describe())
