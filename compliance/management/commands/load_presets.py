from django.core.management.base import BaseCommand, CommandError

from compliance.presets import PRESETS, load
from registry.models import User


class Command(BaseCommand):
    help = "Declare the threshold presets (draft treaty, US EO 14110, EU AI Act), each citing its source."

    def add_arguments(self, parser):
        parser.add_argument("presets", nargs="*", help=f"Any of {', '.join(PRESETS)}; default: all of them.")
        parser.add_argument("--as-user", help="The treaty-body user recorded as declaring them.")

    def handle(self, presets, as_user, **options):
        unknown = set(presets) - set(PRESETS)
        if unknown:
            raise CommandError(f"Unknown preset(s): {', '.join(sorted(unknown))}; choose from {', '.join(PRESETS)}.")
        user = None
        if as_user:
            user = User.objects.filter(username=as_user).first()
            if user is None:
                raise CommandError(f"No user {as_user!r}.")
        rules = load(user, presets or None)
        for rule in rules:
            self.stdout.write(f"Declared {rule.key} v{rule.version}: {rule.name}")
        self.stdout.write(f"{len(rules)} rule(s) declared.")
