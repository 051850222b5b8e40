"""Storing an accepted statement whole, in one transaction, logged before the answer: the dispatcher.

The envelope bytes, the statement's header, one row per chip, the placement
moves, the findings and the log leaf commit together or not at all. This module
stores the row and the leaf and files the findings; attestations.kinds stores
what each kind of statement says (location, usage, rtt, evidence), and
attestations.storage holds the SQL.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from attestations import delegations, filing
from attestations.checks import Replay, Verified, recheck_keys
from attestations.kinds import evidence, location, rtt, usage
from attestations.models import Attestation, StatementNonce
from attestations.storage import ingest
from inventory.choices import FindingKind, FindingSource
from inventory.services import watch
from inventory.services.findings import raise_findings
from inventory.services.reconciliation import Discrepancy
from protocol.leaves import attestation_leaf
from protocol.statements import EvidenceStatement, LocationStatement, UsageStatement
from protocol.times import format_time
from transparency.log import append_leaf


@dataclass
class Accepted:
    attestation: Attestation
    flags: dict  # finding kind -> count


def store(verified: Verified, user, body):
    try:
        with transaction.atomic():
            return _store(verified, user, body)
    except IntegrityError as exc:
        # A concurrent submission of the same statement or nonce won the race.
        first = (
            StatementNonce.objects.filter(keyid__in=[k.keyid for k in verified.keys], nonce=verified.statement.nonce)
            .values_list("attestation_id", flat=True)
            .first()
            or Attestation.objects.filter(statement_sha256=verified.statement_sha256)
            .values_list("id", flat=True)
            .first()
        )
        if first is None:
            raise
        raise Replay(first) from exc


def _header(statement):
    # Without its chips (rows of their own) and an RTT statement's evidence bytes (in the envelope).
    fields = {k: getattr(statement, k) for k in statement.__dataclass_fields__ if k not in ("chips", "evidence")}
    return {k: format_time(v) if hasattr(v, "tzinfo") else v for k, v in fields.items()}


def _store(v: Verified, user, body):
    s = v.statement
    if not user.is_superuser and v.speaker is not None and user.organisation_id != v.speaker.pk:
        delegations.hold(user.organisation_id, v.speaker.pk)  # delivered for another: still allowed, to the commit
    # The run a usage statement names, resolved before its row is stored (the row carries it).
    run_id, run_finding = usage.resolve_run(s, v) if isinstance(s, UsageStatement) else (None, None)
    att = Attestation(
        kind=s.kind,
        statement_sha256=v.statement_sha256,
        envelope=bytes(body),
        keyids=[k.keyid for k in v.keys],
        operator=v.speaker if s.kind != "rtt" else None,
        landmark=v.landmark,
        facility=v.facility,
        country=v.facility.country,
        issued_at=s.issued_at,
        nonce=s.nonce,
        header=_header(s),
        scope=getattr(s, "scope", ""),
        observed_at=getattr(s, "observed_at", None) or getattr(s, "measured_at", None),
        period_start=getattr(s, "period_start", None),
        period_end=getattr(s, "period_end", None),
        chip_count=len(s.chips) if hasattr(s, "chips") else 1,
        uploaded_by=user,
        uploaded_by_org=user.organisation,
        received_at=v.received_at or timezone.now(),  # the time the checks judged the keys by
        run_id=run_id,
    )
    if location.small(s):
        # Its nonces, chips and sightings in one round trip, and its row too, except a node agent's.
        prepared = location.insert(att, s, body)
    elif isinstance(s, EvidenceStatement):
        # Its nonces, chips resolved and challenge used (or a 409) in one round trip; its row after the append.
        prepared = evidence.insert(att, s, v, body)
    else:
        ingest.insert_attestation(att, body)
        # Work that depends on no other statement (resolving the chips, writing this
        # statement's own rows) runs before the log's lock; appending takes the lock
        # and holds it to the commit, so everything that reads what other statements
        # wrote (movement, placements) runs after it, in log order.
        prepared = location.prepare(att, s) if isinstance(s, LocationStatement) else None
    # The leaf is appended now so that placements and findings can cite it.
    att.log_index = append_leaf(attestation_leaf(v.envelope.raw_signatures, v.statement_sha256), "attestation")
    if not location.node_agent(s):
        # Its keys as they are under the lock: a revocation or retirement committed since verify() read them
        # (a node agent's in its round trip after the append: kinds.location.store).
        recheck_keys(v)
    if not (location.node_agent(s) or isinstance(s, EvidenceStatement)):
        # A node agent's row and an evidence statement's are stored with their log index, after the append.
        ingest.set_log_index(att.pk, att.log_index)
    # The statement's kind stores the rest: (findings, its chips resolved, or None for a landmark's).
    listed = []  # a complete statement's reconciliation: raised by its declaration, flagged in the answer
    if isinstance(s, LocationStatement):
        found, chips = location.store(att, s, v, user, prepared, body, listed=listed), prepared
    elif isinstance(s, UsageStatement):
        found, chips = usage.store(att, s, v)
    elif isinstance(s, EvidenceStatement):
        found, chips = evidence.store(att, s, v, user, body, prepared)
    else:
        found, chips = rtt.store(att, s, v), None  # a landmark's: its treaty body is entitled to every finding
    own, others = filing.file(found, chips, att, v.speaker, v.facility)
    if chips is not None and isinstance(s, (LocationStatement, EvidenceStatement, UsageStatement)):
        # A lost or stolen chip seen again is a critical finding for its holder of record and both countries'
        # inspectorates; the speaker's answer says nothing of it (inventory.services.watch). So is one reported
        # working after it was reported lost or stolen: its holder hiding it from every count while it works,
        # or another party working a stolen chip.
        worked = isinstance(s, UsageStatement)
        when = s.period_end if worked else s.observed_at
        watch.raise_sightings(
            chips.found,
            source=FindingSource.ATTESTATION,
            source_id=str(att.pk),
            country=v.facility.country,
            when=when,
            log_index=att.log_index,
            reported_before=_latest_work_end(s) if worked else _seen_by_holder_before(s, chips, v.speaker),
        )
    if run_finding is not None:
        own = [*own, _raise_run_finding(run_finding, att, v, filing.cited(att))]
    flags = {}
    for d in own:
        flags[str(d.kind)] = flags.get(str(d.kind), 0) + 1
    # Of a chip registered to another party the speaker learns only that (ownership's one finding a chip).
    for d, _ in others:
        if d.kind == FindingKind.OTHER_OPERATOR:
            flags[str(d.kind)] = flags.get(str(d.kind), 0) + 1
    # A complete statement's chips left unaccounted for (and listed off the books) are the speaker's own findings
    # too (ATTESTATION.md 3.1, 5): one flag each, a finding both paths raised counted once, a chip another party
    # holds only as other_operator above.
    flagged = {(str(d.kind), d.chip_ref) for d in own}
    for d in listed:
        info = chips.found.get(d.chip_ref) if d.chip_pk is not None else None
        if (info is not None and info[1] != v.speaker.pk) or (str(d.kind), d.chip_ref) in flagged:
            continue
        flagged.add((str(d.kind), d.chip_ref))
        flags[str(d.kind)] = flags.get(str(d.kind), 0) + 1
    return Accepted(att, flags)


def _seen_by_holder_before(s, chips, speaker):
    """Of a location or evidence statement: its holder's own sighting of a chip at `observed_at` says nothing of
    the chip after a loss it reported later (a node agent's statements, queued while it was offline, delivered
    after the chip was reported missing: a critical alert for nothing), so only the chips reported lost or stolen
    before `observed_at` are sightings of them; another party's sighting is one whenever it was reported (a
    theft's victim reports it after the thief has the chip). Asked only of the lost or stolen chips, as
    _latest_work_end is."""

    def at(refs):
        found = chips.found
        return {ref: s.observed_at for ref in refs if found.get(ref) is not None and found[ref][1] == speaker.pk}

    return at


def _latest_work_end(s):
    """Of a usage statement: for the chips asked about, the latest its work could have ended had it stopped at
    once (its period's start plus its active seconds, at most the period's end). A chip worked, then stolen, in
    the period of its report is no sighting of its victim's; more work than fits before the report is. Asked
    only of the lost or stolen chips among a statement's (inventory.services.watch), so a big one's are not
    walked otherwise."""

    def at(refs):
        wanted = set(refs)
        return {
            ref: min(s.period_end, s.period_start + timedelta(seconds=max(active_s, 0)))
            for ref, active_s, _, _ in s.chips
            if ref in wanted
        }

    return at


def _raise_run_finding(kind, att, v, evidence):
    """A usage statement's run that does not count, or one the treaty said may not run: a finding for the
    speaker (its facility's inspectorate, the treaty body), naming the run as the statement did. The records
    stay unattributed, except a forbidden run's (runs.services.attribution)."""
    d = Discrepancy(kind, "", None, FindingSource.ATTESTATION, str(att.pk))
    raise_findings([d], facility=v.facility, organisation=att.operator, evidence={**evidence, "run": v.statement.run})
    return d


__all__ = ["Accepted", "Discrepancy", "store"]
