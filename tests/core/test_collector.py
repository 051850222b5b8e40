"""core.collector: the cyclic collector is off while a statement is stored, and as it was after."""

import gc

import pytest

from core import collector


def test_paused_turns_the_collector_off_and_back_on_even_on_an_error():
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector.paused():
        assert not gc.isenabled()
        raise RuntimeError("the work failed")
    assert gc.isenabled()


def test_paused_leaves_a_collector_disabled_by_its_owner_disabled():
    gc.disable()
    try:
        with collector.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # not re-enabled behind its owner's back
    finally:
        gc.enable()
