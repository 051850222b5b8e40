"""The country each statement stored before 0014 was received in, from the facilities' country changes.

0014 records a statement's facility country when it is received; rows stored before it have '' and were
read by their facility's country now only, so a facility that changed country earlier had taken those
statements (the evidence behind its former inspectorate's findings and alerts) out of that inspectorate's
view. Every change of a facility's country is a `country_changed` finding raised in the change's
transaction, its evidence naming the country before: a statement received before a facility's first later
change was received in that change's `before`, and one received after its last change in the facility's
country now.
"""

from django.db import migrations
from django.db.models import OuterRef, Subquery


def country_changes(*finding_models):
    """{facility id: [(detected_at, country before), ...] in time order}, from both findings tables."""
    changes = {}
    for model in finding_models:
        rows = model.objects.filter(kind="country_changed")
        for facility_id, detected_at, evidence in rows.values_list("facility_id", "detected_at", "evidence"):
            before = (evidence or {}).get("before")
            if facility_id is not None and isinstance(before, str) and len(before) == 2:
                changes.setdefault(facility_id, []).append((detected_at, before))
    return {facility_id: sorted(found) for facility_id, found in changes.items()}


def backfill(apps, schema_editor):
    Attestation = apps.get_model("attestations", "Attestation")
    Facility = apps.get_model("inventory", "Facility")
    unrecorded = Attestation.objects.filter(country="")
    for facility_id, changes in country_changes(
        apps.get_model("inventory", "Finding"), apps.get_model("inventory", "ChiplessFinding")
    ).items():
        start = None
        for detected_at, before in changes:
            period = unrecorded.filter(facility_id=facility_id, received_at__lt=detected_at)
            if start is not None:
                period = period.filter(received_at__gte=start)
            period.update(country=before)
            start = detected_at
    # What is left was received after its facility's last change, or at a facility that never changed.
    unrecorded.update(country=Subquery(Facility.objects.filter(pk=OuterRef("facility_id")).values("country")[:1]))


class Migration(migrations.Migration):
    dependencies = [
        ("attestations", "0014_attestation_country"),
        ("inventory", "0028_campus_membership"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
