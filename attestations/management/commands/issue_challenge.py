"""manage.py issue_challenge ORG --nonce HEX [--expires-in 15m] (HARDWARE.md 1).

A registry administrator's challenge with a chosen nonce, so that evidence recorded earlier (an audit,
the tests, the fixtures) can be verified again; every one is a `challenge.imported` log event.
"""

import re
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from attestations.hardware import import_challenge
from core.errors import DomainError
from registry.models import Organisation

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text):
    match = re.fullmatch(r"(\d+)([smhd]?)", text.strip())
    if not match or int(match.group(1)) == 0:
        raise CommandError(f"--expires-in: {text!r} is not a duration such as 900s, 15m, 2h or 7d")
    return timedelta(seconds=int(match.group(1)) * UNITS[match.group(2) or "s"])


class Command(BaseCommand):
    help = "Create a challenge with a chosen nonce for an organisation (recorded evidence; logged)."

    def add_arguments(self, parser):
        parser.add_argument("organisation", help="The code of the operator (or treaty body) it is issued to.")
        parser.add_argument("--nonce", required=True, help="64 hex characters: the nonce the recorded reports signed.")
        parser.add_argument("--expires-in", default="15m", help="How long it stays valid (e.g. 900s, 15m, 2h, 7d).")

    def handle(self, organisation, nonce, expires_in, **options):
        org = Organisation.objects.filter(code=organisation).first()
        if org is None:
            raise CommandError(f"No organisation {organisation!r}.")
        try:
            challenge = import_challenge(org, nonce, duration(expires_in), by="manage.py issue_challenge")
        except DomainError as exc:
            raise CommandError(exc.detail) from None
        self.stdout.write(
            f"Challenge {challenge.nonce} for {org.code}, valid until {challenge.expires_at.isoformat()}"
            f" (log index {challenge.log_index})."
        )
