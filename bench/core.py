"""The benchmark framework: results, the run context, the bench database, reports.

Every figure is reported beside a raw baseline measured in the same run on
the same machine, as a ratio; the targets are ratios (or database times), never
absolute wall-clock numbers, so a noisy or slow machine moves value and
baseline together.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
# CHIPREG_BENCH_DB lets two runs (say, two checkouts) share one server without dropping each other's database.
BENCH_DB_NAME = os.environ.get("CHIPREG_BENCH_DB", "chipreg_bench")


@dataclass
class Result:
    figure: str
    value: float | None
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    ratio: float | None = None
    target: str = ""
    passed: bool | None = None
    notes: str = ""
    bench: str = ""  # filled in by the runner: the module's NAME

    def __post_init__(self):
        if self.ratio is None and self.value is not None and self.baseline:
            self.ratio = self.value / self.baseline


@dataclass
class Context:
    """What a benchmark gets: the mode, sizes, and where things are."""

    quick: bool = False
    scale: bool = False
    profile: bool = False
    seed: int = 20240601
    db_url: str = ""  # the bench database (DATABASE_URL inside this process)
    var_dir: Path = REPO_ROOT / "var"
    repo_root: Path = REPO_ROOT
    results_dir: Path = RESULTS_DIR
    meta: dict = field(default_factory=dict)  # each bench may add its parameters here

    def size(self, normal, quick, scale=None):
        """Pick a size for the mode: --quick, --scale, or the default run."""
        if self.quick:
            return quick
        if self.scale and scale is not None:
            return scale
        return normal

    def say(self, message):
        print(f"  [{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- small measuring helpers ---------------------------------------------------


class Stopwatch:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        return False


def best_seconds(work, runs=3):
    """The fastest of `runs` timed calls of work() (the others were slowed by something else)."""
    best = None
    for _ in range(runs):
        with Stopwatch() as clock:
            work()
        best = clock.seconds if best is None else min(best, clock.seconds)
    return best


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def peak_rss_mib(pid):
    """VmHWM (peak resident set) of a process in MiB, or None when unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def reset_peak_rss(pid):
    """Reset VmHWM (Linux: write 5 to clear_refs); False when not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def process_tree(pid):
    """A process and its descendants (gunicorn's and Celery's workers are children of their master)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += child_pids(p)
    return found


def cpu_seconds(pids):
    """User + system CPU seconds the processes have used so far (those that exited count 0)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def postgres_pids():
    """Every PostgreSQL server process on this machine (the postmaster's backends included)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def machine_cpu():
    """(busy, total) clock ticks of every CPU so far (/proc/stat): how busy the whole machine was."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def wait_until_quiet(quiet_s=2.0, busy_share=0.1, timeout=600):
    """Wait until the whole machine was under `busy_share` busy over `quiet_s`; seconds waited.

    Machine-wide, not per process: the work left behind (a compliance evaluation's parallel
    query workers, a vacuum) runs in processes that come and go between two looks."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        busy0, total0 = machine_cpu()
        time.sleep(quiet_s)
        busy1, total1 = machine_cpu()
        if total1 > total0 and (busy1 - busy0) / (total1 - total0) < busy_share:
            break
    return time.monotonic() - started


def child_pids(pid):
    """Direct children of a process, from /proc (no psutil)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(x) for x in children.read_text().split()]
    except OSError:
        pass
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


# --- the bench database -------------------------------------------------------


def is_postgres_url(url):
    return bool(url) and urlsplit(url).scheme in ("postgres", "postgresql", "pgsql")


def with_database(url, name):
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def libpq_url(url):
    """psycopg accepts postgres:// and postgresql:// URIs; dj-database-url's pgsql:// it does not."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, parts.fragment))


def recreate_database(url, name=BENCH_DB_NAME):
    """Drop (if it exists) and create `name` on the server of `url`; return its URL."""
    import psycopg
    from psycopg import sql

    admin = libpq_url(with_database(url, "postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_database(url, name)


def hold_run_lock(url, name=BENCH_DB_NAME):
    """Take a session advisory lock for the whole run, so two runs never drop each other's database.

    Returns the connection that holds it (keep it open), or None when another run holds it.
    """
    import psycopg

    conn = psycopg.connect(libpq_url(with_database(url, "postgres")), autocommit=True)
    (got,) = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [f"chipreg-bench:{name}"]).fetchone()
    if not got:
        conn.close()
        return None
    return conn


def drop_database(url, name=BENCH_DB_NAME):
    import psycopg
    from psycopg import sql

    admin = libpq_url(with_database(url, "postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def server_facts(url):
    """PostgreSQL version and the settings that move bulk-write numbers."""
    import psycopg

    names = ("shared_buffers", "synchronous_commit", "fsync", "max_wal_size", "work_mem", "wal_level")
    with psycopg.connect(libpq_url(url)) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        rows = conn.execute(
            "SELECT name, setting, coalesce(unit, '') FROM pg_settings WHERE name = ANY(%s)", [list(names)]
        ).fetchall()
    return {"postgresql": version, **{name: f"{setting}{(' ' + unit) if unit else ''}" for name, setting, unit in rows}}


def run_facts():
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "commit": commit,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": load,
    }


# --- reports -------------------------------------------------------------------


def fmt_number(value, unit=""):
    if value is None:
        return "–"
    if isinstance(value, float) and not value.is_integer() and abs(value) < 100:
        text = f"{value:,.2f}"
    else:
        text = f"{value:,.0f}"
    return f"{text} {unit}".strip()


def fmt_ratio(ratio):
    return "–" if ratio is None else f"{ratio:.3f}"


def fmt_pass(passed):
    return {True: "PASS", False: "FAIL", None: "info"}[passed]


def print_table(results, title):
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for name, justify in (
        ("bench", "left"),
        ("figure", "left"),
        ("value", "right"),
        ("baseline", "right"),
        ("ratio", "right"),
        ("target", "left"),
        ("result", "center"),
    ):
        table.add_column(name, justify=justify)
    styles = {True: "bold green", False: "bold red", None: "dim"}
    for r in results:
        baseline = fmt_number(r.baseline, r.unit) if r.baseline is not None else "–"
        if r.baseline_label and r.baseline is not None:
            baseline = f"{baseline} ({r.baseline_label})"
        table.add_row(
            r.bench,
            r.figure,
            fmt_number(r.value, r.unit),
            baseline,
            fmt_ratio(r.ratio),
            r.target or "–",
            f"[{styles[r.passed]}]{fmt_pass(r.passed)}[/]",
        )
    Console(width=200).print(table)


def markdown_table(results, meta):
    lines = [
        f"Benchmarks ({meta.get('mode', '')} run, {meta.get('finished_at', '')}, commit {meta.get('commit') or '?'}, "
        f"PostgreSQL {meta.get('server', {}).get('postgresql', '?')}, {meta.get('cpus')} CPUs).",
    ]
    runs = {
        name: bench
        for name, bench in meta.get("benches", {}).items()
        if bench.get("commit") or bench.get("finished_at")
    }
    if runs:
        # A merged report (see merge_previous): say which run each bench's rows come from.
        lines += ["", "Each bench's rows come from its latest run:", ""]
        lines += [
            f"- {name}: commit {bench.get('commit') or '?'}, finished {bench.get('finished_at') or '?'}, "
            f"{bench.get('seconds', '?')} s"
            for name, bench in runs.items()
        ]
    lines += [
        "",
        "| bench | figure | value | baseline | ratio | target | result |",
        "|---|---|---:|---|---:|---|:---:|",
    ]
    for r in results:
        baseline = "–"
        if r.baseline is not None:
            baseline = fmt_number(r.baseline, r.unit) + (f" ({r.baseline_label})" if r.baseline_label else "")
        cells = [
            r.bench,
            r.figure,
            fmt_number(r.value, r.unit),
            baseline,
            fmt_ratio(r.ratio),
            r.target or "–",
            fmt_pass(r.passed),
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    notes = [r for r in results if r.notes]
    if notes:
        lines += ["", "Notes:", ""]
        lines += [f"- **{r.bench} / {r.figure}**: {r.notes}" for r in notes]
    return "\n".join(lines) + "\n"


def write_reports(results, meta, results_dir=RESULTS_DIR, stamped=True):
    """latest.json, a timestamped copy, and latest.md; return the paths written.

    A --quick run writes latest-quick.json/.md instead, and a --scale run
    latest-scale.json/.md, so latest.md (which the README quotes) always holds
    full-size runs.
    """
    results_dir.mkdir(parents=True, exist_ok=True)
    # A smoke run and a world-scale run each keep their own report; latest.md holds the full-size runs.
    latest = {"quick": "latest-quick", "scale": "latest-scale"}.get(meta.get("mode"), "latest")
    if stamped:
        results, meta = merge_previous(results, meta, results_dir / f"{latest}.json")
    payload = {"meta": meta, "results": [asdict(r) for r in results]}
    text = json.dumps(payload, indent=2, default=str) + "\n"
    outputs = [(results_dir / f"{latest}.json", text), (results_dir / f"{latest}.md", markdown_table(results, meta))]
    if stamped:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        outputs.append((results_dir / f"{stamp}.json", text))
    for path, content in outputs:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(content)
        tmp.replace(path)
    return [path for path, _ in outputs]


def merge_previous(results, meta, previous_path):
    """Keep the previous report's rows for the benches this run did not run (`--only`).

    Every bench's rows are replaced whole by a new run of it, so a table never
    mixes two runs of one bench; meta["benches"] says which commit and when
    each bench last ran.
    """
    ran = {r.bench for r in results}
    benches = {
        name: {**facts, "commit": meta.get("commit"), "finished_at": meta.get("finished_at")}
        for name, facts in meta.get("benches", {}).items()
    }
    merged_meta = {**meta, "benches": benches}
    if not previous_path.exists():
        return results, merged_meta
    try:
        old_results, old_meta = load_results(previous_path)
    except (ValueError, KeyError, TypeError):
        return results, merged_meta
    if old_meta.get("mode") != meta.get("mode"):
        return results, merged_meta
    kept = [r for r in old_results if r.bench not in ran]
    old_benches = {
        name: {"commit": old_meta.get("commit"), "finished_at": old_meta.get("finished_at"), **facts}
        for name, facts in old_meta.get("benches", {}).items()
        if name not in ran
    }
    merged_meta["benches"] = {**old_benches, **benches}
    order = list(merged_meta["benches"])
    merged = sorted(kept + results, key=lambda r: order.index(r.bench) if r.bench in order else len(order))
    return merged, merged_meta


def load_results(path):
    """(results, meta) from a JSON report written by write_reports."""
    payload = json.loads(Path(path).read_text())
    return [Result(**r) for r in payload["results"]], payload["meta"]


class QueryLog:
    """A Django execute wrapper recording (seconds, sql) of every query (`connection.execute_wrapper`)."""

    def __init__(self):
        self.queries = []

    def __call__(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.queries.append((time.perf_counter() - start, sql))


class ServerProcess:
    """A server the bench starts (`self.command` in `self.cwd` with `self.env`), its output in `self.log_path`.

    Subclasses set those in __init__ and say in `ready()` when it serves; `with` starts it, waits up to
    `startup_s` for `ready()`, and stops it (SIGTERM, then SIGKILL after 30 s).
    """

    name = "server"
    startup_s = 60
    proc = None

    def ready(self):
        raise NotImplementedError

    def __enter__(self):
        self.log = open(self.log_path, "wb")  # closed in __exit__
        self.proc = subprocess.Popen(
            self.command, cwd=self.cwd, env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + self.startup_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                message = f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}"
                break
            if self.ready():
                return self
            time.sleep(0.2)
        else:
            message = f"{self.name} was not ready within {self.startup_s} s:\n{self.log_tail()}"
        # `with` calls __exit__ only once __enter__ returned: a server that never became ready is stopped
        # here, or it outlives the bench (a worker left listening on a private broker).
        self.__exit__(None, None, None)
        raise RuntimeError(message)

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return False

    def log_tail(self, chars=3000):
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""
