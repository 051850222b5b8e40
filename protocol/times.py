"""RFC 3339 timestamps in UTC with a `Z` suffix: the only form on the wire.

One spelling in, one spelling out: offsets other than `Z`, lowercase `t`/`z`,
a space instead of `T` and leap seconds are refused, because signed bytes with
two readings are what this package exists to avoid.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_TIME_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?Z")


def parse_time(s: object) -> datetime:
    """Parse `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z` to an aware UTC datetime.

    Fractions beyond microseconds (Go's RFC3339Nano writes nine digits) are
    accepted and truncated, since datetime has no finer resolution. Raises
    ValueError (callers turn it into their own error code).
    """
    if not isinstance(s, str):
        raise ValueError("must be an RFC 3339 UTC timestamp string")
    m = _TIME_RE.fullmatch(s)
    if not m:
        raise ValueError("must be RFC 3339 in UTC with a 'Z' suffix, e.g. 2026-11-26T05:42:13Z")
    year, month, day, hour, minute, second, frac = m.groups()
    micro = int((frac or "0").ljust(6, "0")[:6])
    try:
        return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=UTC)
    except ValueError:
        raise ValueError("is not a valid calendar date and time") from None


def format_time(dt: datetime) -> str:
    """The registry's spelling: whole seconds, or six fraction digits when non-zero."""
    if not isinstance(dt, datetime) or dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("an aware datetime is required")
    dt = dt.astimezone(UTC)
    # Formatted by hand: strftime's %Y drops leading zeros of years below 1000 on glibc.
    base = f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
    return f"{base}.{dt.microsecond:06d}Z" if dt.microsecond else f"{base}Z"
