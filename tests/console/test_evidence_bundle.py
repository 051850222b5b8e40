"""The alert page shows whether its evidence is sealed and offers its bundle, which verifies offline."""

import json

import pytest

from protocol.evidence import EvidenceError, verify_bundle
from tests.console.helpers import alert_for, text
from transparency.checkpoints import verifier_key_line


def test_alert_page_offers_a_bundle_that_verifies(login):
    alert = alert_for("Covered chip cluster")
    evidence = alert.evidence.order_by("id").first()
    c = login("inspector")
    page = text(c.get(f"/alerts/{alert.pk}/"))
    assert "Sealed: a checkpoint of tree size" in page and "Not sealed" not in page
    link = f"/alerts/{alert.pk}/bundle/?evidence={evidence.pk}"
    assert link.replace("&", "&amp;") in page and "chipreg verify-evidence" in page
    response = c.get(link)
    assert response.status_code == 200 and response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="alert-{alert.pk}-evidence-{evidence.pk}.json"'
    bundle = json.loads(response.content)
    verified = verify_bundle(bundle, verifier_key_line(), chips=evidence.chips.encode())
    assert verified.size == evidence.checkpoint_size and verified.chips_checked
    assert [e.log_index for e in verified.entries] == sorted({s["log_index"] for s in evidence.sources})
    bundle["tree_size"] -= 1
    with pytest.raises(EvidenceError, match=r"^invalid_evidence: size: tree_size"):
        verify_bundle(bundle, verifier_key_line())


def test_unsealed_evidence_says_so(login):
    alert = alert_for("Covered chip cluster")
    alert.evidence.update(inclusion=[])  # as evidence frozen before sealing existed, or when signing failed
    page = text(login("treaty").get(f"/alerts/{alert.pk}/"))
    assert "Not sealed" in page and "its bundle will not verify" in page


def test_unknown_evidence_is_a_404_page(login):
    alert = alert_for("Covered chip cluster")
    c = login("treaty")
    for wanted in ("0", "abc", "99999999999999999999999"):
        assert c.get(f"/alerts/{alert.pk}/bundle/?evidence={wanted}").status_code == 404, wanted
