"""The checks of ATTESTATION.md section 2, in the spec's order, before anything is stored.

Each failure is a ProtocolError carrying the spec's code; `verify()` returns
everything the store step needs once every check has passed.
"""

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.utils import timezone

from attestations import hardware
from attestations.delegations import may_deliver
from attestations.models import KeyPurpose, Landmark, SigningKey
from attestations.storage import ingest
from inventory.models import Facility
from protocol import dsse
from protocol.errors import ProtocolError
from protocol.statements import REGISTRY_CODE_RE, RttStatement, check_freshness, parse_statement
from registry.models import Organisation


@dataclass
class Verified:
    envelope: dsse.Envelope
    statement: object
    statement_sha256: str
    keys: list  # SigningKey rows, in signature order
    facility: Facility
    speaker: Organisation
    landmark: Landmark | None
    clusters: dict | None = None  # the facility's {cluster code: pk}, when read with it
    received_at: datetime | None = None  # the registry's clock when the checks ran (step 5 and 6 judge by it)
    hardware: object = None  # attestations.hardware.Checked: the challenge and each chip's evidence verified


class Replay(Exception):
    """A (keyid, nonce) pair that was accepted before: 409 with the first id."""

    def __init__(self, first_id):
        super().__init__(first_id)
        self.first_id = first_id


@lru_cache(maxsize=4096)
def _public_key(pem):
    return dsse.load_public_key(pem)


def verify(body, user):
    received_at = timezone.now()
    # 1. shape, base64, size; 2. payload type
    envelope = dsse.parse_envelope(body, settings.CHIPREG_ATTESTATION_MAX_PAYLOAD)
    dsse.check_payload_type(envelope)
    # 3. signatures, against the registered keys their keyids name
    keyids = [s.keyid for s in envelope.signatures]
    # The registry's rows for the statement in one round trip, when its facility and operator can be
    # read off the payload; they are used only once the checks below have passed in the spec's order.
    peeked = _facility_and_operator(envelope.payload) or (None, None)
    # Only a keyid a registered key can have is looked up (any other, a NUL in it say, is unknown_key below).
    known = ingest.registered([k for k in keyids if KEYID_RE.fullmatch(k)], *peeked)
    rows = known.keys
    dsse.verify_signatures(envelope, lambda keyid: _public_key(rows[keyid].pem) if keyid in rows else None)
    keys = [rows[s.keyid] for s in envelope.signatures]
    # 4. the statement's schema
    statement = parse_statement(envelope.payload)
    if (statement.facility, getattr(statement, "operator", None)) == peeked:
        facility, speaker, landmark, clusters = known.facility, known.speaker, None, known.clusters
    else:
        facility, speaker, landmark, clusters = _places(statement)
    # 5. each key valid at issued_at and now; a key of the speaking organisation signed; the facility exists
    # (an rtt statement's) and the speaking operator operates it
    for key in keys:
        _check_validity(key, statement.issued_at, received_at)
    purpose = KeyPurpose.LANDMARK if isinstance(statement, RttStatement) else KeyPurpose.ATTESTATION
    if speaker is None or not any(k.organisation_id == speaker.pk and k.purpose == purpose for k in keys):
        who = getattr(statement, "operator", None) or f"landmark {statement.landmark}"
        raise ProtocolError("key_not_authorized", f"no valid {purpose} key of {who} signed this statement")
    # Whether a facility exists is told only to whoever proved, by the keys above, to speak: the landmark's
    # treaty body, of an rtt statement (it measures any facility). An operator's statement naming no
    # registered facility is refused as one naming another operator's (_check_operates).
    if facility is None and isinstance(statement, RttStatement):
        raise ProtocolError("unknown_facility", f"no facility {statement.facility!r} is registered")
    _check_operates(statement, facility, speaker)
    # The token says who may deliver: the speaking organisation itself, or an operator it delegated to.
    delivering = user.organisation_id
    if not user.is_superuser and delivering != speaker.pk and not may_deliver(delivering, speaker.pk):
        raise ProtocolError("forbidden", f"your organisation may not deliver statements for {speaker.code}")
    # 6. freshness
    check_freshness(
        statement.issued_at,
        received_at,
        timedelta(seconds=settings.CHIPREG_FRESHNESS_MAX_FUTURE_S),
        timedelta(seconds=settings.CHIPREG_FRESHNESS_MAX_AGE_S),
    )
    # HARDWARE.md 4: the challenge (exists, the speaker's, unexpired, unused), after check 6 and before
    # check 7; then each chip's evidence, verified here, before the statement's transaction and the
    # log's lock (CPU-bound; per-chip problems are findings, not refusals).
    checked = hardware.check(statement, speaker, keyids, received_at)
    # 7. replay: checked by the database's unique index on (keyid, nonce) when the statement is
    # stored, which also settles races; store() answers Replay with the first statement's id.
    return Verified(
        envelope,
        statement,
        dsse.statement_sha256(envelope),
        keys,
        facility,
        speaker,
        landmark,
        clusters,
        received_at,
        checked,
    )


# Read ahead only in payloads of a host's size (a node agent's location statement is about a kilobyte, a
# host's evidence statement of 8 GPUs about 100 KB, where a parse costs less than the round trip it saves):
# parsing a big one twice would double its time and its peak memory.
PEEK_MAX_BYTES = 256 * 1024
KEYID_RE = re.compile(r"[0-9a-f]{64}")  # ATTESTATION.md 1: lowercase hex SHA-256


def _facility_and_operator(payload):
    """(facility code, operator code) as an operator's statement names them, or None; not a check (that is
    parse_statement's, in its turn), only what to read ahead."""
    if len(payload) > PEEK_MAX_BYTES:
        return None
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError):  # malformed: parse_statement says how, in its turn
        return None
    if not isinstance(doc, dict):
        return None
    facility, operator = doc.get("facility"), doc.get("operator")
    # Only codes a statement may name are read ahead: any other text (a NUL, an unpaired surrogate, which the
    # database cannot take as a parameter) makes the statement malformed, as parse_statement says in its turn.
    if all(isinstance(code, str) and REGISTRY_CODE_RE.fullmatch(code) for code in (facility, operator)):
        return facility, operator
    return None


def _places(statement):
    """(the facility with its operator, the speaking organisation, the landmark of an RTT statement,
    the facility's {cluster code: pk} or None when not read)."""
    if isinstance(statement, RttStatement):
        facility = Facility.objects.select_related("operator").filter(code=statement.facility).first()
        landmark = Landmark.objects.select_related("organisation").filter(code=statement.landmark).first()
        return facility, (landmark.organisation if landmark else None), landmark, None
    known = ingest.registered([], statement.facility, statement.operator)
    return known.facility, known.speaker, None, known.clusters


def _check_operates(statement, facility, speaker):
    """An operator speaks only about a facility it operates (location and usage statements; an RTT
    statement's speaker is the landmark's treaty body, which measures any facility). Judged on the rows
    verify() already holds, the facility with its operator (None: no facility of that code): no query of its
    own. One answer, word for word, whether the facility is another operator's or nobody's: a refusal must
    not tell an operator which codes other operators' facilities have."""
    if isinstance(statement, RttStatement):
        return
    if facility is None or facility.operator_id != speaker.pk:
        raise ProtocolError(
            "facility_not_operated",
            f"{speaker.code} does not operate facility {statement.facility!r}: an operator's statement is only"
            " about a facility it operates",
        )


def recheck_keys(verified):
    """Under the log's lock, in the statement's transaction: each key still valid at issued_at and at receipt,
    as it is now. verify() judged the keys it read before the store; a revocation or retirement committed since
    must stop the statement (ProtocolError `revoked_key`). One committed after this read is ordered after the
    statement by the lock (revoke_key and retire_key judge the statements under it): the revocation flags it, a
    retirement before it is `key_used_after`."""
    keyids = [k.keyid for k in verified.keys]
    received_at = verified.received_at or timezone.now()
    for key in SigningKey.objects.filter(keyid__in=keyids).only("keyid", "valid_from", "retired_at", "revoked_since"):
        _check_validity(key, verified.statement.issued_at, received_at)


def _check_validity(key, issued_at, received_at):
    """The key must be valid both when the statement says it was signed and when the registry received it:
    a retired or revoked key cannot sign a statement dated back into its lifetime, nor a new key one dated
    before it was registered (its valid_from is never before its registration)."""
    for when, what in ((issued_at, "issued_at"), (received_at, "the time the registry received it")):
        if key.revoked_since is not None and when >= key.revoked_since:
            raise ProtocolError(
                "revoked_key", f"key {key.keyid} is revoked as compromised since {key.revoked_since} (judged at {what})"
            )
        if key.retired_at is not None and when >= key.retired_at:
            raise ProtocolError("revoked_key", f"key {key.keyid} was retired at {key.retired_at} (judged at {what})")
        if when < key.valid_from:
            raise ProtocolError(
                "revoked_key", f"key {key.keyid} is valid only from {key.valid_from} (judged at {what})"
            )
