"""Facilities (the balance areas), the campuses that group them, and clusters."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from core.countries import validate_country
from core.querysets import RestrictedQuerySet
from inventory.access import scope_q
from inventory.choices import ClusterPurpose, FacilityReview, FacilityStatus

site_code_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", "1-64 characters from letters, digits, '.', '_' and '-'."
)


class FacilityQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        return self.filter(scope_q(org, operator_paths=["operator"], country_paths=["country"], action=action))


class CampusQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        if action != "view":
            return self.none()
        visible = Facility.objects.restrict_for(user, org, "view").filter(campus__isnull=False)
        return self.filter(pk__in=visible.values("campus_id"))


class Campus(models.Model):
    """Facilities close enough to count as one site, whoever operates them.

    The registry proposes campuses itself (facilities within
    CHIPREG_CAMPUS_DISTANCE_KM of each other), because splitting one site into
    several "facilities" must not hide a cluster.
    """

    code = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200, blank=True, default="")
    proposed = models.BooleanField(default=True, help_text="Proposed by the registry from distances.")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CampusQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "campuses"

    def __str__(self):
        return self.code


class Facility(models.Model):
    code = models.CharField(max_length=64, unique=True, validators=[site_code_validator])
    name = models.CharField(max_length=200)
    operator = models.ForeignKey("registry.Organisation", on_delete=models.PROTECT, related_name="facilities")
    country = models.CharField(max_length=2, validators=[validate_country])
    latitude = models.FloatField(validators=[MinValueValidator(-90), MaxValueValidator(90)])
    longitude = models.FloatField(validators=[MinValueValidator(-180), MaxValueValidator(180)])
    address = models.TextField(blank=True, default="")
    power_mw = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0)])
    status = models.CharField(max_length=16, choices=FacilityStatus.choices, default=FacilityStatus.ACTIVE)
    campus = models.ForeignKey(Campus, on_delete=models.SET_NULL, null=True, blank=True, related_name="facilities")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    # Registering a facility declares it to the treaty body, which accepts or refuses it (draft agreement,
    # Article V.1: covered chip clusters are to sit in facilities declared to the ISIA). Only the last
    # decision is kept here; every decision is a log event (inventory.services.facilities.review_facility).
    review = models.CharField(max_length=16, choices=FacilityReview.choices, default=FacilityReview.DECLARED)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    review_reason = models.TextField(blank=True, default="")
    review_log_index = models.BigIntegerField(null=True, blank=True)

    objects = FacilityQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "facilities"
        indexes = [
            models.Index(fields=["latitude", "longitude"], name="facility_coords_idx"),
            models.Index(fields=["country", "id"], name="facility_country_idx"),
            models.Index(fields=["operator", "id"], name="facility_operator_idx"),
        ]

    def __str__(self):
        return self.code


class CampusMembership(models.Model):
    """When a facility was in a campus (inventory.campuses keeps these as it regroups them).

    A usage window joins the facilities that stood in one campus at any time in it (compliance.covered), as it
    does those a link or workload group tied then: moving a facility away before its work is filed must not
    part what was done while it stood there. Internal: what the API and the log show of a campus is unchanged.
    """

    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="+")
    campus = models.ForeignKey(Campus, on_delete=models.PROTECT, related_name="+")
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["facility"], condition=models.Q(valid_to__isnull=True), name="one_open_campus_membership"
            ),
        ]


class ClusterQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        return self.filter(
            scope_q(org, operator_paths=["facility__operator"], country_paths=["facility__country"], action=action)
        )


class Cluster(models.Model):
    code = models.CharField(max_length=64, validators=[site_code_validator])
    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="clusters")
    name = models.CharField(max_length=200, blank=True, default="")
    interconnect_gbps = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0)], help_text="Declared inter-node bandwidth."
    )
    purpose = models.CharField(max_length=16, choices=ClusterPurpose.choices, default=ClusterPurpose.OTHER)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClusterQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["facility", "code"], name="cluster_code_per_facility")]

    def __str__(self):
        return f"{self.facility.code}/{self.code}"
