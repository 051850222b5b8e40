"""A chip's model is its manufacturer's word (README: corrected only by its manufacturer or the treaty body).
When the treaty body corrects the model of a chip an operator holds, the manufacturer reads that
`chip.model_corrected` event, as it reads every `chip.identity_enrolled` of its make: otherwise the maker
whose word the model rests on never learns that its chips were relabelled. Others still do not."""

from registry.models import ChipEvent
from tests.factories import chip_rows

H100 = "nvidia-h100-sxm5-80gb"
H20 = "nvidia-h20"


def reads(api, user, index):
    response = api(user).get(f"/api/v1/log/entries/{index}")
    assert response.status_code in (200, 403), response.content
    return response.status_code == 200


def test_the_manufacturer_reads_the_treaty_bodys_correction_of_its_chip(api, parties):
    holder = api(parties.users["op_a_admin"])
    assert holder.post("/api/v1/chips/", chip_rows("RELABEL", 1)).status_code == 201
    response = api(parties.users["treaty"]).patch(
        "/api/v1/chips/nvidia:RELABEL000000/", {"model": H20, "reason": "declared an H20"}
    )
    assert response.status_code == 200, response.content
    index = ChipEvent.objects.get(chip__serial="RELABEL000000", kind="model").log_index
    assert reads(api, parties.users["nvidia"], index)
    assert reads(api, parties.users["op_a_member"], index)
    assert reads(api, parties.users["insp_us"], index)
    assert not reads(api, parties.users["op_b"], index)
    assert not reads(api, parties.users["insp_fr"], index)


def test_another_maker_does_not_read_it(api, parties):
    from tests.factories import UserFactory

    holder = api(parties.users["op_a_admin"])
    assert holder.post("/api/v1/chips/", chip_rows("RELABEL", 1)).status_code == 201
    assert api(parties.users["treaty"]).patch("/api/v1/chips/nvidia:RELABEL000000/", {"model": H20}).status_code == 200
    index = ChipEvent.objects.get(chip__serial="RELABEL000000", kind="model").log_index
    assert not reads(api, UserFactory(organisation=parties.amd, role="member"), index)
