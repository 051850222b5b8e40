"""`manage.py verify_log`: audit the stored log in one streamed pass (see transparency.verify).

Exit status 0 when every leaf, node, event and checkpoint agrees; otherwise a
CommandError (exit status 1 from the shell; raised as such by call_command)
whose message starts with the first bad index, e.g. "index 41: ...".
"""

from django.core.management.base import BaseCommand, CommandError

from protocol.errors import ProtocolError
from transparency.verify import LogMismatch, LogVerifier


class Command(BaseCommand):
    help = "Recompute the log from its stored leaves and check every node, event and signed checkpoint."

    def add_arguments(self, parser):
        parser.add_argument(
            "--key",
            help="The log's verifier key line to check signatures with (default: the registry's own key). "
            "Pin the published key line to audit independently of the key file.",
        )
        parser.add_argument("--chunk", type=int, default=5000, help="Leaves read per query (memory bound).")

    def handle(self, key=None, chunk=5000, verbosity=1, **options):
        if key is None:
            from transparency.checkpoints import verifier_key_line

            key = verifier_key_line()
        if chunk < 1:
            raise CommandError("--chunk must be at least 1")
        progress = self.stdout.write if verbosity > 1 else None
        try:
            counts = LogVerifier(key, chunk=chunk, progress=progress).run()
        except ProtocolError as exc:
            raise CommandError(f"bad key line: {exc.detail}") from None
        except LogMismatch as exc:
            raise CommandError(str(exc)) from None
        summary = ", ".join(f"{n} {what}" for what, n in counts.items())
        self.stdout.write(self.style.SUCCESS(f"log verified: {summary}"))
