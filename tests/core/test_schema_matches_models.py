"""The database holds every constraint and index the models declare.

Django's migration state can say a constraint exists when the database lost it: a partial unique index on a
foreign key's column is dropped by an AlterField that takes that column's own index away (that is how
Placement's one_open_placement went missing from 0003 until 0021). So the migrated schema is read back here.
"""

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

pytestmark = pytest.mark.django_db


def test_every_declared_constraint_and_index_is_in_the_database():
    missing = []
    with connection.cursor() as cursor:
        for model in apps.get_models():
            if model._meta.proxy or not model._meta.managed:
                continue
            present = connection.introspection.get_constraints(cursor, model._meta.db_table)
            missing += [
                (model._meta.db_table, item.name)
                for item in (*model._meta.constraints, *model._meta.indexes)
                if item.name not in present
            ]
    assert missing == []


def test_a_chip_has_one_open_placement_whoever_writes_it(parties):
    from inventory.models import Facility, Placement
    from registry.models import Chip
    from registry.registration import register_chips
    from tests.factories import chip_rows

    register_chips(chip_rows("ONE", 1), parties.users["op_a_admin"])
    chip = Chip.objects.get(serial="ONE000000")
    facility = Facility.objects.create(
        code="ONE-SITE", name="One", operator=parties.op_a, country="US", latitude=39.0, longitude=-77.5
    )
    now = timezone.now()
    row = dict(chip=chip, facility=facility, valid_from=now, source="declaration", source_id="x")
    Placement.objects.create(**row)
    with pytest.raises(IntegrityError), transaction.atomic():
        Placement.objects.create(**row)
    Placement.objects.filter(chip=chip).update(valid_to=now)  # closed, it makes room for the next
    Placement.objects.create(**row)
    assert Placement.objects.filter(chip=chip, valid_to__isnull=True).count() == 1
