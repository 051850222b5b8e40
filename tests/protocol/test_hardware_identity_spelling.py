"""Every identity check 6 can derive is one a manufacturer may enrol (protocol.hardware.is_identity)."""

from hypothesis import given
from hypothesis import strategies as st

from protocol.hardware import IDENTITY_WORD, MAX_IDENTITY, is_identity

WORD = st.from_regex(IDENTITY_WORD, fullmatch=True).filter(lambda w: w.isascii())
HEX = st.text(alphabet="0123456789ABCDEF", min_size=1, max_size=90)


@given(WORD, WORD, HEX)
def test_what_check_6_derives_is_an_identity(vendor, generation, serial):
    identity = f"{vendor}-{generation}:{serial}"
    assert is_identity(identity) == (len(identity) <= MAX_IDENTITY)


@given(st.text(max_size=120))
def test_garbage_is_no_identity_unless_spelled_as_one(value):
    if is_identity(value):
        vendor_generation, _, serial = value.partition(":")
        assert len(value) <= MAX_IDENTITY and serial and all(c in "0123456789ABCDEF" for c in serial)
        assert vendor_generation.isascii() and vendor_generation == vendor_generation.lower()
