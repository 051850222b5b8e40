"""Signed statements: schema and checks of ATTESTATION.md section 3.

Parsed only after every signature has verified (dsse.verify_signatures), and
strict throughout: a member this version does not know, a wrong type (a bool is
not a number here, though Python says it is an int), or a non-canonical chip id
is `malformed_statement`, with a detail naming the field (and the chip's index),
so that a signer never believes something was honoured when it was not.

Decisions where the spec is silent:
- chip ids must already be in normalised form (`nvidia:ABC-1`, not `nvidia:abc-1`):
  the signed bytes then name exactly the chips that are stored;
- registry codes (operator, facility, landmark, cluster) are 1 to 64 characters
  from `A-Z a-z 0-9 . _ -`, starting with a letter or digit (REGISTRY_CODE_RE);
  whether the code exists is the registry's business (`unknown_facility` for an
  `rtt` statement's facility, `facility_not_operated` for an operator's);
- a `location` statement may list no chips only with scope `complete` (it then
  says the facility is empty); a `partial` one or a `usage` one must list some;
- an `rtt` statement's `measured_at` may not be after its `issued_at`, like a
  location's `observed_at`;
- numbers are JSON numbers of either form; integers beyond 2**53 are refused,
  since no double (and so no JCS signer) can carry them exactly;
- every number is bounded by what hardware could do, so that a statement can
  never store a value whose sums overflow (1.7e308 J would make every total of
  its facility infinite): a chip's `energy_j` is at most MAX_CHIP_POWER_W (10 kW,
  several times any accelerator's power limit) times the period, its `active_s`
  at most the period; an `rtt_ms` at most MAX_RTT_MS (a minute: no answer that
  slow says anything about distance). Beyond them the statement is
  `malformed_statement`; within them, implausible values are findings.

Chips are kept as lists of tuples, not objects: a statement may list a million.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import itemgetter, methodcaller

from protocol.encoding import b64decode_any, strict_json_loads
from protocol.errors import ProtocolError
from protocol.serials import CHIP_ID_RE
from protocol.times import parse_time

MAX_CHIPS = 1_000_000
MAX_USAGE_PERIOD = timedelta(days=31)
MAX_CHIP_POWER_W = 10_000.0  # energy_j <= this x the period's seconds (module doc)
MAX_RTT_MS = 60_000.0
KINDS = ("location", "usage", "rtt", "evidence")
MAX_EVIDENCE_CHIPS = 1_000  # HARDWARE.md 2
MAX_REPORT_BYTES = 16 * 1024  # NVML's report buffer is 8 KiB
MAX_CERTIFICATES_BYTES = 64 * 1024
EVIDENCE_FORMATS = ("nvidia-spdm-v1",)
CHALLENGE_RE = re.compile(r"[0-9a-f]{64}")
SCOPES = ("complete", "partial")
WORKLOADS = ("training", "inference", "mixed", "idle", "other")
REGISTRY_CODE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
NONCE_RE = re.compile(r"[0-9a-f]{32,64}")
_MAX_EXACT_INT = 1 << 53

_COMMON = ("v", "kind", "issued_at", "nonce")
_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {  # kind -> (required, optional)
    "location": (
        frozenset((*_COMMON, "operator", "facility", "observed_at", "scope", "chips")),
        frozenset(),
    ),
    "usage": (
        frozenset((*_COMMON, "operator", "facility", "period_start", "period_end", "chips")),
        frozenset({"workload", "run"}),
    ),
    "rtt": (
        frozenset((*_COMMON, "landmark", "facility", "chip", "measured_at", "rtt_ms")),
        frozenset({"challenge", "evidence"}),
    ),
    "evidence": (
        frozenset((*_COMMON, "operator", "facility", "observed_at", "challenge", "chips")),
        frozenset(),
    ),
}
_EVIDENCE_CHIP_KEYS = frozenset({"chip", "format", "report", "certificates"})
_RTT_EVIDENCE_KEYS = frozenset({"format", "report", "certificates"})
_USAGE_CHIP_KEYS = frozenset({"chip", "active_s", "utilization", "energy_j"})


@dataclass(frozen=True, slots=True)
class Statement:
    v: int
    kind: str
    issued_at: datetime
    nonce: str


@dataclass(frozen=True, slots=True)
class LocationStatement(Statement):
    operator: str
    facility: str
    observed_at: datetime
    scope: str
    chips: list[tuple[str, str | None]]  # (chip id, cluster code or None)

    @property
    def chip_ids(self) -> list[str]:
        return [c[0] for c in self.chips]


@dataclass(frozen=True, slots=True)
class UsageStatement(Statement):
    operator: str
    facility: str
    period_start: datetime
    period_end: datetime
    chips: list[tuple[str, float, float, float]]  # (chip id, active_s, utilization, energy_j)
    workload: str | None = None
    run: str | None = None  # the registry id of the declared run the chips worked for

    @property
    def chip_ids(self) -> list[str]:
        return [c[0] for c in self.chips]

    @property
    def period_seconds(self) -> float:
        return (self.period_end - self.period_start).total_seconds()


@dataclass(frozen=True, slots=True)
class Evidence:
    """One chip's hardware evidence as sent (HARDWARE.md 2): verified by protocol.hardware, not here."""

    format: str
    report: bytes
    certificates: bytes


@dataclass(frozen=True, slots=True)
class RttStatement(Statement):
    landmark: str
    facility: str
    chip: str
    measured_at: datetime
    rtt_ms: float
    challenge: str | None = None  # with evidence: the landmark's challenge (HARDWARE.md 6)
    evidence: Evidence | None = None


@dataclass(frozen=True, slots=True)
class EvidenceStatement(Statement):
    operator: str
    facility: str
    observed_at: datetime
    challenge: str
    chips: list[tuple[str, Evidence]]

    @property
    def chip_ids(self) -> list[str]:
        return [c[0] for c in self.chips]


def _bad(detail: str) -> ProtocolError:
    return ProtocolError("malformed_statement", detail)


def _code(obj: dict, name: str) -> str:
    value = obj[name]
    if type(value) is not str or not REGISTRY_CODE_RE.fullmatch(value):
        raise _bad(f"{name}: must be a registry code (1-64 characters from A-Z a-z 0-9 . _ -)")
    return value


def _time(obj: dict, name: str) -> datetime:
    try:
        return parse_time(obj[name])
    except ValueError as exc:
        raise _bad(f"{name}: {exc}") from None


def _number(value: object, where: str) -> float:
    t = type(value)
    if t is float:
        return value  # type: ignore[return-value]  # finite: strict_json_loads refused the rest
    if t is int:
        if -_MAX_EXACT_INT <= value <= _MAX_EXACT_INT:  # type: ignore[operator]
            return float(value)  # type: ignore[arg-type]
        raise _bad(f"{where}: integer beyond 2**53")
    raise _bad(f"{where}: must be a number")


def _chip(value: object, where: str) -> str:
    if type(value) is not str or CHIP_ID_RE.fullmatch(value) is None:
        raise _bad(f"{where}: must be a chip id '<manufacturer>:<SERIAL>' in normalised form")
    return value  # type: ignore[return-value]


def _chips_array(obj: dict, allow_empty: bool) -> list:
    chips = obj["chips"]
    if type(chips) is not list:
        raise _bad("chips: must be an array")
    if len(chips) > MAX_CHIPS:
        raise _bad(f"chips: at most {MAX_CHIPS} entries, got {len(chips)}")
    if not chips and not allow_empty:
        raise _bad("chips: must not be empty")
    return chips


def _duplicate(chip: str, i: int, first: int) -> ProtocolError:
    return _bad(f"chips[{i}].chip: {chip!r} is listed twice (first at chips[{first}])")


def _location_chips_checked(chips: list) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    first_index: dict[str, int] = {}
    good_clusters: set[str] = set()
    match_chip = CHIP_ID_RE.fullmatch
    match_code = REGISTRY_CODE_RE.fullmatch
    for i, entry in enumerate(chips):
        if type(entry) is not dict:
            raise _bad(f"chips[{i}]: must be an object")
        if "chip" not in entry:
            raise _bad(f"chips[{i}].chip: missing")
        n = len(entry)
        cluster = None
        if n == 2:
            if "cluster" not in entry:
                raise _bad(f"chips[{i}]: unknown member (allowed: chip, cluster)")
            cluster = entry["cluster"]
            if type(cluster) is not str:
                raise _bad(f"chips[{i}].cluster: must be a registry code")
            if cluster not in good_clusters:
                if match_code(cluster) is None:
                    raise _bad(f"chips[{i}].cluster: must be a registry code")
                good_clusters.add(cluster)
        elif n != 1:
            raise _bad(f"chips[{i}]: unknown member (allowed: chip, cluster)")
        chip = entry["chip"]
        if type(chip) is not str or match_chip(chip) is None:
            _chip(chip, f"chips[{i}].chip")
        first = first_index.setdefault(chip, i)
        if first != i:
            raise _duplicate(chip, i, first)
        out.append((chip, cluster))
    return out


def max_energy(period_s: float) -> float:
    """The most energy a chip may report for a period: MAX_CHIP_POWER_W for all of it."""
    return MAX_CHIP_POWER_W * period_s


def _usage_chips_checked(chips: list, period_s: float) -> list[tuple[str, float, float, float]]:
    out: list[tuple[str, float, float, float]] = []
    first_index: dict[str, int] = {}
    match_chip = CHIP_ID_RE.fullmatch
    keys = _USAGE_CHIP_KEYS
    for i, entry in enumerate(chips):
        if type(entry) is not dict:
            raise _bad(f"chips[{i}]: must be an object")
        if entry.keys() != keys:
            missing = sorted(keys - entry.keys())
            if missing:
                raise _bad(f"chips[{i}].{missing[0]}: missing")
            raise _bad(f"chips[{i}]: unknown member (allowed: chip, active_s, utilization, energy_j)")
        chip = entry["chip"]
        if type(chip) is not str or match_chip(chip) is None:
            _chip(chip, f"chips[{i}].chip")
        first = first_index.setdefault(chip, i)
        if first != i:
            raise _duplicate(chip, i, first)
        active_s = _number(entry["active_s"], f"chips[{i}].active_s")
        utilization = _number(entry["utilization"], f"chips[{i}].utilization")
        energy_j = _number(entry["energy_j"], f"chips[{i}].energy_j")
        if not 0 <= active_s <= period_s:
            raise _bad(f"chips[{i}].active_s: must be between 0 and the period length ({period_s:g} s)")
        if not 0 <= utilization <= 1:
            raise _bad(f"chips[{i}].utilization: must be between 0 and 1")
        if not 0 <= energy_j <= max_energy(period_s):
            raise _bad(
                f"chips[{i}].energy_j: must be between 0 and {max_energy(period_s):g} J"
                f" ({MAX_CHIP_POWER_W:g} W for the period)"
            )
        out.append((chip, active_s, utilization, energy_j))
    return out


# The fast paths below validate a million entries with C-level builtins (map,
# set, min/max, one regex over the joined ids) and return only when everything
# is proven valid; on any doubt they defer to the entry-by-entry loops above,
# which are authoritative and name the offending index.

_get_chip = itemgetter("chip")
_get_cluster = methodcaller("get", "cluster")
_CHIP_LINES_RE = re.compile(f"(?:{CHIP_ID_RE.pattern}\n)*{CHIP_ID_RE.pattern}")
_NUMBER_TYPES = frozenset({int, float})


def _ids_valid(ids: list) -> bool:
    if not ids:
        return True
    try:
        joined = "\n".join(ids)
    except TypeError:
        return False
    # Ids never contain a newline, so n - 1 newlines means the split is the list's.
    return (
        joined.count("\n") == len(ids) - 1
        and _CHIP_LINES_RE.fullmatch(joined) is not None
        and len(set(ids)) == len(ids)
    )


def _location_chips(chips: list, consume: bool = False) -> list[tuple[str, str | None]]:
    """The (chip id, cluster) pairs; `consume` empties `chips` (the parser's own list) once they are read."""
    try:
        ids = list(map(_get_chip, chips))
        clusters = list(map(_get_cluster, chips))
        distinct_clusters = set(clusters)
    except (KeyError, TypeError, AttributeError):
        return _location_chips_checked(chips)
    n = len(chips)
    with_cluster = n - clusters.count(None)
    if (
        sum(map(len, chips)) != n + with_cluster
        or not _ids_valid(ids)
        or not all(
            c is None or (type(c) is str and REGISTRY_CODE_RE.fullmatch(c) is not None) for c in distinct_clusters
        )
    ):
        return _location_chips_checked(chips)
    # One string object per distinct cluster code (the decoder made one per entry), and the decoded
    # objects let go before the tuples are built: a million-chip statement's peak memory.
    same = {c: c for c in distinct_clusters}
    clusters = list(map(same.__getitem__, clusters))
    if consume:
        chips.clear()
    return list(zip(ids, clusters, strict=True))


def _column(chips: list, key: str, low: float, high: float | None) -> list[float] | None:
    """The column as floats if every value is a valid number in [low, high], else None."""
    column = list(map(itemgetter(key), chips))
    types = set(map(type, column))
    if not types <= _NUMBER_TYPES or min(column) < low:
        return None
    top = max(column)
    if (high is not None and top > high) or (int in types and top > _MAX_EXACT_INT):
        return None
    return list(map(float, column)) if int in types else column


def _usage_chips(chips: list, period_s: float) -> list[tuple[str, float, float, float]]:
    try:
        if not chips or sum(map(len, chips)) != 4 * len(chips):
            raise KeyError
        ids = list(map(_get_chip, chips))
        active = _column(chips, "active_s", 0, period_s)
        util = _column(chips, "utilization", 0, 1)
        energy = _column(chips, "energy_j", 0, max_energy(period_s))
    except (KeyError, TypeError):
        return _usage_chips_checked(chips, period_s)
    if active is None or util is None or energy is None or not _ids_valid(ids):
        return _usage_chips_checked(chips, period_s)
    return list(zip(ids, active, util, energy, strict=True))


def _challenge(obj: dict) -> str:
    value = obj["challenge"]
    if type(value) is not str or not CHALLENGE_RE.fullmatch(value):
        raise _bad("challenge: must be 64 lowercase hex characters")
    return value


def _b64(value: object, where: str, limit: int) -> bytes:
    # "" is base64 (of nothing, RFC 4648 section 10): HARDWARE.md refuses only what is not base64 or too long,
    # so an empty report or chain is judged, and fails check 1 (parse) as a finding, not a refusal.
    if type(value) is not str:
        raise _bad(f"{where}: must be base64")
    if len(value) > (limit * 4) // 3 + 4:  # too long to be worth decoding
        raise _bad(f"{where}: at most {limit} bytes")
    data = b64decode_any(value, code="malformed_statement", what=where)
    if len(data) > limit:  # the text's bound lets up to 2 bytes more through: the decoded length decides
        raise _bad(f"{where}: at most {limit} bytes")
    return data


def _evidence(value: object, where: str, keys: frozenset[str]) -> Evidence:
    if type(value) is not dict or value.keys() != keys:
        raise _bad(f"{where}: must be an object with exactly {', '.join(sorted(keys))}")
    fmt = value["format"]
    if type(fmt) is not str or fmt not in EVIDENCE_FORMATS:
        raise _bad(f"{where}.format: must be one of {', '.join(EVIDENCE_FORMATS)}")
    return Evidence(
        fmt,
        _b64(value["report"], f"{where}.report", MAX_REPORT_BYTES),
        _b64(value["certificates"], f"{where}.certificates", MAX_CERTIFICATES_BYTES),
    )


def _evidence_chips(obj: dict) -> list[tuple[str, Evidence]]:
    chips = _chips_array(obj, allow_empty=False)
    if len(chips) > MAX_EVIDENCE_CHIPS:
        raise _bad(f"chips: at most {MAX_EVIDENCE_CHIPS} entries in an evidence statement, got {len(chips)}")
    out, first = [], {}
    for i, entry in enumerate(chips):
        if type(entry) is not dict or entry.keys() != _EVIDENCE_CHIP_KEYS:
            raise _bad(f"chips[{i}]: must be an object with exactly {', '.join(sorted(_EVIDENCE_CHIP_KEYS))}")
        chip = _chip(entry["chip"], f"chips[{i}].chip")
        if chip in first:
            raise _duplicate(chip, i, first[chip])
        first[chip] = i
        rest = {k: v for k, v in entry.items() if k != "chip"}
        out.append((chip, _evidence(rest, f"chips[{i}]", _RTT_EVIDENCE_KEYS)))
    return out


def parse_statement(payload: bytes) -> LocationStatement | UsageStatement | RttStatement | EvidenceStatement:
    """Parse verified payload bytes into a typed statement, or raise malformed_statement."""
    obj = strict_json_loads(payload, code="malformed_statement")
    kind = obj.get("kind")
    if type(kind) is not str or kind not in _FIELDS:
        raise _bad(f"kind: must be one of {', '.join(KINDS)}")
    required, optional = _FIELDS[kind]
    missing = required - obj.keys()
    if missing:
        raise _bad(f"{sorted(missing)[0]}: missing")
    unknown = obj.keys() - required - optional
    if unknown:
        raise _bad(f"{sorted(unknown)[0][:80]}: unknown member for a {kind} statement")
    v = obj["v"]
    if type(v) is not int or v != 1:
        raise _bad("v: must be 1")
    issued_at = _time(obj, "issued_at")
    nonce = obj["nonce"]
    if type(nonce) is not str or not NONCE_RE.fullmatch(nonce):
        raise _bad("nonce: must be 32 to 64 lowercase hex characters")

    if kind == "location":
        operator, facility = _code(obj, "operator"), _code(obj, "facility")
        observed_at = _time(obj, "observed_at")
        if observed_at > issued_at:
            raise _bad("observed_at: must not be after issued_at")
        scope = obj["scope"]
        if type(scope) is not str or scope not in SCOPES:
            raise _bad(f"scope: must be one of {', '.join(SCOPES)}")
        chips = _location_chips(_chips_array(obj, allow_empty=scope == "complete"), consume=True)
        return LocationStatement(v, kind, issued_at, nonce, operator, facility, observed_at, scope, chips)

    if kind == "usage":
        operator, facility = _code(obj, "operator"), _code(obj, "facility")
        start, end = _time(obj, "period_start"), _time(obj, "period_end")
        if end <= start:
            raise _bad("period_end: must be after period_start")
        if end - start > MAX_USAGE_PERIOD:
            raise _bad("period_end: the period may be at most 31 days long")
        if end > issued_at:
            raise _bad("period_end: must not be after issued_at")
        workload = obj.get("workload")
        if "workload" in obj and (type(workload) is not str or workload not in WORKLOADS):
            raise _bad(f"workload: must be one of {', '.join(WORKLOADS)}")
        run = _code(obj, "run") if "run" in obj else None
        chips_u = _usage_chips(_chips_array(obj, allow_empty=False), (end - start).total_seconds())
        return UsageStatement(v, kind, issued_at, nonce, operator, facility, start, end, chips_u, workload, run)

    if kind == "evidence":
        operator, facility = _code(obj, "operator"), _code(obj, "facility")
        observed_at = _time(obj, "observed_at")
        if observed_at > issued_at:
            raise _bad("observed_at: must not be after issued_at")
        challenge = _challenge(obj)
        return EvidenceStatement(
            v, kind, issued_at, nonce, operator, facility, observed_at, challenge, _evidence_chips(obj)
        )

    landmark, facility = _code(obj, "landmark"), _code(obj, "facility")
    chip = _chip(obj["chip"], "chip")
    measured_at = _time(obj, "measured_at")
    if measured_at > issued_at:
        raise _bad("measured_at: must not be after issued_at")
    rtt_ms = _number(obj["rtt_ms"], "rtt_ms")
    if not 0 < rtt_ms <= MAX_RTT_MS:
        raise _bad(f"rtt_ms: must be > 0 and at most {MAX_RTT_MS:g}")
    if ("challenge" in obj) != ("evidence" in obj):
        raise _bad("challenge, evidence: go together (HARDWARE.md 6)")
    if "evidence" not in obj:
        return RttStatement(v, kind, issued_at, nonce, landmark, facility, chip, measured_at, rtt_ms)
    evidence = _evidence(obj["evidence"], "evidence", _RTT_EVIDENCE_KEYS)
    return RttStatement(
        v, kind, issued_at, nonce, landmark, facility, chip, measured_at, rtt_ms, _challenge(obj), evidence
    )


def _as_timedelta(value: timedelta | float | int, name: str) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=value)
    raise TypeError(f"{name} must be a timedelta or seconds")


def check_freshness(
    issued_at: datetime, now: datetime, max_future: timedelta | float, max_age: timedelta | float
) -> None:
    """Check 6: issued_at at most `max_future` ahead of `now` and at most `max_age` old.

    Both limits are inclusive ("at most"). Raises future_statement / stale_statement.
    """
    if issued_at.tzinfo is None or now.tzinfo is None:
        raise ValueError("aware datetimes are required")
    ahead = _as_timedelta(max_future, "max_future")
    age = _as_timedelta(max_age, "max_age")
    if issued_at > now + ahead:
        raise ProtocolError("future_statement", f"issued_at is more than {ahead} ahead of the registry's clock")
    if issued_at < now - age:
        raise ProtocolError("stale_statement", f"issued_at is more than {age} old")
