"""A manufacturer's batch that gives one device identity to two of its chips: the batch is refused as bad
input, naming the row (400 `invalid_rows`), not a server error from the database's unique key, and
nothing of it is written or logged. In JSON and in a CSV upload alike."""

from registry.models import Chip, HardwareIdentity
from transparency.models import LogEventData

H100 = "nvidia-h100-sxm5-80gb"
IDENTITY = "nvidia-gh100:0A1B2C3D"


def test_one_identity_for_two_chips_in_a_batch_is_a_named_row_error(api, parties):
    maker = api(parties.users["nvidia"])
    rows = [
        {"chip": "nvidia:TWIN000001", "model": H100, "device_identity": IDENTITY},
        {"chip": "nvidia:TWIN000002", "model": H100, "device_identity": IDENTITY},
    ]
    response = maker.post("/api/v1/chips/", rows)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid_rows"
    assert body["errors"] == [{"row": 2, "field": "device_identity", "message": "the device identity of row 1"}]
    assert not Chip.objects.filter(serial__startswith="TWIN").exists()
    assert not HardwareIdentity.objects.exists()
    assert not LogEventData.objects.exists()


def test_the_same_in_a_csv_upload(api, parties):
    maker = api(parties.users["nvidia"])
    body = (
        "chip,model,device_identity\n"
        f"nvidia:TWIN000001,{H100},{IDENTITY}\n"
        f"nvidia:TWIN000002,{H100},{IDENTITY}\n"
        f"nvidia:TWIN000003,{H100},{IDENTITY}\n"
    )
    response = maker.client.post("/api/v1/chips/", body, content_type="text/csv")
    assert response.status_code == 400, response.content
    assert [(e["row"], e["field"]) for e in response.json()["errors"]] == [
        (2, "device_identity"),
        (3, "device_identity"),
    ]
    assert not Chip.objects.filter(serial__startswith="TWIN").exists()


def test_an_identity_enrolled_for_another_chip_meanwhile_is_a_409(api, parties, monkeypatch):
    """The batch reads which identities are taken before its enrolment takes the log's lock; one enrolled for
    another chip in between (simulated: that read comes back stale) is a 409, not a server error."""
    maker = api(parties.users["nvidia"])
    first = maker.post("/api/v1/chips/", [{"chip": "nvidia:TWIN000001", "model": H100, "device_identity": IDENTITY}])
    assert first.status_code == 201, first.content
    monkeypatch.setattr("registry.hardware_identity.owners", lambda identities: {})
    response = maker.post("/api/v1/chips/", [{"chip": "nvidia:TWIN000002", "model": H100, "device_identity": IDENTITY}])
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "identity_duplicate"
    assert not Chip.objects.filter(serial="TWIN000002").exists()
    assert HardwareIdentity.objects.get(identity=IDENTITY).chip.serial == "TWIN000001"


def test_a_malformed_or_another_vendors_identity_is_a_named_row_error(api, parties):
    """At registration, what `identity/` answers `invalid_identity` or `identity_vendor` is a row error of the
    batch (400 `invalid_rows`, the row's message saying which), as the README says; nothing is registered."""
    maker = api(parties.users["nvidia"])
    rows = [
        {"chip": "nvidia:ROWID00001", "model": H100, "device_identity": "not an identity"},
        {"chip": "nvidia:ROWID00002", "model": H100, "device_identity": "amd-mi300:0A1B2C"},
    ]
    response = maker.post("/api/v1/chips/", rows)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid_rows"
    assert [(e["row"], e["field"]) for e in body["errors"]] == [(1, "device_identity"), (2, "device_identity")]
    assert "<vendor>-<generation>:<HEX>" in body["errors"][0]["message"]
    assert "amd-mi300:0A1B2C" in body["errors"][1]["message"]
    assert not Chip.objects.filter(serial__startswith="ROWID").exists()
    assert not HardwareIdentity.objects.exists()
