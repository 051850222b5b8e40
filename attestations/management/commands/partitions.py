"""manage.py partitions [--move-default]: the monthly partitions of sightings and usage records.

Prepares the months around today now, as the daily task does. With --move-default, first gives every month whose
rows are in a DEFAULT partition (stored before its partition existed: the daily task cannot create such a month)
its own partition and moves the rows there. Each month holds its table while its rows are copied, so every
statement waits meanwhile: run it in a maintenance window.
"""

from django.core.management.base import BaseCommand

from attestations.partitions import ensure_partitions, move_out_of_default


class Command(BaseCommand):
    help = "Prepare the monthly partitions now; with --move-default, move months stored in DEFAULT into their own."

    def add_arguments(self, parser):
        parser.add_argument(
            "--move-default",
            action="store_true",
            help="Move the rows of months stored in a DEFAULT partition into partitions of their own (holds each "
            "table while it copies: a maintenance window).",
        )

    def handle(self, move_default, **options):
        if move_default:
            for name, count in move_out_of_default().items():
                self.stdout.write(f"{name}: {count} row{'s' if count != 1 else ''} moved out of DEFAULT")
        for name in ensure_partitions():
            self.stdout.write(f"{name}: created")
