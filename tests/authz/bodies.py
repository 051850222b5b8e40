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


def _sign(world, role, statement):
    from demo.world import demo_key
    from protocol.dsse import make_envelope
    from protocol.encoding import jcs

    private = demo_key() if role in ("op_admin", "op_member", "op_readonly") else world.private_b
    return Raw(json.dumps(make_envelope(jcs(statement), [(private, None)])).encode())


def _nonce(role):
    return hashlib.sha256(f"authz-{role}-{next(_seq)}".encode()).hexdigest()[:32]


def usage_envelope(world, role):
    """A day of usage at A's facility US-VA-001: A's chip from A's users, B's chip from op-other."""
    from django.utils import timezone

    from demo.world import _ts

    own = role in ("op_admin", "op_member", "op_readonly")
    now = timezone.now()
    start = (now - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    statement = {
        "v": 1,
        "kind": "usage",
        "operator": "op-demo" if own else "op-other",
        "facility": world.facility_a.code,
        "issued_at": _ts(now - timedelta(seconds=30)),
        "nonce": _nonce(role),
        "period_start": _ts(start),
        "period_end": _ts(start + timedelta(days=1)),
        "workload": "training",
        "chips": [
            {
                "chip": (world.chip_a if own else world.chip_b).public_id,
                "active_s": 3600.0,
                "utilization": 0.5,
                "energy_j": 2_000_000.0,
            }
        ],
    }
    return _sign(world, role, statement)


def statement_envelope(world, role):
    """A partial location statement about A's facility US-VA-001 listing one of A's chips.

    Operator A's users sign as op-demo with A's key; everyone else speaks as op-other and
    signs with op-other's own key: a statement about a facility its speaker does not
    operate (issue 15, item 1)."""
    from django.utils import timezone

    from demo.world import _ts

    own = role in ("op_admin", "op_member", "op_readonly")
    observed = timezone.now() - timedelta(minutes=1)
    statement = {
        "v": 1,
        "kind": "location",
        "operator": "op-demo" if own else "op-other",
        "facility": world.facility_a.code,
        "issued_at": _ts(observed + timedelta(seconds=30)),
        "nonce": _nonce(role),
        "observed_at": _ts(observed),
        "scope": "partial",
        "chips": [{"chip": world.chip_a.public_id, "cluster": world.cluster_a.code}],
    }
    return _sign(world, role, statement)


def run(world, role):
    """A run on A's Ashburn facility and cluster, planned to start in ten days (B names them too)."""

    return {
        "model_name": unique("authz-model"),
        "kind": "fine_tuning",
        "planned_flop": 3e22,
        "precision": "fp8",
        "facilities": [world.facility_a.code],
        "clusters": [f"{world.facility_a.code}/{world.cluster_a.code}"],
        "planned_start": (world.now + timedelta(days=10)).isoformat(),
        "planned_end": (world.now + timedelta(days=20)).isoformat(),
        "description": "Matrix fine-tune.",
    }


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
