"""The chip page verifies log receipts itself: signature of the checkpoint, inclusion of each leaf."""

import pytest

from tests.console.helpers import text

CHIP = "/chips/nvidia:1653824019000/"


def test_receipts_verify(login):
    from transparency.checkpoints import latest_checkpoint

    page = text(login("inspector").get(CHIP))
    assert "FAILED" not in page
    assert page.count(">verified<") == 8  # one location and seven usage statements name this chip
    assert "All verified." in page
    checkpoint = latest_checkpoint()
    assert checkpoint.note.splitlines()[0] in page and checkpoint.note.splitlines()[2] in page


@pytest.mark.log_damaged
def test_a_rewritten_leaf_fails(login):
    from attestations.models import Attestation
    from transparency.models import LogLeaf

    usage = Attestation.objects.filter(kind="usage").order_by("id").first()
    leaf = LogLeaf.objects.get(index=usage.log_index)
    leaf.leaf = bytes(leaf.leaf).replace(b'"v":1', b'"v":2')
    leaf.save()
    page = text(login("treaty").get(CHIP))
    assert "FAILED" in page and "the inclusion proof does not verify" in page
    assert page.count(">verified<") == 7


@pytest.mark.log_damaged
def test_a_forged_checkpoint_fails(login):
    from transparency.checkpoints import latest_checkpoint
    from transparency.models import Checkpoint

    checkpoint = latest_checkpoint() or Checkpoint.objects.latest("size")
    lines = checkpoint.note.split("\n")
    lines[-2] = lines[-2][:-8] + ("AAAAAAA=" if not lines[-2].endswith("AAAAAAA=") else "BBBBBBB=")
    Checkpoint.objects.filter(pk=checkpoint.pk).update(note="\n".join(lines))
    page = text(login("treaty").get(CHIP))
    assert "FAILED" in page and "checkpoint signature" in page
    assert ">verified<" not in page


def test_a_chip_no_statement_names(login):
    page = text(login("operator").get("/chips/nvidia:1653924010005/"))
    assert "No statement in your view names this chip." in page


def test_chip_page_shows_history_placements_and_findings(login):
    page = text(login("operator").get(CHIP))
    assert "Identity changed" in page and "GPU-" in page and "nvidia-smi" in page
    assert "US-VA-001" in page and "va-train-1" in page
    moved = text(login("operator").get("/chips/nvidia:1653824019044/"))
    assert "Status changed" in moved and "in_transit" in moved and "US-TX-001" in moved
    missing = text(login("inspector").get("/chips/nvidia:1653824019030/"))
    assert "unaccounted" in missing
