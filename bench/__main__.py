"""Run the benchmarks: `python -m bench [--quick | --scale] [--only NAME] [--profile]`.

Needs PostgreSQL: DATABASE_URL names the server (scripts/with-services.sh sets
it); the benchmarks run in their own, freshly created database
`chipreg_bench` on that server, never in the one DATABASE_URL names.
"""

import argparse
import importlib
import os
import pkgutil
import sys
import tempfile
import time
import traceback
import warnings
from datetime import UTC, datetime
from pathlib import Path

from bench import core


def discover():
    """{NAME: module} for every bench/bench_*.py, in file-name order."""
    found = {}
    package_dir = Path(__file__).resolve().parent
    for info in sorted(pkgutil.iter_modules([str(package_dir)]), key=lambda i: i.name):
        if info.name.startswith("bench_"):
            module = importlib.import_module(f"bench.{info.name}")
            found[module.NAME] = module
    # The world-scale run (bench/scale.py): selected by --scale, or by --only scale.
    scale = importlib.import_module("bench.scale")
    found[scale.NAME] = scale
    return found


def parse_args(argv, names):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="smoke run with small sizes (20,000 rows)")
    mode.add_argument("--scale", action="store_true", help="world-scale run (10x the default sizes; long)")
    parser.add_argument("--only", action="append", choices=names, metavar="NAME", help=f"run only NAME ({names})")
    parser.add_argument("--profile", action="store_true", help="also cProfile the server-side work, in process")
    parser.add_argument("--keep-db", action="store_true", help=f"keep the {core.BENCH_DB_NAME} database afterwards")
    parser.add_argument("--strict", action="store_true", help="exit 3 when a figure misses its target")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument(
        "--render", type=Path, metavar="JSON", help="rewrite latest.json/.md from a saved report (no run) and exit"
    )
    return parser.parse_args(argv)


def main(argv=None):
    os.chdir(core.REPO_ROOT)
    if str(core.REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(core.REPO_ROOT))
    benches = discover()
    args = parse_args(argv, list(benches))
    if args.render:
        results, meta = core.load_results(args.render)
        core.print_table(results, f"chipreg benchmarks ({meta.get('mode')} run of {meta.get('finished_at')})")
        for path in core.write_reports(results, meta, stamped=False):
            print(f"wrote {path.relative_to(core.REPO_ROOT)}")
        return 0
    if args.list:
        for name, module in benches.items():
            print(f"{name}: {(module.__doc__ or '').strip().splitlines()[0]}")
        return 0

    server_url = os.environ.get("DATABASE_URL", "")
    if not core.is_postgres_url(server_url):
        print(
            "bench: the benchmarks measure PostgreSQL and need DATABASE_URL=postgres://... "
            f"(got {server_url or 'nothing'}). Run `make bench` or `scripts/with-services.sh .venv/bin/python -m bench`.",
            file=sys.stderr,
        )
        return 2

    mode = "quick" if args.quick else "scale" if args.scale else "full"
    selected = args.only or [name for name in benches if name != "scale" or args.scale]
    lock = core.hold_run_lock(server_url)
    if lock is None:
        print(f"bench: another benchmark run is using {core.BENCH_DB_NAME}; try again when it ends.", file=sys.stderr)
        return 2
    var_dir = Path(tempfile.mkdtemp(prefix="chipreg-bench-"))
    print(f"bench: {mode} run of {', '.join(selected)}; database {core.BENCH_DB_NAME}, var dir {var_dir}")
    try:
        db_url = core.recreate_database(server_url)
    except Exception as exc:
        print(f"bench: cannot create the {core.BENCH_DB_NAME} database: {exc}", file=sys.stderr)
        return 2

    # Everything below (this process and the servers it starts) uses the bench
    # database, a fresh log key, and in-process checkpoint signing: no task
    # reaches the shared Redis, whose workers serve other databases.
    os.environ.update(
        {
            "DATABASE_URL": db_url,
            "CHIPREG_VAR_DIR": str(var_dir),
            "CELERY_TASK_ALWAYS_EAGER": "1",
            "DEBUG": "0",
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            # WhiteNoise warns that collectstatic was not run; the benchmarks serve no static files.
            "PYTHONWARNINGS": "ignore:No directory at:UserWarning",
        }
    )
    warnings.filterwarnings("ignore", "No directory at", UserWarning)
    import django
    from django.core.management import call_command

    django.setup()
    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("load_catalog", verbosity=0)

    ctx = core.Context(
        quick=args.quick, scale=args.scale, profile=args.profile, db_url=db_url, var_dir=var_dir, meta={}
    )
    meta = {
        "mode": mode,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **core.run_facts(),
        "server": core.server_facts(db_url),
        "database": core.BENCH_DB_NAME,
        "benches": {},
    }
    results = []
    failed = False
    for name in selected:
        print(f"\n== {name} ==", flush=True)
        bench_started = time.perf_counter()
        ctx.meta = {}
        try:
            bench_results = benches[name].run(ctx)
        except Exception:
            traceback.print_exc()
            failed = True
            bench_results = [core.Result(figure="crashed", value=None, unit="", passed=False, notes="see the log")]
        for r in bench_results:
            r.bench = name
        results += bench_results
        meta["benches"][name] = {"seconds": round(time.perf_counter() - bench_started, 1), **ctx.meta}

    meta["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    meta["seconds"] = round(time.perf_counter() - started, 1)
    print()
    core.print_table(results, f"chipreg benchmarks ({mode} run, {meta['seconds']:.0f} s)")
    for r in results:
        if r.notes:
            print(f"  {r.bench} / {r.figure}: {r.notes}")
    for path in core.write_reports(results, meta):
        print(f"wrote {path.relative_to(core.REPO_ROOT)}")

    from django.db import connections

    connections.close_all()
    if not args.keep_db:
        core.drop_database(server_url)
    lock.close()
    if failed:
        return 1
    missed = [r for r in results if r.passed is False]
    if missed:
        print(f"bench: {len(missed)} figure(s) missed their target.")
    return 3 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
