"""Evidence that proves itself: sealing an alert's evidence, and its bundle (LOG.md section 5).

Sealing, when evidence is frozen: a checkpoint whose tree includes every log index the
sources name (transparency.checkpoints.sign_covering signs one when none does) and the
inclusion proof of each index against it, stored with the evidence.

Why this can be done at once, in the freezing transaction. Every source an evaluation reads
(a placement, a finding) was written in the same transaction as its log entry (appends are
synchronous: "logged before the 201"), so its index is final and committed before the
evaluation, which runs from the outbox after that commit, can see the row. The checkpoint
is signed over the head read under the writers' lock, so it covers those entries, and
nothing uncommitted but the freezing transaction's own appends, which commit (or roll
back, checkpoint and all) together with it. Nothing is left to wait for, so the evidence
is complete when it commits; only the signing interval is not waited out (it paces the
signatures appends ask for; an alert that needs one gets it).

A log that cannot sign or prove now (no key, a damaged store) must not cost the alert:
the evidence is then frozen with the latest checkpoint and no proofs, and its bundle says
where it fails (coverage or inclusion).
"""

import logging

from django.db import transaction

from core.errors import NotFound
from protocol.encoding import b64decode_std, b64encode
from protocol.evidence import BUNDLE_TYPE, BUNDLE_VERSION, entry_object, named_indices
from transparency.checkpoints import latest_checkpoint, served_note, sign_covering
from transparency.entries import read_entries
from transparency.log import current_size, inclusion_proofs
from transparency.models import Checkpoint

log = logging.getLogger(__name__)


class Seal:
    """A checkpoint and the inclusion proofs of the indices it was asked to cover."""

    def __init__(self, checkpoint, proofs):
        self.checkpoint = checkpoint
        self.proofs = proofs  # {index: [hash bytes]}

    def fields(self, sources):
        """The evidence's checkpoint_size, checkpoint and inclusion for these sources."""
        checkpoint = self.checkpoint
        return {
            "checkpoint_size": checkpoint.size if checkpoint else None,
            "checkpoint": checkpoint.note if checkpoint else "",
            "inclusion": [
                {"log_index": i, "hashes": [b64encode(h) for h in self.proofs[i]]}
                for i in named_indices(sources)
                if i in self.proofs
            ],
        }


def is_sealed(evidence):
    """Whether the evidence's checkpoint covers every index its sources name, each with a proof.

    Read from the stored fields (no query): what the bundle's verifier will find, short of
    checking the signature and the hashes, which it does offline.
    """
    if evidence.checkpoint_size is None or not evidence.checkpoint:
        return False
    proved = {p["log_index"] for p in evidence.inclusion}
    return all(i < evidence.checkpoint_size and i in proved for i in named_indices(evidence.sources))


def seal(source_lists):
    """One Seal covering every log index named by these lists of sources (a batch's evidence)."""
    indices = sorted({i for sources in source_lists for i in named_indices(sources)})
    if not indices:
        # Nothing to prove, but a bundle always carries a signed checkpoint and its size (LOG.md 5, `format`):
        # the latest, or, on a log never signed yet (the first evaluation of a new log), one of its head now.
        latest = latest_checkpoint()
        if latest is not None or current_size() == 0:
            return Seal(latest, {})
    try:
        with transaction.atomic():  # a savepoint: a failure here leaves the alert's transaction usable
            checkpoint = sign_covering(indices[-1] if indices else current_size() - 1)
            return Seal(checkpoint, inclusion_proofs(indices, checkpoint.size) if indices else {})
    except Exception:
        # See the module docstring: the alert is raised all the same; its bundle will not verify.
        # (Evidence naming no entry asked for a checkpoint of the head: there is no last index to name.)
        log.exception("could not seal alert evidence naming log indices up to %s", indices[-1] if indices else "none")
        return Seal(latest_checkpoint(), {})


# --- the bundle ---------------------------------------------------------------------------------


def pick(alert, wanted=""):
    """The alert's evidence whose id is `wanted` (query-string text), or its first (the raise's).

    NotFound for an id it does not have (or one that is not an id at all).
    """
    evidence = alert.evidence.select_related("alert__rule", "alert__operator").order_by("id")
    if wanted and not (wanted.isascii() and wanted.isdigit() and len(wanted) < 19):
        raise NotFound("This alert has no such evidence.")
    evidence = evidence.filter(pk=int(wanted)).first() if wanted else evidence.first()
    if evidence is None:
        raise NotFound("This alert has no such evidence.")
    return evidence


def _checkpoint_note(evidence):
    """The frozen checkpoint with the witnesses' cosignatures gathered since (extra signature lines)."""
    row = Checkpoint.objects.filter(size=evidence.checkpoint_size).first() if evidence.checkpoint_size else None
    return served_note(row) if row is not None and row.note == evidence.checkpoint else evidence.checkpoint


def _alert_object(alert):
    return {
        "id": alert.pk,
        "kind": alert.kind,
        "title": alert.title,
        "rule": f"{alert.rule.key} v{alert.rule.version}" if alert.rule_id else None,
        "scope": alert.scope,
        "subject": alert.subject_label,
        "country": alert.country,
        "operator": alert.operator.code if alert.operator_id else None,
        "severity": alert.severity,
        "raised_at": alert.raised_at.isoformat(),
        "log_index": alert.log_index,
    }


def _evidence_object(evidence):
    return {
        "id": evidence.pk,
        "at": evidence.at.isoformat(),
        "value": evidence.value,
        "threshold": evidence.threshold,
        "comparison": evidence.comparison,
        "chip_count": evidence.chip_count,
        "chips_sha256": evidence.chips_sha256,
        "sources": evidence.sources,
        "findings": evidence.findings,
    }


def bundle(evidence, user):
    """The evidence bundle of one frozen evidence, for `user` (who may see its alert).

    Entries are read from the log (append-only: the bytes any checkpoint covering them
    committed to); an event's data goes in only where `user` may read it, as on
    /log/entries/ (without it the entry still proves its leaf, hence the data's hash).
    """
    indices = named_indices(evidence.sources)
    entries = read_entries(indices)
    proofs = {p["log_index"]: p["hashes"] for p in evidence.inclusion}
    out = []
    for index in indices:
        entry = entries.get(index)
        if entry is None:
            continue  # not in the log: the verifier says so (coverage)
        data = entry.data.data_jcs.encode() if entry.data is not None and entry.data.visible_to(user) else None
        hashes = [b64decode_std(h, "invalid_proof", "hash") for h in proofs.get(index, [])]
        out.append(entry_object(index, entry.leaf, hashes, data))
    return {
        "type": BUNDLE_TYPE,
        "v": BUNDLE_VERSION,
        "alert": _alert_object(evidence.alert),
        "evidence": _evidence_object(evidence),
        "tree_size": evidence.checkpoint_size,
        "checkpoint": _checkpoint_note(evidence),
        "entries": out,
    }
