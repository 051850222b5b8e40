"""Query parameters shared by the inventory endpoints."""

from datetime import UTC, datetime, time

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from core.problems import Problem


def parse_when(value, name="at"):
    """A datetime, or a date meaning the end of that day (UTC): 'on date D' is the state at its close."""
    if value is None or value == "":
        return timezone.now()
    try:
        parsed = parse_datetime(value)
        if parsed is None:
            day = parse_date(value)
            if day is None:
                raise ValueError
            parsed = datetime.combine(day, time.max, tzinfo=UTC)
    except ValueError:
        raise Problem(400, "invalid", f"{name} must be an RFC 3339 date-time or a YYYY-MM-DD date; got {value[:40]!r}.")
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    return parsed
