"""The demo world (`make run`): facilities, clusters, placements,
signed attestations, a refused submission, thresholds, declared training runs
(one approved by silence, whose usage the week of statements reports, one under
review, one prohibited, one whose attested compute passed its plan), three halls of
400 H100s (a month of inference, a month of training no run explains, the run past
its plan), an inspection with discrepancies, and the alerts all
of that raises.

Everything goes through the same services the API calls (facility and
cluster registration through the API views themselves, declarations,
inspections, key registration, statement verification and storage, rule
declaration), so the demo shows the registry as it really behaves. Idempotent:
each part is skipped when it is already there. Called at the end of
`manage.py load_demo`, after the organisations, users and chips exist.
"""

import hashlib
import json
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.utils import timezone

DEMO_RULE_KEY = "demo-facility-chip-count"
FACILITIES = [
    # user, code, name, country, lat, lon, address, power, clusters
    (
        "operator",
        "US-VA-001",
        "Ashburn campus, hall 1",
        "US",
        39.0438,
        -77.4874,
        "Ashburn, Virginia",
        48.0,
        [("va-train-1", "training", 3200), ("va-infer-1", "inference", 800)],
    ),
    (
        "operator",
        "US-TX-001",
        "Abilene data centre",
        "US",
        32.4487,
        -99.7331,
        "Abilene, Texas",
        30.0,
        [("tx-1", "mixed", 400)],
    ),
    (
        "other-operator",
        "DE-FRA-001",
        "Frankfurt am Main, Ost",
        "DE",
        50.1109,
        8.6821,
        "Frankfurt am Main",
        12.0,
        [("fra-1", "training", 1600)],
    ),
    # Three halls of 400 H100s each (FLEETS), for issue 17's compute scenarios.
    (
        "operator",
        "US-OR-001",
        "Hillsboro serving hall",
        "US",
        45.5229,
        -122.9898,
        "Hillsboro, Oregon",
        1.0,
        [("or-serve-1", "inference", 400)],
    ),
    (
        "operator",
        "US-OH-001",
        "New Albany hall 2",
        "US",
        40.0812,
        -82.8088,
        "New Albany, Ohio",
        1.0,
        [("oh-train-1", "training", 400)],
    ),
    (
        "operator",
        "US-GA-001",
        "Douglasville hall",
        "US",
        33.7515,
        -84.7477,
        "Douglasville, Georgia",
        1.0,
        [("ga-train-1", "training", 400)],
    ),
]
H100 = "nvidia:1653824019{:03d}"
H200 = "nvidia:1653924010{:03d}"
MI300X = "amd:MI300X-DE-{:03d}"
UNREGISTERED = "nvidia:1653824099999"
# facility: (cluster, chip serial format, days of work, workload, the run's model name or None). 400 H100s each,
# busy at full power (about 1.7e20 FLOP a chip-day at FP8, the draft's "whichever is higher"):
#   Hillsboro serves a model for 31 days: 1.06e24 FLOP (FP16), no run alert and nothing unexplained;
#   New Albany reports the same compute as training for no declared run: the unexplained-compute alert;
#   Douglasville works 11 days for a run declared at 5e23 (7.5e23 attested, past its plan by more than the
#   draft-treaty preset's margin of 1.1): the run is alerted.
FLEETS = {
    "US-OR-001": ("or-serve-1", "nvidia:1653826010{:03d}", 31, "inference", None),
    "US-OH-001": ("oh-train-1", "nvidia:1653826020{:03d}", 31, "training", None),
    "US-GA-001": ("ga-train-1", "nvidia:1653826030{:03d}", 11, "training", "demo-borealis-1"),
}
FLEET_SIZE = 400
H100_W = 700.0


def demo_key(label="op-demo"):
    """A fixed Ed25519 key, so that re-running the demo finds the same key id."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(f"chipreg demo signing key: {label}".encode()).digest())


def public_pem(private_key):
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _ts(dt):
    from protocol.times import format_time

    return format_time(dt.astimezone(UTC).replace(microsecond=0))


def _nonce(*parts):
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:32]


class Demo:
    def __init__(self, now=None, log=None):
        from registry.models import User

        self.now = (now or timezone.now()).replace(microsecond=0)
        self.log = log or (lambda message: None)
        self.users = {u.username: u for u in User.objects.select_related("organisation")}

    def user(self, name):
        return self.users[name]

    # --- rules -------------------------------------------------------------------

    def rules(self):
        from compliance import presets
        from compliance.models import ThresholdRule
        from compliance.services import declare

        treaty = self.user("treaty")
        declared = presets.load(treaty)
        if not ThresholdRule.objects.filter(key=DEMO_RULE_KEY, superseded_at__isnull=True).exists():
            declared.append(
                declare(
                    treaty,
                    DEMO_RULE_KEY,
                    name="Demo: 40 or more chips in one facility",
                    legal_reference="Demonstration rule loaded by `manage.py load_demo`; not law.",
                    metric="chip_count",
                    scope="facility",
                    comparison="ge",
                    value=40,
                    severity="high",
                    effective_from=datetime(2025, 1, 1, tzinfo=UTC),
                )
            )
        self.log(f"rules: {len(declared)} declared")

    # --- sites -------------------------------------------------------------------

    def _api(self, viewset, user, path, data):
        """Register through the API view itself, so validation and logging are the API's."""
        from rest_framework.test import APIRequestFactory, force_authenticate

        request = APIRequestFactory().post(path, data, format="json")
        force_authenticate(request, user=user)
        response = viewset.as_view({"post": "create"})(request)
        if response.status_code != 201:
            raise RuntimeError(f"demo: {path} refused {data}: {response.data}")
        return response

    def sites(self):
        from inventory.api.views import ClusterViewSet, FacilityViewSet
        from inventory.models import Cluster, Facility

        created = 0
        for username, code, name, country, lat, lon, address, power, clusters in FACILITIES:
            user = self.user(username)
            if not Facility.objects.filter(code=code).exists():
                self._api(
                    FacilityViewSet,
                    user,
                    "/api/v1/facilities/",
                    {
                        "code": code,
                        "name": name,
                        "country": country,
                        "latitude": lat,
                        "longitude": lon,
                        "address": address,
                        "power_mw": power,
                    },
                )
                created += 1
            for cluster, purpose, gbps in clusters:
                if not Cluster.objects.filter(facility__code=code, code=cluster).exists():
                    self._api(
                        ClusterViewSet,
                        user,
                        "/api/v1/clusters/",
                        {"code": cluster, "facility": code, "purpose": purpose, "interconnect_gbps": gbps},
                    )
        self.facilities = {
            f.code: f for f in Facility.objects.select_related("operator").filter(code__in=[f[1] for f in FACILITIES])
        }
        self.log(f"facilities: {created} registered")

    # --- declarations and history -----------------------------------------------

    def va_rows(self):
        # 40 H100s: 32 in the training cluster, 8 for inference.
        return [(i + 1, H100.format(i), "va-train-1" if i < 32 else "va-infer-1") for i in range(40)]

    def declarations(self):
        from django.conf import settings

        from inventory.chiprefs import parse_listing
        from inventory.models import Declaration
        from inventory.services.listings import record_declaration

        as_of = self.now - timedelta(days=10)
        listings = {
            "US-VA-001": ("operator", self.va_rows()),
            # 4 H100s, the 2 H100s received the day before and 4 H200s: 10 H100e, 62 % of the
            # covered-cluster threshold.
            "US-TX-001": (
                "operator",
                [(i + 1, H100.format(40 + i), "tx-1") for i in range(6)]
                + [(i + 7, H200.format(i), "tx-1") for i in range(4)],
            ),
            # 10 of op-other's 24 MI300X: about 13 H100e.
            "DE-FRA-001": ("other-operator", [(i + 1, MI300X.format(i), "fra-1") for i in range(10)]),
            **{
                code: ("operator", [(i + 1, serial.format(i), cluster) for i in range(FLEET_SIZE)])
                for code, (cluster, serial, *_) in FLEETS.items()
            },
        }
        for code, (username, rows) in listings.items():
            facility = self.facilities[code]
            if Declaration.objects.filter(facility=facility, attestation_id="").exists():
                continue
            entries = [{"chip": chip, "cluster": cluster} for _, chip, cluster in rows]
            record_declaration(
                self.user(username), facility, as_of, parse_listing(entries, settings.CHIPREG_BULK_MAX_ROWS)
            )
            self.log(f"declaration: {code}, {len(rows)} chips")

    def history(self):
        """Hardware identities read from the chips: an identity change each, in the chip's history and the log."""

        from registry.models import Chip
        from registry.services import change_chip

        operator = self.user("operator")
        serials = [H100.format(i).split(":")[1] for i in range(2)]
        changed = 0
        for chip in Chip.objects.filter(manufacturer__code="nvidia", serial__in=serials, uuid="").order_by("serial"):
            digest = hashlib.sha256(chip.serial.encode()).hexdigest()
            uuid = f"GPU-{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
            change_chip(
                chip,
                operator,
                identity={"uuid": uuid, "board_part_number": "692-2G520-0200-000"},
                reason="Read from the board by the operator's agent (nvidia-smi).",
            )
            changed += 1
        if changed:
            self.log(f"history: {changed} chip identities recorded")

    def transfer(self):
        """Two H100s moved from the operator's store to Abilene: a transfer in, status history, a placement.

        Within one operator, so custody (and `load_demo`'s own re-registration of the chips) is unchanged.
        """
        from django.conf import settings

        from inventory.chiprefs import parse_listing
        from inventory.models import Transfer
        from inventory.services.transfers import receive, ship

        facility = self.facilities["US-TX-001"]
        if Transfer.objects.filter(destination_facility=facility).exists():
            return
        operator = self.user("operator")
        rows = parse_listing([H100.format(44 + i) for i in range(2)], settings.CHIPREG_BULK_MAX_ROWS)
        transfer = ship(operator, rows, operator.organisation, self.now - timedelta(days=12), None, facility)
        receive(operator, transfer, rows, self.now - timedelta(days=11), facility)
        self.log("transfer: 2 H100 shipped to and received at US-TX-001")

    # --- attestations --------------------------------------------------------------

    def key(self):
        from attestations.models import SigningKey
        from attestations.services import register_key
        from protocol.dsse import keyid_of

        private = demo_key()
        if not SigningKey.objects.filter(keyid=keyid_of(private)).exists():
            register_key(
                self.user("operator"),
                public_pem(private),
                name="Demo agent key (ashburn-agent-01)",
                registered_at=self.now - timedelta(days=30),  # the demo's history: a key valid since then
            )
            self.log("key: registered for op-demo")
        return private

    def _envelope(self, statement, private):
        from protocol.dsse import make_envelope
        from protocol.encoding import jcs

        return json.dumps(make_envelope(jcs(statement), [(private, None)])).encode()

    def _submit(self, statement, private, user):
        """The API's path for a statement: verify, then store; a refusal leaves a Rejection row."""
        from attestations.submission import submit
        from core.errors import DomainError
        from protocol.errors import ProtocolError

        try:
            return submit(user, self._envelope(statement, private)).attestation
        except (ProtocolError, DomainError):
            return None

    def attestations(self):
        from attestations.models import Attestation

        operator = self.user("operator")
        if Attestation.objects.filter(operator=operator.organisation).exists():
            return
        private = self.key()
        now = self.now
        # A complete location statement of Ashburn, two days ago: it agrees with the declaration.
        observed = now - timedelta(days=2)
        self._submit(
            {
                "v": 1,
                "kind": "location",
                "operator": "op-demo",
                "facility": "US-VA-001",
                "issued_at": _ts(observed + timedelta(minutes=2)),
                "nonce": _nonce("demo", "location", "va"),
                "observed_at": _ts(observed),
                "scope": "complete",
                "chips": [{"chip": chip, "cluster": cluster} for _, chip, cluster in self.va_rows()],
            },
            private,
            operator,
        )
        # A partial one from Abilene that also lists a chip registered to another operator.
        observed = now - timedelta(days=1)
        self._submit(
            {
                "v": 1,
                "kind": "location",
                "operator": "op-demo",
                "facility": "US-TX-001",
                "issued_at": _ts(observed + timedelta(minutes=1)),
                "nonce": _nonce("demo", "location", "tx"),
                "observed_at": _ts(observed),
                "scope": "partial",
                "chips": [{"chip": H100.format(40 + i), "cluster": "tx-1"} for i in range(4)]
                + [{"chip": MI300X.format(23)}],
            },
            private,
            operator,
        )
        # A week of daily usage from eight training chips in Ashburn.
        midnight = now.replace(hour=0, minute=0, second=0)
        for day in range(7, 0, -1):
            start = midnight - timedelta(days=day)
            rows = []
            for i in range(8):
                active = 43_200.0 + 3_600.0 * ((i + day) % 9)
                utilization = round(0.55 + 0.04 * ((i * 3 + day) % 9), 2)
                rows.append(
                    {
                        "chip": H100.format(i),
                        "active_s": active,
                        "utilization": utilization,
                        "energy_j": round(active * 700 * (0.45 + utilization / 2), 1),
                    }
                )
            self._submit(
                {
                    "v": 1,
                    "kind": "usage",
                    "operator": "op-demo",
                    "facility": "US-VA-001",
                    "issued_at": _ts(now),
                    "nonce": _nonce("demo", "usage", day),
                    "period_start": _ts(start),
                    "period_end": _ts(start + timedelta(days=1)),
                    "workload": "training",
                    "run": self.silent_run.code,
                    "chips": rows,
                },
                private,
                operator,
            )
        self.log(f"attestations: {Attestation.objects.filter(operator=operator.organisation).count()} accepted")

    # --- declared runs ---------------------------------------------------------------

    def _declare(self, model_name, flop, declared_at, start, days, clusters=(), facility="US-VA-001"):
        from compliance import run_review
        from inventory.models import Cluster, Facility
        from runs.models import Run

        operator = self.user("operator")
        found = Run.objects.filter(operator=operator.organisation, model_name=model_name).first()
        if found is not None:
            return found
        values = {
            "model_name": model_name,
            "kind": "pre_training",
            "planned_flop": flop,
            "precision": "bf16",
            "facilities": [Facility.objects.get(code=facility)],
            "clusters": [Cluster.objects.get(facility__code=facility, code=c) for c in clusters],
            "planned_start": start,
            "planned_end": start + timedelta(days=days),
            "description": "Demo: a decoder-only transformer, training code v3 (internal repository); "
            "deduplicated public web text and licensed books.",
        }
        return run_review.declare(operator, values, now=declared_at)

    def runs(self):
        """Three runs of op-demo at Ashburn, under the draft's rules (the `draft-treaty` preset): one
        declared 31 days ago that nobody reviewed (approved by silence; the week of usage statements reports
        work for it), one under review now, one declared above the prohibition (recorded, alerted)."""
        from runs.services import approve_by_silence

        now = self.now
        self.silent_run = self._declare(
            "demo-atlas-2", 4e22, now - timedelta(days=31), now - timedelta(days=30), 60, clusters=["va-train-1"]
        )
        approve_by_silence(now=now)
        self._declare("demo-atlas-3", 5e23, now, now + timedelta(days=35), 90, clusters=["va-train-1"])
        self._declare("demo-colossus", 2e24, now, now + timedelta(days=60), 120)
        # Declared 13 days ago at Douglasville, where its 400 H100s have since worked past its plan (fleets).
        self._declare(
            "demo-borealis-1",
            5e23,
            now - timedelta(days=13),
            now - timedelta(days=12),
            30,
            clusters=["ga-train-1"],
            facility="US-GA-001",
        )
        self.log("runs: 4 declared (approved by silence, under review twice, prohibited)")

    def fleets(self):
        """One usage statement from each hall of FLEETS: every chip busy at full power for the hall's days,
        up to last midnight, with the hall's workload and (at Douglasville) the run it worked for."""
        from attestations.models import Attestation
        from runs.models import Run

        operator = self.user("operator")
        private = self.key()
        end = self.now.replace(hour=0, minute=0, second=0)
        sent = 0
        for code, (_, serial, days, workload, model_name) in FLEETS.items():
            if Attestation.objects.filter(kind="usage", facility__code=code).exists():
                continue
            seconds = days * 86_400.0
            statement = {
                "v": 1,
                "kind": "usage",
                "operator": "op-demo",
                "facility": code,
                "issued_at": _ts(self.now),
                "nonce": _nonce("demo", "usage", code),
                "period_start": _ts(end - timedelta(days=days)),
                "period_end": _ts(end),
                "workload": workload,
                "chips": [
                    {"chip": serial.format(i), "active_s": seconds, "utilization": 1.0, "energy_j": H100_W * seconds}
                    for i in range(FLEET_SIZE)
                ],
            }
            if model_name is not None:
                statement["run"] = Run.objects.get(operator=operator.organisation, model_name=model_name).code
            if self._submit(statement, private, operator) is None:
                raise RuntimeError(f"demo: the usage statement of {code} was refused")
            sent += 1
        if sent:
            self.log(f"fleets: {sent} month-scale usage statements")

    def rejections(self):
        from attestations.models import Rejection

        operator = self.user("operator")
        if Rejection.objects.filter(organisation=operator.organisation).exists():
            return
        # Signed by a key nobody registered: refused as unknown_key, nothing of it stored.
        self._submit(
            {
                "v": 1,
                "kind": "location",
                "operator": "op-demo",
                "facility": "US-VA-001",
                "issued_at": _ts(self.now - timedelta(hours=3)),
                "nonce": _nonce("demo", "rejected", "unknown-key"),
                "observed_at": _ts(self.now - timedelta(hours=3)),
                "scope": "partial",
                "chips": [{"chip": H100.format(0), "cluster": "va-train-1"}],
            },
            demo_key("a laptop key that was never registered"),
            operator,
        )
        # A statement held back too long: refused as stale.
        self._submit(
            {
                "v": 1,
                "kind": "location",
                "operator": "op-demo",
                "facility": "US-TX-001",
                "issued_at": _ts(self.now - timedelta(days=9)),
                "nonce": _nonce("demo", "rejected", "stale"),
                "observed_at": _ts(self.now - timedelta(days=9)),
                "scope": "partial",
                "chips": [{"chip": H100.format(40)}],
            },
            demo_key(),
            operator,
        )
        self.log("rejections: 2 recorded")

    # --- inspection ------------------------------------------------------------------

    def inspection(self):
        from django.conf import settings

        from inventory.chiprefs import parse_csv_listing
        from inventory.models import Inspection
        from inventory.services.listings import record_inspection

        facility = self.facilities["US-VA-001"]
        if Inspection.objects.filter(facility=facility).exists():
            return
        # Two chips not found, one in the other cluster, and one serial nobody registered.
        rows = [("chip", "cluster")]
        for _, chip, cluster in self.va_rows():
            if chip in (H100.format(30), H100.format(31)):
                continue
            rows.append((chip, "va-infer-1" if chip == H100.format(5) else cluster))
        rows.append((UNREGISTERED, "va-train-1"))
        csv_text = "".join(f"{a},{b}\n" for a, b in rows)
        record_inspection(
            self.user("inspector"),
            facility,
            self.now - timedelta(hours=20),
            parse_csv_listing(csv_text.encode(), settings.CHIPREG_BULK_MAX_ROWS),
            inspectors=["A. Inspector", "B. Witness"],
            seals=["US-SEAL-0041", "US-SEAL-0042"],
            notes="Halls 1 and 2 walked. Two positions in rack C7 empty; operator says RMA, no paperwork shown.",
        )
        self.log("inspection: US-VA-001 recorded")

    # --- safeguards casework (issue 19) --------------------------------------------

    def export_request(self):
        """op-other asks to export two MI300X from Frankfurt to Abilene: awaiting the German inspectorate."""
        from django.conf import settings

        from inventory.chiprefs import parse_listing
        from inventory.models import ExportAuthorisation
        from inventory.services.exports import request_export

        operator = self.user("other-operator")
        if ExportAuthorisation.objects.filter(exporter=operator.organisation).exists():
            return
        rows = parse_listing([MI300X.format(i) for i in (8, 9)], settings.CHIPREG_BULK_MAX_ROWS)
        receiver = self.user("operator").organisation
        request_export(operator, rows, receiver, "DE-BAFA-2026-0117", destination_facility=self.facilities["US-TX-001"])
        self.log("export: 2 MI300X from DE-FRA-001 to US-TX-001, awaiting insp-de")

    def off_the_books(self):
        """Two H200s the operator asks to decommission (a recycler's certificate), awaiting the US
        inspectorate's witness; one H100 reported lost on the way to Abilene, on the watch list."""
        from django.db import transaction

        from registry import disposals
        from registry.models import Chip, DisposalRequest
        from registry.services import change_chip

        operator = self.user("operator")
        if DisposalRequest.objects.exists():
            return
        certificate = b"%PDF-1.4\n% demo: certificate of decommissioning, racks C9-C10\n"
        disposals.request_disposal(
            operator,
            kind="decommissioned",
            chip_ids=[H200.format(14), H200.format(15)],
            method="Boards pulled and stored for return to the vendor",
            place="Ashburn campus, hall 1, cage 4",
            date=self.now.date() - timedelta(days=2),
            files=[("certificate.pdf", "application/pdf", certificate)],
            reason="End of the lease on racks C9-C10.",
        )
        lost = Chip.objects.by_public_id(H100.format(43)).get()
        with transaction.atomic():
            change_chip(lost, operator, status="lost", reason="Not in the pallet at Abilene.")
        self.log("off the books: 2 H200 awaiting witness; 1 H100 reported lost (watch list)")

    def casework(self):
        """A tip about Abilene, triaged into a case the US inspectorate reads, and a challenge inspection
        requested for the case (awaiting the operator's acknowledgement, its clock running)."""
        from casework import cases, sealing, tips
        from casework.models import Tip
        from inventory.services import challenges

        if Tip.objects.exists():
            return
        try:
            sealing.public_key()
        except sealing.TipsUnavailable:
            self.log("casework: skipped (no tips key configured: CHIPREG_TIPS_PUBLIC_KEY)")
            return
        text = "A contractor says a second hall at Abilene was fitted with H100 racks in October, never declared."
        tip, _ = tips.submit(None, {"text": text, "serials": [], "attachments": []})
        treaty = self.user("treaty")
        case = tips.triage(treaty, tip, "new_case", title="Abilene: an undeclared hall?").case
        cases.add_inspectorate(treaty, case, "insp-us")
        challenges.request(
            treaty, reason="A tip of an undeclared hall of H100 racks.", case_ref=case.code, facility_code="US-TX-001"
        )
        self.log(f"casework: a tip, {case.code}, a challenge inspection of US-TX-001 awaiting acknowledgement")

    def run(self):
        from outbox.relay import drain_all

        self.rules()
        drain_all()  # the rules' full evaluations run now, while there is nothing yet to evaluate
        self.sites()
        self.transfer()
        self.declarations()
        self.history()
        self.runs()
        self.attestations()
        self.fleets()
        self.rejections()
        self.inspection()
        self.export_request()
        self.off_the_books()
        self.casework()
        drained = drain_all()
        self.log(f"outbox: {drained} events dispatched")


def build(stdout=None, now=None):
    """Load the console's demo data (idempotent). `stdout`: a stream for progress lines."""
    log = (lambda message: stdout.write(f"  {message}\n")) if stdout is not None else None
    Demo(now=now, log=log).run()
