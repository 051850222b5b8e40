from pathlib import Path

from django.core.management.base import BaseCommand

from registry.catalog import CATALOG_CSV, load_catalog


class Command(BaseCommand):
    help = "Load or correct the accelerator catalog from a CSV (the bundled one by default)."

    def add_arguments(self, parser):
        parser.add_argument("--csv", type=Path, default=CATALOG_CSV)

    def handle(self, csv, **options):
        created, corrected = load_catalog(csv)
        self.stdout.write(f"Catalog: {created} model(s) created, {corrected} corrected.")
