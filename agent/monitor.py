"""`chipreg monitor`: watch the registry's log for a split view or a rewrite (LOG.md).

Each run fetches the latest checkpoint, checks its signature with the pinned log
key, and proves it consistent with the last checkpoint this monitor accepted.
The verdict is `protocol.monitor.check`, the same code `manage.py log_monitor`
runs. The agent adds its HTTP layer (exit
codes 3/4, CA file, timeouts) and evidence: on a split view the remembered and
served checkpoints are kept beside the state file, and the state is not
advanced. The state file itself (reading, key pinning, the atomic write) is
`protocol.monitor.run`'s.

The state file has the format of `manage.py log_monitor --state` (version,
url, key, size, checkpoint), so either tool can continue the other's watch; a
state pinned to another key is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agent.client import Registry
from agent.errors import RefusedError, UnreachableError, UsageError, VerificationError
from agent.util import atomic_write, private_dir, utcnow
from protocol import monitor as core
from protocol.encoding import b64encode


@dataclass
class MonitorResult:
    status: str  # first | unchanged | extended
    previous_size: int | None
    size: int
    root: bytes

    def summary(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "previous_size": self.previous_size,
            "tree_size": self.size,
            "root": b64encode(self.root),
        }


def _evidence(path: Path, exc: Exception) -> Path:
    stamp = utcnow().strftime("%Y%m%dT%H%M%S%fZ")
    evidence = path.with_name(f"{path.stem}-evidence-{stamp}.txt")
    seen, served = getattr(exc, "seen", None) or "", getattr(exc, "served", None) or ""
    text = f"# {exc}\n--- remembered checkpoint ---\n{seen}--- served checkpoint ---\n{served}"
    atomic_write(evidence, text.encode("utf-8"))
    return evidence


def _fetcher(registry: Registry):
    def fetch(url: str) -> bytes:
        parts = urlsplit(url)
        path = parts.path[len(registry.prefix) :] if registry.prefix else parts.path
        resp = registry.get(path + (f"?{parts.query}" if parts.query else ""))
        if resp.status >= 500:
            raise UnreachableError(f"registry answered {resp.describe()} for {parts.path}")
        if resp.status != 200:
            raise RefusedError(f"registry answered {resp.describe()} for {parts.path}", resp.code, resp.status)
        return resp.body

    return fetch


def check(registry: Registry, log_key: str | None, state_path: Path) -> MonitorResult:
    # The state (read, key pinning, atomic 0600 write after a good check) is protocol.monitor.run's.
    private_dir(state_path.parent)
    try:
        outcome = core.run(registry.url, log_key, state_path, _fetcher(registry))
    except core.SplitView as exc:
        raise VerificationError(f"split view: {exc} (evidence kept in {_evidence(state_path, exc)})") from None
    except core.SignatureFailure as exc:
        raise VerificationError(f"signature failure: {exc}") from None
    except core.StatePinned:
        raise UsageError(f"{state_path} was pinned to another log key; use another --state for this key") from None
    except core.NoKey:
        raise UsageError("no log verifier key: pass --log-key KEYLINE (or @FILE), or set CHIPREG_LOG_KEY") from None
    except core.MonitorError as exc:
        raise UsageError(str(exc)) from None
    return MonitorResult(outcome.status, outcome.previous_size, outcome.size, outcome.root)
