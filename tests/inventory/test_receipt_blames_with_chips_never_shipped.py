"""A receiver cannot make the shipper an exporter of chips that never left (hostile review of custody moves).

The receipt's judgement across a border (`export_unauthorised`, and the destination rules' `export_forbidden`
with its critical alert) read every chip the receiver *listed*: chips it named that were never in the shipment
(its own, a rival's) and chips that had left the shipment since. A receiver could so list one of its own H200s
beside the licensed H100s it received and raise a critical `export_forbidden` against the shipper under a rule
for MI300X only, or confirm a domestic shipment at its site abroad listing only a chip of its own (the shipped
ones all missing) and have the shipper's inspectorate told that the shipper's chips crossed unlicensed. Only the
chips that arrived (moved to the receiver by this receipt) crossed a border; the rest are findings of their own
(`received_not_shipped`, `never_received`).
"""

from compliance.models import Alert
from inventory.models import AnyFinding
from outbox.relay import drain_all
from registry.models import Chip
from registry.registration import register_chips
from tests.factories import chip_rows
from tests.inventory.test_exports import B_US_SITE, DE_SITE, ago, approved, declare_rule, ship, world  # noqa: F401

OWN_H200 = "nvidia:OWN000000"


def _own_chip(world):  # noqa: F811
    register_chips(chip_rows("OWN", 1, model="nvidia-h200-sxm-141gb"), world.users["op_b"])
    assert Chip.objects.get(serial="OWN000000").custodian.code == "op-b"


def test_a_chip_the_receiver_adds_is_not_judged_as_exported(api, world):  # noqa: F811
    _own_chip(world)
    licence = approved(api, world)
    shipped = ship(world, licence=licence["id"])
    assert shipped.status_code == 201, shipped.content
    # Exports of H200s to Germany are forbidden; op-a shipped H100s, under a licence.
    declare_rule(api, world, key="embargo-h200", chip_models=["nvidia-h200-sxm-141gb"])
    response = world.b.post(
        f"/api/v1/transfers/{shipped.json()['id']}/receive/",
        {"received_at": ago(hours=1), "facility": DE_SITE, "chips": [*world.chips, OWN_H200]},
    )
    assert response.status_code == 200, response.content
    assert (response.json()["received"], response.json()["unexpected"]) == (3, 1)
    drain_all()
    assert not AnyFinding.objects.filter(kind="export_forbidden").exists()
    assert not Alert.objects.filter(group__startswith="export_forbidden:").exists()
    # The chip op-b named is a finding of its own, and stays op-b's.
    assert AnyFinding.objects.filter(kind="received_not_shipped", chip_ref=OWN_H200).exists()


def test_a_domestic_shipment_confirmed_abroad_with_none_of_its_chips_exported_nothing(api, world):  # noqa: F811
    _own_chip(world)
    shipped = ship(world, facility=B_US_SITE)  # US to US: no licence needed
    assert shipped.status_code == 201, shipped.content
    response = world.b.post(
        f"/api/v1/transfers/{shipped.json()['id']}/receive/",
        {"received_at": ago(hours=1), "facility": DE_SITE, "chips": [OWN_H200]},
    )
    assert response.status_code == 200, response.content
    assert (response.json()["received"], response.json()["missing"]) == (0, 3)
    drain_all()
    assert not AnyFinding.objects.filter(kind="export_unauthorised").exists()
    assert AnyFinding.objects.filter(kind="never_received").count() == 3
    assert set(Chip.objects.filter(serial__startswith="EXP").values_list("country", flat=True)) == {"US"}
