"""Seed the private database of test_postgres_restart (run as a child process with its DATABASE_URL).

Loads the accelerator catalog and creates an operator with an admin and an
API token; prints {"token": ...} as the last line.
"""

import json
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from registry.catalog import load_catalog  # noqa: E402
from registry.models import APIToken, Organisation, User  # noqa: E402

load_catalog()
org = Organisation.objects.create(code="op-pg", name="OP-PG", kind="operator", country="US")
user = User.objects.create(username="op-pg-admin", organisation=org, role="admin")
_, token = APIToken.issue(user)
print(json.dumps({"token": token}))
