"""Evidence that proves itself: an alert's evidence is frozen with a checkpoint covering every log
index its sources name and their inclusion proofs; its bundle verifies offline with the log key
alone (protocol.evidence), and only those who see the alert can fetch it."""

import base64
import json

import pytest

from compliance import evidence as sealing
from compliance.models import Alert, AlertEvidence
from protocol.evidence import EvidenceError, named_indices, verify_bundle
from registry.registration import register_chips
from tests.compliance.test_evaluation import chips, declare, facility, rule, settle
from transparency.checkpoints import latest_checkpoint, sign_if_due, verifier_key_line
from transparency.log import current_size
from transparency.models import Checkpoint


@pytest.fixture
def op(parties):
    return parties.users["op_a_admin"]


@pytest.fixture
def slow_signer(settings):
    """One signature an hour for appends: what makes a frozen checkpoint predate the sources."""
    settings.CHIPREG_CHECKPOINT_INTERVAL_S = 3600


def _raise_alert(parties, op, code="EV-1", prefix="EVD", n=4):
    rule(parties.users["treaty"], value=3)
    fac = facility(op, code)
    ids, rows = chips(prefix, n)
    register_chips(rows, op)
    sign_if_due(wait=False)  # the last checkpoint before the sources exist
    declare(op, fac, ids)
    settle()
    return Alert.objects.get(kind="threshold", subject_key=str(fac.pk)), ids


def test_sources_newer_than_the_last_checkpoint_get_a_covering_one(parties, op, slow_signer):
    before = sign_if_due(wait=False)
    alert, _ = _raise_alert(parties, op)
    evidence = alert.evidence.get()
    named = named_indices(evidence.sources)
    assert named, evidence.sources
    # The case: the last checkpoint predates the sources (and the interval forbids another)...
    assert latest_checkpoint().size > max(named) >= before.size
    # ...so one was signed for the evidence, of the head when it was frozen, and stored as a checkpoint.
    assert evidence.checkpoint_size > max(named)
    row = Checkpoint.objects.get(size=evidence.checkpoint_size)
    assert row.note == evidence.checkpoint and Checkpoint.objects.count() == 2
    assert [p["log_index"] for p in evidence.inclusion] == named
    assert sealing.is_sealed(evidence)
    # The alert's own log event states the size of that checkpoint.
    assert alert.log_index >= evidence.checkpoint_size


def test_the_bundle_verifies_offline_with_the_log_key_alone(api, parties, op, slow_signer):
    alert, ids = _raise_alert(parties, op)
    evidence = alert.evidence.get()
    response = api(parties.users["treaty"]).get(f"/api/v1/alerts/{alert.pk}/bundle/")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="alert-{alert.pk}-evidence-{evidence.pk}.json"'
    bundle = json.loads(response.content)  # what a treaty party saves and checks elsewhere
    chips_text = "".join(f"{c}\n" for c in sorted(ids)).encode()
    verified = verify_bundle(bundle, verifier_key_line(), chips=chips_text)
    assert verified.size == evidence.checkpoint_size and verified.chips_checked
    assert [e.log_index for e in verified.entries] == named_indices(evidence.sources)
    # The declaration that placed the chips, with what it says (its data checked against its leaf).
    declared = verified.entries[0]
    assert declared.event == "declaration.recorded" and declared.data_checked
    assert declared.data["count"] == len(ids) and declared.data["operator"] == "op-a"
    assert bundle["alert"]["id"] == alert.pk and bundle["evidence"]["chips_sha256"] == evidence.chips_sha256
    # The alert's API detail carries the proofs too.
    detail = api(parties.users["treaty"]).get(f"/api/v1/alerts/{alert.pk}/").json()
    assert detail["evidence"][0]["inclusion"] == evidence.inclusion
    assert detail["evidence"][0]["checkpoint_size"] == evidence.checkpoint_size


def _flip(b64, at=0):
    raw = bytearray(base64.b64decode(b64))
    raw[at] ^= 1
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize(
    ("part", "step"),
    [("entry", "inclusion"), ("proof", "inclusion"), ("signature", "checkpoint"), ("size", "size"), ("data", "data")],
)
def test_a_tampered_bundle_fails_at_the_step_that_checks_it(parties, op, part, step):
    alert, _ = _raise_alert(parties, op, n=40)
    bundle = sealing.bundle(alert.evidence.get(), parties.users["treaty"])
    entry = bundle["entries"][0]
    if part == "entry":
        entry["leaf"] = _flip(entry["leaf"], 20)
    elif part == "proof":
        entry["inclusion"][0] = _flip(entry["inclusion"][0])
    elif part == "signature":
        body, signature = bundle["checkpoint"].rstrip("\n").rsplit(" ", 1)
        bundle["checkpoint"] = f"{body} {_flip(signature, 8)}\n"
    elif part == "size":
        bundle["tree_size"] += 1
    else:
        entry["data_jcs"] = entry["data_jcs"].replace('"count":40', '"count":39')
    with pytest.raises(EvidenceError) as caught:
        verify_bundle(bundle, verifier_key_line())
    assert caught.value.step == step, caught.value.detail


@pytest.mark.parametrize(
    "tamper",
    [
        lambda b: b.pop("alert"),
        lambda b: b.update(alert="hello"),
        lambda b: b["alert"].pop("severity"),
        lambda b: b["alert"].update(id=str(b["alert"]["id"])),
        lambda b: b["evidence"].update(chip_count="1"),
        lambda b: b["evidence"].pop("findings"),
        lambda b: b["evidence"].update(value=True),
    ],
)
def test_a_bundle_missing_a_member_or_with_one_of_the_wrong_type_fails_at_format(parties, op, tamper):
    """LOG.md 5, step 1: "the members above with their types": `alert` and `evidence`'s members too (a verifier
    written from it, checking a bundle whose `alert` was deleted, got OK)."""
    alert, _ = _raise_alert(parties, op)
    bundle = sealing.bundle(alert.evidence.get(), parties.users["treaty"])
    verify_bundle(json.loads(json.dumps(bundle)), verifier_key_line())  # as served, it verifies
    tamper(bundle)
    with pytest.raises(EvidenceError) as caught:
        verify_bundle(bundle, verifier_key_line())
    assert caught.value.step == "format", caught.value.detail


def test_only_those_who_see_the_alert_fetch_its_bundle(api, parties, op):
    alert, _ = _raise_alert(parties, op)
    url = f"/api/v1/alerts/{alert.pk}/bundle/"
    for user in ("treaty", "insp_us", "op_a_admin", "op_a_readonly"):
        assert api(parties.users[user]).get(url).status_code == 200, user
    for user in ("insp_fr", "op_b", "nvidia"):  # another country's inspectorate, another operator, a maker
        response = api(parties.users[user]).get(url)
        assert response.status_code == 404 and response.json()["code"] == "not_found", user
    assert api(None).get(url).status_code == 401
    # An evidence id of another alert, or no id at all, is not this alert's evidence.
    other, _ = _raise_alert(parties, op, code="EV-2", prefix="EVO")
    treaty = api(parties.users["treaty"])
    for wanted in (other.evidence.get().pk, "x", "9" * 30, "-1"):
        response = treaty.get(url, {"evidence": wanted})
        assert response.status_code == 404, wanted
    assert treaty.get(url, {"evidence": alert.evidence.get().pk}).status_code == 200


def test_event_data_goes_only_to_its_readers(parties, op):
    """The bundle carries an event's data as /log/entries/ does: to whom may read it; the leaf to all."""
    alert, _ = _raise_alert(parties, op)
    evidence = alert.evidence.get()
    withheld = sealing.bundle(evidence, parties.users["op_b"])
    assert all("data_jcs" not in e for e in withheld["entries"])
    verified = verify_bundle(withheld, verifier_key_line())
    assert verified.entries and not any(e.data_checked for e in verified.entries)
    assert all("data_jcs" in e for e in sealing.bundle(evidence, parties.users["insp_us"])["entries"])


def test_a_reopened_alert_is_sealed_again(parties, op, slow_signer):
    from registry.models import Chip
    from registry.services import change_chip

    alert, _ = _raise_alert(parties, op, prefix="REO")
    alert.state = "resolved"
    alert.save(update_fields=["state"])
    lost = list(Chip.objects.filter(serial__in=["REO000000", "REO000001"]))
    from tests.factories import witnessed_disposal

    witnessed_disposal(op, parties.users["treaty"], [c.public_id for c in lost])
    settle()
    for chip in lost:
        change_chip(chip, op, status="installed")
    settle()
    alert.refresh_from_db()
    assert alert.reopened == 1
    latest = alert.evidence.order_by("-id").first()
    assert sealing.is_sealed(latest)
    verify_bundle(sealing.bundle(latest, parties.users["treaty"]), verifier_key_line())


def test_finding_alerts_are_sealed(parties, op, slow_signer):
    fac = facility(op, "EVF-1")
    ids, rows = chips("EVF", 3)
    register_chips(rows, op)
    declare(op, fac, ids)
    settle()
    sign_if_due(wait=False)
    declare(op, fac, [*ids[:1], "nvidia:GHOST0001"])  # two unaccounted, one unknown
    settle()
    for alert in Alert.objects.filter(kind="finding"):
        evidence = alert.evidence.get()
        assert named_indices(evidence.sources), evidence.sources
        assert sealing.is_sealed(evidence)
        verify_bundle(sealing.bundle(evidence, parties.users["treaty"]), verifier_key_line())


def test_a_log_that_cannot_sign_does_not_cost_the_alert(parties, op, slow_signer, monkeypatch):
    """No covering checkpoint can be signed: the alert is raised all the same, and its bundle says where it fails."""

    def broken(index):
        raise RuntimeError("no log key")

    monkeypatch.setattr(sealing, "sign_covering", broken)
    alert, _ = _raise_alert(parties, op)
    evidence = alert.evidence.get()
    assert evidence.inclusion == [] and not sealing.is_sealed(evidence)
    assert evidence.checkpoint_size is not None and evidence.checkpoint_size <= max(named_indices(evidence.sources))
    with pytest.raises(EvidenceError) as caught:
        verify_bundle(sealing.bundle(evidence, parties.users["treaty"]), verifier_key_line())
    assert caught.value.step == "coverage"
    assert AlertEvidence.objects.count() == 1 and current_size() > 0


def test_evidence_naming_no_entry_still_carries_a_checkpoint(api, parties, monkeypatch):
    """A consolidation alert over chips placed nowhere names no log entry. Raised by the first evaluation of a
    log never signed yet (`make run`'s demo), its evidence froze no checkpoint, and its bundle answered
    `tree_size: null`, failing the bundle's `format` step (LOG.md 5): one of the head is signed."""
    from compliance.models import Alert
    from transparency.events import append_event

    append_event("organisation.updated", "org:none", {"note": "a log with an entry"})
    monkeypatch.setattr(sealing, "latest_checkpoint", lambda: None)  # as on a log nobody has signed yet
    sealed = sealing.seal([[]])
    assert sealed.checkpoint is not None and sealed.checkpoint.size == current_size()
    alert = Alert.objects.create(
        kind="threshold",
        group="g-none",
        scope="facility",
        subject_key="f",
        subject_label="F",
        severity="high",
        title="T",
    )
    AlertEvidence.objects.create(alert=alert, sources=[], **sealed.fields([]))
    response = api(parties.users["treaty"]).get(f"/api/v1/alerts/{alert.pk}/bundle/")
    assert response.status_code == 200, response.content
    bundle = response.json()
    assert bundle["tree_size"] == sealed.checkpoint.size and bundle["entries"] == []
    verify_bundle(bundle, verifier_key_line())


def test_a_log_that_cannot_sign_does_not_cost_an_alert_naming_no_entry(parties, monkeypatch):
    """(Review r4.) Evidence naming no log entry, on a log never signed, asks for a checkpoint of the head; a log
    that cannot sign it (no key) must not cost the alert as it does not cost one naming entries: the seal is the
    latest checkpoint (none) and no proofs. It raised IndexError from its own failure path (logging the last index
    of an empty list) inside the evaluation's transaction, rolling the alert back."""
    from transparency.events import append_event

    def broken(index):
        raise RuntimeError("no log key")

    append_event("organisation.updated", "org:none", {"note": "a log with an entry"})
    monkeypatch.setattr(sealing, "latest_checkpoint", lambda: None)
    monkeypatch.setattr(sealing, "sign_covering", broken)
    sealed = sealing.seal([[]])
    assert sealed.checkpoint is None and sealed.proofs == {}
    assert sealed.fields([]) == {"checkpoint_size": None, "checkpoint": "", "inclusion": []}


def test_evidence_stored_with_a_blank_chip_hash_gets_the_empty_lists(parties, op):
    """Migration 0015: evidence that counted no chips was stored with a blank `chips_sha256`, which no chip list
    hashes to (LOG.md 5, step 8); the migration gives it the empty list's hash, and only where the list is empty."""
    import hashlib
    from importlib import import_module

    from django.apps import apps

    fill = import_module("compliance.migrations.0015_empty_chip_list_hash").fill_empty_hashes
    alert, _ = _raise_alert(parties, op)
    blank = AlertEvidence.objects.create(alert=alert, chips_sha256="", chips="")
    listed = AlertEvidence.objects.create(alert=alert, chips_sha256="", chips="nvidia:X\n")
    fill(apps, None)
    blank.refresh_from_db()
    listed.refresh_from_db()
    assert blank.chips_sha256 == hashlib.sha256(b"").hexdigest()
    assert listed.chips_sha256 == ""  # not a hash this list has: left for a person to look at
