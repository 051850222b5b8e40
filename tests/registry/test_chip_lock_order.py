"""One lock order: the log's writers' lock, then chip rows.

A statement takes the log's lock at its append and then writes chip rows (a node agent's chips' last verification,
a country moved by its placements). A shipment, a receipt or a disposal locks its chips' rows first
(registry.chip_writes.lock) and appended after: each waited for the other, and PostgreSQL aborted one of them
(a 500 for a node agent's statement or an operator's shipment). chip_writes.lock takes the log's lock first."""

import threading
import time

import pytest
from django.db import connection, transaction
from django.utils import timezone

from registry import chip_writes
from registry.models import Chip
from registry.registration import register_chips
from tests.factories import chip_rows
from transparency.events import append_event

HELD_S = 0.5  # how long the statement holds the log's lock before writing the chip (the other waits meanwhile)


@pytest.mark.django_db(transaction=True)
def test_a_chip_locker_and_a_statement_writing_the_chip_under_the_log_lock_do_not_deadlock(catalog, parties):
    register_chips(chip_rows("LOCK", 1), parties.users["op_a_admin"])
    chip = Chip.objects.get(serial__startswith="LOCK")
    statement_appended = threading.Event()
    errors, done = [], []

    def statement():
        try:
            with transaction.atomic():
                append_event("declaration.recorded", "declaration:statement", {"n": 1}, countries=[])
                statement_appended.set()
                time.sleep(HELD_S)  # the shipment reaches its lock meanwhile
                Chip.objects.filter(pk=chip.pk).update(last_verified_at=timezone.now())
            done.append("statement")
        except Exception as exc:  # a deadlock aborts one of the two
            errors.append(exc)
        finally:
            connection.close()

    def shipment():
        try:
            statement_appended.wait(5)
            with transaction.atomic():
                chip_writes.lock([chip.pk])
                append_event("declaration.recorded", "declaration:shipment", {"n": 2}, countries=[])
            done.append("shipment")
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=statement), threading.Thread(target=shipment)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert done == ["statement", "shipment"]  # the shipment waited for the log's lock, before any chip row
