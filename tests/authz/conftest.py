"""One world per module for the permission matrices: the demo world (`load_demo`: two
operators, two inspectorates, a treaty body, a manufacturer, the registry superuser,
facilities, clusters, placements, statements, an inspection, findings, thresholds and
alerts) plus what the demo lacks (a pending cross-operator transfer, a campus, a
landmark, a witness key, a subscription with a dead delivery, more users).

Built inside a transaction that is rolled back when the module ends; every test runs in
a savepoint within it, so an allowed write in one cell never leaks into the next.
"""

import io
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from tests.authz.policy import ROLES

# role -> (username, organisation code, role in the organisation, superuser)
USERS = {
    "op_admin": ("operator", "op-demo", "admin"),
    "op_member": ("authz-op-member", "op-demo", "member"),
    "op_readonly": ("authz-op-viewer", "op-demo", "read-only"),
    "op_other": ("other-operator", "op-other", "admin"),
    # The other parties as their strongest users: admins of their organisations.
    "insp_in": ("authz-insp-us-admin", "insp-us", "admin"),
    "insp_out": ("authz-insp-de-admin", "insp-de", "admin"),
    "manufacturer": ("authz-nvidia-admin", "nvidia", "admin"),
    "treaty": ("treaty", "treaty-demo", "admin"),
    "registry_admin": ("admin", "treaty-demo", "admin"),
}


def _as(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def _created(response):
    assert response.status_code in (200, 201), (response.status_code, response.content[:500])
    return response.json()


def _build():
    from attestations.models import Attestation, Rejection, SigningKey
    from compliance.models import Alert, Delivery, Subscription, ThresholdRule
    from demo.world import DEMO_RULE_KEY, public_pem
    from inventory.models import AnyFinding, Campus, Cluster, Declaration, Facility, Inspection, Placement, Transfer
    from registry.models import APIToken, Chip, ManufacturerReport, Organisation, User

    call_command("load_demo", stdout=io.StringIO())
    now = timezone.now()
    w = SimpleNamespace(now=now, users={}, tokens={})
    for role, (username, org_code, org_role) in USERS.items():
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User(username=username, organisation=Organisation.objects.get(code=org_code), role=org_role)
            user.set_password("authz-pw-123456")
            user.save()
        if role != "registry_admin":  # the superuser's organisation, if any, is the demo's business
            assert (user.organisation.code, user.role) == (org_code, org_role), username
        w.users[role] = user
        _, w.tokens[role] = APIToken.issue(user)
    assert w.users["registry_admin"].is_superuser
    op_a, op_b = w.users["op_admin"].organisation, w.users["op_other"].organisation

    # Operator A's things (the targets of every "op A" path), and B's for the pending transfer.
    w.facility_a = Facility.objects.get(code="US-VA-001")
    w.facility_a2 = Facility.objects.get(code="US-TX-001")
    w.facility_b = Facility.objects.get(code="DE-FRA-001")
    w.cluster_a = Cluster.objects.get(facility=w.facility_a, code="va-train-1")
    w.chip_a = Chip.objects.filter(custodian=op_a, model__slug="nvidia-h100-sxm5-80gb").order_by("serial").first()
    w.chip_b = Chip.objects.filter(custodian=op_b).order_by("serial").first()
    w.placement_a = Placement.objects.filter(facility=w.facility_a, valid_to__isnull=True).order_by("id").first()
    w.declaration_a = Declaration.objects.filter(facility=w.facility_a).order_by("id").first()
    w.inspection_a = Inspection.objects.get(facility=w.facility_a)
    w.finding_a = AnyFinding.objects.filter(facility=w.facility_a, resolved_at__isnull=True).order_by("id").first()
    w.key_a = SigningKey.objects.get(organisation=op_a)
    # A lets a third operator (its colocation host) deliver its statements (ATTESTATION.md 6).
    from attestations.delegations import grant
    from registry.models import Organisation as Org

    Org.objects.get_or_create(code="authz-op-host", defaults={"name": "Host", "kind": "operator", "country": "US"})
    w.delegation_a = grant(w.users["op_admin"], "authz-op-host")
    w.attestation_a = Attestation.objects.filter(operator=op_a, kind="location").order_by("id").first()
    w.rejection_a = Rejection.objects.filter(organisation=op_a).order_by("id").first()
    w.rule = ThresholdRule.objects.get(key=DEMO_RULE_KEY, superseded_at__isnull=True)
    w.alert_a = Alert.objects.filter(facility=w.facility_a, state="open").order_by("id").first()

    # B ships two of its chips to A (pending): A receives it, B cannot, both countries' inspectorates see it.
    placed = Placement.objects.filter(valid_to__isnull=True).values("chip_id")
    spare_b = list(Chip.objects.filter(custodian=op_b).exclude(pk__in=placed).order_by("serial")[:2])
    assert len(spare_b) == 2
    # From DE to the US: under an export authorisation the German inspectorate approved (issue 19).
    from tests.factories import approved_export

    licence_b = approved_export(
        w.users["op_other"], op_a.code, [c.public_id for c in spare_b], destination_facility=w.facility_a2.code
    )
    w.transfer_in = Transfer.objects.get(
        pk=_created(
            _as(w.users["op_other"]).post(
                "/api/v1/transfers/",
                {
                    "receiver": op_a.code,
                    "destination_facility": w.facility_a2.code,
                    "shipped_at": (now - timedelta(hours=2)).isoformat(),
                    "chips": [c.public_id for c in spare_b],
                    "export_authorisation": licence_b,
                },
                format="json",
            )
        )["id"]
    )
    w.transfer_chips = [c.public_id for c in spare_b]

    # A second Ashburn hall 2 km away: the registry proposes a campus of A's two sites.
    _created(
        _as(w.users["op_admin"]).post(
            "/api/v1/facilities/",
            {"code": "US-VA-002", "name": "Ashburn hall 2", "country": "US", "latitude": 39.055, "longitude": -77.47},
            format="json",
        )
    )
    # B squats next to it (item 6): the campus holds B's site too, and B may see only its own in it.
    _created(
        _as(w.users["op_other"]).post(
            "/api/v1/facilities/",
            {"code": "US-VA-B01", "name": "B next door", "country": "US", "latitude": 39.05, "longitude": -77.49},
            format="json",
        )
    )
    w.facility_a.refresh_from_db()
    w.campus_a = Campus.objects.get(pk=w.facility_a.campus_id)
    assert set(w.campus_a.facilities.values_list("code", flat=True)) >= {"US-VA-001", "US-VA-002", "US-VA-B01"}
    from transparency.models import LogEventData

    w.event_a = LogEventData.objects.get(event="facility.registered", object_id="US-VA-002").index
    # The campus as proposed once B's site joined it: it names every facility in it.
    w.campus_event = LogEventData.objects.filter(event="campus.proposed").order_by("-index").first().index
    # A's own view of that campus: the membership event names only A's sites.
    w.membership_event_a = (
        LogEventData.objects.filter(event="campus.membership", parties__contains=["op-demo"])
        .order_by("-index")
        .first()
        .index
    )

    # A's Ashburn and Texas sites, networked and running one job (the links and groups matrix rows).
    from inventory.models import NetworkLink, WorkloadGroup

    a_admin = _as(w.users["op_admin"])
    w.link_a = NetworkLink.objects.get(
        pk=_created(
            a_admin.post(
                "/api/v1/links/",
                {
                    "code": "a-wan",
                    "a": {"facility": w.facility_a.code, "cluster": w.cluster_a.code},
                    "b": {"facility": w.facility_a2.code},
                    "bandwidth_gbps": 400,
                },
                format="json",
            )
        )["id"]
    )
    w.group_a = WorkloadGroup.objects.get(
        pk=_created(
            a_admin.post(
                "/api/v1/workload-groups/",
                {"code": "a-job", "sites": [{"facility": w.facility_a.code}, {"facility": w.facility_a2.code}]},
                format="json",
            )
        )["id"]
    )

    # The treaty body's landmark and witness key, and its landmark signing key.
    w.landmark = _created(
        _as(w.users["treaty"]).post(
            "/api/v1/landmarks/", {"code": "lm-authz", "latitude": 48.2, "longitude": 16.4}, format="json"
        )
    )["code"]
    w.witness = _created(
        _as(w.users["treaty"]).post(
            "/api/v1/log/witnesses/", {"name": "authz-witness", "public_key": _new_pem()}, format="json"
        )
    )["id"]
    # B's own attestation key: what it signs with when it speaks about A's facility.
    from attestations.services import register_key

    w.private_b = _new_private()
    # Registered a day ago, as a seed may (attestations.services: registered_at): its statements, dated a
    # little in the past, must meet the facility check, not the key's own life.
    register_key(
        w.users["op_other"],
        public_pem(w.private_b),
        name="op-other agent",
        registered_at=timezone.now() - timedelta(days=1),
    )

    # The US inspectorate's subscription (e-mail: no DNS), with a dead delivery of A's alert.
    w.subscription = Subscription.objects.create(
        organisation=w.users["insp_in"].organisation,
        name="authz",
        min_severity="low",
        email="alerts@insp-us.example",
        created_by=w.users["insp_in"],
        secret="whsec_" + "A" * 32,
    )
    w.delivery = Delivery.objects.create(
        subscription=w.subscription,
        alert=w.alert_a,
        event="alert.raised",
        webhook_id="msg_authz_dead",
        payload={"alert": w.alert_a.pk},
        channel="email",
        state="dead",
        attempts=5,
    )
    w.subscription_spare = Subscription.objects.create(
        organisation=w.users["insp_in"].organisation, name="spare", email="spare@insp-us.example"
    )
    # A's run under review, on its Ashburn facility and cluster (the treaty body decides; B sees nothing).
    from runs import services as runs

    w.run_a = runs.declare(
        w.users["op_admin"],
        {
            "model_name": "authz-model",
            "kind": "pre_training",
            "planned_flop": 5e23,
            "precision": "bf16",
            "facilities": [w.facility_a],
            "clusters": [w.cluster_a],
            "planned_start": now + timedelta(days=10),
            "planned_end": now + timedelta(days=70),
            "description": "The matrix's run.",
        },
        runs.Verdict("under_review", review_days=30),
    )
    # Issue 17: the US inspectorate asked A about its alert and A answered (with a file); an open request on
    # A's finding is on A's answers-due page.
    from compliance import disputes

    w.clarification_a = disputes.request_clarification(
        w.users["insp_in"], disputes.Subject(alert=w.alert_a), "Matrix: where are the chips of alert A?"
    )
    w.answer_a = disputes.answer(
        w.users["op_admin"],
        disputes.Subject(alert=w.alert_a),
        "Matrix: A's answer about alert A.",
        attachments=[("matrix.txt", "text/plain", b"A's attachment\n")],
    )
    w.clarification_open = disputes.request_clarification(
        w.users["insp_in"], disputes.Subject(finding=w.finding_a), "Matrix: open question to A about its finding."
    )
    # Issue 19: the treaty body lets DE's inspectorate request challenge inspections in the US, and challenges
    # A's Ashburn facility twice: one awaiting A's acknowledgement, one where A granted access (to record).
    from inventory.services import challenges

    challenges.declare_rule(w.users["treaty"], [{"inspectorate": "insp-de", "countries": ["US"]}], "matrix")
    w.challenge_a = challenges.request(
        w.users["treaty"], reason="Matrix: challenge of A's site", facility_code=w.facility_a.code
    )
    w.challenge_granted = challenges.request(
        w.users["treaty"], reason="Matrix: challenge of A's site", facility_code=w.facility_a.code
    )
    challenges.decide_access(w.users["op_admin"], w.challenge_granted.pk, True)
    # Issue 19: A asks to export its chip to B's German site (pending: the US inspectorate decides), and the
    # treaty body's destination rule (it forbids another destination, so A's export may be approved).
    from compliance import exports as export_rules
    from inventory.chiprefs import parse_listing
    from inventory.services.exports import request_export

    w.export_a = request_export(
        w.users["op_admin"],
        parse_listing([w.chip_a.public_id], 10),
        op_b,
        "US-BIS-MATRIX-1",
        destination_facility=w.facility_b,
    )
    # And an approved one for the same chip (what A's shipment in the matrix ships under).
    w.licence_a = approved_export(w.users["op_admin"], op_b.code, [w.chip_a.public_id], reference="US-BIS-MATRIX-0")
    w.destination_rule = export_rules.declare(
        w.users["treaty"], "matrix-embargo", name="Matrix embargo", destinations=["KP"], effective_from=now
    )
    # Issue 19: a tip (sent by nobody signed in) and case A, which the treaty body let the US inspectorate read.
    from casework import cases, tips

    w.tip_a, w.tip_a_receipt = tips.submit(None, {"text": "Matrix: a tip about A", "serials": [], "attachments": []})
    w.case_a = cases.open_case(w.users["treaty"], "Matrix: case A")
    cases.add_inspectorate(w.users["treaty"], w.case_a, "insp-us")
    # Issue 19: A asks to destroy a chip in the US (awaiting witness), reported another chip stolen (on the
    # watch list), and nvidia reported a serial it produced.
    from registry import disposals, reports
    from registry.services import change_chip

    a_chips = list(
        Chip.objects.filter(custodian=op_a, country="US", status="installed").exclude(pk=w.chip_a.pk).order_by("serial")
    )
    w.disposal_chip, w.stolen_a = a_chips[0], a_chips[1]
    w.disposal_a = disposals.request_disposal(
        w.users["op_admin"],
        kind="destroyed",
        chip_ids=[w.disposal_chip.public_id],
        method="Matrix: shredded",
        place="Matrix recycler",
        date=now.date(),
        files=[("certificate.pdf", "application/pdf", b"%PDF-1.4 matrix")],
    )
    change_chip(w.stolen_a, w.users["op_admin"], status="stolen", reason="Matrix: stolen")
    reports.report_serials(w.users["manufacturer"], ["MATRIX-REPORTED-1"])
    w.report_m = ManufacturerReport.objects.get(serial="MATRIX-REPORTED-1")
    # A second token of A's member: the one admins may manage (the role's own stays usable).
    w.token_member, _ = APIToken.issue(w.users["op_member"], name="second")
    from transparency.checkpoints import latest_checkpoint

    checkpoint = latest_checkpoint()
    w.log_size = checkpoint.size if checkpoint else 0
    assert all(
        (
            w.chip_a,
            w.chip_b,
            w.placement_a,
            w.declaration_a,
            w.finding_a,
            w.attestation_a,
            w.rejection_a,
            w.alert_a,
            w.answer_a,
        )
    )
    return w


def _new_private():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate()


def _new_pem():
    from demo.world import public_pem

    return public_pem(_new_private())


@pytest.fixture(scope="module")
def authz_world(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        with transaction.atomic():
            world = _build()
            world.new_pem = _new_pem
            yield world
            transaction.set_rollback(True)


@pytest.fixture
def world(authz_world, db):
    return authz_world


assert set(USERS) | {"anon"} == set(ROLES)
