"""A registration naming chips another party holds leaves a trace (hostile review of registration, 2026-12-06).

The first to register a serial holds it, and a later registration of it is refused whole with a bare 409
`chip_conflict` (test_authority: the answer never names the holder). The refusal rolled everything back, so an
operator could probe the registry for taken serials, 20 a request, or squat a rival's chips, and nobody was
told. Now each such refusal is a `chips.registration_refused` event: the holders and their countries'
inspectorates read who tried which of their chips; the registrant reads its own attempt, which names no holder."""

from registry.models import Chip
from registry.registration import register_chips
from tests.factories import chip_rows
from transparency.models import LogEventData


def _entry(api, user, index):
    return api(user).get(f"/api/v1/log/entries/{index}")


def test_a_refused_registration_of_a_rivals_chips_is_told_to_the_holder_and_not_the_holder_to_it(api, parties):
    register_chips(chip_rows("HELD", 2), parties.users["op_a_admin"])  # op-a's, in the US
    attempt = chip_rows("HELD", 3)  # the two op-a holds, and a new one
    refused = api(parties.users["op_b"]).post("/api/v1/chips/", attempt, format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "chip_conflict", refused.content
    assert "op-a" not in refused.content.decode()
    assert not Chip.objects.filter(serial="HELD000002").exists()  # all or nothing, as before

    event = LogEventData.objects.get(event="chips.registration_refused")
    for user, reads in (
        ("op_a_admin", True),
        ("insp_us", True),
        ("treaty", True),
        ("op_b", True),
        ("insp_fr", False),
        ("nvidia", False),
    ):
        answer = _entry(api, parties.users[user], event.index)
        assert (answer.status_code == 200) is reads, (user, answer.content)
    data = _entry(api, parties.users["op_b"], event.index).json()["data"]
    assert data["registrant"] == "op-b" and data["chips"] == ["nvidia:HELD000000", "nvidia:HELD000001"]
    assert "op-a" not in str(data)


def test_a_conflict_with_ones_own_chips_is_no_such_event(api, parties):
    register_chips(chip_rows("MINE", 1), parties.users["op_a_admin"])
    again = chip_rows("MINE", 1)
    again[0]["model"] = "nvidia-h20"  # its own chip, with other data: a plain conflict, nobody else's business
    refused = api(parties.users["op_a_admin"]).post("/api/v1/chips/", again, format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "chip_conflict", refused.content
    assert not LogEventData.objects.filter(event="chips.registration_refused").exists()
