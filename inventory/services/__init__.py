"""Inventory logic that spans models: placements, listings, transfers, reconciliation."""

from datetime import timedelta

from django.utils import timezone

from core.problems import Problem

# Clocks differ a little; a date further ahead than this is "in the future".
CLOCK_SKEW = timedelta(minutes=5)


def not_in_future(when, field):
    if when > timezone.now() + CLOCK_SKEW:
        raise Problem(400, "future_date", f"{field} {when.isoformat()} is in the future.")
    return when
