"""Lists of chips as people send them (JSON or CSV), resolved to registry rows in bulk."""

import csv
import io

from core import beside
from core.errors import Invalid, TooLarge
from inventory.storage import chips_of_maker
from protocol.serials import normalize_chip_id
from registry import chip_writes

LOOKUP_CHUNK = 100_000  # ids per round trip: one array parameter each
# ids per round trip of resolve_in_chunks: its caller works on each chunk while the next is looked up, so the first
# lookup is all it waits for (each is about as long as the COPY of the chunk's rows it runs beside).
STREAM_CHUNK = 10_000


def parse_listing(entries, max_rows):
    """[(row, chip_id, cluster_code|None)] from strings or {"chip", "cluster"} objects.

    A malformed entry or a chip listed twice is a 400 naming the row; a
    well-formed chip id the registry does not know is NOT an error here
    (it becomes an `unknown_chip` finding).
    """
    if not isinstance(entries, list):
        raise Invalid("The chips must be a list.")
    if len(entries) > max_rows:
        raise TooLarge(f"At most {max_rows} chips per listing; this one has {len(entries)}.", code="too_many_rows")
    out, seen = [], {}
    for row, entry in enumerate(entries, start=1):
        cluster = None
        if isinstance(entry, dict):
            unknown = entry.keys() - {"chip", "cluster"}
            if unknown:
                _bad(row, f"unknown field {sorted(unknown)[0]!r}")
            cluster = entry.get("cluster")
            if cluster is not None and (not isinstance(cluster, str) or not cluster):
                _bad(row, "cluster must be a non-empty string")
            entry = entry.get("chip")
        if not isinstance(entry, str):
            _bad(row, "a chip id string is required")
        try:
            chip_id = normalize_chip_id(entry)
        except ValueError as exc:
            _bad(row, getattr(exc, "detail", None) or str(exc))
        if chip_id in seen:
            _bad(row, f"{chip_id} is listed twice (first at row {seen[chip_id]})")
        seen[chip_id] = row
        out.append((row, chip_id, cluster))
    return out


def parse_csv_listing(data, max_rows):
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise Invalid("The CSV is not UTF-8.", code="malformed_csv") from None
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip() for h in reader.fieldnames or []]
        if "chip" not in header:
            raise Invalid(
                "The CSV needs a header row with a 'chip' column (and optionally 'cluster').", code="malformed_csv"
            )
        entries = []
        for record in reader:
            if None in record:
                raise Invalid(f"Line {reader.line_num} has more fields than the header.", code="malformed_csv")
            record = {k.strip(): (v or "").strip() for k, v in record.items()}
            entry = {"chip": record.get("chip", "")}
            if record.get("cluster"):
                entry["cluster"] = record["cluster"]
            extra = set(record) - {"chip", "cluster"}
            if extra:
                raise Invalid(f"Unknown column(s): {', '.join(sorted(extra))}.", code="malformed_csv")
            entries.append(entry)
    except csv.Error as exc:
        raise Invalid(f"Malformed CSV at line {reader.line_num}: {exc}", code="malformed_csv") from None
    return parse_listing(entries, max_rows)


def _bad(row, message):
    raise Invalid(f"Row {row}: {message}", code="invalid_rows", errors=[{"row": row, "message": message}])


def resolve_chips(chip_ids):
    """{chip_id: Chip-like tuple (pk, custodian_id, status, country)} for the registered ones.

    The ids must be normalised already (parse_listing and the statement
    parser guarantee it): they are split, not validated again, and looked up
    as they are, so a stray spelling simply is not found. The answer's keys
    are the caller's own id strings, and the ids are looked up a chunk at a
    time, so a million-chip statement holds no second copy of its ids.
    """
    chip_ids = chip_ids if isinstance(chip_ids, list) else list(chip_ids)
    found = {}
    # Custodians, statuses and countries repeat across a million rows: one object each, not one per row.
    shared = {}
    for start in range(0, len(chip_ids), LOOKUP_CHUNK):
        _resolve_chunk(chip_ids[start : start + LOOKUP_CHUNK], shared, found)
    return found


def resolve_in_chunks(chip_ids, beside_ok=False):
    """resolve_chips a chunk of STREAM_CHUNK ids at a time, as a context manager to iterate: (the chunk's ids,
    what was found of them) in the ids' order.

    `beside_ok`: the caller's transaction has written no chip rows, so the chunks may be looked up ahead of it
    on a second connection, which sees only committed rows (core.beside), while the caller uses each (a big
    statement COPYs a chunk's sightings while the next is looked up). A statement resolving its chips before it
    takes the log's lock may: it reads again, under the lock, those whose custody or status changed since."""
    chunks = [chip_ids[start : start + STREAM_CHUNK] for start in range(0, len(chip_ids), STREAM_CHUNK)]
    shared = {}  # as resolve_chips': taken by one connection at a time (core.beside hands over, never shares)

    def resolve(chunk):
        return chunk, _resolve_chunk(chunk, shared, {})

    return beside.stream(resolve, chunks, beside=beside_ok and len(chunks) > 1)


def _resolve_chunk(chip_ids, shared, found):
    """Look one chunk of ids up into `found` (returned)."""
    by_maker = {}  # manufacturer code -> {serial: the caller's chip id}
    for chip_id in chip_ids:
        maker, _, serial = chip_id.partition(":")
        by_maker.setdefault(maker, {})[serial] = chip_id
    for maker, refs in by_maker.items():
        for pk, serial, custodian_id, status, country in chips_of_maker(maker, list(refs)):
            found[refs[serial]] = (
                pk,
                shared.setdefault(custodian_id, custodian_id),
                shared.setdefault(status, status),
                shared.setdefault(country, country),
            )
    return found


def resolve_clusters(facility, codes):
    from inventory.models import Cluster

    codes = {c for c in codes if c}
    clusters = dict(Cluster.objects.filter(facility=facility, code__in=codes).values_list("code", "pk"))
    missing = sorted(codes - clusters.keys())
    if missing:
        raise Invalid(
            f"No cluster {', '.join(missing[:5])} in facility {facility.code}; declare it first.",
            code="unknown_cluster",
        )
    return clusters


def refresh(found, now):
    """Take `now` ({pk: (custodian_id, status, country)}) into `found` (resolve_chips' answer) for the chips it
    names. Returns how many changed."""
    if not now:
        return 0
    changed = 0
    for ref, info in found.items():  # only values are replaced: the dict's size does not change
        fresh = now.get(info[0])
        if fresh is not None and fresh != info[1:]:
            found[ref] = (info[0], *fresh)
            changed += 1
    return changed


def as_logged(found, mark, end):
    """`found` (resolve_chips' answer, read when the log had `mark` entries: read the size first) as the chips
    are at entry `end`, for a caller that holds the log's lock there: those whose custody or status changed
    under an entry logged in between (a receipt, a shipment, a loss report) are read again. Whose a chip is and
    whether it is lost decide what a listing of it means (findings, sightings of lost chips, placements).
    Returns how many changed."""
    return refresh(found, chip_writes.changed_between(mark, end))
