from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from core.countries import normalize_country
from registry import records
from registry.choices import OrgKind


class Command(BaseCommand):
    help = "Create an organisation (treaty body, inspectorate, operator or manufacturer)."

    def add_arguments(self, parser):
        parser.add_argument("code", help="Lower-case slug, e.g. op-demo or nvidia.")
        parser.add_argument("--kind", required=True, choices=OrgKind.values)
        parser.add_argument("--name", help="Display name (defaults to the code).")
        parser.add_argument("--country", default="", help="Home country, ISO 3166-1 alpha-2 (operators).")
        parser.add_argument("--jurisdictions", default="", help="Comma-separated ISO codes (inspectorates).")

    def handle(self, code, kind, name, country, jurisdictions, **options):
        try:
            country = normalize_country(country) if country else ""
            codes = sorted({normalize_country(c) for c in jurisdictions.split(",") if c.strip()})
        except ValidationError as exc:
            raise CommandError(exc.messages[0]) from None
        if codes and kind != OrgKind.INSPECTORATE:
            raise CommandError("Only inspectorates have jurisdictions.")
        try:
            # Validated, saved and logged (`organisation.created`) in one transaction.
            records.create_organisation(
                None, code=code, kind=kind, name=name or code, country=country, jurisdictions=codes
            )
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
        self.stdout.write(f"Created {kind} {code}.")
