"""Raw NVML samples in a local SQLite file, and usage computed from them.

What is stored is what NVML said, one row per GPU per tick: the cumulative
energy counter (mJ since the driver loaded), GPU utilization (%), power (mW),
plus the boot id and driver version. Nothing is aggregated at collection time,
so a bug in the arithmetic can be fixed and re-run on the same evidence.

Counter epochs. The energy counter restarts from zero when the driver reloads
or the host reboots. Each row carries an `epoch` per GPU: it is the previous
row's epoch, plus one when the counter went down, the boot id changed or the
driver version changed. Deltas are only taken between consecutive rows of the
same epoch, and a negative delta is never counted, so a reset can lose the
energy of one interval but never subtract any.

Usage over [since, until), per GPU, from consecutive samples a -> b:
- the interval's overlap with the period is "covered" when a and b share an
  epoch and b.t - a.t <= 3 × the sampling interval + 1 s: covered time adds to
  `active_s` and weights b's utilization (NVML reports utilization over the
  moments before the reading);
- the energy delta (same epoch, >= 0) counts, pro rata of the overlap, even
  over a longer gap: the counter saw that energy drawn, and hiding it would
  understate usage (the registry flags energy above power limit × active_s);
  a delta above MAX_CHIP_POWER_W (10 kW) over its interval is no chip's: it is a
  glitched counter, counted as a reset, not as energy;
- a utilization outside 0-100 % (or NaN) is unknown; the collector records
  NVML readings out of range as unknown (NULL) in the first place;
- utilization = covered-time-weighted mean of gpu_util / 100;
  energy_j = sum of counted deltas / 1000.
"""

from __future__ import annotations

import contextlib
import itertools
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent import nvml
from agent.errors import AgentError, UsageError
from agent.util import private_file
from protocol.errors import InvalidChipId
from protocol.serials import format_chip_id
from protocol.statements import MAX_CHIP_POWER_W

DEFAULT_MAX_GAP_S = 60.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    gpu TEXT NOT NULL,
    chip TEXT,
    t REAL NOT NULL,
    energy_mj INTEGER,
    gpu_util REAL,
    power_mw INTEGER,
    interval_s REAL,
    epoch INTEGER NOT NULL,
    boot_id TEXT,
    driver TEXT
);
CREATE INDEX IF NOT EXISTS samples_gpu_t ON samples (gpu, t, id);
CREATE TABLE IF NOT EXISTS gpus (
    gpu TEXT PRIMARY KEY,
    chip TEXT,
    name TEXT,
    power_limit_mw INTEGER,
    last_seen REAL
);
"""


@dataclass(frozen=True)
class Sample:
    id: int
    gpu: str
    chip: str | None
    t: float
    energy_mj: int | None
    gpu_util: float | None
    power_mw: int | None
    interval_s: float | None
    epoch: int
    boot_id: str | None
    driver: str | None


_COLUMNS = "id, gpu, chip, t, energy_mj, gpu_util, power_mw, interval_s, epoch, boot_id, driver"
_SELECT = f"SELECT {_COLUMNS} FROM samples WHERE gpu = ? "  # noqa: S608 - constant column list
_INSERT = f"INSERT INTO samples ({_COLUMNS}) VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
_Q_BEFORE = _SELECT + "AND t <= ? ORDER BY t DESC, id DESC LIMIT 1"
_Q_WITHIN = _SELECT + "AND t > ? AND t < ? ORDER BY t, id"
_Q_AFTER = _SELECT + "AND t >= ? ORDER BY t, id LIMIT 1"


@dataclass
class ChipUsage:
    gpu: str
    chip: str | None
    active_s: float
    utilization: float
    energy_j: float
    gap_s: float  # time in the period between samples too far apart (or across a reset)
    resets: int  # counter epochs started within the period


def max_gap_for(interval_s: float | None) -> float:
    if interval_s is None or not interval_s > 0:
        return DEFAULT_MAX_GAP_S
    return 3.0 * interval_s + 1.0


class SampleStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            private_file(self.path)
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
        except (sqlite3.DatabaseError, OSError) as exc:
            raise UsageError(f"cannot open sample database {self.path}: {exc}") from None

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> SampleStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _rows(self, sql: str, args: tuple[Any, ...]) -> list[Sample]:
        return [Sample(*row) for row in self.db.execute(sql, args)]

    def last(self, gpu: str) -> Sample | None:
        rows = self._rows(_SELECT + "ORDER BY t DESC, id DESC LIMIT 1", (gpu,))
        return rows[0] if rows else None

    def _last_energy(self, gpu: str, epoch: int) -> int | None:
        row = self.db.execute(
            "SELECT energy_mj FROM samples WHERE gpu = ? AND epoch = ? AND energy_mj IS NOT NULL "
            "ORDER BY t DESC, id DESC LIMIT 1",
            (gpu, epoch),
        ).fetchone()
        return row[0] if row else None

    def add(
        self,
        gpu: str,
        t: float,
        energy_mj: int | None,
        gpu_util: float | None,
        power_mw: int | None,
        *,
        chip: str | None = None,
        interval_s: float | None = None,
        boot_id: str | None = None,
        driver: str | None = None,
    ) -> int:
        """Record one raw reading; returns its counter epoch (see module doc)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            prev = self.last(gpu)
            if prev is None:
                epoch = 0
            else:
                epoch = prev.epoch
                last_energy = self._last_energy(gpu, prev.epoch)
                if (
                    (boot_id and prev.boot_id and boot_id != prev.boot_id)
                    or (driver and prev.driver and driver != prev.driver)
                    or (energy_mj is not None and last_energy is not None and energy_mj < last_energy)
                ):
                    epoch += 1
            self.db.execute(
                _INSERT,
                (gpu, chip, t, energy_mj, gpu_util, power_mw, interval_s, epoch, boot_id, driver),
            )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return epoch

    def note_gpu(self, gpu: str, chip: str | None, name: str | None, power_limit_mw: int | None, t: float) -> None:
        self.db.execute(
            "INSERT INTO gpus (gpu, chip, name, power_limit_mw, last_seen) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (gpu) DO UPDATE SET chip = excluded.chip, name = excluded.name, "
            "power_limit_mw = excluded.power_limit_mw, last_seen = excluded.last_seen",
            (gpu, chip, name, power_limit_mw, t),
        )

    def gpus(self) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT DISTINCT gpu FROM samples ORDER BY gpu")]

    def count(self) -> int:
        return self.db.execute("SELECT count(*) FROM samples").fetchone()[0]

    def window(self, gpu: str, since: float, until: float) -> list[Sample]:
        """The samples of `gpu` in (since, until) plus the one at or before `since` and at or after `until`."""
        before = self._rows(_Q_BEFORE, (gpu, since))
        within = self._rows(_Q_WITHIN, (gpu, since, until))
        after = self._rows(_Q_AFTER, (gpu, until))
        return before + within + after

    def usage(self, since: float, until: float) -> list[ChipUsage]:
        out = []
        for gpu in self.gpus():
            usage = usage_from_samples(self.window(gpu, since, until), since, until)
            if usage is not None:
                out.append(usage)
        return out


def usage_from_samples(samples: list[Sample], since: float, until: float) -> ChipUsage | None:
    """Usage of one GPU over [since, until) from its samples in time order (see module doc)."""
    if until <= since or len(samples) < 2:
        return None
    active = util_weighted = util_time = energy_mj = gap = 0.0
    resets = 0
    overlapped = False
    chip = None
    for a, b in itertools.pairwise(samples):
        dt = b.t - a.t
        if not dt > 0:
            continue
        lo, hi = max(a.t, since), min(b.t, until)
        if hi <= lo:
            continue
        overlapped = True
        chip = b.chip or a.chip or chip
        overlap = hi - lo
        same_epoch = a.epoch == b.epoch
        if not same_epoch:
            resets += 1
        elif a.energy_mj is not None and b.energy_mj is not None:
            delta = b.energy_mj - a.energy_mj
            if delta > MAX_CHIP_POWER_W * 1000 * dt:  # no chip draws that: a glitched counter, not energy
                resets += 1
            elif delta > 0:
                energy_mj += delta * (overlap / dt)
        if same_epoch and dt <= max_gap_for(b.interval_s):
            active += overlap
            if b.gpu_util is not None and 0 <= b.gpu_util <= 100:  # NaN or out of range: unknown
                util_weighted += b.gpu_util * overlap
                util_time += overlap
        else:
            gap += overlap
    if not overlapped:
        return None
    utilization = min(1.0, max(0.0, util_weighted / util_time / 100.0)) if util_time > 0 else 0.0
    return ChipUsage(samples[-1].gpu, chip, active, utilization, energy_mj / 1000.0, gap, resets)


# --- the collector -----------------------------------------------------------------


def chip_of(serial: str | None) -> str | None:
    if not serial:
        return None
    try:
        return format_chip_id("nvidia", serial)
    except InvalidChipId:
        return None


class Collector:
    """Poll NVML every `interval_s` into a SampleStore, restarting NVML when the driver goes away."""

    def __init__(
        self,
        store: SampleStore,
        interval_s: float,
        lib: Any | None = None,
        clock: Callable[[], float] = time.time,
        warn: Callable[[str], None] | None = None,
    ):
        self.store = store
        self.interval_s = interval_s
        self.lib = lib if lib is not None else nvml.load(instead=None)  # sampling reads NVML or nothing
        self.clock = clock
        self.warn = warn or (lambda msg: print(f"chipreg: warning: {msg}", file=sys.stderr))
        self.devices: list[tuple[Any, str, str | None]] | None = None  # (handle, gpu key, chip)
        self.driver: str | None = None
        self.stop = threading.Event()
        self.samples = 0

    def _start(self) -> None:
        nvml.init(self.lib)
        self.driver = nvml.driver_version(self.lib)
        devices = []
        now = self.clock()
        for i, handle in enumerate(nvml.handles(self.lib)):
            ident = nvml.identity(self.lib, handle)
            chip = chip_of(ident.get("serial"))
            key = ident.get("uuid") or chip or f"index-{i}"
            devices.append((handle, key, chip))
            self.store.note_gpu(key, chip, ident.get("name"), ident.get("power_limit_mw"), now)
        self.devices = devices

    def _restart_later(self, exc: BaseException) -> None:
        self.warn(f"NVML error ({exc}); restarting NVML at the next tick")
        nvml.shutdown(self.lib)
        self.devices = None

    def tick(self, strict: bool = False) -> int:
        """Take one sample of every GPU; returns how many rows were written.

        When NVML cannot start, `strict` raises (a one-shot run); otherwise the
        collector warns and retries at the next tick (the driver may be reloading).
        """
        err = nvml._error_type(self.lib)
        if self.devices is None:
            try:
                self._start()
            except (AgentError, err) as exc:
                nvml.shutdown(self.lib)
                self.devices = None
                if strict:
                    raise exc if isinstance(exc, AgentError) else AgentError(f"NVML error: {exc}") from None
                self.warn(f"NVML unavailable ({exc}); will retry")
                return 0
        boot = nvml.boot_id()
        readings = []
        try:
            for handle, key, chip in self.devices or []:
                readings.append((key, chip, self.clock(), nvml.read(self.lib, handle)))
        except err as exc:
            self._restart_later(exc)
        for key, chip, t, r in readings:
            if r.get("rejected"):
                self.warn(f"GPU {key}: NVML reading(s) out of range, recorded as unknown: {', '.join(r['rejected'])}")
            self.store.add(
                key,
                t,
                r["energy_mj"],
                r["gpu_util"],
                r["power_mw"],
                chip=chip,
                interval_s=self.interval_s,
                boot_id=boot,
                driver=self.driver,
            )
        self.samples += len(readings)
        return len(readings)

    def run(self, once: bool = False, duration_s: float | None = None) -> int:
        start = time.monotonic()
        next_tick = start
        with _stop_on_signals(self.stop):
            try:
                while not self.stop.is_set():
                    self.tick(strict=once)
                    if once:
                        break
                    next_tick += self.interval_s
                    now = time.monotonic()
                    if duration_s is not None and next_tick - start > duration_s + 1e-9:
                        break
                    if next_tick < now:  # fell behind (suspend, slow NVML): do not burst
                        next_tick = now
                    self.stop.wait(next_tick - now)
            finally:
                nvml.shutdown(self.lib)
        return self.samples


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
