"""Inventory logic that spans models: placements, listings, transfers, reconciliation."""

from datetime import timedelta

from django.utils import timezone

from core.errors import Invalid

# Clocks differ a little; a date further ahead than this is "in the future".
CLOCK_SKEW = timedelta(minutes=5)


def not_in_future(when, field):
    if when > timezone.now() + CLOCK_SKEW:
        raise Invalid(f"{field} {when.isoformat()} is in the future.", code="future_date")
    return when
