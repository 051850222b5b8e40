"""Evidence statements (HARDWARE.md 2 and 5): chips that sign for themselves.

The envelope and the challenge were checked like every statement's (attestations.checks), and each
chip's evidence was verified there, before the statement's transaction and the log's lock
(attestations.hardware). What is left is the registry's side, in log order:

- per chip, what its evidence says against the device identities enrolled: a problem is a finding,
  never a refusal (the operator may be the one lying, and the record is the point): evidence_invalid
  (the detail names the failed check), evidence_stale, identity_mismatch, identity_duplicate, and
  identity_enrolled (informational) when a custodian's first verified evidence enrols the chip's
  identity on its word (trust on first use);
- one ChipEvidence row per chip (its evidence history), and `hardware_verified_at` moved forward for
  the speaker's own chips that proved themselves;
- the chips whose evidence verified and whose identity is neither another's nor another chip's are a
  partial location statement, stored by kinds.location: sighted, placed (in the cluster they are
  placed in already: evidence names no cluster), their last verification refreshed, and checked for
  travel and two places. A chip whose identity is mismatched or duplicated is not placed: the chip
  that answered is not shown to be the chip named.

A host's statement of 8 GPUs every few minutes is a node agent's hot path: before the append, its id,
nonces, chips and challenge go in one round trip (insert); after it, its identities are read, and its row,
evidence rows, sightings, chip verification times and the reads that movement and placements need go in
one more (storage.ingest.evidence_after_append).
"""

from django.utils import timezone

from attestations import findings as F
from attestations import hardware
from attestations.kinds import location
from attestations.kinds.resolution import Resolution
from attestations.models import ChipEvidence, EvidenceOutcome
from attestations.storage import ingest
from core.bulk import insert_sql
from inventory.choices import FindingKind
from inventory.models import Cluster
from protocol.statements import LocationStatement
from registry import chip_writes, hardware_identity


class VerifiedChips(LocationStatement):
    """The partial location statement an evidence statement makes of its verified chips."""


def insert(att, s, v, body):
    """Before the log's append, in one round trip: the statement's nonces stored, its id taken, its chips
    resolved (none sighted yet: that depends on their evidence, judged after the append; its row is stored
    with its log index, by store) and its challenge used by it, or the statement is refused (409
    used_challenge: a concurrent statement won it). The chips found."""
    chips = ((ref, None) for ref in s.chip_ids)
    challenge = v.hardware.challenge
    located = ingest.insert_location(
        att, body, chips, with_row=False, sightings=False, challenge=(challenge.pk, timezone.now())
    )
    if not located.won:
        hardware.challenge_lost(challenge)
    return located.found


def _finding(kind, ref, pk, att, note=None):
    d = F._d(kind, ref, pk, att.pk)
    d.note = note
    return d


def _row(att, ref, pk, when, outcome, verified=None, error=None, enrolled=False):
    return ChipEvidence(
        attestation_id=att.pk,
        chip_id=pk,
        chip_ref=ref,
        observed_at=when,
        outcome=outcome,
        step=getattr(error, "step", ""),
        detail=(error.detail if error is not None else "")[:2000],
        identity=getattr(verified, "identity", ""),
        key_sha256=getattr(verified, "identity_key_sha256", ""),
        fwid=getattr(verified, "fwid", ""),
        driver_version=getattr(verified, "driver_version", "")[:64],
        enrolled=enrolled,
    )


def judge(att, results, chips, speaker, when, now):
    """What each chip's evidence says against the enrolled identities (`now`: the chips and identities as
    they are under the log's lock, hardware_identity.facts_for_evidence): (findings, ChipEvidence rows,
    refs of the chips that are placed, pks of the speaker's chips that proved themselves, TOFU
    enrolments (pk, ChipFacts, identity, key), manufacturer-enrolled identities whose key is learnt (pk, key))."""
    speaker_pk = speaker.pk
    current, owners = now.enrolled, dict(now.owners)
    found, rows, placed, proved, tofu, learn = [], [], [], [], [], []
    for r in results:
        info = chips.get(r.chip)
        pk = info[0] if info is not None else None
        if info is not None and info[1] != speaker_pk and not _answers_as_enrolled(r, current.get(pk)):
            # Another operator's chip: the speaker's evidence says nothing of it unless the chip itself answered
            # (its enrolled identity). Else it is only the speaker's claim (other_operator, filed with the chips
            # not placed): no finding or history row of the chip's own, or a rival could make any chip it names
            # read as failing its checks, mismatched or a clone of one of its own chips.
            continue
        if r.error is not None:
            kind = FindingKind(r.error.code)
            found.append(_finding(kind, r.chip, pk, att, r.error.detail))
            rows.append(_row(att, r.chip, pk, when, kind.value, error=r.error))
            continue
        ev = r.verified
        if not hardware_identity.carries_vendor(ev.identity, r.chip.partition(":")[0]):
            # Another vendor's device answering for the chip (the id's first part is its maker): never enrolled,
            # placed or proved on it, or a real chip of that vendor would read as a duplicate ever after.
            note = f"the chip answered with device identity {ev.identity}, of another vendor than its maker"
            found.append(_finding(FindingKind.IDENTITY_MISMATCH, r.chip, pk, att, note))
            rows.append(_row(att, r.chip, pk, when, EvidenceOutcome.MISMATCH, ev))
            continue
        have = current.get(pk)
        owner = owners.get(ev.identity)
        if have is not None and have.identity != ev.identity:
            note = "the chip answered with another device identity than the one enrolled for it"
            found.append(_finding(FindingKind.IDENTITY_MISMATCH, r.chip, pk, att, note))
            rows.append(_row(att, r.chip, pk, when, EvidenceOutcome.MISMATCH, ev))
            continue
        if owner is not None and owner != pk:
            note = "the device identity is enrolled for another chip"
            found.append(_finding(FindingKind.IDENTITY_DUPLICATE, r.chip, pk, att, note))
            rows.append(_row(att, r.chip, pk, when, EvidenceOutcome.DUPLICATE, ev))
            continue
        placed.append(r.chip)
        mine = info is not None and info[1] == speaker_pk
        enrol = mine and have is None
        if mine:
            proved.append(pk)
            if enrol:
                facts = hardware_identity.ChipFacts(r.chip, *now.facts[pk])  # as it is under the log's lock
                tofu.append((pk, facts, ev.identity, ev.identity_key_sha256))
                owners[ev.identity] = pk  # a second chip of this statement with it is a duplicate
                note = f"device identity {ev.identity} enrolled on the operator's word (trust on first use)"
                found.append(_finding(FindingKind.IDENTITY_ENROLLED, r.chip, pk, att, note))
            elif not have.key_sha256:
                learn.append((pk, ev.identity_key_sha256))
        rows.append(_row(att, r.chip, pk, when, EvidenceOutcome.VERIFIED, ev, enrolled=enrol))
    return found, rows, placed, proved, tofu, learn


def _answers_as_enrolled(result, have):
    """Whether the evidence verified and names the identity enrolled for its chip."""
    return result.verified is not None and have is not None and have.identity == result.verified.identity


def _clusters(chip_refs, chips, facility, clusters, open_rows):
    """(chip ref, cluster code or None): each placed chip in the cluster it is placed in here already.
    `clusters`: the facility's {code: pk}; `open_rows`: the chips' open placements (ingest.evidence_after_append)."""
    codes = {pk: code for code, pk in clusters.items()}
    here = {chip: codes.get(cluster) for _, chip, fac, cluster, _ in open_rows if fac == facility.pk and cluster}
    return [(ref, here.get(info[0]) if (info := chips.get(ref)) is not None else None) for ref in chip_refs]


def store(att, s, v, user, body, found):
    """After the log's append: findings, enrolments, evidence rows, hardware verification, and the
    verified chips as a partial location statement. `found`: its chips resolved (insert). Returns
    (findings, the statement's chips resolved)."""
    # The chips were resolved before the append; who holds them and where they lie are read again under the
    # log's lock, with their identities: a statement or transfer committed meanwhile may have moved one.
    identities = [r.verified.identity for r in v.hardware.results if r.verified is not None]
    now = hardware_identity.facts_for_evidence((info[0] for info in found.values()), identities)
    chips = Resolution(s.chip_ids, found={ref: (info[0], *now.found[info[0]]) for ref, info in found.items()})
    findings, rows, placed, proved, tofu, learn = judge(att, v.hardware.results, chips, v.speaker, s.observed_at, now)
    hardware_identity.enrol_on_evidence(tofu, v.speaker)  # under the log's lock: enrolments in log order
    hardware_identity.learn_key(learn)
    # In one round trip: the statement's row, stored with its log index; the proved chips' hardware and last
    # verification moved (the proved are the speaker's own placed chips, the ones the location statement's
    # sighting verifies); its evidence rows; the placed chips' sightings, each in the cluster it is placed
    # in here already (evidence names none); and the placed chips' other places and open placements, read
    # once, for their clusters and for the location statement below (movement, placements).
    placed_found = {ref: info for ref in placed if (info := chips.get(ref)) is not None}
    sighted = [(info[0] if (info := chips.get(ref)) is not None else None, ref) for ref in placed]
    moved = chip_writes.proved_sql(proved, s.observed_at, s.observed_at - location.verification_resolution())
    evidence = insert_sql(ChipEvidence, rows, prefix="evidence")
    window = F.movement_window()
    read = ingest.evidence_after_append(att, body, sighted, v.facility.pk, s.observed_at, window, moved, evidence)
    # The chips not placed are still someone's, or nobody's: said as a location statement would.
    placed_set = set(placed)
    findings += F.ownership(att.pk, {ref: info for ref, info in chips.items() if ref not in placed_set}, v.speaker)
    clusters = (
        v.clusters
        if v.clusters is not None
        else dict(Cluster.objects.filter(facility=v.facility).values_list("code", "pk"))
    )
    derived = VerifiedChips(
        s.v,
        "location",
        s.issued_at,
        s.nonce,
        s.operator,
        s.facility,
        s.observed_at,
        "partial",
        _clusters(placed, chips, v.facility, clusters, read[1]),
    )
    sightings = Resolution(derived.chip_ids, found=placed_found)  # sighted above
    findings += location.store(att, derived, v, user, sightings, body, read=read, refreshed=True)
    return findings, chips
