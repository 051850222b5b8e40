"""No manufacturer whose device-identity vendor word clashes with another maker's (hostile review, session 14).

Vendor and generation words of an identity may both hold '-' (HARDWARE.md check 6), so with makers `nvidia` and
`nvidia-gb200` the identity `nvidia-gb200-nvl:...` could be read as either's. A registry administrator creating,
or the treaty body re-kinding, an organisation with such a code took over (the longest word won) or blocked the
first maker's identities: NVIDIA's own enrolment refused, the newcomer registering them, the real chips' evidence
read as another vendor's. Now such a maker is refused (400 `vendor_word_clash`), and a configured word stays its
maker's whatever code another organisation has.
"""

import pytest

from core.errors import Invalid
from registry.hardware_identity import maker_of
from registry.records import create_organisation
from registry.registration import register_chips
from tests.factories import OrganisationFactory, UserFactory, chip_rows

AMD_MODEL = "amd-instinct-mi300x"
NV_1 = "nvidia-gb200-nvl:0A1B2C"
NV_2 = "nvidia-gb200-nvl:0A1B2D"


@pytest.fixture
def registry_admin(db):
    return UserFactory(is_superuser=True, is_staff=True)


def test_the_treaty_body_cannot_make_a_clashing_code_a_manufacturer(api, parties):
    register_chips(chip_rows("PX", 2), parties.users["op_a_admin"])
    nvidia = api(parties.users["nvidia"])
    assert nvidia.post("/api/v1/chips/nvidia:PX000000/identity/", {"device_identity": NV_1}).status_code == 201
    rival = OrganisationFactory(code="nvidia-gb200", kind="operator")
    flip = api(parties.users["treaty"]).patch(f"/api/v1/organisations/{rival.code}/", {"kind": "manufacturer"})
    assert flip.status_code == 400 and flip.json()["code"] == "vendor_word_clash", flip.content
    rival.refresh_from_db()
    assert rival.kind == "operator"
    # NVIDIA's identities stay NVIDIA's: confirmed again, and the next of the generation enrolled.
    assert maker_of(NV_1) == "nvidia"
    assert nvidia.post("/api/v1/chips/nvidia:PX000000/identity/", {"device_identity": NV_1}).status_code in (200, 201)
    assert nvidia.post("/api/v1/chips/nvidia:PX000001/identity/", {"device_identity": NV_2}).status_code == 201


def test_a_registry_administrator_cannot_create_one_either(parties, registry_admin, settings):
    with pytest.raises(Invalid) as refused:
        create_organisation(registry_admin, code="nvidia-gb200", name="Rival", kind="manufacturer", country="US")
    assert refused.value.code == "vendor_word_clash"
    # Nor one whose configured word another maker's code extends.
    settings.CHIPREG_IDENTITY_VENDORS = {"newco": ["nvidia"]}
    with pytest.raises(Invalid) as refused:
        create_organisation(registry_admin, code="newco", name="NewCo", kind="manufacturer", country="US")
    assert refused.value.code == "vendor_word_clash"
    # "nv" is no word of another maker, nor a '-' prefix of one: created.
    assert create_organisation(registry_admin, code="nv", name="NV", kind="manufacturer", country="US").pk


def test_a_configured_vendor_word_stays_its_makers(api, parties, settings):
    """With AMD configured to carry `xilinx-...` identities, an organisation coded `xilinx` made a manufacturer
    (by data, as the check above would refuse) does not take them."""
    settings.CHIPREG_IDENTITY_VENDORS = {"amd": ["amd", "xilinx"]}
    amd_clerk = UserFactory(organisation=parties.amd, role="member")
    register_chips(chip_rows("SQ", 2, model=AMD_MODEL, manufacturer="amd"), amd_clerk)
    amd = api(amd_clerk)
    assert amd.post("/api/v1/chips/amd:SQ000000/identity/", {"device_identity": "xilinx-v80:0A1B2C"}).status_code == 201
    OrganisationFactory(code="xilinx", kind="manufacturer")
    assert maker_of("xilinx-v80:0A1B2C") == "amd"
    r = amd.post("/api/v1/chips/amd:SQ000001/identity/", {"device_identity": "xilinx-v80:0A1B2D"})
    assert r.status_code == 201, r.content
