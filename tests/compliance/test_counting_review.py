"""Counting review of 2026-12-06: ways an operator kept real capacity or compute out of the treaty counts. Each
test asserts what a faithful count gives, and failed on the code before the fix it names.

H100 SXM (catalogue): 989 TFLOP/s BF16, 1,979 FP8, 700 W. One chip busy a whole day at full power is bounded
at 1.71e20 FLOP on the draft's `higher` basis (its fastest precision).
"""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from attestations.models import Attestation, ChiplessUsageRecord, UsageRecord
from compliance import run_metrics, run_review
from compliance.evaluation import compute_in_window, evaluate_all
from compliance.models import Aggregate, Alert
from inventory.models import AnyFinding, Facility
from outbox.relay import drain_all
from registry.registration import register_chips
from runs.models import Run
from tests.attestations.conftest import World, now
from tests.compliance.test_covered_clusters import EAST, WEST, declare, h100s, site
from tests.factories import chip_rows
from tests.runs.conftest import declaration
from tests.runs.test_run_rules import DAY, H100_W, _attest, threshold_alerts

H100_DAY_HIGHER = 1979e12 * DAY  # one H100 busy a day, fastest-precision bound


@pytest.fixture
def world(api, parties):
    """tests/runs/test_run_rules.py's world: the attestations world with the draft agreement's and the EU's
    presets, and 400 more H100s of op-a (H000000..H000399)."""
    w = World(api, parties)
    call_command("load_presets", "draft-treaty", "eu-ai-act", verbosity=0)
    register_chips(chip_rows("H", 400), parties.users["op_a_admin"])
    drain_all()
    return w


def rows(serials, days):
    seconds = days * DAY
    return [{"chip": s, "active_s": seconds, "utilization": 1.0, "energy_j": H100_W * seconds} for s in serials]


def serials(first, count):
    return [f"nvidia:H{i:06d}" for i in range(first, first + count)]


def send(world, statement):
    r, _ = world.submit(world.op_a, statement)
    assert r.status_code == 201, r.content
    drain_all()
    return r.json()


def unexplained():
    return threshold_alerts(rule__metric="unattributed_compute")


def declare_run(parties, model_name="frontier-7", planned=5e23, hours=48, kind="pre_training"):
    """A run of op-a at US-VA-001 declared `hours` ago (through the service, with that instant)."""
    at = now() - timedelta(hours=hours)
    values = {
        "model_name": model_name,
        "kind": kind,
        "planned_flop": planned,
        "precision": "bf16",
        "description": "review 4",
        "facilities": [Facility.objects.get(code="US-VA-001")],
        "clusters": [],
        "planned_start": at + timedelta(hours=1),
        "planned_end": at + timedelta(days=60),
    }
    return run_review.declare(parties.users["op_a_admin"], values, now=at)


@pytest.mark.parametrize("label", ["mixed", "other", "idle"])
def test_training_labelled_mixed_other_or_idle_is_still_unexplained(world, label):
    """The same 31 days of 400 busy H100s that `training` or no label makes unexplained (2.1e24 FLOP) vanish
    from the draft preset's count under `mixed` (training and inference), `other`, or even `idle` at 100%
    utilisation and full power: the preset counts only `training` and unlabelled. Only `inference` is the
    README's stated exclusion; mixed work contains training, and idle chips compute nothing."""
    end = now() - timedelta(minutes=5)
    statement = world.usage(rows(serials(0, 400), 31), end - timedelta(days=31), end)
    statement["workload"] = label
    body = send(world, statement)
    records = UsageRecord.objects.filter(attestation_id=body["id"], run__isnull=True, workload=label)
    assert sum(r.flop_peak for r in records) > 2e24
    assert unexplained().filter(rule__key="treaty-unexplained-compute-facility").exists()


def test_a_model_trained_in_two_runs_past_1e24_raises_a_draft_treaty_alert(world, parties):
    """Two pre-training runs of one model, each declared at 5e23 and attested at 5.4e23 (within its plan's
    margin): 1.08e24 FLOP optimised into one model's parameters, past the draft's 1e24 prohibition
    (Article II: a training run is any process optimising an AI's parameters; Article IV(1)). The draft
    preset judges each run alone (`run_attested_compute`), and has no `model_compute` rule, so splitting a
    run into declarations under the line is never alerted."""
    facility = Facility.objects.get(code="US-VA-001")
    first, second = declare_run(parties, hours=48), declare_run(parties, hours=30)
    _attest(first, facility, 5.4e23)
    _attest(second, facility, 5.4e23)
    evaluate_all()
    key = run_metrics.model_key(first.operator_id, "frontier-7")
    assert run_metrics.models([key])[key].flop["flop_peak"] == pytest.approx(1.08e24)
    draft = Alert.objects.filter(kind="threshold", rule__preset="draft-treaty", value__gt=1e24)
    assert draft.exists()


def test_changing_the_case_of_a_model_name_does_not_split_its_cumulative_compute(world, parties):
    """EU AI Act Art. 51(2) counts the cumulative compute used to train one model. Two runs of op-a's
    model, the second declared as `Frontier-7` instead of `frontier-7`, 6e24 FLOP each (1.2e25 in all):
    the registry keyed a model by its exact name: two models of 6e24 each and no alert. Now one model."""
    facility = Facility.objects.get(code="US-VA-001")
    r = world.op_a.post("/api/v1/runs/", declaration(flop=9e23, model_name="Frontier-7"), format="json")
    assert r.status_code == 201, r.content  # the API takes the variant as another model
    first = declare_run(parties, "frontier-7", planned=6e24, hours=48)
    second = declare_run(parties, "Frontier-7", planned=6e24, hours=30)
    _attest(first, facility, 6e24)
    _attest(second, facility, 6e24)
    keys = {run_metrics.model_key(parties.op_a.pk, n) for n in ("frontier-7", "Frontier-7")}
    assert len(keys) == 1  # one model, however its runs spell it
    assert threshold_alerts(rule__key="eu-ai-act-systemic").exists()


@pytest.mark.parametrize("links", [2, 10])
def test_bandwidth_declared_as_several_slow_links_joins_a_covered_cluster(api, parties, links):
    """17 H100s split 9 and 8 between two facilities of op-a 50 km apart. One 100 Gbit/s link makes them one
    covered cluster (16.99 H100e > 16). Declared instead as several parallel links of 20 or 25 Gbit/s each
    between the same two facilities (40 or 250 Gbit/s in all), they never join: each link is judged alone
    against the 25 Gbit/s line, so the sites are 'networked' at up to ten times the line and counted as two
    sets under it. A faithful count sums the bandwidth between the same sites."""
    from tests.compliance.test_covered_clusters import covered_alerts, link

    a = api(parties.users["op_a_admin"])
    call_command("load_presets", "draft-treaty", verbosity=0)
    site(a, "WEST-1", WEST)
    site(a, "EAST-1", EAST)
    chips = h100s(parties.users["op_a_admin"], "SPL", 17)
    declare(a, "WEST-1", chips[:9])
    declare(a, "EAST-1", chips[9:])
    drain_all()
    gbps = 20 if links == 2 else 25
    for i in range(links):
        link(a, f"wan-{i}", {"facility": "WEST-1"}, {"facility": "EAST-1"}, gbps)
    drain_all()
    assert links * gbps > 25
    assert covered_alerts().exists()


def test_model_names_are_compared_in_one_form():
    same = {
        run_metrics.same_model(n)
        for n in ("Frontier-7", "frontier 7", "FRONTIER_7", " frontier--7 ", "ｆｒｏｎｔｉｅｒ-7")
    }
    assert same == {"frontier 7"}
    assert run_metrics.same_model("frontier-7b") != run_metrics.same_model("frontier-7")


def test_work_on_chips_the_registry_does_not_know_counts_at_their_makers_bound(world):
    """op-a reports 31 days of training on 400 chips it never registered (serials the registry does not
    know): the statement is stored, its records kept by reference, but with no FLOP bound at all, so the
    facility's unexplained compute stays 0. For another party's chips the registry bounds the work by the
    maker's fastest catalogued model; a faithful count bounds an unknown chip of a known maker the same way
    (here: 2.1e24 FLOP of unexplained training at the very least), instead of counting it as nothing."""
    end = now() - timedelta(minutes=5)
    unknown = [f"nvidia:GHOST{i:06d}" for i in range(400)]
    body = send(world, world.usage(rows(unknown, 31), end - timedelta(days=31), end))
    kept = ChiplessUsageRecord.objects.filter(attestation_id=body["id"])
    assert kept.count() == 400
    assert sum(r.flop_peak for r in kept) > 2e24 and all(r.flop_fp16 for r in kept)
    assert unexplained().filter(rule__key="treaty-unexplained-compute-facility").exists()
    # A maker the catalogue does not know bounds nothing: its chips' work is kept, with no figure to count it by.
    odd = send(world, world.usage(rows(["acme:X000001"], 1), end - timedelta(days=1), end))
    assert ChiplessUsageRecord.objects.get(attestation_id=odd["id"]).flop_peak is None


def consolidation_alerts():
    return Alert.objects.filter(rule__key="treaty-consolidation", cleared_at__isnull=True)


def test_chips_parked_in_a_shipment_to_oneself_stay_in_the_consolidation_count(api, parties):
    """op-a holds 17 H100s at an unaccepted facility: the consolidation alert is raised. It then 'ships'
    them to its own other facility 50 km away and never confirms receipt: the chips are `in_transit`
    indefinitely, not live, and the alert clears, though the chips are still op-a's and still in no
    accepted facility. No clock or finding catches a shipment that never arrives."""
    a = api(parties.users["op_a_admin"])
    call_command("load_presets", "draft-treaty", verbosity=0)
    site(a, "WEST-1", WEST)
    site(a, "EAST-1", EAST)
    chips = h100s(parties.users["op_a_admin"], "PRK", 17)
    declare(a, "WEST-1", chips)
    drain_all()
    assert consolidation_alerts().exists()
    shipped = a.post(
        "/api/v1/transfers/",
        {
            "receiver": "op-a",
            "destination_facility": "EAST-1",
            "shipped_at": (timezone.now() - timedelta(minutes=30)).isoformat(),
            "chips": chips,
        },
    )
    assert shipped.status_code == 201, shipped.content
    drain_all()
    evaluate_all(now=timezone.now() + timedelta(days=200))
    key = f"{parties.op_a.pk}:US"
    held = Aggregate.objects.filter(scope="unaccepted_holdings", subject_key=key).values_list("chip_count", flat=True)
    assert list(held) == [17]
    assert consolidation_alerts().exists()
    # The alert's evidence names the shipment that holds them.
    from compliance import aggregates

    sources = aggregates.ties_in_many("unaccepted_holdings", [key])[key]
    assert {"source": "transfer", "id": shipped.json()["id"]} in [{k: s[k] for k in ("source", "id")} for s in sources]


def test_a_model_declared_as_runs_under_1e22_is_reviewed_once_they_add_up(world):
    """Article IV(2): a training run of 1e22 FLOP and more is reported and reviewed. One model declared as two
    runs of 6e21 (1.2e22 in all): the second goes under review; another model's runs do not add up with it."""
    states = []
    for name in ("frontier-7", "Frontier 7", "other-model"):
        r = world.op_a.post("/api/v1/runs/", declaration(flop=6e21, model_name=name), format="json")
        assert r.status_code == 201, r.content
        states.append(Run.objects.get(code=r.json()["code"]).state)
    assert states == ["below_threshold", "under_review", "below_threshold"]


def test_training_filed_late_counts_when_it_is_filed(world):
    """op-a holds back the usage statement of 31 days of training on 400 H100s (2.1e24 FLOP, unexplained) until
    its period has been over for 40 days, then files it. Chosen by period end, the 30-day window never saw it:
    no window ever evaluated would. Counted from its receipt (attestations.windows), it raises the draft
    treaty's unexplained-compute alert and its evidence names the statement (the console's window: tests/console/
    test_usage_days.py); the same statement received on time 40 days ago has long left the window."""
    end = now() - timedelta(days=40)
    body = send(world, world.usage(rows(serials(0, 400), 31), end - timedelta(days=31), end, issued=now()))
    alert = unexplained().get(rule__key="treaty-unexplained-compute-facility")
    assert alert.value > 2e24
    sources = alert.evidence.order_by("-pk").first().sources
    assert str(body["id"]) in {str(source.get("id")) for source in sources}

    Attestation.objects.filter(pk=body["id"]).update(received_at=end + timedelta(minutes=5))
    evaluate_all()
    alert.refresh_from_db()
    assert alert.cleared_at is not None


def _west_and_east(api, parties, linked):
    """op-a's WEST-1 and EAST-1, 50 km apart, 8 of its H100s declared at each (H000000.. and H000008..), and
    (`linked`) the 100 Gbit/s link wan-1 between them: its client and the link (or None)."""
    from tests.compliance.test_covered_clusters import link

    a = api(parties.users["op_a_admin"])
    site(a, "WEST-1", WEST)
    site(a, "EAST-1", EAST)
    declare(a, "WEST-1", serials(0, 8))
    declare(a, "EAST-1", serials(8, 8))
    wan = link(a, "wan-1", {"facility": "WEST-1"}, {"facility": "EAST-1"}, 100) if linked else None
    drain_all()
    return a, wan


def test_unexplained_compute_split_over_linked_facilities_is_one_covered_clusters(world, api, parties):
    """op-a trains on 16 H100s for five days, 8 at each of two facilities 50 km apart: 6.8e21 FLOP of
    unexplained work at each, under the 1e22 line of the facility and cluster presets. Joined by a 100 Gbit/s
    link they are one covered chip cluster (Article V.3: a set split over linked sites is one), whose work is
    1.37e22: the covered-cluster preset counts it, names both statements and the link, keeps it when the link is
    retired (the work was done while linked), and clears once the work has left the window."""
    from tests.compliance.test_covered_clusters import link

    a, _ = _west_and_east(api, parties, linked=False)
    end = now() - timedelta(minutes=5)
    sent = [
        send(world, world.usage(rows(serials(first, 8), 5), end - timedelta(days=5), end, facility=code))
        for first, code in ((0, "WEST-1"), (8, "EAST-1"))
    ]
    per_facility = 8 * 5 * H100_DAY_HIGHER
    assert 5e21 < per_facility < 1e22 < 2 * per_facility
    assert not unexplained().exists()  # two sets, each under the line

    wan = link(a, "wan-1", {"facility": "WEST-1"}, {"facility": "EAST-1"}, 100)
    drain_all()
    alert = unexplained().get(rule__key="treaty-unexplained-compute-covered-cluster")
    assert alert.value == pytest.approx(2 * per_facility, rel=1e-9)
    assert not unexplained().exclude(rule__key="treaty-unexplained-compute-covered-cluster").exists()
    evidence = alert.evidence.order_by("-pk").first()
    named = {str(source.get("id")) for source in evidence.sources}
    assert {str(s["id"]) for s in sent} <= named
    assert any(source.get("source") == "link" for source in evidence.sources)
    # The console's per-subject sum (the ORM's) is the evaluation's (one GROUP BY), and a full evaluation keeps it.
    value = compute_in_window(alert.rule, "covered_cluster", alert.subject_key, timezone.now())
    assert value == pytest.approx(alert.value, rel=1e-9)
    evaluate_all()
    alert.refresh_from_db()
    assert alert.cleared_at is None

    # Retiring the link does not part work done while it joined them: the window still holds both halves.
    assert a.post(f"/api/v1/links/{wan['id']}/retire/", {}).status_code == 200
    drain_all()
    alert.refresh_from_db()
    assert alert.cleared_at is None
    # Once that work has left the window, and the link was retired before it opened, nothing is left to count.
    evaluate_all(now=timezone.now() + timedelta(days=31))
    alert.refresh_from_db()
    assert alert.cleared_at is not None


def test_a_link_retired_before_the_statements_are_filed_still_joins_their_work(world, api, parties):
    """(Second review of session 12.) The same two halves, the link retired after the work and before op-a files
    the statements: the components as the ties stand now are two, each under the line. A usage window joins the
    sites tied at any time in it, so the covered cluster's work is counted whole."""
    a, wan = _west_and_east(api, parties, linked=True)
    assert a.post(f"/api/v1/links/{wan['id']}/retire/", {}).status_code == 200
    drain_all()
    end = now() - timedelta(minutes=5)
    for first, code in ((0, "WEST-1"), (8, "EAST-1")):
        send(world, world.usage(rows(serials(first, 8), 5), end - timedelta(days=5), end, facility=code))
    alert = unexplained().get(rule__key="treaty-unexplained-compute-covered-cluster", cleared_at=None)
    assert alert.value == pytest.approx(16 * 5 * H100_DAY_HIGHER, rel=1e-9)
    # Its evidence names the retired link that joined the sites in the window.
    sources = alert.evidence.order_by("-pk").first().sources
    assert {"source": "link", "id": "wan-1"} in [{k: src.get(k) for k in ("source", "id")} for src in sources]
    value = compute_in_window(alert.rule, "covered_cluster", alert.subject_key, timezone.now())
    assert value == pytest.approx(alert.value, rel=1e-9)
    evaluate_all()
    alert.refresh_from_db()
    assert alert.cleared_at is None


def test_a_burst_split_into_a_timely_half_and_a_late_half_is_judged_in_one_window(world):
    """(Review of session 12.) op-a runs 80 H100s flat out for two days (1.37e22 FLOP, past the draft preset's
    1e22 line for unexplained work in 30 days). It files the second day's statement on time (40 chips, 6.8e21)
    and holds the first day's back until the second has left the window, then files it. Counted from its receipt
    alone, the late half sat in a window of its own and no window held both. Judged also in the fullest window
    around its period end (compliance.late_windows), the two days are one window's work: the alert is raised,
    at their sum, naming both statements, and the console's per-subject reading agrees."""
    second_end = now() - timedelta(days=31)
    timely = send(world, world.usage(rows(serials(40, 40), 1), second_end - timedelta(days=1), second_end))
    # Filed on time: received five minutes after its period ended (its evaluation then saw 6.8e21 alone).
    Attestation.objects.filter(pk=timely["id"]).update(received_at=second_end + timedelta(minutes=5))
    evaluate_all()
    key = "treaty-unexplained-compute-facility"
    assert not unexplained().filter(rule__key=key, cleared_at=None).exists()

    first_end = second_end - timedelta(days=1)
    late = send(world, world.usage(rows(serials(0, 40), 1), first_end - timedelta(days=1), first_end))
    alert = unexplained().get(rule__key=key, cleared_at=None)
    assert alert.value == pytest.approx(80 * H100_DAY_HIGHER, rel=1e-9) and alert.value > 1e22
    named = {str(source.get("id")) for source in alert.evidence.order_by("-pk").first().sources}
    assert {str(timely["id"]), str(late["id"])} <= named
    facility = str(Facility.objects.get(code="US-VA-001").pk)
    assert compute_in_window(alert.rule, "facility", facility, timezone.now()) == pytest.approx(alert.value, rel=1e-9)
    evaluate_all()  # the periodic evaluation keeps it: the late statement still counts
    alert.refresh_from_db()
    assert alert.cleared_at is None and alert.value == pytest.approx(80 * H100_DAY_HIGHER, rel=1e-9)


def test_a_late_half_at_a_linked_facility_is_judged_with_the_covered_clusters_window(world, api, parties):
    """Both dodges at once: 16 H100s train five days, 8 at each of two linked facilities; WEST's statement is
    filed on time, EAST's held back until WEST's has left the window. The covered chip cluster's fullest window
    around EAST's period end holds both (compliance.aggregates.late_usage, by component)."""
    _west_and_east(api, parties, linked=True)
    west_end = now() - timedelta(days=31)
    west = send(world, world.usage(rows(serials(0, 8), 5), west_end - timedelta(days=5), west_end, facility="WEST-1"))
    Attestation.objects.filter(pk=west["id"]).update(received_at=west_end + timedelta(minutes=5))
    evaluate_all()
    key = "treaty-unexplained-compute-covered-cluster"
    assert not unexplained().filter(rule__key=key, cleared_at=None).exists()
    east_end = west_end - timedelta(days=1)
    east = send(world, world.usage(rows(serials(8, 8), 5), east_end - timedelta(days=5), east_end, facility="EAST-1"))
    alert = unexplained().get(rule__key=key, cleared_at=None)
    assert alert.value == pytest.approx(16 * 5 * H100_DAY_HIGHER, rel=1e-9)
    named = {str(source.get("id")) for source in alert.evidence.order_by("-pk").first().sources}
    assert {str(west["id"]), str(east["id"])} <= named
    value = compute_in_window(alert.rule, "covered_cluster", alert.subject_key, timezone.now())
    assert value == pytest.approx(alert.value, rel=1e-9)


@pytest.mark.parametrize(
    "gap,held",
    [
        (timedelta(days=1), timedelta(days=29, hours=1)),  # a two-day burst, the later day held 29 days
        (timedelta(days=16), timedelta(days=14, hours=1)),  # two days 16 days apart, the later held 14 days
    ],
)
def test_a_later_half_held_back_until_the_earlier_has_left_is_judged_with_it(world, gap, held):
    """(Second review of session 12.) The dodge above the other way round: op-a files the earlier day (40
    H100s, 6.8e21) on time and holds the later one back until the earlier has left the window, while the later
    one's own period end is still in it. Counted by its period end, it was never called late (its end had not
    left the window), so no window held both. Received more than the filing grace after its period ended, it is
    judged in the fullest window around its end: 1.37e22, alerted."""
    t = now()
    first_end = t - timedelta(days=30, hours=1)
    second_end = first_end + gap
    assert t - held == second_end and second_end > t - timedelta(days=30)  # its end still in the window
    first = send(world, world.usage(rows(serials(0, 40), 1), first_end - timedelta(days=1), first_end))
    Attestation.objects.filter(pk=first["id"]).update(received_at=first_end + timedelta(minutes=5))
    evaluate_all()
    key = "treaty-unexplained-compute-facility"
    assert not unexplained().filter(rule__key=key, cleared_at=None).exists()

    send(world, world.usage(rows(serials(40, 40), 1), second_end - timedelta(days=1), second_end))
    alert = unexplained().get(rule__key=key, cleared_at=None)
    assert alert.value == pytest.approx(80 * H100_DAY_HIGHER, rel=1e-9)
    facility = str(Facility.objects.get(code="US-VA-001").pk)
    assert compute_in_window(alert.rule, "facility", facility, timezone.now()) == pytest.approx(alert.value, rel=1e-9)


def test_a_late_statement_split_in_two_is_not_double_counted(world):
    """(Holds.) A late day of 40 H100s filed as two statements of 20 at one period end, and 40 more on time in the
    same window: the subject's value is their sum once (the larger view, never both), 80 chip-days, not 120."""
    timely_end = now() - timedelta(days=31)
    timely = send(world, world.usage(rows(serials(0, 40), 1), timely_end - timedelta(days=1), timely_end))
    Attestation.objects.filter(pk=timely["id"]).update(received_at=timely_end + timedelta(minutes=5))
    late_end = timely_end - timedelta(days=1)
    for first in (40, 60):
        send(world, world.usage(rows(serials(first, 20), 1), late_end - timedelta(days=1), late_end))
    evaluate_all()
    alert = unexplained().get(rule__key="treaty-unexplained-compute-facility", cleared_at=None)
    facility = str(Facility.objects.get(code="US-VA-001").pk)
    value = compute_in_window(alert.rule, "facility", facility, timezone.now())
    assert value == pytest.approx(80 * H100_DAY_HIGHER, rel=1e-9)


def test_a_statement_filed_within_the_grace_is_judged_by_its_period_end_alone(world):
    """(Holds.) A timely reporter is not judged on windows it has left: a day of work filed an hour after its
    period ended, 29 days ago, and another 29 days before it: each window holds one (6.8e21), nothing is
    alerted, as by period end."""
    end = now() - timedelta(days=29)
    for first, finished in ((0, end - timedelta(days=29)), (40, end)):
        body = send(world, world.usage(rows(serials(first, 40), 1), finished - timedelta(days=1), finished))
        Attestation.objects.filter(pk=body["id"]).update(received_at=finished + timedelta(hours=1))
    evaluate_all()
    assert not unexplained().filter(rule__key="treaty-unexplained-compute-facility", cleared_at=None).exists()


def test_work_named_at_a_facility_the_chips_are_not_at_is_a_finding(world, api, parties):
    """(Second review of session 12.) 16 H100s of op-a, 8 at WEST-1 and 8 at EAST-1, one covered chip cluster.
    op-a files EAST's five days naming US-CA-001, another of its facilities, linked to nothing: usage counts
    where the statement says, so the cluster saw only WEST's half. The books place those chips at EAST-1 all
    through the period: the statement carries a usage_elsewhere finding naming EAST-1 and the count, for the
    inspectors (and its flag for the speaker). A statement about chips placed where it says carries none."""
    _west_and_east(api, parties, linked=True)  # declared an hour ago: the books place the chips from then
    end = now() - timedelta(minutes=5)
    span = 0.03  # days: 43 minutes, all of them within the chips' placements
    start = end - timedelta(days=span)
    honest = send(world, world.usage(rows(serials(0, 8), span), start, end, facility="WEST-1"))
    assert "usage_elsewhere" not in honest["flags"]
    # Five days named at US-CA-001, of which the books place the chips at EAST-1 only for the last hour (nowhere
    # before): not all through the period, no finding (a client written from ATTESTATION.md 5, 2026-12-07).
    longer = send(world, world.usage(rows(serials(8, 8), 5), end - timedelta(days=5), end, facility="US-CA-001"))
    assert "usage_elsewhere" not in longer["flags"]
    moved = send(world, world.usage(rows(serials(8, 8), span), start, end, facility="US-CA-001"))
    assert moved["flags"].get("usage_elsewhere") == 1
    [finding] = AnyFinding.objects.filter(kind="usage_elsewhere")
    assert finding.facility.code == "US-CA-001" and "EAST-1 (8 chips)" in finding.detail
    assert finding.organisation.code == "op-a" and finding.country == "US"


def test_a_statement_filed_past_the_grace_carries_a_late_filing_finding(world, api, parties):
    """Filing late was handled by the counting alone (the work counts where its period ends), and nothing told an
    inspector that op-a files late, or how late. A statement received 40 days after its period ended now carries
    one `late_filing` finding saying so; one filed within the grace (CHIPREG_USAGE_FILING_GRACE_H) carries none.
    The finding is op-a's and the US inspectorate's to see, not op-b's nor the French inspectorate's."""
    end = now() - timedelta(days=40)
    late = send(world, world.usage(rows(serials(0, 4), 1), end - timedelta(days=1), end, issued=now()))
    assert late["flags"].get("late_filing") == 1
    [finding] = AnyFinding.objects.filter(kind="late_filing")
    assert finding.source_id == str(late["id"]) and finding.facility.code == "US-VA-001"
    assert "960 hours (40.0 days) after its period ended" in finding.detail
    assert "the filing grace is 24 hours" in finding.detail
    assert finding.detail.startswith("statement: late_filing: ")  # about the statement, not a "transfer"
    on_time_end = now() - timedelta(hours=23)
    on_time = send(
        world, world.usage(rows(serials(4, 4), 1), on_time_end - timedelta(days=1), on_time_end, issued=now())
    )
    assert "late_filing" not in on_time["flags"]
    assert AnyFinding.objects.filter(kind="late_filing").count() == 1

    def listed(user):
        response = api(parties.users[user]).get("/api/v1/findings/?kind=late_filing")
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert listed("op_a_admin") == listed("insp_us") == listed("treaty") == [finding.pk]
    assert listed("op_b") == listed("insp_fr") == []
