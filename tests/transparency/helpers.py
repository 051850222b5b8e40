"""Shared helpers of the transparency tests: appending events and reading the log back."""

import base64

from django.db import transaction

from protocol import merkle
from transparency.events import append_event
from transparency.models import LogLeaf


def append_events(count, prefix="EVT"):
    """Append `count` status-change events, each in its own transaction; return their indices."""
    indices = []
    for i in range(count):
        with transaction.atomic():
            indices.append(
                append_event(
                    "chip.status_changed",
                    f"nvidia:{prefix}{i:06d}",
                    {"chip": f"nvidia:{prefix}{i:06d}", "organisation": "op-a", "country": "US", "after": "lost"},
                )
            )
    return indices


def stored_leaf_hashes():
    return [merkle.leaf_hash(bytes(leaf)) for leaf in LogLeaf.objects.order_by("index").values_list("leaf", flat=True)]


def b64d(s):
    return base64.b64decode(s, validate=True)


def checkpoint_parts(text):
    """(size, root) of a served checkpoint, parsed by hand (origin, size, base64 root)."""
    lines = text.split("\n")
    return int(lines[1]), b64d(lines[2])
