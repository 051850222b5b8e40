"""A vendor CA's names are its own to choose, and a chip carries them into a statement: whatever bytes they
hold (a NUL, control characters, words the registry cannot use as an identity), the chip's evidence is a
finding for that chip and the statement is accepted, never a refusal or a 500."""

import pytest

from attestations.models import ChipEvidence
from protocol.evidence_factory import Vendor
from protocol.hardware import default_roots_folder
from registry.models import HardwareIdentity
from tests.attestations.evidence_helpers import entry, issued, statement


@pytest.fixture(autouse=True)
def example_vendor_makes_the_chips(settings):
    """The throwaway vendor's identities ("example-gx100:...") stand for the chips' maker's here, as a real maker's
    would once configured (CHIPREG_IDENTITY_VENDORS): an identity of another vendor than the chip's maker is
    identity_mismatch (tests/attestations/test_identity_vendor.py)."""
    settings.CHIPREG_IDENTITY_VENDORS = {"nvidia": ["nvidia", "example"]}


@pytest.mark.parametrize(
    "organisation, generation",
    [("Ex\x00ample", "GX100"), ("Example", "GX\x00100"), ("Exa$mple Corp", "GX100"), ("Ex\u202eample", "G/X")],
)
def test_odd_names_in_the_identity_certificate_are_the_chips_finding(
    world, tmp_path, settings, organisation, generation
):
    vendor = Vendor(organisation=organisation, generation=generation)
    (tmp_path / "vendor.pem").write_bytes(vendor.root_pem())
    (tmp_path / "nvidia.pem").write_bytes((default_roots_folder() / "nvidia-device-identity-ca.pem").read_bytes())
    settings.CHIPREG_HARDWARE_ROOTS = str(tmp_path)
    good = Vendor()
    (tmp_path / "good.pem").write_bytes(good.root_pem())
    nonce = issued(world.op_a)
    odd, fine = vendor.device("0123456789ABCDEF01"), good.device("0123456789ABCDEF02")
    body = statement(
        nonce, [entry("nvidia:A000003", *odd.evidence(nonce)), entry("nvidia:A000004", *fine.evidence(nonce))]
    )
    response, _ = world.submit(world.op_a, body, world.key_a)
    assert response.status_code == 201, response.content[:400]
    rows = dict(ChipEvidence.objects.values_list("chip_ref", "outcome"))
    assert rows["nvidia:A000004"] == "verified"
    assert rows["nvidia:A000003"] == "evidence_invalid"
    assert ChipEvidence.objects.get(chip_ref="nvidia:A000003").step == "identity"
    assert list(HardwareIdentity.objects.values_list("identity", flat=True)) == [fine.identity]
