"""Demo data for `make run`: parties, users and chips, then the world the console shows. Idempotent."""

from django.core.management.base import BaseCommand
from django.db import transaction

from demo import parties, world


class Command(BaseCommand):
    help = "Load demo organisations, users (password 'chipreg-demo'), chips, facilities, statements and alerts."

    @transaction.atomic
    def handle(self, **options):
        self.stdout.write(parties.build())
        world.build(self.stdout)
