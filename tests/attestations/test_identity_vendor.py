"""A device identity is enrolled only on a chip of its vendor (hostile review, session 14): before, a rival maker
enrolled an NVIDIA identity on its own chip, so the real chip's evidence read as a duplicate and NVIDIA could never
enrol it."""

import pytest

from registry.models import HardwareIdentity
from registry.registration import register_chips
from tests.attestations.conftest import World
from tests.attestations.evidence_helpers import (
    FIXTURE_IDENTITY,
    FIXTURE_NONCE,
    entry,
    fixture_chain,
    fixture_report,
    import_challenge,
    statement,
)
from tests.factories import OrganisationFactory, UserFactory, chip_rows

AMD_MODEL = "amd-instinct-mi300x"


@pytest.fixture
def amd_clerk(parties):
    return UserFactory(organisation=parties.amd, role="member")


class TestIdentitySquatting:
    """README, "Who may do what": "enrol a chip's device identity | manufacturer: its own make". A device
    identity is `<vendor>-<generation>:<HEX>`, the vendor being the maker whose CA certified the chip's key
    (HARDWARE.md check 6). A rival manufacturer enrolling an NVIDIA identity on one of its own AMD chips
    makes the real NVIDIA chip's verified evidence an `identity_duplicate` (not placed, not proved) and
    keeps NVIDIA itself from ever enrolling it (409 identity_duplicate)."""

    def test_a_manufacturer_does_not_enrol_another_vendors_identity_on_its_chip(self, api, world, parties, amd_clerk):
        register_chips(chip_rows("SQ", 1, model=AMD_MODEL, manufacturer="amd"), amd_clerk)
        squat = api(amd_clerk).post("/api/v1/chips/amd:SQ000000/identity/", {"device_identity": FIXTURE_IDENTITY})

        # op-a's real H100 then proves itself (trust on first use), as it would have without AMD's enrolment.
        import_challenge("op-a")
        st = statement(FIXTURE_NONCE, [entry("nvidia:A000001", fixture_report(), fixture_chain())])
        response, _ = world.submit(world.op_a, st, world.key_a)
        assert response.status_code == 201, response.content
        assert response.json()["flags"] == {"identity_enrolled": 1}, response.json()["flags"]
        # AMD's enrolment of an NVIDIA identity on an AMD chip was refused.
        assert squat.status_code in (400, 403, 404), (squat.status_code, squat.content[:300])
        assert HardwareIdentity.objects.get(identity=FIXTURE_IDENTITY).chip.manufacturer.code == "nvidia"

        # Nor does it keep NVIDIA from enrolling its own chip's identity.
        nvidia = api(parties.users["nvidia"]).post(
            "/api/v1/chips/nvidia:A000001/identity/", {"device_identity": FIXTURE_IDENTITY}
        )
        assert nvidia.status_code == 201, nvidia.content

    def test_nor_at_registration(self, api, parties, amd_clerk):
        rows = chip_rows("SQ", 1, model=AMD_MODEL, manufacturer="amd", device_identity=FIXTURE_IDENTITY)
        r = api(amd_clerk).post("/api/v1/chips/", rows)
        assert r.status_code == 400, (r.status_code, r.content[:300])
        assert not HardwareIdentity.objects.filter(identity=FIXTURE_IDENTITY).exists()


@pytest.fixture
def world(api, parties):
    return World(api, parties)


def test_a_maker_whose_vendor_word_is_not_its_code_is_configured(api, parties, amd_clerk, settings):
    """CHIPREG_IDENTITY_VENDORS names the vendor words of a maker whose certificates' O is not its code."""
    settings.CHIPREG_IDENTITY_VENDORS = {"amd": ["advanced"]}
    register_chips(chip_rows("SQ", 2, model=AMD_MODEL, manufacturer="amd"), amd_clerk)
    amd = api(amd_clerk)
    r = amd.post("/api/v1/chips/amd:SQ000000/identity/", {"device_identity": "advanced-mi300:0A1B2C"})
    assert r.status_code == 201, r.content
    r = amd.post("/api/v1/chips/amd:SQ000001/identity/", {"device_identity": "amd-mi300:0A1B2D"})
    assert r.status_code == 400 and r.json()["code"] == "identity_vendor", r.content
    assert "'advanced'" in r.json()["detail"]


# --- a third review: the evidence path, and vendor words that prefix another maker's ----------------------------


def test_trust_on_first_use_does_not_enrol_another_vendors_identity(api, world, parties):
    # op-a holds an AMD chip (registered as operators register what they hold).
    register_chips(chip_rows("SQ", 1, model=AMD_MODEL, manufacturer="amd"), parties.users["op_a_admin"])
    import_challenge("op-a")
    # It answers for the AMD chip with an NVIDIA H100's evidence (the fixture device).
    st = statement(FIXTURE_NONCE, [entry("amd:SQ000000", fixture_report(), fixture_chain())])
    response, _ = world.submit(world.op_a, st, world.key_a)
    assert response.status_code == 201, response.content
    assert response.json()["flags"] == {"identity_mismatch": 1}, response.json()["flags"]
    # An NVIDIA identity is never enrolled on an AMD chip ...
    assert not HardwareIdentity.objects.filter(chip__manufacturer__code="amd").exists(), list(
        HardwareIdentity.objects.values_list("identity", "chip__manufacturer__code", "source")
    )
    # ... so NVIDIA still enrols its own chip's identity.
    nvidia = api(parties.users["nvidia"]).post(
        "/api/v1/chips/nvidia:A000001/identity/", {"device_identity": FIXTURE_IDENTITY}
    )
    assert nvidia.status_code == 201, nvidia.content


def test_a_vendor_word_that_prefixes_another_makers_does_not_squat_its_identities(api, parties):
    """nvidia-x (a maker whose vendor word is its code, `nvidia-x`) has identities `nvidia-x-<gen>:<HEX>`."""
    OrganisationFactory(code="nvidia-x", kind="manufacturer")
    register_chips(chip_rows("PX", 1), parties.users["op_a_admin"])
    r = api(parties.users["nvidia"]).post(
        "/api/v1/chips/nvidia:PX000000/identity/", {"device_identity": "nvidia-x-h1:0A1B2C"}
    )
    assert r.status_code == 400 and r.json().get("code") == "identity_vendor", (r.status_code, r.content[:300])
