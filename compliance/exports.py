"""Exports: the treaty body's destination rules (declared, versioned, logged), the exporting inspectorate's
decision on an export authorisation (inventory.services.exports writes it), and the judgement of a receipt
across a border against the rules (an `export_forbidden` finding and its critical alert).

Rules are versioned like threshold rules (compliance.services.declare): a new version supersedes the current
one at once, each version is a `destination_rule.declared` log event readable by every party
(compliance.versioning, the one mechanism of both).
"""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from compliance import versioning
from compliance.authority import require_rule_declarer
from compliance.export_models import DestinationRule
from core.errors import Conflict
from inventory.choices import ExportStatus

RULE_FIELDS = (
    "name",
    "legal_reference",
    "destinations",
    "origins",
    "chip_models",
    "min_tpp",
    "effective_from",
    "effective_to",
)


@transaction.atomic
def declare(user, key, **fields):
    """Version 1 of a new destination rule, or the next version of `key` (the current one is superseded)."""
    require_rule_declarer(user, "destination rules")
    return versioning.declare(DestinationRule, RULE_FIELDS, user, key, fields, "destination_rule.declared")


@transaction.atomic
def retire(user, rule):
    require_rule_declarer(user, "destination rules")
    return versioning.retire(DestinationRule, RULE_FIELDS, user, rule, "destination_rule.retired")


def forbidding(origin, destination, model_slugs, when=None):
    """The destination rules in force at `when` that forbid this export."""
    from registry.models import AcceleratorModel

    tpp = dict(AcceleratorModel.objects.filter(slug__in=model_slugs).values_list("slug", "tpp"))
    tpp = {slug: tpp.get(slug) for slug in model_slugs}
    rules = DestinationRule.objects.in_force(when or timezone.now()).filter(destinations__contains=[destination])
    return [rule for rule in rules if rule.forbids(origin, destination, tpp)]


def refuse_forbidden_shipment(*, authorisation, shipped_at, chip_models=None):
    """A shipment under an approved authorisation that a destination rule forbids, now or at the time the shipper
    gives (a rule declared since the approval, or a chip's model corrected since to one a rule binds): 409
    `destination_forbidden` naming the rules (they are public), nothing shipped. inventory.hooks "exports.shipping"
    (registered in compliance.apps)."""
    models = authorisation.chip_models if chip_models is None else chip_models
    args = (authorisation.origin_country, authorisation.destination_country, models)
    rules = {(r.key, r.version): r for when in {timezone.now(), shipped_at} - {None} for r in forbidding(*args, when)}
    if rules:
        named = sorted(rules.values(), key=lambda r: (r.key, r.version))
        raise Conflict(
            f"Exports from {args[0]} to {args[1]} of these chips are forbidden by "
            f"{', '.join(str(r) for r in named)}, declared since authorisation {authorisation.pk} was approved: "
            "nothing was shipped.",
            code="destination_forbidden",
            rules=[{"key": r.key, "version": r.version} for r in named],
        )


def decide(user, authorisation, approved, reason, valid_until=None):
    """The exporting inspectorate approves or refuses. An export a destination rule forbids is never approved
    (409 `destination_forbidden`, naming the rules: they are public); it may still be refused."""
    from inventory.services import exports

    exports.check_decider(user, authorisation)  # who first: a refusal reveals nothing of the rules to others
    if authorisation.status != ExportStatus.REQUESTED:  # then its state: a decided one is that, whatever the rules
        raise Conflict(f"This export authorisation is already {authorisation.status}.", code="already_decided")
    checked = []
    models = None
    if approved:
        # The chips as the registry has them now: a model corrected since the request (H100s registered as H20s)
        # is judged as corrected, not as the request froze it.
        models = exports.judged_models(authorisation)
        rules = forbidding(authorisation.origin_country, authorisation.destination_country, models)
        if rules:
            raise Conflict(
                f"Exports from {authorisation.origin_country} to {authorisation.destination_country} of these chips "
                f"are forbidden by {', '.join(str(r) for r in rules)}; it cannot be approved.",
                code="destination_forbidden",
                rules=[{"key": r.key, "version": r.version} for r in rules],
            )
        checked = [f"{r.key} v{r.version}" for r in DestinationRule.objects.in_force(timezone.now())]
    return exports.record_decision(
        user, authorisation, approved, reason, rule_versions=checked, valid_until=valid_until, chip_models=models
    )


def judge_receipt(payload):
    """A receipt across a border (inventory.services.transfers.receive emits `exports.received`): chips that
    arrived in a country a rule in force at the receipt forbids are an `export_forbidden` finding on each side
    (the treaty body and both countries' inspectorates get its critical alert), approved or not.

    The chips judged are those that arrived (`chip_models`: their models), not every chip the receiver listed;
    "at the receipt" is at the `received_at` the receiver gives and when the receipt was recorded (`recorded_at`),
    as a shipment is judged now and at its `shipped_at`: a receipt dated back before a rule answers to it."""
    from compliance.finding_alerts import raise_for
    from inventory.choices import FindingKind, FindingSource
    from inventory.models import Transfer
    from inventory.services.findings import new_finding, store_findings
    from registry.models import Chip

    transfer = (
        Transfer.objects.select_related("shipper", "receiver", "origin_facility", "received_facility")
        .filter(pk=payload["transfer"])
        .first()
    )
    if transfer is None or transfer.received_at is None:
        return []
    origin, destination = payload["origin"], payload["destination"]
    models = payload.get("chip_models")
    if models is None:  # an event emitted before it named them: the chips shipped and listed
        chips = transfer.items.filter(shipped=True, received=True, chip__isnull=False).values_list("chip_id", flat=True)
        models = sorted(set(Chip.objects.filter(pk__in=list(chips)).values_list("model__slug", flat=True)))
    moments = {transfer.received_at}
    if payload.get("recorded_at"):
        moments.add(datetime.fromisoformat(payload["recorded_at"]))
    found = {(r.key, r.version): r for when in moments for r in forbidding(origin, destination, models, when)}
    rules = sorted(found.values(), key=lambda r: (r.key, r.version))
    if not rules:
        return []
    tid = str(transfer.pk)
    detail = (
        f"transfer {tid}: chips of {transfer.shipper.code} were received by {transfer.receiver.code} in "
        f"{destination}, a destination {', '.join(str(r) for r in rules)} forbids for exports from {origin}."
    )
    evidence = {
        "transfer": tid,
        "ship_log_index": transfer.ship_log_index,
        "receipt_log_index": transfer.receipt_log_index,
        "log_index": transfer.receipt_log_index,
        "from": origin,
        "to": destination,
        "received_at": transfer.received_at.isoformat(),
        "recorded_at": payload.get("recorded_at"),
        "rules": [{"key": r.key, "version": r.version, "log_index": r.log_index} for r in rules],
    }
    sides = (
        (transfer.origin_facility, transfer.shipper, transfer.receiver, origin),
        (transfer.received_facility, transfer.receiver, transfer.shipper, destination),
    )
    rows = [
        new_finding(
            kind=FindingKind.EXPORT_FORBIDDEN,
            facility=facility,
            organisation=org,
            other_organisation=other,
            country=country,
            source=FindingSource.TRANSFER,
            source_id=f"{tid}:{country}",
            detail=detail,
            evidence=evidence,
        )
        for facility, org, other, country in sides
    ]
    # Its findings and their alerts commit together: stored alone (a worker runs this in autocommit), a failure
    # before the alerts left them to the sweep; undone whole, the task's retry raises both.
    with transaction.atomic(savepoint=False):
        store_findings(rows)
        raised = []
        for row in rows:
            raised += raise_for(row.source, row.source_id)
    return raised
