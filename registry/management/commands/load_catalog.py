from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.errors import Invalid
from registry.catalog import CATALOG_CSV, load_catalog


class Command(BaseCommand):
    help = "Load or correct the accelerator catalog from a CSV (the bundled one by default)."

    def add_arguments(self, parser):
        parser.add_argument("--csv", type=Path, default=CATALOG_CSV)

    def handle(self, csv, **options):
        try:
            created, corrected = load_catalog(csv)
        except Invalid as exc:  # a file whose TPP contradicts its figures: nothing of it is loaded
            raise CommandError(f"{exc.code}: {exc.detail}") from exc
        self.stdout.write(f"Catalog: {created} model(s) created, {corrected} corrected.")
