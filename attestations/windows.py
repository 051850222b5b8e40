"""Which usage records a compute window counts: those whose period ended in it, and those of statements filed
late that arrived in it.

A window of N days counts the compute reported for the last N days, chosen by the records' period end. Alone,
that lets an operator keep a month of training out of every count: hold the statement back until its period
has left the window, then file it; no window evaluated after it arrives would contain it. So a statement filed
late, received more than half a window after its period ended, counts from its receipt instead, in every
window it arrived in. One filed sooner is counted by its period end, for at least the other half of the window
after it arrives (each statement's evaluation runs then), and a timely statement's count is not stretched by
the hours it took to arrive. A late statement is also judged in the window its period end falls in, with its
contemporaries (compliance.late_windows).
"""

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


def filed_late(since, window):
    """A filter of usage records whose statements were filed late in that window (a subquery, one round trip
    with the records' own)."""
    return Q(attestation_id__in=_late(since, window))


def _late(since, window):
    late_by = ExpressionWrapper(F("received_at") - F("period_end"), output_field=DurationField())
    statements = Attestation.objects.filter(kind="usage", received_at__gt=since, period_end__lte=since)
    return statements.alias(late_by=late_by).filter(late_by__gt=window / 2).values_list("pk", flat=True)
