import getpass

from django.core.management.base import BaseCommand, CommandError

from registry import records
from registry.choices import Role
from registry.models import Organisation, User


class Command(BaseCommand):
    help = "Create a user in an organisation with a role."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--org", required=True, help="Organisation code.")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--email", default="")
        parser.add_argument("--password", help="Set a password for console login (prompted with --prompt).")
        parser.add_argument("--prompt", action="store_true", help="Ask for the password interactively.")
        parser.add_argument("--superuser", action="store_true", help="Also a registry administrator.")

    def handle(self, username, org, role, email, password, prompt, superuser, **options):
        organisation = Organisation.objects.filter(code=org).first()
        if organisation is None:
            raise CommandError(f"No organisation {org!r}; create it with create_org first.")
        if User.objects.filter(username=username).exists():
            raise CommandError(f"User {username!r} already exists.")
        if prompt:
            password = getpass.getpass("Password: ")
        # Saved and logged (`user.created`) in one transaction.
        records.create_user(
            None, organisation, username=username, role=role, password=password, email=email, superuser=superuser
        )
        self.stdout.write(f"Created {role} {username} in {org}.")
