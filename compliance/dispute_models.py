"""Answers, clarification requests and decisions about findings and alerts (issue 17, "Answers and disputes").

A party concerned by a finding or an alert answers it (an explanation, attachments, a run's
public code); the treaty body or the inspectorate of a country concerned asks it for
clarification with a deadline (the draft agreement's Article XI: 5 days); the requester (or
the treaty body) accepts or rejects the answer. Every row is append-only but for a request's
state, and every change is a log event (compliance.disputes).

Each row names its subject (exactly one of a finding or an alert), the party it concerns
(`operator`: the party that answers or is asked) and the subject's countries, copied when the
row is written, so who may read it is one restrict() like the subject's own, and one party's
answer about a finding two parties share (a transfer's shipper and receiver) is not shown to
the other party.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from compliance.models import Alert
from core.models import StoredAttachment
from core.querysets import RestrictedQuerySet


class _PartyQuerySet(RestrictedQuerySet):
    """The party concerned, the inspectorates of the subject's countries, the treaty body."""

    prefix = ""

    def restrict_for(self, user, org, action):
        from inventory.access import scope_q

        p = self.prefix
        # Writes are the services' business (compliance.disputes checks who may say what).
        # A manufacturer answers what concerns its own holding (it holds chips before it sells them), so it reads
        # its answers and the requests put to it, as an operator does.
        return self.filter(
            scope_q(
                org,
                operator_paths=[f"{p}operator"],
                country_paths=[f"{p}country", f"{p}other_country"],
                manufacturer_paths=[f"{p}operator"],
            )
        )


def _one_subject(name):
    return models.CheckConstraint(
        condition=Q(finding__isnull=False, alert__isnull=True) | Q(finding__isnull=True, alert__isnull=False),
        name=name,
    )


class RequestState(models.TextChoices):
    OPEN = "open", "Awaiting the answer"
    OVERDUE = "overdue", "Overdue (escalated), awaiting the answer"
    ANSWERED = "answered", "Answered, awaiting a decision"
    ACCEPTED = "accepted", "Answer accepted"


# A request whose answer the party still owes.
AWAITING = (RequestState.OPEN, RequestState.OVERDUE)


class Outcome(models.TextChoices):
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"


class ClarificationRequest(models.Model):
    """A question to the party concerned by a finding or alert, with the deadline of its answer."""

    finding = models.ForeignKey(
        "inventory.AnyFinding",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="clarifications",
        db_constraint=False,  # findings are distributed in docs/scaling.md's plan; they are never deleted
    )
    alert = models.ForeignKey(Alert, on_delete=models.PROTECT, null=True, blank=True, related_name="clarifications")
    operator = models.ForeignKey("registry.Organisation", on_delete=models.PROTECT, related_name="+")
    country = models.CharField(max_length=2, blank=True, default="")
    other_country = models.CharField(max_length=2, blank=True, default="")
    requester = models.ForeignKey("registry.Organisation", on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    question = models.TextField()
    at = models.DateTimeField()
    deadline = models.DateTimeField()
    state = models.CharField(max_length=16, choices=RequestState.choices, default=RequestState.OPEN)
    # 1, then one more each time an answer is rejected and the request stands with a new deadline.
    round = models.PositiveIntegerField(default=1)
    answer = models.ForeignKey(
        "compliance.Answer", on_delete=models.PROTECT, null=True, blank=True, related_name="fulfils"
    )
    # Set when the deadline passed unanswered: the alert the escalation raised.
    escalated_at = models.DateTimeField(null=True, blank=True)
    escalation = models.ForeignKey(Alert, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    log_index = models.BigIntegerField(null=True, blank=True)

    objects = _PartyQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [_one_subject("clarification_one_subject")]
        indexes = [
            models.Index(fields=["state", "deadline"], name="clarification_due_idx"),
            models.Index(fields=["operator", "state"], name="clarification_operator_idx"),
        ]


class Answer(models.Model):
    """What the party concerned says about a finding or alert: never edited, never deleted."""

    finding = models.ForeignKey(
        "inventory.AnyFinding",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="answers",
        db_constraint=False,  # as ClarificationRequest.finding
    )
    alert = models.ForeignKey(Alert, on_delete=models.PROTECT, null=True, blank=True, related_name="answers")
    operator = models.ForeignKey("registry.Organisation", on_delete=models.PROTECT, related_name="+")
    country = models.CharField(max_length=2, blank=True, default="")
    other_country = models.CharField(max_length=2, blank=True, default="")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()
    explanation = models.TextField()
    # The public code of the answering party's declared run the answer points to (checked to be one of
    # its runs when the answer is given; kept by value, as the log event carries it).
    run = models.CharField(max_length=64, blank=True, default="")
    log_index = models.BigIntegerField(null=True, blank=True)

    objects = _PartyQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [_one_subject("answer_one_subject")]
        indexes = [
            models.Index(fields=["finding", "id"], name="answer_finding_idx"),
            models.Index(fields=["alert", "id"], name="answer_alert_idx"),
        ]


class AttachmentQuerySet(_PartyQuerySet):
    prefix = "answer__"


class AnswerAttachment(StoredAttachment):
    """A file that came with an answer: stored whole, bounded (compliance.attachments), logged by its SHA-256."""

    answer = models.ForeignKey(Answer, on_delete=models.PROTECT, related_name="attachments")

    objects = AttachmentQuerySet.as_manager()

    class Meta:
        ordering = ["answer", "position"]
        constraints = [models.UniqueConstraint(fields=["answer", "position"], name="attachment_position_once")]


class DecisionQuerySet(_PartyQuerySet):
    prefix = "answer__"


class AnswerDecision(models.Model):
    """The requester's (or the treaty body's) word on an answer: once per answer."""

    answer = models.OneToOneField(Answer, on_delete=models.PROTECT, related_name="decision")
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    organisation = models.ForeignKey("registry.Organisation", on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    # Accepted with `close`: the finding was resolved, or the alert resolved, by the same decision.
    closed = models.BooleanField(default=False)
    # Rejected: the new deadline of the request(s) it reopened or opened.
    deadline = models.DateTimeField(null=True, blank=True)
    at = models.DateTimeField()
    log_index = models.BigIntegerField(null=True, blank=True)

    objects = DecisionQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
