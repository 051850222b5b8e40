"""Make the treaty body's key pair for tips: the private key to a file (mode 0600), the public key printed.

    manage.py tips_keypair /secure/place/tips-private.key

Give the public key to every deployment as CHIPREG_TIPS_PUBLIC_KEY; keep the private key file with the
treaty body and name it (CHIPREG_TIPS_PRIVATE_KEY_FILE) only where the treaty body triages. Run it on the
treaty body's machine, not on the registry's server.
"""

import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from casework.sealing import new_keypair


class Command(BaseCommand):
    help = "Make the treaty body's key pair for sealed tips (private key to a file, public key printed)."

    def add_arguments(self, parser):
        parser.add_argument("private_key_file", help="where to write the private key (must not exist)")

    def handle(self, *args, **options):
        path = Path(options["private_key_file"])
        if path.exists():
            raise CommandError(f"{path} exists: not overwritten.")
        private, public = new_keypair()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(private + "\n")
        self.stdout.write(f"CHIPREG_TIPS_PUBLIC_KEY={public}\n")
        self.stderr.write(f"Private key written to {path} (keep it with the treaty body).\n")
