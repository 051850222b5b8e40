from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from core.countries import normalize_country
from registry import records
from registry.choices import OrgKind
from registry.models import Organisation


class Command(BaseCommand):
    help = "Change an organisation's name, kind, country or jurisdictions (logged as organisation.updated)."

    def add_arguments(self, parser):
        parser.add_argument("code")
        parser.add_argument("--name")
        parser.add_argument("--kind", choices=OrgKind.values)
        parser.add_argument("--country", help="ISO 3166-1 alpha-2, or '' for none.")
        parser.add_argument("--jurisdictions", help="Comma-separated ISO codes (inspectorates); '' for none.")

    def handle(self, code, name, kind, country, jurisdictions, **options):
        org = Organisation.objects.filter(code=code).first()
        if org is None:
            raise CommandError(f"No organisation {code!r}.")
        changes = {k: v for k, v in {"name": name, "kind": kind}.items() if v is not None}
        try:
            if country is not None:
                changes["country"] = normalize_country(country) if country else ""
            if jurisdictions is not None:
                changes["jurisdictions"] = sorted({normalize_country(c) for c in jurisdictions.split(",") if c.strip()})
        except ValidationError as exc:
            raise CommandError(exc.messages[0]) from None
        if changes.get("jurisdictions", org.jurisdictions) and changes.get("kind", org.kind) != OrgKind.INSPECTORATE:
            raise CommandError("Only inspectorates have jurisdictions.")
        try:
            records.update_organisation(org, None, changes)
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
        self.stdout.write(f"Updated {code}: {', '.join(sorted(changes)) or 'nothing'}.")
