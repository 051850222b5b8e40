"""The one-line way for any app to put a registry event in the log:

    index = append_event("key.revoked", keyid, {"by": ..., "since": ...})

Must be called inside the transaction that makes the change, so the change
and its log entry commit together or not at all. The list of event names is
in EVENTS (and the README); add new ones there.
"""

import secrets

from django.utils import timezone

from protocol.encoding import jcs
from protocol.leaves import event_leaf
from transparency import storage
from transparency.log import append_leaves

EVENTS = {
    "chip.registered": "A batch of chips was registered (data: organisation, count, chips_sha256).",
    "chip.status_changed": "A chip's status changed.",
    "chip.custody_changed": "A chip passed to another custodian.",
    "chip.identity_changed": "A chip's hardware identity (UUID, board part number, key fingerprint) changed.",
    "chip.model_corrected": "A chip's model was corrected.",
    "witness.registered": "A witness key was registered.",
    "witness.retired": "A witness key was retired by its organisation: it cosigns nothing more.",
}


# In an event's `parties`: readable by every signed-in party, not only those it names (the declared rules
# every party is bound by and reads through the API: thresholds, destination rules, the challenge rule).
EVERY_PARTY = "*"

# A member of every event's data: 128 random bits, so that the leaf's hash, which every inclusion proof
# carries to anyone, does not confirm a guess at data one may not read (a facility code, a count, a run's
# code). LOG.md section 2. Entries appended before it carry none and verify as they always did.
SALT = "salt"


def register_event_name(name, description):
    """Later apps declare their event names here at import time."""
    EVENTS.setdefault(name, description)


def append_event(event, object_id, data, at=None, parties=None, countries=None):
    return append_events([(event, object_id, data, parties, countries)], at=at)


def append_events(events, at=None):
    """Several events as consecutive leaves of one append; returns the index of the first.

    `events`: (event, object_id, data, parties, countries) tuples, the arguments
    of append_event (parties or countries None: found in the data). One lock,
    one write of leaves and nodes, one insert of their data, however many.
    """
    at = at or timezone.now()
    leaves, rows = [], []
    for event, object_id, data, parties, countries in events:
        if event not in EVENTS:
            raise ValueError(f"Undeclared log event {event!r}; declare it with register_event_name().")
        if not isinstance(data, dict) or SALT in data:
            raise ValueError(f"An event's data is a JSON object without a {SALT!r} member (the log adds it).")
        leaf, data_bytes = event_leaf(at, event, object_id, {**data, SALT: secrets.token_hex(16)})
        leaves.append(leaf)
        if parties is None:
            parties = sorted({v for k, v in _walk(data) if k in ("organisation", "custodian", "operator")})
        if countries is None:
            countries = sorted({v for k, v in _walk(data) if k == "country" and v})
        rows.append((event, object_id, data_bytes.decode(), parties, countries))
    first = append_leaves(leaves, kind="event")
    storage.insert_event_data(first, rows)
    return first


def _walk(data):
    """(key, value) pairs of every string member, at any depth."""
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, str):
                yield key, value
            else:
                yield from _walk(value)
    elif isinstance(data, list):
        for item in data:
            yield from _walk(item)


__all__ = ["EVENTS", "append_event", "append_events", "jcs", "register_event_name"]
