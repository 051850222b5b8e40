"""Witness keys hold who registered them by value: transparency has no foreign key into registry,
and the migration that dropped the keys kept their data."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from transparency.models import WitnessKey


def test_transparency_has_no_foreign_key_into_registry():
    from django.apps import apps

    for model in apps.get_app_config("transparency").get_models():
        for field in model._meta.concrete_fields:
            if field.is_relation:
                assert field.related_model._meta.app_label == "transparency", f"{model.__name__}.{field.name}"


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_each_keys_organisation_and_registrant(parties):
    before, after = [("transparency", "0002_leaf_hash_stored_levels")], [("transparency", "0003_witness_key_by_value")]
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(before)
        old = executor.loader.project_state(before).apps
        user = old.get_model("registry", "User").objects.get(username=parties.users["treaty"].username)
        org = old.get_model("registry", "Organisation").objects.get(code=parties.treaty.code)
        old.get_model("transparency", "WitnessKey").objects.create(
            organisation=org, name="w.migrated", public_key=b"k" * 32, key_line="-", created_by=user
        )
        old.get_model("transparency", "WitnessKey").objects.create(
            organisation=org, name="w.anonymous", public_key=b"j" * 32, key_line="-", created_by=None
        )
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        migrated = {w.name: (w.organisation, w.created_by) for w in WitnessKey.objects.all()}
        assert migrated == {
            "w.migrated": (parties.treaty.code, parties.users["treaty"].username),
            "w.anonymous": (parties.treaty.code, ""),
        }
        executor = MigrationExecutor(connection)
        executor.migrate(before)  # and back: the foreign keys found again from the values
        old = MigrationExecutor(connection).loader.project_state(before).apps
        back = old.get_model("transparency", "WitnessKey").objects.get(name="w.migrated")
        assert (back.organisation.code, back.created_by.username) == (
            parties.treaty.code,
            parties.users["treaty"].username,
        )
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())


def test_a_superuser_of_no_organisation_registers_no_witness_key(api, parties):
    """A witness is an organisation: without one there is no code to store (403, never a 500)."""
    from tests.factories import UserFactory

    root = UserFactory(organisation=None, is_superuser=True, is_staff=True)
    response = api(root).post("/api/v1/log/witnesses/", {"name": "w.root", "public_key": _pem()}, format="json")
    assert response.status_code == 403, response.content
    assert not WitnessKey.objects.exists()


def _pem():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.mark.django_db(transaction=True)
def test_the_unique_key_migration_names_keys_registered_twice_before_it():
    """The race the constraint closes may have left one key under two names: the migration says which, rather
    than failing on the index with no word of what to settle."""
    before, after = [("transparency", "0003_witness_key_by_value")], [("transparency", "0004_witness_key_unique")]
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(before)
        old = executor.loader.project_state(before).apps.get_model("transparency", "WitnessKey")
        for org, name in (("insp-us", "us.example/w"), ("insp-fr", "fr.example/w")):
            old.objects.create(organisation=org, name=name, public_key=b"d" * 32, key_line="-")
        executor = MigrationExecutor(connection)
        with pytest.raises(RuntimeError, match=r"us\.example/w") as refused:
            executor.migrate(after)
        assert "fr.example/w" in str(refused.value)
        old.objects.filter(name="fr.example/w").delete()
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        assert WitnessKey.objects.get().name == "us.example/w"
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
