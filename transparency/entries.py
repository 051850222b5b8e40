"""Reading stored entries for evidence bundles: leaf bytes and, for events, their data.

The log is append-only, so an entry read now is the entry that was at that index when any
checkpoint covering it was signed; a bundle built from these proves itself (protocol.evidence).
"""

from typing import NamedTuple

from transparency.models import LogEventData, LogLeaf


class Entry(NamedTuple):
    index: int
    leaf: bytes
    kind: str  # "attestation" or "event"
    data: LogEventData | None  # an event's data row (its readers decide who sees it)


def read_entries(indices):
    """{index: Entry} for the indices the log holds, in two queries."""
    indices = sorted(set(indices))
    if not indices:
        return {}
    leaves = LogLeaf.objects.filter(index__in=indices).values_list("index", "leaf", "kind")
    data = {row.index: row for row in LogEventData.objects.filter(index__in=indices)}
    return {i: Entry(i, bytes(leaf), kind, data.get(i)) for i, leaf, kind in leaves}
