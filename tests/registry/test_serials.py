"""Serial normalisation is idempotent, and the unique constraint holds for every spelling."""

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.serials import normalize_serial
from registry.models import Chip, ChipIdentity
from registry.registration import register_chips

SERIAL_CHARS = string.ascii_letters + string.digits + "._-"
serials = st.text(alphabet=SERIAL_CHARS, min_size=3, max_size=64)


def spellings(serial):
    """Ways a person might write the same serial."""
    return st.sampled_from([serial.lower(), serial.upper(), f"  {serial} ", serial.swapcase()])


@given(st.text(max_size=80))
def test_normalisation_is_idempotent(raw):
    try:
        once = normalize_serial(raw)
    except ValueError:
        return
    assert normalize_serial(once) == once


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(serial=serials, data=st.data())
def test_equivalent_spellings_are_one_chip(parties, serial, data):
    user = parties.users["op_a_admin"]
    first = data.draw(spellings(serial))
    second = data.draw(spellings(serial))
    register_chips([{"manufacturer": "nvidia", "serial": first, "model": "nvidia-h100-sxm5-80gb"}], user)
    result = register_chips([{"manufacturer": "nvidia", "serial": second, "model": "nvidia-h100-sxm5-80gb"}], user)
    assert result.created == 0
    assert Chip.objects.filter(serial=normalize_serial(serial)).count() == 1
    Chip.objects.filter(serial=normalize_serial(serial)).delete()


def test_database_refuses_a_second_spelling(parties):
    """The constraint lives in the database, not only in the code path above: a second identity of a
    (manufacturer, serial), whatever chip it names, is refused by the identity table's key."""
    import pytest
    from django.db import IntegrityError, transaction

    user = parties.users["op_a_admin"]
    register_chips([{"chip": "nvidia:abc123", "model": "nvidia-h100-sxm5-80gb"}], user)
    chip = Chip.objects.get(serial="ABC123")
    assert ChipIdentity.objects.get(manufacturer=chip.manufacturer, serial="ABC123").chip_id == chip.pk
    twin = Chip.objects.create(
        manufacturer=chip.manufacturer,
        serial=normalize_serial(" abc123 "),
        model=chip.model,
        custodian=chip.custodian,
        registered_by=chip.registered_by,
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        ChipIdentity.objects.create(manufacturer=chip.manufacturer, serial=twin.serial, chip=twin)
