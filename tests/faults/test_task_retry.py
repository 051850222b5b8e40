"""Background work that fails for a moment (the database dropped its connection, lost a deadlock) runs again.

A task failing that way used to be acknowledged and dropped: its event's work waited for the next periodic
sweep, and some work has none (a case following its challenge, a usage recount). Event tasks now retry such
failures with growing pauses (core.tasks.event_task); a real worker on Redis runs one here.
"""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from tests.factories import chip_rows
from tests.faults.support import wait_until

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def test_an_evaluation_that_loses_its_database_connection_is_retried(parties, broker, workers, fault_dir):
    from compliance.models import Aggregate
    from inventory.choices import PlacementSource
    from inventory.models import Facility
    from inventory.services.placements import place
    from outbox.models import OutboxEvent
    from outbox.relay import drain_all
    from registry.models import Chip
    from registry.registration import register_chips

    op = parties.users["op_a_admin"]
    register_chips(chip_rows("RETRY", 3), op)
    pks = list(Chip.objects.filter(serial__startswith="RETRY").values_list("pk", flat=True))
    facility = Facility.objects.create(
        code="RETRY-1", name="r", operator=op.organisation, country="US", latitude=40, longitude=-80
    )
    broker.client().flushall()
    OutboxEvent.objects.update(dispatched_at=timezone.now())  # only the placement below is handed over
    marker = fault_dir / "db-error-once"
    workers(CHIPREG_FAULT_DB_ERROR_ONCE=str(marker))
    with transaction.atomic():
        place(
            ((pk, None) for pk in pks),
            facility,
            timezone.now() - timedelta(minutes=1),
            PlacementSource.ATTESTATION,
            "r",
        )
    assert drain_all() >= 1

    def counted():
        row = Aggregate.objects.filter(scope="facility", subject_key=str(facility.pk)).first()
        return row is not None and row.chip_count == 3

    wait_until(counted, 60, "the facility's totals after the evaluation's retry")
    assert marker.exists()  # the first run failed as injected; the totals came from a retry
