from django.conf import settings
from django.core.management.base import BaseCommand

from transparency.checkpoints import generate_log_key, verifier_key_line


class Command(BaseCommand):
    help = "Create the registry's Ed25519 log key if it does not exist (never overwrites), and print its key line."

    def handle(self, **options):
        path = settings.CHIPREG_LOG_KEY_PATH
        if path.exists():
            self.stdout.write(f"Log key {path} exists.")
        else:
            generate_log_key(path)
            self.stdout.write(f"Created log key {path} (mode 0600). Back it up: losing it ends this log.")
        self.stdout.write(verifier_key_line())
