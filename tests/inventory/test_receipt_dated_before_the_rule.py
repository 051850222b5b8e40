"""A receipt dated back before a destination rule still answers to it (hostile review of custody moves).

A shipment under an approval given before a rule is judged against the rules in force now *and* at the
`shipped_at` the shipper gives: its date is the shipper's word. The receipt was judged at the `received_at` the
receiver gives only: chips licensed to Germany shipped five hours ago, the treaty body forbids exports to Germany
an hour ago, and op-b confirms them with a `received_at` of four hours ago, before the rule: no `export_forbidden`
finding, no critical alert, for chips the registry had in transit when the rule came into force. The receipt
stands (it is never refused), and is judged against the rules in force when it was recorded as well.
"""

from compliance.models import Alert
from inventory.models import AnyFinding
from outbox.relay import drain_all
from tests.inventory.test_exports import DE_SITE, ago, approved, declare_rule, ship, world  # noqa: F401


def test_a_receipt_dated_before_the_rule_is_judged_when_it_was_recorded_too(api, world):  # noqa: F811
    licence = approved(api, world)
    shipped = ship(world, licence=licence["id"])  # five hours ago
    assert shipped.status_code == 201, shipped.content
    declare_rule(api, world, effective_from=ago(hours=1))
    response = world.b.post(
        f"/api/v1/transfers/{shipped.json()['id']}/receive/",
        {"received_at": ago(hours=4), "facility": DE_SITE, "chips": world.chips},
    )
    assert response.status_code == 200, response.content
    drain_all()
    found = AnyFinding.objects.filter(kind="export_forbidden")
    assert sorted(found.values_list("country", flat=True)) == ["DE", "US"]
    alerts = Alert.objects.filter(group__startswith="export_forbidden:")
    assert sorted(alerts.values_list("country", "severity")) == [("DE", "critical"), ("US", "critical")]
