"""Challenge inspections: requested by the treaty body (or an inspectorate a rule allows) of a registered
facility or of any coordinates, with clocks, and their record (inventory.services.challenges writes them).

The rule saying which inspectorates may request, and where, is a declaration of the treaty body, versioned
like a threshold: a change is a new version, the old one stays, each is a log event.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.querysets import RestrictedQuerySet
from inventory.choices import ChallengeState
from registry.choices import OrgKind


class ChallengeRuleQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        # Who may request where is public law of the agreement, like thresholds; only treaty bodies declare it.
        if action == "view":
            return self
        return self if org.kind == OrgKind.TREATY_BODY else self.none()

    def current(self):
        return self.order_by("-version").first()


class ChallengeRule(models.Model):
    """One version of the rule: `allowed` is [{"inspectorate": code, "countries": [CC, ...]}], an empty
    `countries` meaning any country. Treaty bodies may always request; nobody else unless listed here."""

    version = models.PositiveIntegerField(unique=True)
    allowed = models.JSONField(default=list)
    reason = models.TextField(blank=True, default="")
    declared_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    organisation = models.ForeignKey("registry.Organisation", on_delete=models.PROTECT, related_name="+")
    declared_at = models.DateTimeField()
    log_index = models.BigIntegerField(null=True, blank=True)

    objects = ChallengeRuleQuerySet.as_manager()

    class Meta:
        ordering = ["-version"]

    def allows(self, org, country):
        for entry in self.allowed or []:
            if entry.get("inspectorate") == org.code:
                countries = entry.get("countries") or []
                if not countries or country in countries:
                    return True
        return False


class ChallengeInspectionQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        # Seen by the requester, the operator of the facility, the inspectorate of the site's country and the
        # treaty body; nobody else learns that a challenge exists. Changes are decided per step by the service.
        if org.kind == OrgKind.TREATY_BODY:
            return self
        q = Q(requester=org)
        if org.kind == OrgKind.OPERATOR:
            q |= Q(operator=org)
        elif org.kind == OrgKind.INSPECTORATE:
            q |= Q(country__in=org.jurisdictions or [])
        return self.filter(q)


class ChallengeInspection(models.Model):
    facility = models.ForeignKey(
        "inventory.Facility", on_delete=models.PROTECT, null=True, blank=True, related_name="challenges"
    )
    # The site: the facility's coordinates, or the coordinates named for an unregistered site.
    latitude = models.FloatField()
    longitude = models.FloatField()
    country = models.CharField(max_length=2)
    # The operator concerned (the facility's), or null for an unregistered site (its host inspectorate answers).
    operator = models.ForeignKey(
        "registry.Organisation", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    requester = models.ForeignKey("registry.Organisation", on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    rule_version = models.PositiveIntegerField(null=True, blank=True)  # the rule that allowed an inspectorate
    reason = models.TextField()
    # A case of the casework app, by its code (text until the apps are linked).
    case_ref = models.CharField(max_length=64, blank=True, default="")
    state = models.CharField(max_length=16, choices=ChallengeState.choices, default=ChallengeState.REQUESTED)
    requested_at = models.DateTimeField()
    acknowledge_by = models.DateTimeField()
    access_by = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    access_decided_at = models.DateTimeField(null=True, blank=True)
    access_decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    access_reason = models.TextField(blank=True, default="")
    # Escalations (compliance.challenge_alerts): when each clock ran out, and the alert raised (its id: the
    # inventory does not refer to compliance's tables).
    acknowledge_overdue_at = models.DateTimeField(null=True, blank=True)
    acknowledge_alert_id = models.BigIntegerField(null=True, blank=True)
    access_overdue_at = models.DateTimeField(null=True, blank=True)
    access_alert_id = models.BigIntegerField(null=True, blank=True)
    # The record: at a facility, an Inspection like any (reconciliation reads it); at an unregistered site,
    # the serials seen (ChallengeSighting). Seals in both cases: SealRecord.
    inspection = models.OneToOneField(
        "inventory.Inspection", on_delete=models.PROTECT, null=True, blank=True, related_name="challenge"
    )
    performed_at = models.DateTimeField(null=True, blank=True)
    observed_count = models.PositiveIntegerField(default=0)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    log_index = models.BigIntegerField(null=True, blank=True)

    objects = ChallengeInspectionQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["state", "acknowledge_by"], name="challenge_ack_clock_idx"),
            models.Index(fields=["state", "access_by"], name="challenge_access_clock_idx"),
            models.Index(fields=["country", "id"], name="challenge_country_idx"),
        ]

    @property
    def site_label(self):
        return self.facility.code if self.facility_id else f"site {self.latitude:.4f},{self.longitude:.4f}"


class ChallengeSighting(models.Model):
    """A serial the team saw at an unregistered site (at a facility, an InspectionItem says it)."""

    challenge = models.ForeignKey(ChallengeInspection, on_delete=models.CASCADE, related_name="sightings")
    # Not checked by the database, as a transfer item's chip: these rows stay on the coordinator with their
    # challenge (docs/scaling.md), and Citus refuses a foreign key from there into the distributed chip
    # table. The server sets it from chips it resolved in the same transaction; no endpoint deletes a chip.
    chip = models.ForeignKey(
        "registry.Chip", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_constraint=False
    )
    chip_ref = models.CharField(max_length=100)

    class Meta:
        ordering = ["id"]


class SealRecord(models.Model):
    """A seal an inspection found (or applied), with where it is: compared with the next inspection of the
    same facility or site."""

    inspection = models.ForeignKey(
        "inventory.Inspection", on_delete=models.CASCADE, null=True, blank=True, related_name="seals"
    )
    challenge = models.ForeignKey(
        ChallengeInspection, on_delete=models.CASCADE, null=True, blank=True, related_name="seals"
    )
    seal = models.CharField(max_length=100)
    where = models.CharField(max_length=200, blank=True, default="")
    intact = models.BooleanField(default=True)

    class Meta:
        ordering = ["id"]
