"""The windows a late usage statement belongs to.

A usage statement filed late counts from its receipt (attestations.windows), so no window evaluated after it
arrives misses it. Alone, that lets an operator choose the window each part of its work falls in: run a burst
of two days, file the second day's statement on time and hold the first day's back until the second has left
the window; each half is then counted in a window of its own, under the line, and no window ever holds both.

So a subject with a late statement in a window is also judged on the fullest window of the rule's length that
contains the late statement's period end, summing every record the registry holds now (what that window would
have held had everything been filed on time). The subject's value is the larger of that and the present
window's (never their sum: the late records are in both). The two views are kept for as long as the late
statement counts from its receipt, one window's length.
"""

from bisect import bisect_left, bisect_right
from collections import defaultdict
from typing import NamedTuple


class Fullest(NamedTuple):
    value: float
    after: object  # the window: (after, until]
    until: object


def fullest(rows, late_ends, window):
    """The fullest window (after, until] of length `window` containing one of `late_ends`: `rows` (period end,
    total) of a subject's records whose period ends within `window` of those ends (any order; ends may
    repeat). None when there is no late end.

    A window (t - window, t] contains the end e when e <= t < e + window; its sum only grows where t passes a
    record's end, so the candidates are e itself and the records' ends in [e, e + window)."""
    rows = sorted(rows, key=lambda row: row[0])
    ends = [end for end, _ in rows]
    prefix = [0.0]
    for _, total in rows:
        prefix.append(prefix[-1] + float(total or 0.0))
    best = None
    for e in sorted(set(late_ends)):
        candidates = [e, *ends[bisect_left(ends, e) : bisect_left(ends, e + window)]]
        for t in candidates:
            total = prefix[bisect_right(ends, t)] - prefix[bisect_right(ends, t - window)]
            if best is None or total > best.value:
                best = Fullest(total, t - window, t)
    return best


def by_subject(own_rows, around_rows, window):
    """{subject key: Fullest}: `own_rows` (key, period end, ...) of the late statements' records, `around_rows`
    (key, period end, total) of every record near them."""
    ends = defaultdict(set)
    for key, end, *_ in own_rows:
        ends[str(key)].add(end)
    around = defaultdict(list)
    for key, end, total in around_rows:
        if str(key) in ends:
            around[str(key)].append((end, total))
    return {key: fullest(around[key], late, window) for key, late in ends.items()}


def span(own_rows, window):
    """(after, until]: the period ends within `window` of any of the late statements' records' ends."""
    ends = [end for _, end, *_ in own_rows]
    return min(ends) - window, max(ends) + window
