"""console.storage's upsert does what the ORM's get_or_create-and-increment would, on the same rows."""

from django.db.models import F

from console import storage
from console.models import ReconciliationSnapshot
from inventory.models import Facility


def test_mark_stale_creates_then_increments(parties):
    facility = Facility.objects.create(
        code="CS-1", name="CS-1", operator=parties.op_a, country="US", latitude=1, longitude=1
    )
    storage.mark_stale(facility.pk)
    marked = ReconciliationSnapshot.objects.get(facility=facility)
    orm, _ = ReconciliationSnapshot.objects.get_or_create(
        facility=Facility.objects.create(
            code="CS-2", name="CS-2", operator=parties.op_a, country="US", latitude=2, longitude=2
        )
    )
    skip = {"id", "facility_id"}
    assert {f: v for f, v in vars(marked).items() if not f.startswith("_") and f not in skip} == {
        f: v for f, v in vars(orm).items() if not f.startswith("_") and f not in skip
    }
    storage.mark_stale(facility.pk)
    ReconciliationSnapshot.objects.filter(pk=orm.pk).update(wanted=F("wanted") + 1)
    assert ReconciliationSnapshot.objects.get(facility=facility).wanted == 2
    assert ReconciliationSnapshot.objects.get(pk=orm.pk).wanted == 2
