"""Location statements: sightings, movement findings, placements, chips' last verification.

Three sizes, three paths, one engine:
- a node agent's (a small partial statement, many a second across a fleet): its row, nonces, chips
  and sightings in one round trip before the log's append (storage.ingest.insert_location), its row
  with the log index, its chips' last verification and the reads movement and placements need in
  one after it (storage.ingest.after_append);
- a small complete one: the same first round trip, the rest as a big one's, but its chips' last
  verification moved in the request;
- a big one: chips resolved a chunk ahead of their sightings' COPY on a second connection, its movement check
  read in parts on connections of their own beside its placements (core.beside), and the last verification
  folded in after the commit by the `sightings.recorded` task (attestations.verification).
"""

from collections import Counter
from datetime import timedelta
from functools import partial
from itertools import islice

from django.conf import settings
from django.db import transaction

from attestations import findings as F
from attestations.checks import recheck_keys
from attestations.kinds.resolution import Resolution
from attestations.shipments import reported_after
from attestations.storage import chips as chip_rows
from attestations.storage import ingest
from core import beside as core_beside
from core.rawsql import without_jit
from inventory.chiprefs import resolve_in_chunks
from inventory.choices import FindingKind, PlacementSource
from inventory.models import Cluster
from inventory.services.listings import record_declaration
from inventory.services.placements import PLACEABLE, place
from outbox import emit
from protocol.errors import ProtocolError
from protocol.statements import LocationStatement
from registry import chip_writes
from registry.choices import WATCHED_STATUSES
from transparency.log import current_size

# Statements up to this many chips refresh their chips' last verification in the request (see store).
FOLD_INLINE_MAX = 1000
# Statements of this many chips or more read their movement check beside their placements (store), in this many
# parts at once, each on a connection of its own (the check is the longer of the two on two CPUs).
MOVEMENT_BESIDE_MIN = 20_000
MOVEMENT_PARTS = 2


def small(s):
    """A location statement of a few chips: stored with its sightings in one round trip."""
    return isinstance(s, LocationStatement) and len(s.chips) <= FOLD_INLINE_MAX


def node_agent(s):
    """A small partial location statement: what node agents send; its reads and writes after the
    append go in one round trip (storage.ingest.after_append). Not one another kind derives (an
    evidence statement's verified chips, kinds.evidence): its row is stored before the append."""
    return small(s) and s.scope != "complete" and type(s) is LocationStatement


def verification_resolution():
    """How much older a chip's last verification must be before a small statement moves it."""
    return timedelta(seconds=settings.CHIPREG_VERIFICATION_RESOLUTION_S)


def unknown_clusters(attestation_id, s, declared):
    """One finding for the statement when its chips name clusters its facility has not declared (`declared`:
    the facility's codes): the statement is accepted and those chips are placed in no cluster, but a cluster
    the registry has never heard of is for the inspectors to ask about."""
    named = {cluster for _, cluster in s.chips}
    named.discard(None)
    unknown = sorted(named.difference(declared))
    if not unknown:
        return []
    counts = Counter(cluster for _, cluster in s.chips if cluster in unknown)
    note = "names clusters the facility has not declared, its chips placed in no cluster: " + ", ".join(
        f"{code} ({counts[code]} chip{'s' if counts[code] != 1 else ''})" for code in unknown[:20]
    )
    if len(unknown) > 20:
        note += f", and {len(unknown) - 20} more"
    d = F._d(FindingKind.UNKNOWN_CLUSTER, "", None, attestation_id)
    d.note = note
    return [d]


def _in_use_unplaceable(attestation_id, facility, ref, pk, status):
    """A chip its own holder lists in use at a facility while the books say it cannot be in one: in transit (a
    shipment never confirmed would otherwise park chips out of every count while they work) or destroyed (a
    witnessed disposal). As a complete statement's declaration says of it: listed here, not on the books here."""
    d = F._d(FindingKind.UNEXPECTED, ref, pk, attestation_id)
    d.note = f"listed in use at {facility.code} while {status}: its holder's books place it in no facility"
    return d


def insert(att, s, body):
    """Before the log's append, for a small statement: its row (unless a node agent's: that waits for
    its log index, after_append), nonces, chips and sightings in one round trip. The Resolution."""
    located = ingest.insert_location(att, body, s.chips, with_row=not node_agent(s))
    return Resolution(s.chip_ids, found=located.found, mark=located.mark)


def prepare(att, s):
    """Before the log's append, for a big statement (its row stored): resolve the chips and COPY the
    sightings. The Resolution."""
    without_jit()  # for the rest of its transaction: see core.rawsql
    mark = current_size()  # read before the chips: see Resolution.mark
    found, listed = {}, iter(s.chips)
    # A chunk's sightings are COPYed while the next chunk's chips are looked up on a second connection (nothing
    # written to chips yet: inventory.chiprefs.resolve_in_chunks).
    with resolve_in_chunks(s.chip_ids, beside_ok=True) as resolved:
        for ids, part in resolved:
            found.update(part)
            rows = ((part[ref][0] if ref in part else None, ref, cluster) for ref, cluster in islice(listed, len(ids)))
            ingest.copy_sightings(att.pk, att.facility_id, s.observed_at, rows)
    return Resolution(s.chip_ids, found=found, mark=mark)


def store(att, s, v, user, chips, body, read=None, refreshed=False, listed=None):
    """After the log's append: the findings (movement and those of a complete statement's declaration),
    the placements and the chips' last verification.

    A caller that read the chips' other places and open placements already passes them as `read`
    (ingest.evidence_after_append's answer), and one that moved their last verification itself says `refreshed`
    (kinds.evidence: with their hardware verification, in one UPDATE). `listed`: a list a complete statement's
    reconciliation adds its discrepancies to (raised there already; the answer's flags count them).

    The chips were resolved before the log's lock: those whose custody or status changed under an entry
    logged meanwhile (a receipt, a shipment, a loss report) are read again first, so the findings, the
    placements and the last verification go by whose they are and what they are now, in log order. (A caller
    passing `read` resolved them under the lock itself: kinds.evidence.)"""
    facility = v.facility
    speaker, registered = v.speaker.pk, chips.found
    if read is not None:
        elsewhere, open_rows = read
    elif node_agent(s):
        received = att.received_at
        elsewhere, open_rows, changed, stale_keys = ingest.after_append(
            att,
            body,
            facility.pk,
            s.observed_at,
            F.movement_window(),
            [pk for _, pk in chips.known()],
            speaker,
            s.observed_at - verification_resolution(),
            chips.mark,
            (att.keyids, min(s.issued_at, received), max(s.issued_at, received)),
        )
        if stale_keys:  # its keys changed under it (store.recheck_keys for the other kinds): why, in its refusal
            recheck_keys(v)
            raise ProtocolError("revoked_key", "a key that signed this statement was revoked or retired meanwhile")
        chips.refresh(chip_writes.current(changed))
    else:  # its movement's reads and its open placements are read below
        elsewhere = open_rows = None
    # A big statement's movement check reads on connections of its own (in parts) while its placements are decided
    # and written on this one (core.beside): what it reads, other statements' rows, none can commit while this
    # one holds the log's lock, and this statement's own are not among them. Started first: it needs only the
    # chips' keys, and it takes the longest.
    beside = elsewhere is None and len(registered) >= MOVEMENT_BESIDE_MIN
    parts = _movement_parts(att, s, facility, chips, elsewhere, beside)
    with core_beside.run_split(F.movement, parts, beside) as movement:
        if elsewhere is None and chips.mark is not None:
            chips.refresh(chip_writes.changed_between(chips.mark, att.log_index))
        owned = F.ownership(att.pk, chips, v.speaker)
        # Its placements close the chips' placements elsewhere at its time, which the movement check reads: where
        # the read beside gives up and is read here instead, they are undone to read it as beside (and as before
        # them, without a second connection), then written again.
        before = transaction.savepoint() if isinstance(movement, core_beside.Split) else None
        flagged = len(listed) if listed is not None else 0
        found = _placements_and_declaration(att, s, v, user, chips, open_rows, listed)
        if before is not None and movement.read_here():
            transaction.savepoint_rollback(before)
            if listed is not None:
                del listed[flagged:]
            movement.result()  # read here now, before its placements are written again (kept for below)
            found = _placements_and_declaration(att, s, v, user, chips, open_rows, listed)
        elif before is not None:
            transaction.savepoint_commit(before)
    found = owned + movement.result() + found
    if node_agent(s) or refreshed:
        return found  # its chips' last verification moved with after_append's reads, or by the caller
    if small(s):
        # A few rows, updated here (under the log's lock, so in log order and without lock-order
        # deadlocks) rather than costing the workers a relay and a task per statement.
        when = s.observed_at
        chip_rows.refresh_last_verified(chip_rows.seen_at(chips.own(speaker), when, when - verification_resolution()))
    else:
        # The chips' last verification is folded in from the sightings after the commit. Emitted last, so
        # the relay hands the compliance evaluation of the moves above to the workers before this fold.
        emit("sightings.recorded", attestation=att.pk)
    return found


def _movement_parts(att, s, facility, chips, elsewhere, beside):
    """findings.movement's arguments: for a read beside, its chips in MOVEMENT_PARTS parts of whole chunks (each
    read on a connection of its own, in order), else all of them, as one part."""
    if not beside:
        return [(att.pk, facility, s.observed_at, chips.known(), elsewhere)]
    pairs = list(chips.known())
    chunks = -(-len(pairs) // F.CHUNK)
    size = -(-chunks // MOVEMENT_PARTS) * F.CHUNK
    return [(att.pk, facility, s.observed_at, pairs[i : i + size], None) for i in range(0, len(pairs), size)]


def _placements_and_declaration(att, s, v, user, chips, open_rows, listed):
    """store's findings after movement's, and the writes they come with: a complete statement's declaration,
    or a partial one's placements."""
    facility = v.facility
    speaker, registered = v.speaker.pk, chips.found
    own = ((ref, info[0]) for ref, info in registered.items() if info is not None and info[1] == speaker)
    found = F.seen_before_custody(att.pk, facility, s.observed_at, att.received_at, own, v.speaker)
    if s.scope == "complete":
        # A complete statement is a declaration: it moves placements and
        # leaves what it omits unaccounted for (its findings come from there).
        codes = set(Cluster.objects.filter(facility=facility).values_list("code", flat=True))
        found += unknown_clusters(att.pk, s, codes)
        listing = [(i, ref, cluster if cluster in codes else None) for i, (ref, cluster) in enumerate(s.chips, 1)]
        record_declaration(
            user,
            facility,
            s.observed_at,
            listing,
            attestation_id=str(att.pk),
            log_index=att.log_index,
            resolved=chips.found,
            reported=partial(reported_after, facility.operator_id),
            found_into=listed,
        )
    else:
        clusters = (
            v.clusters
            if v.clusters is not None
            else dict(Cluster.objects.filter(facility=facility).values_list("code", "pk"))
        )
        found += unknown_clusters(att.pk, s, clusters)
        unplaceable = []  # the speaker's own chips its books have nowhere to be in use: filled as place() reads

        def placeable():
            for ref, cluster in s.chips:
                info = registered.get(ref)
                if info is None or info[1] != speaker:
                    continue
                if info[2] in PLACEABLE:
                    yield info[0], clusters.get(cluster)
                elif info[2] not in WATCHED_STATUSES:  # (a lost or stolen one seen: lost_chip_sighted)
                    unplaceable.append((ref, info[0], info[2]))

        place(
            placeable(),
            facility,
            s.observed_at,
            PlacementSource.ATTESTATION,
            att.pk,
            att.log_index,
            open_rows=open_rows,
            reported=partial(reported_after, facility.operator_id),
            # No `holder` re-read: `registered` is as the chips are under the log's lock (refreshed above, or
            # resolved under it by the caller passing `read`), and placeable() keeps only the speaker's at a
            # placeable status (tests/attestations/test_resolution_race.py).
        )
        found += [_in_use_unplaceable(att.pk, facility, *row) for row in unplaceable]
    return found
