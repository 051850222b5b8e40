"""The one-line way for any app to put a registry event in the log:

    index = append_event("key.revoked", keyid, {"by": ..., "since": ...})

Must be called inside the transaction that makes the change, so the change
and its log entry commit together or not at all. The list of event names is
in EVENTS (and the README); add new ones there.
"""

from django.utils import timezone

from protocol.encoding import jcs
from protocol.leaves import event_leaf
from transparency.log import append_leaves
from transparency.models import LogEventData

EVENTS = {
    "chip.registered": "A batch of chips was registered (data: organisation, count, chips_sha256).",
    "chip.status_changed": "A chip's status changed.",
    "chip.custody_changed": "A chip passed to another custodian.",
    "chip.identity_changed": "A chip's hardware identity (UUID, board part number, key fingerprint) changed.",
    "chip.model_corrected": "A chip's model was corrected.",
    "witness.registered": "A witness key was registered.",
}


def register_event_name(name, description):
    """Later apps declare their event names here at import time."""
    EVENTS.setdefault(name, description)


def append_event(event, object_id, data, at=None, parties=None, countries=None):
    if event not in EVENTS:
        raise ValueError(f"Undeclared log event {event!r}; declare it with register_event_name().")
    at = at or timezone.now()
    leaf, data_bytes = event_leaf(at, event, object_id, data)
    index = append_leaves([leaf], kind="event")
    if parties is None:
        parties = sorted({v for k, v in _walk(data) if k in ("organisation", "custodian", "operator")})
    if countries is None:
        countries = sorted({v for k, v in _walk(data) if k == "country" and v})
    LogEventData.objects.create(
        index=index,
        event=event,
        object_id=object_id,
        data_jcs=data_bytes.decode(),
        parties=parties,
        countries=countries,
    )
    return index


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


__all__ = ["EVENTS", "append_event", "jcs", "register_event_name"]
