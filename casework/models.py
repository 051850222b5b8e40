"""Tips (sealed to the treaty body) and cases (what the treaty body investigates, with a timeline).

A tip row holds in plaintext only what triage needs without the private key: when it came, how big it
is, its state. Its body (text, serials, coordinates, attachments and, for a signed-in submitter, who it
was) is a sealed box to the treaty body's public key (casework.sealing). Nothing about the submitter's
address or token is stored anywhere. The receipt code is stored as its SHA-256 only.

Rows are written only by casework.tips and casework.cases.
"""

import uuid

from django.conf import settings
from django.db import models

from casework.choices import CaseState, LinkKind, TipState
from core.querysets import RestrictedQuerySet


def _is_treaty_body(org):
    return org is not None and org.kind == "treaty_body"


class TipQuerySet(RestrictedQuerySet):
    def restrict(self, user, action="view"):
        # The treaty body's confidential channel: its own members only. The registry administrator (a
        # superuser) is not a party to it, as it holds no private key.
        if user is None or not user.is_authenticated:
            return self.none()
        return self if _is_treaty_body(getattr(user, "organisation", None)) else self.none()


class Tip(models.Model):
    ref = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    received_at = models.DateTimeField()
    size = models.PositiveIntegerField()  # bytes of the sealed body
    state = models.CharField(max_length=16, choices=TipState.choices, default=TipState.NEW)
    sealed = models.BinaryField()
    receipt_sha256 = models.CharField(max_length=64, unique=True)
    # The treaty body's triage (its own words, not the submitter's): who, when, and a dismissal's reason.
    triaged_at = models.DateTimeField(null=True, blank=True)
    triaged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    dismiss_reason = models.TextField(blank=True)
    case = models.ForeignKey("casework.Case", on_delete=models.PROTECT, null=True, blank=True, related_name="tips")
    log_index = models.BigIntegerField()

    objects = TipQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at", "-id"]


class TipAddition(models.Model):
    """More from the submitter, sent with the receipt code: sealed like the tip."""

    tip = models.ForeignKey(Tip, on_delete=models.PROTECT, related_name="additions")
    received_at = models.DateTimeField()
    size = models.PositiveIntegerField()
    sealed = models.BinaryField()
    log_index = models.BigIntegerField()

    class Meta:
        ordering = ["received_at", "id"]


class CaseQuerySet(RestrictedQuerySet):
    def restrict(self, user, action="view"):
        """The treaty body sees every case; an inspectorate only the cases the treaty body added it to, and
        only to read. Nobody else, not even the registry administrator."""
        if user is None or not user.is_authenticated:
            return self.none()
        org = getattr(user, "organisation", None)
        if _is_treaty_body(org):
            return self
        if org is not None and org.kind == "inspectorate" and action == "view":
            return self.filter(inspectorates__organisation=org)
        return self.none()


class Case(models.Model):
    code = models.CharField(max_length=20, unique=True)  # CASE-2026-0001: what challenge inspections cite
    ref = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)  # the log's object id (opaque)
    title = models.CharField(max_length=200)
    state = models.CharField(max_length=20, choices=CaseState.choices, default=CaseState.OPEN)
    conclusion = models.TextField(blank=True)
    opened_at = models.DateTimeField()
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = CaseQuerySet.as_manager()

    class Meta:
        ordering = ["-opened_at", "-id"]


class CaseInspectorate(models.Model):
    """An inspectorate the treaty body let read a case (removed: the row goes; the timeline keeps both)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="inspectorates")
    organisation = models.ForeignKey("registry.Organisation", on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField()

    class Meta:
        ordering = ["added_at", "id"]
        constraints = [models.UniqueConstraint(fields=["case", "organisation"], name="one_membership_per_case")]


class CaseLink(models.Model):
    """A thing the case concerns, by kind and id (a tip's ref, a finding's or alert's id, ...): generic, so
    kinds built elsewhere (challenge inspections) link without a foreign key from here."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="links")
    kind = models.CharField(max_length=24, choices=LinkKind.choices)
    target = models.CharField(max_length=64)
    added_at = models.DateTimeField()
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["added_at", "id"]
        constraints = [models.UniqueConstraint(fields=["case", "kind", "target"], name="one_link_per_target")]


class CaseStep(models.Model):
    """The timeline: one row per step, each the copy of a log event (`log_index`) its readers may read."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="steps")
    position = models.PositiveIntegerField()
    at = models.DateTimeField()
    event = models.CharField(max_length=40)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    data = models.JSONField(default=dict)
    log_index = models.BigIntegerField()

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["case", "position"], name="one_step_per_position")]
