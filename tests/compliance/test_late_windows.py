"""compliance.late_windows.fullest against a brute force: every window of the length that contains a late
statement's period end, tried at every minute it could end at."""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.late_windows import fullest

T0 = datetime(2026, 1, 1, tzinfo=UTC)
minutes = st.integers(min_value=0, max_value=400)


def brute(rows, late_ends, window):
    """The largest sum of records with end in (t - window, t], over every whole minute t with e <= t < e + window
    for some late end e (the records' ends are whole minutes, so no other t gives another sum)."""
    best = None
    for e in set(late_ends):
        t = e
        while t < e + window:
            total = sum(v for end, v in rows if t - window < end <= t)
            best = total if best is None else max(best, total)
            t += timedelta(minutes=1)
    return best


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(st.tuples(minutes, st.integers(min_value=0, max_value=50)), max_size=12),
    late=st.lists(minutes, min_size=1, max_size=3),
    length=st.integers(min_value=1, max_value=120),
)
def test_fullest_is_the_largest_window_containing_a_late_end(rows, late, length):
    window = timedelta(minutes=length)
    records = [(T0 + timedelta(minutes=m), float(v)) for m, v in rows]
    ends = [T0 + timedelta(minutes=m) for m in late]
    found = fullest(records, ends, window)
    assert found.value == brute(records, ends, window)
    # The window it names contains a late end and holds that sum.
    assert any(found.after < e <= found.until for e in ends)
    assert found.until - found.after == window
    assert found.value == sum(v for end, v in records if found.after < end <= found.until)


def test_no_late_end_no_window():
    assert fullest([(T0, 1.0)], [], timedelta(days=1)) is None
