"""sign_covering and inclusion_proofs: what alert evidence is sealed with (compliance.evidence)."""

import pytest

from protocol import merkle, note
from transparency.checkpoints import NotInLog, sign_covering, sign_if_due, verifier_key_line
from transparency.log import ProofRangeError, inclusion_proof, inclusion_proofs
from transparency.models import Checkpoint

from .helpers import append_events, stored_leaf_hashes


def test_sign_covering_signs_within_the_interval_only_when_nothing_covers(db, settings):
    settings.CHIPREG_CHECKPOINT_INTERVAL_S = 3600
    append_events(3)
    first = sign_if_due(wait=False)
    assert first.size == 3
    assert sign_covering(2) == first  # covered: nothing signed
    append_events(2, prefix="NEW")
    assert sign_if_due(wait=False) == first  # the interval holds for appends
    covering = sign_covering(4)
    assert covering.size == 5 and Checkpoint.objects.count() == 2
    signed = note.verify_checkpoint(covering.note, verifier_key_line())
    assert (signed.size, signed.root) == (5, merkle.root_from_leaf_hashes(stored_leaf_hashes()))
    assert sign_covering(3) == covering  # and now that one covers it
    with pytest.raises(NotInLog):
        sign_covering(5)
    assert Checkpoint.objects.count() == 2


def test_sign_covering_signs_the_first_checkpoint(db, settings):
    settings.CHIPREG_CHECKPOINT_INTERVAL_S = 3600
    append_events(1)
    assert not Checkpoint.objects.exists()
    assert sign_covering(0).size == 1


def test_inclusion_proofs_are_the_single_proofs_from_one_read(db, django_assert_num_queries):
    append_events(37)
    hashes = stored_leaf_hashes()
    with django_assert_num_queries(1):
        proofs = inclusion_proofs([36, 0, 17, 17, 5], 37)
    assert sorted(proofs) == [0, 5, 17, 36]
    for index, proof in proofs.items():
        assert proof == inclusion_proof(index, 37) == merkle.inclusion_proof(index, 37, hashes)
    assert inclusion_proofs([], 37) == {}
    with pytest.raises(ProofRangeError):
        inclusion_proofs([3, 37], 37)
