"""Signing keys, landmarks, accepted statements (stored whole), their per-chip
rows, and the record of rejections."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce

from core.querysets import RestrictedQuerySet
from inventory.access import scope_q


class KeyPurpose(models.TextChoices):
    ATTESTATION = "attestation", "Operator attestations"
    LANDMARK = "landmark", "Landmark RTT measurements"


class SigningKeyQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        # Public keys are public: anyone verifying a statement needs them.
        return self if action == "view" else self.filter(organisation=org)

    def valid_at(self, when):
        return (
            self.filter(valid_from__lte=when)
            .filter(Q(retired_at__isnull=True) | Q(retired_at__gt=when))
            .filter(Q(revoked_since__isnull=True) | Q(revoked_since__gt=when))
        )


class SigningKey(models.Model):
    keyid = models.CharField(max_length=64, unique=True)
    organisation = models.ForeignKey("registry.Organisation", on_delete=models.PROTECT, related_name="signing_keys")
    name = models.CharField(max_length=200, blank=True, default="")
    algorithm = models.CharField(max_length=16)
    purpose = models.CharField(max_length=16, choices=KeyPurpose.choices, default=KeyPurpose.ATTESTATION)
    pem = models.TextField()
    valid_from = models.DateTimeField()
    retired_at = models.DateTimeField(null=True, blank=True)
    revoked_since = models.DateTimeField(null=True, blank=True, help_text="Compromised since this instant.")
    revoked_at = models.DateTimeField(null=True, blank=True, help_text="When the revocation was recorded.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    log_index = models.BigIntegerField(null=True, blank=True)

    objects = SigningKeyQuerySet.as_manager()

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.organisation.code}:{self.keyid[:12]}"


class LandmarkQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        return self if action == "view" else self.filter(organisation=org)


class Landmark(models.Model):
    code = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200, blank=True, default="")
    organisation = models.ForeignKey("registry.Organisation", on_delete=models.PROTECT, related_name="landmarks")
    latitude = models.FloatField(validators=[MinValueValidator(-90), MaxValueValidator(90)])
    longitude = models.FloatField(validators=[MinValueValidator(-180), MaxValueValidator(180)])
    created_at = models.DateTimeField(auto_now_add=True)
    log_index = models.BigIntegerField(null=True, blank=True)

    objects = LandmarkQuerySet.as_manager()

    class Meta:
        ordering = ["id"]


class AttestationQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        return self.filter(
            # An inspectorate reads the statements of a facility in its jurisdictions now, and those recorded while
            # the facility lay in them (`country`): an operator's change of its facility's country does not take
            # the statements an inspectorate relied on (its findings', its alerts' evidence) out of its view.
            scope_q(org, operator_paths=["operator", "uploaded_by_org"], country_paths=["facility__country", "country"])
        )


class Attestation(models.Model):
    """An accepted statement, stored whole: the envelope bytes exactly as sent."""

    kind = models.CharField(max_length=16)
    statement_sha256 = models.CharField(max_length=64, unique=True)
    envelope = models.BinaryField()
    keyids = models.JSONField()
    # No single-column indexes on operator and facility: the composite indexes below start with them,
    # and every index is one more write per statement.
    operator = models.ForeignKey(
        "registry.Organisation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="attestations",
        db_index=False,
    )
    landmark = models.ForeignKey(Landmark, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    facility = models.ForeignKey(
        "inventory.Facility", on_delete=models.PROTECT, related_name="attestations", db_index=False
    )
    issued_at = models.DateTimeField()
    nonce = models.CharField(max_length=64)
    # The statement without its chip list (the chips are rows below).
    header = models.JSONField()
    scope = models.CharField(max_length=16, blank=True, default="")
    observed_at = models.DateTimeField(null=True, blank=True)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    chip_count = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_by_org = models.ForeignKey("registry.Organisation", on_delete=models.PROTECT, related_name="+")
    log_index = models.BigIntegerField(null=True, blank=True, unique=True)
    # The declared run a usage statement's chips worked for, when it named one the speaker declared (the
    # code it named is in `header` either way; runs.models says when a run is attributed).
    run = models.ForeignKey(
        "runs.Run", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    flagged = models.BooleanField(default=False, help_text="Signed by a key later revoked as compromised.")
    # The facility's country when the statement was recorded (blank: recorded before this was kept): its
    # inspectorate keeps reading it after the facility's country changes (AttestationQuerySet).
    country = models.CharField(max_length=2, blank=True, default="", db_default="")

    objects = AttestationQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["facility", "observed_at"], name="attestation_facility_idx"),
            models.Index(fields=["operator", "id"], name="attestation_operator_idx"),
            # Most statements name no run: only those that do are indexed.
            models.Index(fields=["run", "id"], condition=Q(run__isnull=False), name="attestation_run_idx"),
            # Compute windows ask which usage statements arrived in them (attestations.windows): a few a day
            # a facility among every location statement of the fleet.
            models.Index(fields=["received_at"], condition=Q(kind="usage"), name="attestation_usage_received_idx"),
        ]


class StatementNonce(models.Model):
    """(keyid, nonce) accepted once, ever: the replay guard, enforced by the database."""

    keyid = models.CharField(max_length=64)
    nonce = models.CharField(max_length=64)
    attestation = models.ForeignKey(Attestation, on_delete=models.CASCADE, related_name="nonces")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["keyid", "nonce"], name="nonce_once_per_key")]


class SightingQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        # A chip row of a statement is seen by whoever sees the statement (AttestationQuerySet).
        return self.filter(attestation__in=Attestation.objects.restrict_for(user, org, action))


class Sighting(models.Model):
    """One chip of a location statement (also the chip of an RTT statement)."""

    # The three keys are set by the server in the transaction that stores the
    # statement (its own row, chips it just resolved, the verified facility),
    # so the database does not re-check them: at 100,000 rows a statement the
    # deferred checks were a large share of the commit, under the log's lock.
    attestation = models.ForeignKey(
        Attestation, on_delete=models.CASCADE, related_name="sightings", db_constraint=False
    )
    chip = models.ForeignKey("registry.Chip", on_delete=models.PROTECT, related_name="+", db_constraint=False)
    chip_ref = models.CharField(max_length=100)
    cluster_code = models.CharField(max_length=64, blank=True, default="")
    facility = models.ForeignKey("inventory.Facility", on_delete=models.PROTECT, related_name="+", db_constraint=False)
    observed_at = models.DateTimeField()

    objects = SightingQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["chip", "observed_at"], name="sighting_chip_idx"),
            models.Index(fields=["attestation"], name="sighting_attestation_idx"),
        ]


# A statement's rows about chips are stored in two tables (docs/scaling.md, the Citus plan): those bound to a
# registered chip (Sighting, UsageRecord: distributed by chip, so their chip is never null) and the others
# (ChiplessSighting, ChiplessUsageRecord: a reference the registry does not know, or, for usage, a chip another
# party holds), kept on the coordinator. Each pair takes its ids from one sequence, so an id names one row of
# the pair and the pair reads back in the order it was written.


class ChiplessSighting(models.Model):
    """One chip of a location (or RTT) statement that the registry does not know, by its reference."""

    attestation = models.ForeignKey(Attestation, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    chip_ref = models.CharField(max_length=100)
    cluster_code = models.CharField(max_length=64, blank=True, default="")
    facility = models.ForeignKey("inventory.Facility", on_delete=models.PROTECT, related_name="+", db_constraint=False)
    observed_at = models.DateTimeField()

    objects = SightingQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["attestation"], name="chipless_sighting_att_idx")]


class UsageRecordQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        # A chip row of a statement is seen by whoever sees the statement (AttestationQuerySet).
        return self.filter(attestation__in=Attestation.objects.restrict_for(user, org, action))

    def add_day_totals(self, attestation):
        """Fold one stored statement's records into the daily totals (attestations.daily)."""
        from attestations import daily

        daily.add_statement(attestation)


class UsageFields(models.Model):
    """What a usage row says of one chip, whichever table stores it."""

    chip_ref = models.CharField(max_length=100)
    facility = models.ForeignKey("inventory.Facility", on_delete=models.PROTECT, related_name="+", db_constraint=False)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    active_s = models.FloatField()
    utilization = models.FloatField()
    energy_j = models.FloatField()
    # Upper-bound FLOP estimates (protocol.usage): FP16-equivalent, and the
    # chip's fastest precision (FP8, FP6, FP4, INT8 where it has them; never below
    # the FP16 one). Null when the chip or its figures are unknown. Which one a
    # basis reads: attestations/bases.py.
    flop_fp16 = models.FloatField(null=True, blank=True)
    flop_peak = models.FloatField(null=True, blank=True)
    # The statement's run, when attributed (Attestation.run); server-set like the keys above.
    run = models.ForeignKey(
        "runs.Run", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_constraint=False
    )
    # The statement's `workload` (ATTESTATION.md 3.2), blank when it said none: compliance's unattributed
    # compute counts the records by it (inference is not training). Per record, like `run`, so a window's
    # GROUP BY reads no statement row; a database default, so bulk loaders need not name it.
    workload = models.CharField(max_length=10, blank=True, default="", db_default="")

    objects = UsageRecordQuerySet.as_manager()

    class Meta:
        abstract = True


class UsageRecord(UsageFields):
    """One chip of a usage statement, with the compute estimates on both bases: a chip the speaker holds."""

    # Server-set keys, not re-checked by the database (as for Sighting).
    attestation = models.ForeignKey(Attestation, on_delete=models.CASCADE, related_name="usage", db_constraint=False)
    chip = models.ForeignKey("registry.Chip", on_delete=models.PROTECT, related_name="+", db_constraint=False)

    class Meta:
        indexes = [
            models.Index(fields=["run", "chip"], condition=Q(run__isnull=False), name="usage_run_idx"),
            models.Index(fields=["chip", "period_start"], name="usage_chip_idx"),
            # "When did the work its holder reported on a chip since T end": read backwards from the newest end,
            # one row or a few a chip (attestations.shipments.reported_after), under the log's lock, where an
            # aggregate read every record since T (a chip reported hourly has 8,760 a year).
            models.Index(fields=["chip", "period_end"], name="usage_chip_end_idx"),
            models.Index(fields=["facility", "period_start"], name="usage_facility_idx"),
            models.Index(fields=["attestation"], name="usage_attestation_idx"),
        ]


class ChiplessUsageRecord(UsageFields):
    """One chip of a usage statement bound to no chip: a reference the registry does not know, or a chip
    another party holds (attestations.kinds.usage says why), kept by reference at the speaker's facility."""

    attestation = models.ForeignKey(Attestation, on_delete=models.CASCADE, related_name="+", db_constraint=False)

    class Meta:
        indexes = [
            models.Index(fields=["facility", "period_start"], name="chipless_usage_facility_idx"),
            models.Index(fields=["attestation"], name="chipless_usage_att_idx"),
        ]


class AnyUsageRecord(UsageFields):
    """Every usage row, of both tables (a view: read-only): the usage list, facility, campus and operator-country
    windows."""

    attestation = models.ForeignKey(Attestation, on_delete=models.DO_NOTHING, related_name="+")
    chip = models.ForeignKey("registry.Chip", on_delete=models.DO_NOTHING, null=True, blank=True, related_name="+")

    class Meta:
        managed = False
        db_table = "attestations_anyusagerecord"


class UsageDayQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        # Exactly the rule of the statements the totals are summed from (AttestationQuerySet).
        return self.filter(
            scope_q(org, operator_paths=["operator", "uploaded_by_org"], country_paths=["facility__country"])
        )


class UsageDay(models.Model):
    """Stored daily totals of usage records, per facility and UTC day (attestations.daily).

    Kept by the statement that stores the records, in its transaction, so charts
    and windows read a row per day instead of summing a row per chip-day. The
    speaking operator and the uploading organisation are part of the key so the
    totals are restricted exactly as the statements are.

    `records`, `flop_fp16`, `flop_peak`, `active_s` and `energy_j` count the
    records whose period *starts* on `day`; `ended_flop_fp16` and
    `ended_flop_peak` those whose period *ends* on `day` (compute windows
    select records by period end, and add those of statements filed late:
    attestations.windows).
    """

    facility = models.ForeignKey("inventory.Facility", on_delete=models.PROTECT, related_name="+")
    day = models.DateField()
    operator = models.ForeignKey("registry.Organisation", on_delete=models.PROTECT, related_name="+")
    uploaded_by_org = models.ForeignKey("registry.Organisation", on_delete=models.PROTECT, related_name="+")
    records = models.BigIntegerField(default=0)
    flop_fp16 = models.FloatField(default=0)
    flop_peak = models.FloatField(default=0)
    active_s = models.FloatField(default=0)
    energy_j = models.FloatField(default=0)
    ended_flop_fp16 = models.FloatField(default=0)
    ended_flop_peak = models.FloatField(default=0)

    objects = UsageDayQuerySet.as_manager()

    class Meta:
        ordering = ["facility", "day"]
        constraints = [
            models.UniqueConstraint(fields=["facility", "day", "operator", "uploaded_by_org"], name="usageday_once")
        ]


class RejectionQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        if org.kind == "treaty_body":
            return self
        return self.filter(organisation=org)


class Rejection(models.Model):
    """What remains of a refused submission: who, when, why. Nothing of the statement."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    organisation = models.ForeignKey("registry.Organisation", on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.PositiveSmallIntegerField()
    code = models.CharField(max_length=32)
    detail = models.TextField()
    body_bytes = models.PositiveBigIntegerField()
    body_sha256 = models.CharField(max_length=64)

    objects = RejectionQuerySet.as_manager()

    class Meta:
        ordering = ["id"]


class ChallengeQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        # A challenge is its organisation's: nobody else learns its nonce or that it exists.
        return self.filter(organisation=org)


class DelegationQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        # Both parties; the inspectorates of the delegating operator's country and the treaty body read it too
        # (who delivered a statement is on the statement: uploaded_by_org).
        return self.filter(
            scope_q(org, operator_paths=["operator", "uploader"], country_paths=["operator__country"], action="view")
        )

    def in_force(self):
        return self.filter(revoked_at__isnull=True)


class Delegation(models.Model):
    """An operator's leave for another operator to deliver its signed statements (ATTESTATION.md 6: the
    signature says who speaks, the token says who may deliver). Written only by attestations.delegations."""

    operator = models.ForeignKey("registry.Organisation", on_delete=models.PROTECT, related_name="+")
    uploader = models.ForeignKey("registry.Organisation", on_delete=models.PROTECT, related_name="+")
    granted_at = models.DateTimeField(auto_now_add=True)
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    log_index = models.BigIntegerField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    revoke_log_index = models.BigIntegerField(null=True, blank=True)

    objects = DelegationQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["operator", "uploader"], condition=Q(revoked_at__isnull=True), name="one_delegation_in_force"
            ),
        ]


class Challenge(models.Model):
    """A nonce the registry issued to an organisation (HARDWARE.md 1): one accepted statement may use it.

    Issued by the API (32 random bytes from the OS) or imported by a registry administrator with
    `manage.py issue_challenge` (recorded evidence; a `challenge.imported` log event)."""

    nonce = models.CharField(max_length=64, unique=True)
    organisation = models.ForeignKey("registry.Organisation", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    imported = models.BooleanField(default=False)
    log_index = models.BigIntegerField(null=True, blank=True)  # an imported one's log event
    # Set once, by the conditional UPDATE of the statement that used it (attestations.storage.challenges).
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(Attestation, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    objects = ChallengeQuerySet.as_manager()

    class Meta:
        ordering = ["id"]


class LandmarkChallenge(models.Model):
    """A landmark's own challenge in an RTT statement with evidence (HARDWARE.md 6): never reused by
    the same landmark key, enforced by the database."""

    keyid = models.CharField(max_length=64)
    challenge = models.CharField(max_length=64)
    attestation = models.ForeignKey(Attestation, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["keyid", "challenge"], name="landmark_challenge_once_per_key")]


class EvidenceOutcome(models.TextChoices):
    VERIFIED = "verified", "Verified"
    INVALID = "evidence_invalid", "Invalid"
    STALE = "evidence_stale", "Made for another nonce"
    MISMATCH = "identity_mismatch", "Another identity than the chip's"
    DUPLICATE = "identity_duplicate", "The identity of another chip"


class ChipEvidenceQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        # A chip's evidence history is seen by whoever sees the chip (registry's rule), and of it: by its holder,
        # the entries of its own statements and of anyone's since it received the chip (another party's evidence
        # of its chip is a fact about its chip: where the chip answered); by an inspectorate, those of statements
        # in its jurisdictions (AttestationQuerySet's rule); by the treaty body, all. A former holder's evidence
        # is its books, as its sightings and usage are: the chip's later holder does not read when, where and how
        # often it proved the chip.
        from registry.choices import ChipEventKind, OrgKind
        from registry.models import Chip, ChipEvent

        if action != "view":
            return self.none()
        own = ["attestation__operator", "attestation__uploaded_by_org", "attestation__facility__operator"]
        statements = scope_q(
            org,
            operator_paths=own,
            country_paths=["attestation__facility__country", "attestation__country"],
            manufacturer_paths=own,  # a maker sees the chips it holds (registry's rule), and proves them as holder
        )
        if org.kind in (OrgKind.OPERATOR, OrgKind.MANUFACTURER):
            # Seeing the chip, it holds it: since its receipt, in log order (custody changes only by a receipt).
            receipt = ChipEvent.objects.filter(chip=OuterRef("chip"), kind=ChipEventKind.CUSTODY).order_by("-id")
            since = Coalesce(Subquery(receipt.values("log_index")[:1]), Value(-1))
            statements |= Q(attestation__log_index__gt=since)
        return self.filter(statements, chip__in=Chip.objects.restrict_for(user, org, "view"))


class ChipEvidence(models.Model):
    """One chip's hardware evidence in one statement (an `evidence` statement's chip, or the chip of an
    `rtt` statement with evidence), and what came of it: the per-chip evidence history."""

    attestation = models.ForeignKey(Attestation, on_delete=models.CASCADE, related_name="evidence")
    chip = models.ForeignKey(
        "registry.Chip", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_constraint=False
    )
    chip_ref = models.CharField(max_length=100)
    observed_at = models.DateTimeField()
    outcome = models.CharField(max_length=24, choices=EvidenceOutcome.choices)
    step = models.CharField(max_length=16, blank=True, default="")  # the check that failed (HARDWARE.md 4)
    detail = models.TextField(blank=True, default="")
    identity = models.CharField(max_length=100, blank=True, default="")
    key_sha256 = models.CharField(max_length=64, blank=True, default="")
    fwid = models.CharField(max_length=96, blank=True, default="")
    driver_version = models.CharField(max_length=64, blank=True, default="")
    enrolled = models.BooleanField(default=False, help_text="This evidence enrolled the chip's identity (TOFU).")

    objects = ChipEvidenceQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["chip", "id"], name="chipevidence_chip_idx")]
