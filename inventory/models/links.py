"""What ties an operator's sites into one cluster beyond standing in one place: declared network links and
declared joint workloads (the draft agreement's covered chip cluster counts chips networked together, or run
together, across facilities too: compliance.covered).

A site is a facility, or a cluster in it. Only the operator of every site named declares, changes or retires
these (inventory.services.links says why), and each change is a log event. Rows are never deleted: a link or
a group that no longer holds is retired, with who and when, so the history of what was joined stays.
"""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from core.querysets import RestrictedQuerySet
from inventory.access import scope_q
from inventory.models.sites import site_code_validator
from registry.choices import OrgKind


class _Declared(models.Model):
    """What a link and a group share: the operator's code for it, who declared it and when, its log entry,
    and its retirement (rows are never deleted)."""

    code = models.CharField(max_length=64, validators=[site_code_validator])
    operator = models.ForeignKey("registry.Organisation", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=200, blank=True, default="")
    declared_at = models.DateTimeField(auto_now_add=True)
    declared_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    log_index = models.BigIntegerField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    retired_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        abstract = True
        ordering = ["id"]

    def __str__(self):
        return f"{self.operator_id}/{self.code}"


class NetworkLinkQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        # Its operator; the inspectorates of either end's country; the treaty body.
        return self.filter(
            scope_q(
                org,
                operator_paths=["operator"],
                country_paths=["a_facility__country", "b_facility__country"],
                action=action,
            )
        )

    def active(self):
        return self.filter(retired_at__isnull=True)


class NetworkLink(_Declared):
    """A declared network connection between two sites of one operator, with its bandwidth."""

    a_facility = models.ForeignKey("inventory.Facility", on_delete=models.PROTECT, related_name="+")
    a_cluster = models.ForeignKey(
        "inventory.Cluster", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    b_facility = models.ForeignKey("inventory.Facility", on_delete=models.PROTECT, related_name="+")
    b_cluster = models.ForeignKey(
        "inventory.Cluster", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    bandwidth_gbps = models.FloatField(validators=[MinValueValidator(0)], help_text="Declared bandwidth, Gbit/s.")

    objects = NetworkLinkQuerySet.as_manager()

    class Meta(_Declared.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["operator", "code"], condition=Q(retired_at__isnull=True), name="link_code_per_operator"
            ),
        ]


class WorkloadGroupQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        if org.kind == OrgKind.INSPECTORATE and action == "view":
            # A group with a member site in the inspectorate's jurisdictions (one subquery: no duplicates).
            members = WorkloadGroupMember.objects.filter(facility__country__in=org.jurisdictions or [])
            return self.filter(pk__in=members.values("group_id"))
        return self.filter(scope_q(org, operator_paths=["operator"], action=action))

    def active(self):
        return self.filter(retired_at__isnull=True)


class WorkloadGroup(_Declared):
    """Sites of one operator declared to run workloads together (one training job spread over them)."""

    description = models.TextField(blank=True, default="")

    objects = WorkloadGroupQuerySet.as_manager()

    class Meta(_Declared.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["operator", "code"], condition=Q(retired_at__isnull=True), name="group_code_per_operator"
            ),
        ]


class WorkloadGroupMember(models.Model):
    """One site of a group: a facility, or a cluster in it. Fixed once declared: another set of sites is
    another group (retire this one), so what was declared together stays on record."""

    group = models.ForeignKey(WorkloadGroup, on_delete=models.PROTECT, related_name="members")
    facility = models.ForeignKey("inventory.Facility", on_delete=models.PROTECT, related_name="+")
    cluster = models.ForeignKey("inventory.Cluster", on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["id"]
