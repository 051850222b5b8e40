"""The console's tests share one demo world per module, built inside a transaction
that is rolled back when the module ends (each test runs in a savepoint within it)."""

import io

import pytest
from django.core.management import call_command
from django.db import transaction

PASSWORD = "chipreg-demo"


@pytest.fixture(scope="module")
def demo_world(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        with transaction.atomic():
            call_command("load_demo", stdout=io.StringIO())
            yield
            transaction.set_rollback(True)


@pytest.fixture
def demo(demo_world, db):
    from registry.models import User

    users = {u.username: u for u in User.objects.select_related("organisation")}
    return type("Demo", (), {"users": users})()


@pytest.fixture
def login(client, demo):
    """A test client logged in as one of the demo users (or any User)."""

    def as_user(user):
        from django.test import Client

        c = Client()
        c.force_login(demo.users[user] if isinstance(user, str) else user)
        return c

    return as_user


@pytest.fixture
def readonly_operator(demo):
    from registry.models import User

    user = User(username="op-viewer", organisation=demo.users["operator"].organisation, role="read-only")
    user.set_password(PASSWORD)
    user.save()
    return user
