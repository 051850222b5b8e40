"""The inventory's periodic tasks, run as a Celery worker runs them: outside any transaction (autocommit).

The tests of their services call them inside the test's transaction (the `db` fixture), which hides code
that only works in one: the daily partition task once asked for a savepoint there and never did its work
(06f108f). Here each beat task is called directly, in autocommit, with work to do, and its effect checked,
down to the alert its findings raise through the outbox.
"""

import pytest
from django.db import DatabaseError, connection

from compliance.models import Alert
from inventory import tasks
from inventory.models import AnyFinding
from registry.models import Chip
from registry.registration import register_chips
from tests.factories import approved_export, chip_rows
from tests.handed_over import refusing
from tests.inventory.test_inventory import days_ago, iso, site  # noqa: F401 - `site` is a fixture

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_silence_task_raises_its_findings_and_their_alert_outside_any_transaction(catalog, site):  # noqa: F811
    register_chips(chip_rows("HUSH", 2), site.users["op_a_admin"])
    Chip.objects.filter(serial="HUSH000000").update(last_verified_at=days_ago(30))
    assert connection.get_autocommit()
    assert tasks.find_silent_chips() == 1
    assert list(AnyFinding.objects.filter(kind="silent_chip").values_list("chip_ref", flat=True)) == [
        "nvidia:HUSH000000"
    ]
    assert Alert.objects.filter(group__startswith="silent_chip:monitor:").count() == 1
    assert tasks.find_silent_chips() == 1  # seen again, raised once
    assert AnyFinding.objects.filter(kind="silent_chip").count() == 1


def test_a_silence_run_that_fails_before_announcing_its_findings_leaves_none_and_its_retry_raises_both(catalog, site):  # noqa: F811
    register_chips(chip_rows("HUSH", 1), site.users["op_a_admin"])
    Chip.objects.filter(serial="HUSH000000").update(last_verified_at=days_ago(30))
    with refusing(), pytest.raises(DatabaseError):
        tasks.find_silent_chips()
    # Stored without its event, the finding would have waited for the sweep for its alert.
    assert not AnyFinding.objects.filter(kind="silent_chip").exists()
    assert tasks.find_silent_chips() == 1
    assert AnyFinding.objects.filter(kind="silent_chip").count() == 1
    assert Alert.objects.filter(group__startswith="silent_chip:monitor:").count() == 1


def test_the_unreported_task_raises_its_findings_outside_any_transaction(catalog, api, site, settings):  # noqa: F811
    settings.CHIPREG_MANUFACTURER_REPORT_GRACE_DAYS = 0
    register_chips(chip_rows("UNR", 2), site.users["op_a_admin"])
    maker = api(site.users["nvidia"])
    assert maker.post("/api/v1/manufacturer-reports/", {"serials": ["UNR000000"]}).status_code == 201
    assert connection.get_autocommit()
    assert tasks.find_unreported_chips() == 1
    assert list(AnyFinding.objects.filter(kind="unreported_chip").values_list("chip_ref", flat=True)) == [
        "nvidia:UNR000001"
    ]


def test_an_unreported_run_that_fails_before_announcing_its_findings_leaves_none(catalog, api, site, settings):  # noqa: F811
    settings.CHIPREG_MANUFACTURER_REPORT_GRACE_DAYS = 0
    register_chips(chip_rows("UNR", 2), site.users["op_a_admin"])
    maker = api(site.users["nvidia"])
    assert maker.post("/api/v1/manufacturer-reports/", {"serials": ["UNR000000"]}).status_code == 201
    with refusing(), pytest.raises(DatabaseError):
        tasks.find_unreported_chips()
    assert not AnyFinding.objects.filter(kind="unreported_chip").exists()
    assert tasks.find_unreported_chips() == 1
    assert AnyFinding.objects.filter(kind="unreported_chip").count() == 1


def test_the_overdue_transfer_task_raises_its_findings_and_alert_outside_any_transaction(catalog, site, settings):  # noqa: F811
    settings.CHIPREG_TRANSIT_OVERDUE_DAYS = 30
    register_chips(chip_rows("LATE", 2), site.users["op_b"])
    chips = ["nvidia:LATE000000", "nvidia:LATE000001"]
    licence = approved_export(site.users["op_b"], "op-a", chips, destination_facility="US-VA-001")
    body = {"receiver": "op-a", "destination_facility": "US-VA-001", "shipped_at": iso(days_ago(40))}
    shipped = site.b.post("/api/v1/transfers/", {**body, "chips": chips, "export_authorisation": licence})
    assert shipped.status_code == 201, shipped.content
    assert connection.get_autocommit()
    assert tasks.find_overdue_transfers() == 2
    overdue = AnyFinding.objects.filter(kind="never_received", source_id=f"{shipped.json()['id']}:overdue")
    assert sorted(overdue.values_list("chip_ref", flat=True)) == chips
    assert Alert.objects.filter(group__startswith="never_received:transfer:").exists()


def test_an_overdue_run_that_fails_before_announcing_its_findings_leaves_none(catalog, site, settings):  # noqa: F811
    settings.CHIPREG_TRANSIT_OVERDUE_DAYS = 30
    register_chips(chip_rows("LATE", 1), site.users["op_b"])
    chips = ["nvidia:LATE000000"]
    licence = approved_export(site.users["op_b"], "op-a", chips, destination_facility="US-VA-001")
    body = {"receiver": "op-a", "destination_facility": "US-VA-001", "shipped_at": iso(days_ago(40))}
    shipped = site.b.post("/api/v1/transfers/", {**body, "chips": chips, "export_authorisation": licence})
    assert shipped.status_code == 201, shipped.content
    overdue = AnyFinding.objects.filter(kind="never_received", source_id=f"{shipped.json()['id']}:overdue")
    with refusing(), pytest.raises(DatabaseError):
        tasks.find_overdue_transfers()
    assert not overdue.exists()
    assert tasks.find_overdue_transfers() == 1
    assert list(overdue.values_list("chip_ref", flat=True)) == chips
    assert Alert.objects.filter(group__startswith="never_received:transfer:").exists()


def test_a_monitor_commits_and_announces_each_batch_as_it_goes(catalog, site):  # noqa: F811
    """One transaction for a whole run would hold its locks and snapshot for minutes over a million chips: each
    batch is committed with its `findings.raised` event before the next is read, so a run failing later
    leaves what it stored announced."""
    from inventory.choices import FindingKind, FindingSource
    from inventory.services.findings import new_finding, raise_monitored
    from outbox.models import OutboxEvent
    from tests.connections import second_connection

    def finding(n):
        return new_finding(
            kind=FindingKind.SILENT, chip_ref=f"x:{n}", source=FindingSource.MONITOR, source_id=f"batch:{n}"
        )

    seen_elsewhere = []

    def findings():
        yield finding(1)
        with second_connection() as other:  # another session sees the first batch and its event committed
            seen_elsewhere.append(
                other.execute(
                    f"SELECT (SELECT count(*) FROM {AnyFinding._meta.db_table} WHERE source_id = 'batch:1'),"
                    f" (SELECT count(*) FROM {OutboxEvent._meta.db_table} WHERE topic = 'findings.raised')"
                ).fetchone()
            )
        raise RuntimeError("the monitor's read failed")

    assert connection.get_autocommit()
    with pytest.raises(RuntimeError):
        raise_monitored(findings(), FindingSource.MONITOR, "silence", batch=1)
    assert seen_elsewhere == [(1, 1)]
    assert AnyFinding.objects.filter(source_id="batch:1").count() == 1


def test_a_monitor_run_while_another_holds_its_turn_does_nothing(catalog, site):  # noqa: F811
    """A monitor that outlasted its period met the next run, both storing the same findings (the later waiting on
    the earlier's uncommitted keys). The later run now finds the turn held (here by another session) and does
    nothing; once it is free, a run does its work, and leaves the turn free (a second run works too)."""
    from core.turns import sole_run
    from tests.connections import second_connection

    register_chips(chip_rows("HUSH", 1), site.users["op_a_admin"])
    Chip.objects.filter(serial="HUSH000000").update(last_verified_at=days_ago(30))
    with second_connection(autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(hashtext('chipreg:sole:find_silent_chips'))")
        assert tasks.find_silent_chips() is None
        assert not AnyFinding.objects.filter(kind="silent_chip").exists()
        other.execute("SELECT pg_advisory_unlock(hashtext('chipreg:sole:find_silent_chips'))")
    assert tasks.find_silent_chips() == 1
    with sole_run("find_silent_chips") as mine:
        assert mine  # released after the run
    assert AnyFinding.objects.filter(kind="silent_chip").count() == 1
