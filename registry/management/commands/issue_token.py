from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from registry import records
from registry.models import APIToken, User


class Command(BaseCommand):
    help = "Issue an API token for a user and print it once. It is stored only as a keyed hash."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="A label to tell tokens apart.")
        parser.add_argument("--days", type=int, help="Expire after this many days (default: never).")

    def handle(self, username, name, days, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        if days is not None and days <= 0:
            raise CommandError("--days must be positive.")
        expires = timezone.now() + timedelta(days=days) if days else None
        with transaction.atomic():
            row, plaintext = APIToken.issue(user, name=name, expires_at=expires)
            records.record_token("token.issued", row, None)
        self.stdout.write(plaintext)
