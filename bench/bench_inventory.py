"""Reconciling a facility against its listings, and point-in-time placement queries.

Issue: "reconcile one facility of 200,000 chips against a declaration and an
inspection that differ in 1 % of serials; report the time beside a
hand-written SQL query computing the same differences in the same run.
Target: within 3x of the hand-written query. A point-in-time 'what was in
facility F on date D' at 10,000,000 placements answers in under 50 ms of
database time."

- World (bulk SQL, bench/scale.py): one facility with N chips placed in 20
  clusters; a declaration and an inspection of it, each differing from the
  book in 1 % of serials (0.4 % missing, 0.3 % unexpected (chips placed in
  another facility), 0.2 % in another cluster, 0.1 % unknown to the
  registry), in different chips for the two listings.
- Measured: inventory.services.reconciliation.reconcile(facility, at) in
  this process (its queries and the Python that turns rows into
  discrepancies). Baseline: hand-written SQL on the same connection, rows
  fetched: the book count, then per listing one statement of anti-joins
  (missing, unexpected), a filter (unknown) and a join (wrong cluster). Each is run three
  times, interleaved, after one warm-up; the best of each is compared. The
  two answers are checked to be the same set of (kind, chip, source,
  clusters).
- Point in time: P placements of history (chips moving every 180 days among
  many facilities, inserted in time order, plus the reconciled facility) and
  EXPLAIN (ANALYZE, BUFFERS) execution time of the SQL Django runs for
  `Placement.objects.at(D).filter(facility=F)` (first keyset page: ORDER BY id
  LIMIT 100) and for `chip_at` (where was chip X on D), median of 5 runs.
  P is 10,000,000 in the full run, 1,000,000 with --quick.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from bench import scale as world
from bench.core import QueryLog, Result, Stopwatch

NAME = "inventory"
TARGET_RATIO = 3.0
TARGET_DB_MS = 50.0
CLUSTERS = 20
T0 = datetime(2025, 1, 1, tzinfo=UTC)
DECLARED_AT = datetime(2025, 6, 1, tzinfo=UTC)
INSPECTED_AT = datetime(2025, 6, 15, tzinfo=UTC)
AT = datetime(2025, 7, 1, tzinfo=UTC)
HISTORY_START = datetime(2020, 1, 1, tzinfo=UTC)
HISTORY_PERIOD = timedelta(days=180)
HISTORY_STEPS = 10
REC_PREFIX, OTHER_PREFIX, UNKNOWN_PREFIX, HIST_PREFIX = "INVR", "INVX", "INVU", "INVH"

# Which chips differ, per listing (i = the chip's number in the book; residues never overlap).
DIFF = {
    "declaration": {"missing": (250, 0), "wrong": (500, 2), "unexpected_offset": 0},
    "inspection": {"missing": (250, 1), "wrong": (500, 3), "unexpected_offset": 1},
}


# --- the world ------------------------------------------------------------------------


def build_reconciliation_world(ctx, n):
    """The facility, its book, a declaration and an inspection; returns a dict of ids."""
    from registry.choices import OrgKind

    op, op_user, _ = world.make_party("inv-op", OrgKind.OPERATOR, country="US")
    insp, insp_user, _ = world.make_party("inv-insp", OrgKind.INSPECTORATE, jurisdictions=["US"])
    n_unexpected = max(1, n * 3 // 1000)
    n_unknown = max(1, n // 1000)
    with world.bulk(ctx.db_url) as conn, Stopwatch() as clock:
        (facility_id, other_id) = world.insert_facilities(conn, "INV-REC", 2, operator_id=op.id, country="US")
        clusters = world.insert_clusters(conn, [facility_id, other_id], CLUSTERS)
        with world.indexes_dropped(conn, "registry_chip", "inventory_placement", say=ctx.say):
            first, _ = world.insert_chips(conn, REC_PREFIX, 0, n, custodian_id=op.id, country="US")
            other_first, _ = world.insert_chips(
                conn, OTHER_PREFIX, 0, 2 * n_unexpected, custodian_id=op.id, country="US"
            )
            world.place_open(conn, first, n, facility_id, clusters[facility_id], T0)
            world.place_open(conn, other_first, 2 * n_unexpected, other_id, clusters[other_id], T0)
        ids = {"facility": facility_id, "first": first, "n": n}
        declaration_id = conn.execute(
            "INSERT INTO inventory_declaration (as_of, attestation_id, chip_count, created_at, declared_by_id, facility_id)"
            " VALUES (%s, '', 0, now(), %s, %s) RETURNING id",
            [DECLARED_AT, op_user.id, facility_id],
        ).fetchone()[0]
        inspection_id = conn.execute(
            "INSERT INTO inventory_inspection (performed_at, inspectors, seals_checked, notes, observed_count, created_at,"
            " facility_id, inspectorate_id, recorded_by_id) VALUES (%s, '[]', '[]', '', 0, now(), %s, %s, %s) RETURNING id",
            [INSPECTED_AT, facility_id, insp.id, insp_user.id],
        ).fetchone()[0]
        for name, table, parent_col, parent_id in (
            ("declaration", "inventory_declarationitem", "declaration_id", declaration_id),
            ("inspection", "inventory_inspectionitem", "inspection_id", inspection_id),
        ):
            d = DIFF[name]
            (m_mod, m_res), (w_mod, w_res) = d["missing"], d["wrong"]
            common = {
                "parent": parent_id,
                "first": first,
                "n": n,
                "clusters": clusters[facility_id],
                "nc": CLUSTERS,
                "m_mod": m_mod,
                "m_res": m_res,
                "w_mod": w_mod,
                "w_res": w_res,
            }
            # The book's chips, less the missing ones, some in the next cluster.
            conn.execute(
                f"""
                INSERT INTO {table} ({parent_col}, chip_id, chip_ref, cluster_id)
                SELECT %(parent)s, %(first)s + i, 'nvidia:' || %(prefix)s || lpad(i::text, 10, '0'),
                       (%(clusters)s::bigint[])[1 + (i + (i %% %(w_mod)s = %(w_res)s)::int) %% %(nc)s]
                FROM generate_series(0, %(n)s::bigint - 1) AS i
                WHERE i %% %(m_mod)s <> %(m_res)s
                ORDER BY i
                """,
                {**common, "prefix": REC_PREFIX},
            )
            # Chips the book places in the other facility, and refs nobody registered.
            off = d["unexpected_offset"] * n_unexpected
            conn.execute(
                f"""
                INSERT INTO {table} ({parent_col}, chip_id, chip_ref, cluster_id)
                SELECT %(parent)s, %(other_first)s + i, 'nvidia:' || %(prefix)s || lpad(i::text, 10, '0'), NULL
                FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS i
                """,
                {
                    "parent": parent_id,
                    "other_first": other_first,
                    "prefix": OTHER_PREFIX,
                    "lo": off,
                    "hi": off + n_unexpected - 1,
                },
            )
            # Refs no chip has: the listing's chipless items (inventory.models.listings).
            conn.execute(
                f"""
                INSERT INTO {chipless_table(table)} ({parent_col}, chip_ref, cluster_id)
                SELECT %(parent)s, 'nvidia:' || %(prefix)s || lpad(i::text, 10, '0'), NULL
                FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS i
                """,
                {"parent": parent_id, "prefix": UNKNOWN_PREFIX, "lo": off * 1000, "hi": off * 1000 + n_unknown - 1},
            )
            count_table = "inventory_declaration" if name == "declaration" else "inventory_inspection"
            count_col = "chip_count" if name == "declaration" else "observed_count"
            conn.execute(
                f"UPDATE {count_table} SET {count_col} = (SELECT count(*) FROM {table} WHERE {parent_col} = %s)"
                f" + (SELECT count(*) FROM {chipless_table(table)} WHERE {parent_col} = %s) WHERE id = %s",
                [parent_id, parent_id, parent_id],
            )
            ids[name] = parent_id
        world.vacuum_analyze(
            conn,
            "inventory_declarationitem",
            "inventory_inspectionitem",
            chipless_table("inventory_declarationitem"),
            chipless_table("inventory_inspectionitem"),
        )
    ctx.say(f"reconciliation world: {n:,} chips, 2 listings, built in {clock.seconds:.1f} s")
    return ids


def build_history(ctx, placements, first_facility_count):
    """placements / 10 chips, each moving every 180 days among many facilities; inserted in time order."""
    from registry.models import Organisation

    op = Organisation.objects.get(code="inv-op")
    chips = placements // HISTORY_STEPS
    n_fac = first_facility_count
    with world.bulk(ctx.db_url) as conn, Stopwatch() as clock:
        facilities = world.insert_facilities(conn, "INV-HIST", n_fac, operator_id=op.id, country="US", lat=10.0)
        with world.indexes_dropped(conn, "registry_chip", "inventory_placement", say=ctx.say):
            first, _ = world.insert_chips(conn, HIST_PREFIX, 0, chips, custodian_id=op.id, country="US")
            conn.execute(
                """
                INSERT INTO inventory_placement (valid_from, valid_to, source, source_id, chip_id, cluster_id, facility_id)
                SELECT %(start)s + k * %(period)s + (i %% 1440) * interval '1 minute',
                       CASE WHEN k < %(steps)s - 1
                            THEN %(start)s + (k + 1) * %(period)s + (i %% 1440) * interval '1 minute' END,
                       'transfer', 'bench', %(first)s + i, NULL,
                       (%(facilities)s::bigint[])[1 + ((i * 7919 + k * 104729) %% %(nf)s)]
                FROM generate_series(0, %(steps)s::int - 1) AS k, generate_series(0, %(chips)s::bigint - 1) AS i
                ORDER BY k, i
                """,
                {
                    "start": HISTORY_START,
                    "period": HISTORY_PERIOD,
                    "steps": HISTORY_STEPS,
                    "first": first,
                    "facilities": facilities,
                    "nf": n_fac,
                    "chips": chips,
                },
            )
        (total,) = conn.execute("SELECT count(*) FROM inventory_placement").fetchone()
    ctx.say(f"history: {total:,} placements in all, {n_fac:,} facilities, built in {clock.seconds:.1f} s")
    return {"first": first, "chips": chips, "facilities": facilities, "total": total}


# --- reconciliation ----------------------------------------------------------------------

BOOK = "p.facility_id = %(f)s AND p.valid_from <= %(at)s AND (p.valid_to IS NULL OR p.valid_to > %(at)s)"
# One statement per listing: the four kinds of difference, as anti-joins and a join on indexed columns.
BASELINE_SQL = f"""
SELECT 'unaccounted', mf.code || ':' || c.serial, bc.code, NULL
FROM inventory_placement p
JOIN registry_chip c ON c.id = p.chip_id JOIN registry_organisation mf ON mf.id = c.manufacturer_id
LEFT JOIN inventory_cluster bc ON bc.id = p.cluster_id
WHERE {BOOK} AND NOT EXISTS (SELECT 1 FROM {{items}} i WHERE i.{{parent}} = %(l)s AND i.chip_id = p.chip_id)
UNION ALL
SELECT 'unexpected', i.chip_ref, NULL, lc.code
FROM {{items}} i LEFT JOIN inventory_cluster lc ON lc.id = i.cluster_id
WHERE i.{{parent}} = %(l)s AND i.chip_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM inventory_placement p WHERE p.chip_id = i.chip_id AND {BOOK})
UNION ALL
SELECT 'unknown_chip', i.chip_ref, NULL, lc.code
FROM {{chipless}} i LEFT JOIN inventory_cluster lc ON lc.id = i.cluster_id
WHERE i.{{parent}} = %(l)s
UNION ALL
SELECT 'wrong_cluster', i.chip_ref, bc.code, lc.code
FROM {{items}} i JOIN inventory_placement p ON p.chip_id = i.chip_id AND {BOOK}
JOIN inventory_cluster lc ON lc.id = i.cluster_id LEFT JOIN inventory_cluster bc ON bc.id = p.cluster_id
WHERE i.{{parent}} = %(l)s AND p.cluster_id IS DISTINCT FROM i.cluster_id
"""
BOOK_COUNT_SQL = f"SELECT count(*) FROM inventory_placement p WHERE {BOOK}"


def chipless_table(items_table):
    """The table of a listing's refs no chip has, beside its items' ("inventory_declarationitem" ->
    "inventory_chiplessdeclarationitem")."""
    app, _, name = items_table.partition("_")
    return f"{app}_chipless{name}"


LISTINGS = (
    ("declaration", "inventory_declarationitem", "declaration_id"),
    ("inspection", "inventory_inspectionitem", "inspection_id"),
)


def run_baseline(ids):
    from django.db import connection

    rows = []
    with connection.cursor() as cursor:
        cursor.execute(BOOK_COUNT_SQL, {"f": ids["facility"], "at": AT})
        (book,) = cursor.fetchone()
        for name, items, parent in LISTINGS:
            params = {"f": ids["facility"], "at": AT, "l": ids[name]}
            cursor.execute(BASELINE_SQL.format(items=items, chipless=chipless_table(items), parent=parent), params)
            rows += [(kind, name, ref, book_cluster, listed) for kind, ref, book_cluster, listed in cursor.fetchall()]
    return book, rows


def run_reconcile(ids):
    from inventory.models import Facility
    from inventory.services.reconciliation import reconcile

    facility = Facility.objects.get(pk=ids["facility"])
    return reconcile(facility, AT)


def same_answer(result, baseline_rows, ids):
    """The reconciliation's discrepancies equal the baseline's rows (as sets)."""
    from inventory.choices import FindingSource

    names = {FindingSource.DECLARATION: "declaration", FindingSource.INSPECTION: "inspection"}
    mine = {
        (str(d.kind), names.get(d.source, str(d.source)), d.chip_ref, d.book_cluster, d.listed_cluster)
        for d in result.discrepancies
        if str(d.kind) != "never_received"
    }
    theirs = {tuple(r) for r in baseline_rows}
    if mine != theirs:
        raise RuntimeError(
            f"reconcile() and the hand-written SQL disagree: {len(mine)} vs {len(theirs)} discrepancies; "
            f"only in reconcile: {sorted(mine - theirs)[:3]}, only in SQL: {sorted(theirs - mine)[:3]}"
        )
    return len(mine)


def expected_discrepancies(n):
    n_unexpected = max(1, n * 3 // 1000)
    n_unknown = max(1, n // 1000)
    out = 0
    for name in ("declaration", "inspection"):
        (m_mod, m_res), (w_mod, w_res) = DIFF[name]["missing"], DIFF[name]["wrong"]
        missing = len(range(m_res, n, m_mod))
        wrong = sum(1 for i in range(w_res, n, w_mod) if i % m_mod != m_res)
        out += missing + wrong + n_unexpected + n_unknown
    return out


# --- point in time ----------------------------------------------------------------------------


def point_in_time(ctx, ids, history):
    from inventory.models import Placement

    history_at = HISTORY_START + HISTORY_PERIOD * 4.5  # every chip is in its 5th placement
    rng = random.Random(ctx.seed)
    typical = history["facilities"][rng.randrange(len(history["facilities"]))]
    checks = []
    for label, facility_id, when in (
        (f"a facility of {ids['n']:,} chips", ids["facility"], AT),
        (f"a typical facility (1 of {len(history['facilities']):,})", typical, history_at),
    ):
        qs = Placement.objects.at(when).filter(facility_id=facility_id).order_by("id")[:100]
        rows = len(list(qs))
        median, worst, plan = world.explain_ms(qs)
        checks.append((f"facility F on date D, first page of {rows}, {label}", median, worst, plan))
    chip_pk = history["first"] + rng.randrange(history["chips"])
    chip_qs = Placement.objects.at(history_at).filter(chip_id=chip_pk).select_related("facility", "cluster")[:1]
    if len(list(chip_qs)) != 1:
        raise RuntimeError(f"chip {chip_pk} has no placement at {history_at}")
    median, worst, plan = world.explain_ms(chip_qs)
    checks.append(("chip_at: where was chip X on D", median, worst, plan))
    path = ctx.results_dir / "plans_inventory.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(f"-- {label}\n{plan}" for label, _, _, plan in checks) + "\n")
    ctx.say(f"plans written to {path}")
    return checks


# --- the benchmark ---------------------------------------------------------------------------


def run(ctx):
    n = ctx.size(200_000, 20_000, scale=2_000_000)
    placements = ctx.size(10_000_000, 1_000_000, scale=100_000_000)
    n_facilities = ctx.size(1_000, 100, scale=10_000)
    ctx.meta.update({"facility_chips": n, "placements": placements, "history_facilities": n_facilities})

    world.reset_world(ctx.db_url)
    ids = build_reconciliation_world(ctx, n)

    # Warm both paths once, check they agree, then time them interleaved.
    result = run_reconcile(ids)
    book, rows = run_baseline(ids)
    count = same_answer(result, rows, ids)
    if result.book_count != book or book != n or count != expected_discrepancies(n):
        raise RuntimeError(
            f"unexpected answer: book {result.book_count}/{book} (want {n}), "
            f"{count} discrepancies (want {expected_discrepancies(n)})"
        )
    ctx.say(f"reconcile() and the SQL agree: book {book:,}, {count:,} discrepancies")
    rec_s, sql_s = [], []
    for _ in range(3):
        with Stopwatch() as clock:
            run_reconcile(ids)
        rec_s.append(clock.seconds)
        with Stopwatch() as clock:
            run_baseline(ids)
        sql_s.append(clock.seconds)
    ctx.say(f"reconcile {', '.join(f'{s:.2f}' for s in rec_s)} s; SQL {', '.join(f'{s:.2f}' for s in sql_s)} s")
    profile_text = profile_reconcile(ctx, ids) if ctx.profile else ""

    history = build_history(ctx, placements - n - 2 * max(1, n * 3 // 1000), n_facilities)
    checks = point_in_time(ctx, ids, history)
    world.reset_world(ctx.db_url)

    best_rec, best_sql = min(rec_s), min(sql_s)
    results = [
        Result(
            figure=f"reconcile a facility of {n:,} chips vs a declaration + an inspection (1 % differ each)",
            value=best_rec * 1000,
            unit="ms",
            baseline=best_sql * 1000,
            baseline_label="hand-written SQL, same differences",
            target=f"<= {TARGET_RATIO:g}x",
            passed=best_rec / best_sql <= TARGET_RATIO,
            notes=f"{count:,} discrepancies, identical sets; runs (reconcile / SQL): "
            f"{', '.join(f'{s * 1000:,.0f}' for s in rec_s)} / {', '.join(f'{s * 1000:,.0f}' for s in sql_s)} ms, "
            f"best taken; in process (no HTTP){profile_text}",
        )
    ]
    for label, median, worst, _plan in checks:
        results.append(
            Result(
                figure=f"{label}, at {history['total']:,} placements (DB execution time)",
                value=median,
                unit="ms",
                target=f"< {TARGET_DB_MS:g} ms",
                passed=median < TARGET_DB_MS,
                notes=f"EXPLAIN (ANALYZE, BUFFERS) Execution Time, median of 5 (max {worst:.2f} ms); "
                "plans in bench/results/plans_inventory.txt",
            )
        )
    ctx.meta["reconcile_runs_s"] = rec_s
    ctx.meta["baseline_runs_s"] = sql_s
    return results


def profile_reconcile(ctx, ids):
    import cProfile
    import io
    import pstats

    from django.db import connection

    timer = QueryLog()
    profiler = cProfile.Profile()
    with connection.execute_wrapper(timer):
        profiler.enable()
        run_reconcile(ids)
        profiler.disable()
    out = io.StringIO()
    out.write("reconcile() queries, slowest first:\n")
    for seconds, sql in sorted(timer.queries, reverse=True)[:10]:
        out.write(f"{seconds * 1000:9.1f} ms  {sql[:300]}\n")
    stats = pstats.Stats(profiler, stream=out)
    out.write("\n--- top 25 by cumulative ---\n")
    stats.sort_stats("cumulative").print_stats(25)
    path = ctx.results_dir / "profile_inventory.txt"
    path.write_text(out.getvalue())
    ctx.say(f"profile written to {path}")
    db = sum(s for s, _ in timer.queries)
    top = max((s for s, _ in timer.queries), default=0.0)
    return (
        f"; profiled: {len(timer.queries)} queries, {db * 1000:,.0f} ms in the database, slowest {top * 1000:,.0f} ms"
    )
