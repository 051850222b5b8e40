"""Location statements: sightings, movement findings, placements, chips' last verification.

Three sizes, three paths, one engine:
- a node agent's (a small partial statement, many a second across a fleet): its row, nonces, chips
  and sightings in one round trip before the log's append (storage.ingest.insert_location), its row
  with the log index, its chips' last verification and the reads movement and placements need in
  one after it (storage.ingest.after_append);
- a small complete one: the same first round trip; its movement, declaration, placements and chips'
  last verification in the request, after the append;
- a big one (more than FOLD_INLINE_MAX chips): chips resolved and sightings COPYed in the request;
  its movement findings and placements (and a complete one's declaration and reconciliation) come
  after the commit, from the statement as stored, by the `statement.book` task (apply_book), and its
  chips' last verification is folded in by the `sightings.recorded` task (attestations.verification).
  The statement, its sightings and its log leaf commit before the 201 as always, with both tasks'
  outbox events: they are handed over even if the workers are down at the time.
"""

from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import transaction

from attestations import filing
from attestations import findings as F
from attestations.kinds.resolution import Resolution
from attestations.storage import chips as chip_rows
from attestations.storage import ingest
from core.rawsql import without_jit
from inventory.choices import PlacementSource
from inventory.models import Cluster
from inventory.services.listings import PLACEABLE, record_declaration
from inventory.services.placements import place
from outbox import emit
from outbox.relay import drain_all
from protocol import dsse
from protocol.statements import LocationStatement, parse_statement
from transparency.log import writers_turn

# Statements up to this many chips refresh their chips' last verification in the request (see store).
FOLD_INLINE_MAX = 1000


def small(s):
    """A location statement of a few chips: stored with its sightings in one round trip."""
    return isinstance(s, LocationStatement) and len(s.chips) <= FOLD_INLINE_MAX


def node_agent(s):
    """A small partial location statement: what node agents send; its reads and writes after the
    append go in one round trip (storage.ingest.after_append). Not one another kind derives (an
    evidence statement's verified chips, kinds.evidence): its row is stored before the append."""
    return small(s) and s.scope != "complete" and type(s) is LocationStatement


def deferred(s):
    """A big location statement: its movement findings and its book (placements, a complete one's
    declaration) come after the commit (apply_book); its answer's flags count the findings known at once.

    At 100,000 new chips that book is 100,000 placement rows and index entries, three lookups a chip, and
    as many declaration items: about 1 s of a statement whose verification, chip resolution and sighting
    rows take 0.6 s, all of it under the log's lock; and the movement check reads every sighting of every
    chip near the time (4 to 6 s of a million-chip re-attestation). ATTESTATION.md section 6 says which
    flags a big statement's answer carries."""
    return type(s) is LocationStatement and not small(s)


def verification_resolution():
    """How much older a chip's last verification must be before a small statement moves it."""
    return timedelta(seconds=settings.CHIPREG_VERIFICATION_RESOLUTION_S)


def insert(att, s, body):
    """Before the log's append, for a small statement: its row (unless a node agent's: that waits for
    its log index, after_append), nonces, chips and sightings in one round trip. The Resolution."""
    found = ingest.insert_location(att, body, s.chips, with_row=not node_agent(s))
    return Resolution(s.chip_ids, found=found)


def prepare(att, s):
    """Before the log's append, for a big statement (its row stored): resolve the chips and COPY the
    sightings. The Resolution."""
    without_jit()  # for the rest of its transaction: see core.rawsql
    chips = Resolution(s.chip_ids)
    ingest.copy_sightings(
        att.pk,
        att.facility_id,
        s.observed_at,
        (
            (info[0] if info is not None else None, ref, cluster)
            for (ref, cluster), info in zip(s.chips, chips.values(), strict=True)
        ),
    )
    return chips


def store(att, s, v, user, chips, body, read=None, refreshed=False):
    """After the log's append: the findings (movement and those of a complete statement's declaration),
    the placements and the chips' last verification; a big statement's findings of ownership only, the rest
    handed to apply_book.

    A caller that read the chips' other places and open placements already passes them as `read`
    (ingest.evidence_after_append's answer), and one that moved their last verification itself says `refreshed`
    (kinds.evidence: with their hardware verification, in one UPDATE)."""
    facility = v.facility
    found = F.ownership(att.pk, chips, v.speaker)
    speaker = v.speaker.pk
    if read is not None:
        elsewhere, open_rows = read
    elif node_agent(s):
        elsewhere, open_rows = ingest.after_append(
            att,
            body,
            facility.pk,
            s.observed_at,
            F.movement_window(),
            [pk for _, pk in chips.known()],
            chips.own(speaker),
            s.observed_at - verification_resolution(),
        )
    else:
        elsewhere = open_rows = None
    if deferred(s):
        # Its movement findings and its book after the commit (apply_book). Emitted in this order, so that
        # the relay hands the book to the workers before the fold.
        emit("statement.book", attestation=att.pk)
        emit("sightings.recorded", attestation=att.pk)
        return found
    found += F.movement(att.pk, facility, s.observed_at, chips.known(), elsewhere=elsewhere)
    _book(att, s, facility, v.speaker, user, chips, v.clusters, open_rows)
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


def _book(att, s, facility, speaker, user, chips, clusters=None, open_rows=None, each=None):
    """What the statement changes in the registry's book: a complete one is a declaration (it moves
    placements and leaves what it omits unaccounted for: its findings come from there); a partial one
    places the speaker's listed chips. `each`: as for placements.place (apply_book's)."""
    registered = chips.found
    if s.scope == "complete":
        codes = set(Cluster.objects.filter(facility=facility).values_list("code", flat=True))
        listing = [(i, ref, cluster if cluster in codes else None) for i, (ref, cluster) in enumerate(s.chips, 1)]
        record_declaration(
            user,
            facility,
            s.observed_at,
            listing,
            attestation_id=str(att.pk),
            log_index=att.log_index,
            resolved=registered,
            each=each,
        )
        return
    if clusters is None:
        clusters = dict(Cluster.objects.filter(facility=facility).values_list("code", "pk"))
    placeable = (
        (info[0], clusters.get(cluster))
        for ref, cluster in s.chips
        if (info := registered.get(ref)) is not None and info[1] == speaker.pk and info[2] in PLACEABLE
    )
    place(
        placeable,
        facility,
        s.observed_at,
        PlacementSource.ATTESTATION,
        att.pk,
        att.log_index,
        open_rows=open_rows,
        each=each,
    )


def apply_book(attestation_id):
    """The `statement.book` task: a big statement's movement findings and placements (and a complete one's
    declaration and reconciliation), from the statement as stored, after its commit.

    Its movement findings (two places at once, impossible travel) are filed as the request files findings
    (attestations.filing). Its chips are resolved again, now: a chip handed to another party since is not
    placed on the speaker's word. Each chunk of placements waits its turn among the log's writers in a
    transaction of its own (transparency.log.writers_turn), so node agents' statements are not held up for
    the whole statement, and placements are written one writer at a time, as in a request. Redelivery is
    safe: a chip already placed there is left alone, a stored declaration is kept, and a finding raised from
    the same source is not repeated."""
    from attestations.models import Attestation

    att = Attestation.objects.select_related("facility", "operator", "uploaded_by").get(pk=attestation_id)
    envelope = dsse.parse_envelope(bytes(att.envelope), settings.CHIPREG_ATTESTATION_MAX_PAYLOAD)
    s = parse_statement(envelope.payload)
    facility, speaker = att.facility, att.operator
    chips = Resolution(s.chip_ids)
    with transaction.atomic():
        without_jit()  # for these lookups, as in the request (core.rawsql)
        found = F.movement(att.pk, facility, s.observed_at, chips.known())
        filing.file(found, chips, att, speaker, facility)
    _book(att, s, facility, speaker, att.uploaded_by, chips, each=_chunk)


@contextmanager
def _chunk():
    """One chunk of the book's placements: its own transaction, in its turn among the log's writers; once it
    has committed, its outbox events go to their workers at once (this task is the relay's worker's, and
    the relay's own task would wait for the rest of the book)."""
    with writers_turn():
        yield
    drain_all()
