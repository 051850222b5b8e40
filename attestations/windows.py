"""Which usage records a compute window counts: those whose period ended in it, and those of statements filed
late that arrived in it.

A window of N days counts the compute reported for the last N days, chosen by the records' period end. Alone,
that lets an operator keep a month of training out of every count: hold the statement back until its period
has left the window, then file it; no window evaluated after it arrives would contain it. So a statement filed
late, received more than half a window after its period ended, counts from its receipt instead, in every
window it arrived in. One filed sooner is counted by its period end, for at least the other half of the window
after it arrives (each statement's evaluation runs then), and a timely statement's count is not stretched by
the hours it took to arrive. And a statement received more than CHIPREG_USAGE_FILING_GRACE_H after its
period ended, however late, is judged in the fullest window around its period end, with its contemporaries
(compliance.late_windows): holding back the later half of a burst until the earlier half has left the window
keeps the later one's period end in the window, and it must still be judged with the earlier.
"""

from datetime import timedelta

from django.conf import settings
from django.db.models import DurationField, ExpressionWrapper, F, Q

from attestations.models import Attestation


def late_statements(since, window):
    """The ids of the usage statements received after `since` (the opening of a window of length `window`, a
    timedelta) about periods that ended at or before it, each received more than half the window after its
    period ended."""
    return list(_late(since, window))


def counted(since, window):
    """A filter of usage records (UsageRecord, ChiplessUsageRecord, AnyUsageRecord) counted in the window of
    length `window` opening at `since` (the late statements as a subquery: no round trip of its own)."""
    return Q(period_end__gt=since) | Q(attestation_id__in=_late(since, window))


def received_late(since):
    """The ids of the usage statements received after `since` more than CHIPREG_USAGE_FILING_GRACE_H after
    their period ended, wherever that end lies: each is judged in the fullest window around its period end
    (compliance.late_windows), whether or not it counts from its receipt too."""
    return list(_received_late(since))


def filed_late(since):
    """A filter of usage records whose statements were received late after `since` (received_late; a subquery,
    one round trip with the records' own)."""
    return Q(attestation_id__in=_received_late(since))


def _late_by():
    return ExpressionWrapper(F("received_at") - F("period_end"), output_field=DurationField())


def _late(since, window):
    statements = Attestation.objects.filter(kind="usage", received_at__gt=since, period_end__lte=since)
    return statements.alias(late_by=_late_by()).filter(late_by__gt=window / 2).values_list("pk", flat=True)


def _received_late(since):
    grace = timedelta(hours=settings.CHIPREG_USAGE_FILING_GRACE_H)
    statements = Attestation.objects.filter(kind="usage", received_at__gt=since)
    return statements.alias(late_by=_late_by()).filter(late_by__gt=grace).values_list("pk", flat=True)
