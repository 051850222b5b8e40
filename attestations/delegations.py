"""Delegated delivery (ATTESTATION.md 6): an operator lets another operator deliver its signed statements.

The signature says who speaks; the token says who may deliver. An operator that has its statements sent
by someone else (a colocation host, a managed-service provider running its node agents) grants that
organisation leave; the speaker's keys still sign every statement, so the uploader can deliver but never
say anything in the operator's name. The uploader reads the statements it delivered (and their answers:
they carry the speaker's flags) and its own rejections, and nothing else of the operator's. Grants and
revocations are log events for both parties and the operator's country's inspectorate.
"""

from django.db import IntegrityError, transaction
from django.utils import timezone

from attestations.models import Delegation
from core.errors import Conflict, Forbidden, Invalid
from protocol.errors import ProtocolError
from registry.choices import OrgKind, Role
from registry.models import Organisation
from transparency.events import append_event


def reads_delivery(user, operator, uploader_id):
    """Whether `user` reads who delivered a statement of `operator` (None for a landmark's: its own
    organisation delivers it, public in the directory): those who read the operator's delegations
    (DelegationQuerySet: both parties, the inspectorates of the operator's country, the treaty body). Another
    country's inspectorate reads the statement, at a facility in its jurisdictions, but not whom the operator
    let deliver it."""
    if operator is None or user.is_superuser:
        return True
    org = getattr(user, "organisation", None)
    if org is None:
        return False
    if org.kind == OrgKind.TREATY_BODY or org.pk in (operator.pk, uploader_id):
        return True
    return org.kind == OrgKind.INSPECTORATE and operator.country in (org.jurisdictions or [])


def may_deliver(uploader_id, speaker_id):
    """Whether the organisation `uploader_id` may deliver statements `speaker_id` signed (now)."""
    return Delegation.objects.in_force().filter(operator_id=speaker_id, uploader_id=uploader_id).exists()


def hold(uploader_id, speaker_id):
    """In the statement's transaction: the delegation still in force, its row locked to the commit (a revocation
    waits for the statement, or the statement for it), or ProtocolError `forbidden`. verify() asked may_deliver
    before its slower checks; a revocation committed since must stop the delivery."""
    held = (
        Delegation.objects.select_for_update()
        .in_force()
        .filter(operator_id=speaker_id, uploader_id=uploader_id)
        .values_list("pk", flat=True)[:1]
    )
    if not list(held):
        raise ProtocolError("forbidden", "your organisation's delegation to deliver these statements has ended")


def _event_data(delegation, user, **extra):
    return {
        "delegation": delegation.pk,
        "operator": delegation.operator.code,
        "uploader": delegation.uploader.code,
        "by": user.username,
        **extra,
    }


def _log(event, delegation, user, **extra):
    operator = delegation.operator
    return append_event(
        event,
        f"delegation:{delegation.pk}",
        _event_data(delegation, user, **extra),
        parties=sorted({operator.code, delegation.uploader.code}),
        countries=[operator.country] if operator.country else [],
    )


def grant(user, uploader_code):
    """The user's operator lets `uploader_code` (another operator) deliver its statements. Admins only."""
    operator = user.organisation
    if operator is None or operator.kind != OrgKind.OPERATOR or user.role != Role.ADMIN:
        raise Forbidden("An operator's administrators delegate the delivery of its statements.", code="forbidden")
    uploader = Organisation.objects.filter(code=uploader_code).first()
    if uploader is None:  # the directory of organisations is public: this says nothing new
        raise Invalid(f"No organisation {uploader_code!r} is registered.", code="unknown_organisation")
    if uploader.kind != OrgKind.OPERATOR or uploader.pk == operator.pk:
        # Inspectorates, manufacturers and the treaty body judge or make what operators say: none delivers it.
        raise Invalid(
            "Statements are delivered by their operator or by another operator it delegates to.",
            code="invalid_uploader",
        )
    try:
        with transaction.atomic():
            delegation = Delegation.objects.create(operator=operator, uploader=uploader, granted_by=user)
            delegation.log_index = _log("delegation.granted", delegation, user)
            delegation.save(update_fields=["log_index"])
    except IntegrityError:
        raise Conflict(
            f"{uploader.code} already delivers {operator.code}'s statements.", code="already_delegated"
        ) from None
    return delegation


@transaction.atomic
def revoke(user, delegation):
    """End a delegation: the delegating operator's administrators revoke it, the uploader's renounce it. From
    now on the uploader's deliveries for that operator are refused (403 forbidden)."""
    delegation = Delegation.objects.select_for_update().select_related("operator", "uploader").get(pk=delegation.pk)
    party = user.organisation_id in (delegation.operator_id, delegation.uploader_id)
    if not user.is_superuser and not (party and user.role == Role.ADMIN):
        raise Forbidden("Only the administrators of either party end a delegation.", code="forbidden")
    if delegation.revoked_at is not None:
        raise Conflict(
            f"Delegation {delegation.pk} ended at {delegation.revoked_at.isoformat()}.", code="already_revoked"
        )
    delegation.revoked_at = timezone.now()
    delegation.revoked_by = user
    delegation.revoke_log_index = _log(
        "delegation.revoked", delegation, user, revoked_at=delegation.revoked_at.isoformat()
    )
    delegation.save(update_fields=["revoked_at", "revoked_by", "revoke_log_index"])
    return delegation
