"""A chip's history as its next holder reads it: its own acts and the rows since its receipt, not who installed
the chip before, when, or under which transfer it came to the holder before (a former holder's books). The
inspectorates and the treaty body read all of it (a client written from the README found the leak)."""

from datetime import timedelta

from django.test import Client
from django.utils import timezone

from registry.models import ChipEvent
from registry.registration import register_chips
from tests.factories import OrganisationFactory, UserFactory, approved_export, chip_rows


def iso(dt):
    return dt.isoformat().replace("+00:00", "Z")


def facility(client, code, country, lat, lon):
    body = {"code": code, "name": code, "country": country, "latitude": lat, "longitude": lon}
    assert client.post("/api/v1/facilities/", body).status_code == 201


def history(client, chip):
    response = client.get(f"/api/v1/chips/{chip}/history/")
    return response.status_code, [(e["kind"], e["reason"]) for e in response.json().get("results", [])]


def test_the_next_holder_reads_the_history_since_its_receipt(api, parties):
    a, b = api(parties.users["op_a_admin"]), api(parties.users["op_b"])
    facility(a, "HIS-US-1", "US", 38.9, -77.4)
    facility(b, "HIS-DE-1", "DE", 50.1, 8.7)
    register_chips(chip_rows("HIS", 1), parties.users["op_a_admin"])
    chip = "nvidia:HIS000000"
    # op-a misses it and finds it again (its own acts, with reasons naming its business).
    for status, reason in (("lost", "op-a private: not in rack 7"), ("installed", "op-a private: found in rack 9")):
        response = a.patch(f"/api/v1/chips/{chip}/", {"status": status, "reason": reason})
        assert response.status_code == 200, response.content
    shipped = a.post(
        "/api/v1/transfers/",
        {
            "receiver": "op-b",
            "destination_facility": "HIS-DE-1",
            "shipped_at": iso(timezone.now() - timedelta(days=2)),
            "chips": [chip],
            "export_authorisation": approved_export(
                parties.users["op_a_admin"], "op-b", [chip], destination_facility="HIS-DE-1"
            ),
        },
    )
    assert shipped.status_code == 201, shipped.content
    received = b.post(
        f"/api/v1/transfers/{shipped.json()['id']}/receive/",
        {"received_at": iso(timezone.now() - timedelta(days=1)), "facility": "HIS-DE-1", "chips": [chip]},
    )
    assert received.status_code == 200, received.content
    assert b.patch(f"/api/v1/chips/{chip}/", {"status": "lost", "reason": "op-b own"}).status_code == 200

    everything = list(ChipEvent.objects.filter(chip__serial="HIS000000").order_by("id").values_list("kind", "reason"))
    assert any("op-a private" in reason for _, reason in everything), everything
    status, rows = history(b, chip)
    assert status == 200
    receipt = next(i for i, (kind, _) in enumerate(everything) if kind == "custody")
    assert rows == everything[receipt:] and rows[0][0] == "custody" and rows[-1] == ("status", "op-b own")
    assert not any("op-a private" in reason for _, reason in rows)
    # The console's chip page reads the same rows.
    console = Client()
    console.force_login(parties.users["op_b"])
    page = console.get(f"/chips/{chip}/").content.decode()
    assert "op-a private" not in page and "op-b own" in page
    # The inspectorates and the treaty body read all of it; the former holder no longer sees the chip.
    insp_de = UserFactory(organisation=OrganisationFactory(code="insp-de", kind="inspectorate", jurisdictions=["DE"]))
    for reader in (parties.users["treaty"], insp_de):
        assert history(api(reader), chip) == (200, everything)
    assert history(a, chip)[0] == 404


def test_a_holder_reads_its_own_spells_with_the_chip_and_everyone_its_model_corrections(api, parties):
    """The rows of a holder's own time with the chip are its history whoever wrote them (the witness of its
    disposal), on any spell (it shipped the chip away and got it back), and a model correction is a fact about
    the chip every holder reads; the other holder's spell in between is that holder's books (a hostile review
    of the rule found a holder losing the witness's row of its own disposal)."""
    from tests.factories import witnessed_disposal

    a, b = api(parties.users["op_a_admin"]), api(parties.users["op_b"])
    facility(a, "SPL-US-1", "US", 38.9, -77.4)
    facility(b, "SPL-DE-1", "DE", 50.1, 8.7)
    register_chips(chip_rows("SPL", 1), parties.users["op_a_admin"])
    chip = "nvidia:SPL000000"
    corrected = api(parties.users["nvidia"]).patch(
        f"/api/v1/chips/{chip}/", {"model": "nvidia-h200-sxm-141gb", "reason": "maker: it is an H200"}
    )
    assert corrected.status_code == 200, corrected.content
    witnessed_disposal(parties.users["op_a_admin"], parties.users["insp_us"], [chip])

    def move(sender, receiver_client, receiver, to_site, days):
        shipped = sender.post(
            "/api/v1/transfers/",
            {
                "receiver": receiver,
                "destination_facility": to_site,
                "shipped_at": iso(timezone.now() - timedelta(days=days)),
                "chips": [chip],
                "export_authorisation": approved_export(
                    sender.user, receiver, [chip], destination_facility=to_site, reference=f"LIC-{days}"
                ),
            },
        )
        assert shipped.status_code == 201, shipped.content
        received = receiver_client.post(
            f"/api/v1/transfers/{shipped.json()['id']}/receive/",
            {"received_at": iso(timezone.now() - timedelta(days=days - 1)), "facility": to_site, "chips": [chip]},
        )
        assert received.status_code == 200, received.content

    move(a, b, "op-b", "SPL-DE-1", 6)
    assert b.patch(f"/api/v1/chips/{chip}/", {"status": "lost", "reason": "op-b own: lost"}).status_code == 200
    assert b.patch(f"/api/v1/chips/{chip}/", {"status": "installed", "reason": "op-b own: found"}).status_code == 200
    # While op-b holds it: the correction, not op-a's spell (its loss, the witness of its disposal).
    held_by_b = history(b, chip)[1]
    assert ("model", "maker: it is an H200") in held_by_b and ("status", "op-b own: found") in held_by_b
    assert not [row for row in held_by_b if row[0] == "status" and not row[1].startswith(("op-b own", "transfer"))]
    move(b, a, "op-a", "SPL-US-1", 3)

    rows = list(ChipEvent.objects.filter(chip__serial="SPL000000").order_by("id"))
    spells = {"op-a": [], "op-b": []}
    holder = "op-a"
    for row in rows:
        if row.kind == "custody":
            holder = row.after["custodian"]
        spells[holder].append((row.kind, row.reason))
    witness = [(r.kind, r.reason) for r in rows if r.actor_organisation_id == parties.insp_us.pk]
    assert witness and witness[0] in spells["op-a"]
    status, seen = history(a, chip)
    assert status == 200
    assert set(spells["op-a"]) <= set(seen), "op-a's own spells, the witness's row among them"
    assert not any(reason.startswith("op-b own") for _, reason in seen)
    assert ("model", "maker: it is an H200") in seen
    assert history(b, chip)[0] == 404  # op-b, which shipped it away, no longer sees the chip
