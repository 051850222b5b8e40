"""Keys: registration, retirement, revocation as compromised, each logged.

Revoking since T flags every statement already accepted from T on: a
`revoked_key` finding per statement, for inspectors to review.
"""

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from attestations.models import Attestation, KeyPurpose, SigningKey
from core.errors import Conflict, Forbidden, Invalid
from inventory.choices import FindingKind, FindingSource
from inventory.services.findings import new_finding, store_findings
from outbox import emit
from protocol import dsse
from protocol.errors import ProtocolError
from registry.choices import OrgKind
from transparency.events import EVERY_PARTY, append_event

PURPOSES_BY_KIND = {
    OrgKind.OPERATOR: {KeyPurpose.ATTESTATION},
    OrgKind.TREATY_BODY: {KeyPurpose.LANDMARK},
}


def _append_key_event(event, key, **extra):
    """A key's event, read by every signed-in party, as the key itself is (GET keys/): a statement counts in
    every country where it places chips, and each of their inspectorates must be able to prove from the log
    alone which keys spoke for its signer, and from when to when (LOG.md section 2). So `by` and a
    revocation's `reason` are read by every party too (the API says so where the reason is given)."""
    return append_event(event, key.keyid, _key_data(key, **extra), parties=[EVERY_PARTY], countries=[])


def _key_data(key, **extra):
    return {
        "keyid": key.keyid,
        "algorithm": key.algorithm,
        "purpose": key.purpose,
        "organisation": key.organisation.code,
        "country": key.organisation.country,
        **extra,
    }


def registration_instant(now=None):
    """The registration time as keys' validity counts it: whole seconds, as statements carry their times
    (a statement an agent signs in the second it registered its key verifies)."""
    return (now or timezone.now()).replace(microsecond=0)


@transaction.atomic
def register_key(user, pem, name="", purpose=None, valid_from=None, registered_at=None):
    """Register a public key of the user's organisation, valid from `valid_from` (default: now).

    `valid_from` is never before the registration (ATTESTATION.md section 2, step 5): a key made today
    must not vouch for statements dated before it existed, so an earlier instant is refused
    (400 `backdated_key`) rather than raised silently, and the signer learns why its backdated
    statements would fail. `registered_at` is for seeds that lay down a history (the demo world, test
    worlds): they register a key as of that past instant, logged as such; the API and console never
    pass it.
    """
    org = user.organisation
    allowed = PURPOSES_BY_KIND.get(org.kind if org else None, set())
    purpose = purpose or next(iter(allowed), KeyPurpose.ATTESTATION)
    if purpose not in allowed:
        party = str(org.get_kind_display()).lower() if org else "user without an organisation"
        raise Forbidden(f"{'An' if party[0] in 'aeiou' else 'A'} {party} may not register {purpose} keys.")
    try:
        public = dsse.load_public_key(pem)
    except ProtocolError as exc:
        raise Invalid(exc.detail or "Unsupported key.", code="unsupported_key") from None
    registered = registration_instant(registered_at)
    if valid_from is None:
        valid_from = registered
    elif valid_from < registered:
        raise Invalid(
            f"valid_from {valid_from.isoformat()} is before the key's registration ({registered.isoformat()}):"
            " a key is valid from its registration at the earliest; leave valid_from out for now.",
            code="backdated_key",
        )
    if SigningKey.objects.filter(keyid=public.keyid).exists():
        raise Conflict(f"Key {public.keyid} is already registered.", code="duplicate_key")
    key = SigningKey.objects.create(
        keyid=public.keyid,
        organisation=org,
        name=name,
        algorithm=public.algorithm,
        purpose=purpose,
        pem=public.pem,
        valid_from=valid_from,
        created_by=user,
    )
    if registered_at is not None:
        key.created_at = registered_at  # auto_now_add set it to now; a seed's history says when
    key.log_index = _append_key_event(
        "key.registered",
        key,
        pem=key.pem,
        valid_from=key.valid_from.isoformat(),
        by=user.username,
        **({"registered_at": registered.isoformat()} if registered_at is not None else {}),
    )
    key.save(update_fields=["log_index", "created_at"])
    return key


@transaction.atomic
def retire_key(user, key, at=None):
    key = SigningKey.objects.select_for_update().get(pk=key.pk)
    at = at or timezone.now()
    if at < key.valid_from:  # a key retired before it was valid: a record that contradicts itself
        raise Invalid(
            f"at: a key is retired at or after its valid_from ({key.valid_from.isoformat()}).", code="invalid"
        )
    # A retirement scheduled for later may be brought forward (a key leaving service sooner than planned), never
    # put back: the key would sign for longer than its holder once said.
    scheduled = key.retired_at
    if scheduled is not None and scheduled <= at:
        raise Conflict(f"Key {key.keyid} is retired at {scheduled.isoformat()}.", code="already_retired")
    key.retired_at = at
    # Its event first: the append takes the log's lock, which a statement holds from its own append to its
    # commit, so the statements read below include every one stored before the retirement, and one stored
    # after it judges the key retired (checks.recheck_keys).
    _append_key_event(
        "key.retired",
        key,
        retired_at=key.retired_at.isoformat(),
        by=user.username,
        **({"scheduled_for": scheduled.isoformat()} if scheduled is not None else {}),
    )
    # Retirement looks forward. Retiring a key before statements it signed were accepted would make them
    # look signed by a retired key to anyone re-checking the log: disowning them silently, where revoke_key
    # flags them and raises findings for the inspectors.
    used = Q(issued_at__gte=at) | Q(received_at__gte=at)
    statements = Attestation.objects.filter(used)
    if statements.filter(keyids__contains=[key.keyid]).exists():
        raise Conflict(  # the event above is rolled back with the transaction
            f"Key {key.keyid} signed statements dated or received after {at.isoformat()}: retire it from a later "
            "instant, or revoke it as compromised since then (which flags those statements).",
            code="key_used_after",
        )
    key.save(update_fields=["retired_at"])
    return key


@transaction.atomic
def revoke_key(user, key, since, reason=""):
    key = SigningKey.objects.select_for_update().get(pk=key.pk)
    if key.revoked_since is not None and key.revoked_since <= since:
        raise Conflict(f"Key {key.keyid} is revoked since {key.revoked_since.isoformat()}.", code="already_revoked")
    key.revoked_since = since
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_since", "revoked_at"])
    # The append takes the log's lock (held by a statement from its append to its commit): every statement
    # stored before it is read below and flagged, and one stored after it judges the key revoked
    # (checks.recheck_keys).
    index = _append_key_event("key.revoked", key, since=since.isoformat(), reason=reason, by=user.username)
    # Signed after the compromise, or received after it (whatever date it bears: whoever held the key then
    # could have backdated it), as the ingest checks now judge a key (checks._check_validity).
    after = Q(issued_at__gte=since) | Q(received_at__gte=since)
    flagged = list(Attestation.objects.filter(after, keyids__contains=[key.keyid]).select_related("facility"))
    Attestation.objects.filter(pk__in=[a.pk for a in flagged]).update(flagged=True)
    store_findings(
        [
            new_finding(
                kind=FindingKind.REVOKED_KEY,
                chip_ref="",
                facility=a.facility,
                organisation=key.organisation,
                country=a.facility.country,
                source=FindingSource.ATTESTATION,
                source_id=str(a.pk),
                detail=(
                    f"Statement {a.pk} was signed by key {key.keyid}, revoked as compromised since {since.isoformat()}."
                ),
                evidence={"statement": a.pk, "log_index": a.log_index, "revocation_log_index": index},
            )
            for a in flagged
        ]
    )
    for a in flagged:
        emit("findings.raised", source=str(FindingSource.ATTESTATION), source_id=str(a.pk))
    return key, len(flagged)
