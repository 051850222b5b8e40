"""Request bodies for the matrix: representative and valid for the role the policy allows,
so an allowed cell proves the route works and a refused one proves the refusal."""

import hashlib
import json
from datetime import timedelta
from itertools import count

from tests.authz.policy import Raw

_seq = count()


def when(world, hours=1):
    return (world.now - timedelta(hours=hours)).isoformat()


def unique(prefix):
    return f"{prefix}-{next(_seq)}"


def statement_envelope(world, role):
    """A partial location statement about A's facility US-VA-001 listing one of A's chips.

    Operator A's users sign as op-demo with A's key; everyone else speaks as op-other and
    signs with op-other's own key: a statement about a facility its speaker does not
    operate (issue 15, item 1)."""
    from console.demo import _ts, demo_key
    from protocol.dsse import make_envelope
    from protocol.encoding import jcs

    own = role in ("op_admin", "op_member", "op_readonly")
    from django.utils import timezone

    observed = timezone.now() - timedelta(minutes=1)
    statement = {
        "v": 1,
        "kind": "location",
        "operator": "op-demo" if own else "op-other",
        "facility": world.facility_a.code,
        "issued_at": _ts(observed + timedelta(seconds=30)),
        "nonce": hashlib.sha256(f"authz-{role}-{next(_seq)}".encode()).hexdigest()[:32],
        "observed_at": _ts(observed),
        "scope": "partial",
        "chips": [{"chip": world.chip_a.public_id, "cluster": world.cluster_a.code}],
    }
    private = demo_key() if own else world.private_b
    return Raw(json.dumps(make_envelope(jcs(statement), [(private, None)])).encode())


def rule(world, role):
    return {
        "key": unique("authz-rule"),
        "name": "Matrix rule",
        "metric": "chip_count",
        "scope": "facility",
        "comparison": "ge",
        "value": 1000,
        "severity": "low",
        "effective_from": "2025-01-01T00:00:00Z",
    }
