"""Hardware evidence at the registry (HARDWARE.md): challenges, and verifying chips' evidence.

- Challenges (section 1): issued to an organisation by the API (32 random bytes from the OS), or
  imported by a registry administrator (`manage.py issue_challenge`, a `challenge.imported` event);
  checked with the statement (section 4: unknown, expired, used) after ATTESTATION.md check 6, and
  used by exactly one accepted statement: a conditional UPDATE in the statement's transaction, so of
  two statements racing for one challenge one wins and the other is a 409.
- Verification (section 4) is CPU-bound, so it runs in the checks, before the statement's
  transaction and the log's lock, with one process-wide set of pinned roots and one process-wide
  ChainCache: the vendor intermediates shared by every chip are verified once per process, and a chip
  costs the signatures that are new (its report's, and its own certificates' the first time).
"""

import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from attestations.models import Challenge, LandmarkChallenge, StatementNonce
from core.errors import Forbidden, Invalid
from protocol.errors import ProtocolError
from protocol.hardware import ChainCache, EvidenceError, PinnedRoots, default_roots_folder, verify_evidence
from protocol.statements import EvidenceStatement, RttStatement
from registry.choices import OrgKind
from transparency.events import append_event, register_event_name

register_event_name(
    "challenge.imported",
    "A registry administrator created a challenge with a chosen nonce, to re-verify recorded evidence"
    " (data: nonce, organisation, expires_at, by).",
)

ISSUERS = (OrgKind.OPERATOR, OrgKind.TREATY_BODY)


def pinned_roots():
    """The process's pinned vendor roots, from CHIPREG_HARDWARE_ROOTS (default: protocol's roots folder)."""
    return _roots(str(settings.CHIPREG_HARDWARE_ROOTS or default_roots_folder()))


@cache
def _roots(folder):
    # Read once per process and folder: the roots are files shipped or deployed with the server.
    return PinnedRoots.from_folder(folder)


@cache
def chain_cache():
    """The process's cache of verified certificate links (thread-safe, bounded)."""
    return ChainCache()


def ttl():
    return timedelta(seconds=settings.CHIPREG_CHALLENGE_TTL_S)


# --- challenges -----------------------------------------------------------------------------------


def issue_challenge(user):
    """A fresh challenge for the caller's organisation (an operator or the treaty body)."""
    org = user.organisation
    if org is None or org.kind not in ISSUERS:
        raise Forbidden("Only operators and the treaty body ask for challenges.", code="forbidden")
    return Challenge.objects.create(
        nonce=secrets.token_bytes(32).hex(), organisation=org, expires_at=timezone.now() + ttl(), created_by=user
    )


def import_challenge(organisation, nonce, expires_in, by=""):
    """A registry administrator's challenge with a chosen nonce (recorded evidence); logged."""
    nonce = nonce.strip().lower()
    if len(nonce) != 64 or any(c not in "0123456789abcdef" for c in nonce):
        raise Invalid("the nonce must be 64 hex characters", code="invalid")
    if organisation.kind not in ISSUERS:
        raise Invalid(f"{organisation.code} is a {organisation.kind}: challenges are for operators and the treaty body")
    expires_at = timezone.now() + expires_in
    with transaction.atomic():
        if Challenge.objects.filter(nonce=nonce).exists():
            raise Invalid(f"a challenge with nonce {nonce} exists already", code="duplicate")
        challenge = Challenge.objects.create(
            nonce=nonce, organisation=organisation, expires_at=expires_at, imported=True
        )
        data = {"nonce": nonce, "organisation": organisation.code, "expires_at": expires_at.isoformat(), "by": by}
        challenge.log_index = append_event("challenge.imported", nonce, data, parties=[organisation.code], countries=[])
        challenge.save(update_fields=["log_index"])
    return challenge


def check_challenge(nonce, speaker, at, keyids=(), statement_nonce=None, observed_at=None):
    """HARDWARE.md 4: the challenge exists, was issued to the speaker, is unexpired and unused, and was
    issued by `observed_at` (give or take the clocks' skew); the row. A challenge of another organisation is
    unknown to this one (it learns nothing of it). A used one is a replay when the statement's (keyid, nonce)
    was accepted before: the same envelope sent again."""
    challenge = Challenge.objects.filter(nonce=nonce, organisation=speaker).first()
    if challenge is None:
        raise ProtocolError("unknown_challenge", f"no challenge {nonce} was issued to {speaker.code}")
    if challenge.used_at is not None:
        _refuse_replay(keyids, statement_nonce)
    if challenge.expires_at <= at:
        raise ProtocolError("expired_challenge", f"challenge {nonce} expired at {challenge.expires_at.isoformat()}")
    if challenge.used_at is not None:
        raise ProtocolError("used_challenge", f"challenge {nonce} was used by statement {challenge.used_by_id}")
    # Reports over the nonce were fetched after it was issued: a statement dating them earlier would have
    # check 2 judge the certificates' dates, and place and prove its chips, at a time the evidence cannot
    # speak for (a certificate expired since would pass). An imported challenge is for evidence recorded
    # before it (a registry administrator's, logged).
    skew = timedelta(seconds=settings.CHIPREG_FRESHNESS_MAX_FUTURE_S)
    if observed_at is not None and not challenge.imported and observed_at < challenge.created_at - skew:
        raise ProtocolError(
            "unknown_challenge",
            f"no challenge {nonce} was issued to {speaker.code} by observed_at: it was issued at"
            f" {challenge.created_at.isoformat()}",
        )
    return challenge


def _refuse_replay(keyids, statement_nonce):
    """ATTESTATION.md 4: a second submission of an accepted envelope is answered 409 with the first's id
    (replayed_nonce), whatever else it would fail now: its challenge is used (by itself), or has expired since.
    An agent that lost the first answer learns that it was accepted."""
    if statement_nonce is None or not keyids:
        return
    first = (
        StatementNonce.objects.filter(keyid__in=list(keyids), nonce=statement_nonce)
        .values_list("attestation_id", flat=True)
        .first()
    )
    if first is not None:
        from attestations.checks import Replay  # (checks imports this module)

        raise Replay(first)


def challenge_lost(challenge):
    """The statement's challenge was used by a concurrent one (storage.challenges: one conditional UPDATE,
    in the statement's first round trip, kinds.evidence.insert: of statements racing, exactly one wins)."""
    raise ProtocolError("used_challenge", f"challenge {challenge.nonce} was used by another statement")


def use_landmark_challenge(keyids, challenge, attestation):
    """An RTT statement's landmark challenge, once per landmark key ever (the unique index settles races)."""
    try:
        with transaction.atomic():
            LandmarkChallenge.objects.bulk_create(
                LandmarkChallenge(keyid=k, challenge=challenge, attestation_id=attestation.pk) for k in keyids
            )
    except IntegrityError:
        raise ProtocolError("used_challenge", f"challenge {challenge} was used before by this landmark's key") from None


def check_landmark_challenge(keyids, challenge, statement_nonce=None):
    """Before storing: a landmark challenge seen with one of these keys is refused (the index also does),
    unless the statement itself was accepted before (a replay: _refuse_replay)."""
    if LandmarkChallenge.objects.filter(keyid__in=list(keyids), challenge=challenge).exists():
        _refuse_replay(keyids, statement_nonce)
        raise ProtocolError("used_challenge", f"challenge {challenge} was used before by this landmark's key")


# --- verification ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checked:
    """What the checks hand the store: the challenge row (an evidence statement's; None for an RTT
    statement's landmark challenge) and each chip's evidence verified, in the statement's order."""

    challenge: object
    results: list


def check(statement, speaker, keyids, at):
    """An evidence statement's challenge and chips, or an RTT statement's evidence; None otherwise."""
    if isinstance(statement, EvidenceStatement):
        challenge = check_challenge(statement.challenge, speaker, at, keyids, statement.nonce, statement.observed_at)
        return Checked(challenge, verify_chips(statement))
    if isinstance(statement, RttStatement) and statement.evidence is not None:
        check_landmark_challenge(keyids, statement.challenge, statement.nonce)
        result = verify_one(statement.chip, statement.evidence, statement.challenge, statement.measured_at)
        return Checked(None, [result])
    return None


@dataclass(frozen=True)
class ChipResult:
    """One chip's evidence checked (HARDWARE.md 4): `verified` (a VerifiedEvidence) or `error`."""

    chip: str
    verified: object = None
    error: EvidenceError | None = None


def verify_one(chip, evidence, challenge, observed_at):
    try:
        result = verify_evidence(
            evidence.report,
            evidence.certificates,
            challenge,
            observed_at,
            pinned_roots(),
            chain_cache(),
            evidence.format,
        )
    except EvidenceError as exc:
        return ChipResult(chip, error=exc)
    return ChipResult(chip, verified=result)


def verify_chips(statement):
    """Every chip's evidence of an `evidence` statement, against its challenge at its observed_at."""
    return [verify_one(chip, ev, statement.challenge, statement.observed_at) for chip, ev in statement.chips]


# --- device identities enrolled by manufacturers ----------------------------------------------------


def chip_for_enrolment(user, public_id):
    """The chip whose identity the caller may enrol: its manufacturer's own chip (seen or not: a maker
    enrols identities of chips it no longer holds), or any chip for the treaty body. Another party gets
    403 for a chip it sees, 404 for one it does not (nobody learns that a chip exists)."""
    from core.errors import NotFound
    from registry.models import Chip

    org = user.organisation
    if org is not None and org.kind == OrgKind.MANUFACTURER:
        chip = Chip.objects.filter(manufacturer=org).by_public_id(public_id).first()
    elif org is not None and org.kind == OrgKind.TREATY_BODY:
        chip = Chip.objects.by_public_id(public_id).first()
    else:
        chip = None
        if Chip.objects.restrict(user).by_public_id(public_id).exists():
            raise Forbidden("A chip's device identity is enrolled by its manufacturer or the treaty body.")
    if chip is None:
        raise NotFound(f"No chip {public_id[:100]!r} in your view.")
    return chip


def enrol_identity(user, public_id, identity):
    """A manufacturer's (or the treaty body's) enrolment, authoritative (HARDWARE.md 5); one that
    contradicts an identity enrolled on an operator's evidence raises identity_mismatch on the chip, for
    its custodian and the inspectorate of its country. Returns (HardwareIdentity, contradicted)."""
    from inventory.choices import FindingKind, FindingSource
    from inventory.services.findings import raise_findings
    from inventory.services.reconciliation import Discrepancy
    from registry.hardware_identity import check_identity, enrol_by_manufacturer

    check_identity(identity)
    chip = chip_for_enrolment(user, public_id)
    with transaction.atomic():
        row, replaced = enrol_by_manufacturer(chip, identity, user.organisation)
        if replaced:
            note = f"{user.organisation.code} enrolled {identity}, contradicting {replaced} (enrolled on first use)"
            finding = Discrepancy(
                FindingKind.IDENTITY_MISMATCH,
                chip.public_id,
                chip.pk,
                FindingSource.ENROLMENT,
                str(row.log_index),
                note=note,
            )
            raise_findings(
                [finding],
                organisation=chip.custodian,
                country=chip.country,
                evidence={"log_index": row.log_index, "identity": identity, "replaced": replaced},
            )
    return chip, row, bool(replaced)
