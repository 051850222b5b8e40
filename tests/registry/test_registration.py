"""Bulk registration: one chip or a million, all or nothing, bad input named by row."""

import json

import pytest
from django.db import connection

from registry.models import Chip, ChipEvent, ChipIdentity, RegistrationBatch
from registry.registration import _open_batch, _write, register_chips, validate_rows
from tests.factories import chip_rows
from transparency.models import LogEventData, LogLeaf


@pytest.fixture
def operator(parties):
    return parties.users["op_a_admin"]


def post(api, user, data, **kwargs):
    return api(user).post("/api/v1/chips/", data, **kwargs)


def test_register_one_chip_as_object(api, operator):
    response = post(api, operator, {"chip": "nvidia:1653824019022", "model": "nvidia-h100-sxm5-80gb"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["created"] == 1 and body["existing"] == 0 and body["log_index"] is not None
    chip = Chip.objects.get(serial="1653824019022")
    assert chip.custodian == operator.organisation
    assert chip.status == "installed"  # operators register what they run
    assert chip.country == "US"
    detail = api(operator).get("/api/v1/chips/nvidia:1653824019022/").json()
    assert detail["id"] == "nvidia:1653824019022"
    assert detail["model"] == "nvidia-h100-sxm5-80gb"


def test_register_with_manufacturer_and_serial_normalises(api, operator):
    response = post(
        api, operator, [{"manufacturer": "NVIDIA", "serial": " ab-12.x_9 ", "model": "nvidia-h200-sxm-141gb"}]
    )
    assert response.status_code == 201, response.content
    assert Chip.objects.filter(serial="AB-12.X_9").exists()


def test_batch_is_logged_once_with_a_digest_of_its_chips(api, operator):
    response = post(api, operator, chip_rows("LOG", 50))
    index = response.json()["log_index"]
    event = LogEventData.objects.get(index=index)
    data = json.loads(event.data_jcs)
    assert event.event == "chip.registered"
    assert data["count"] == 50 and data["organisation"] == "op-a"
    from registry.registration import chips_digest

    assert data["chips_sha256"] == chips_digest([f"nvidia:LOG{i:06d}" for i in range(50)])
    assert LogLeaf.objects.filter(index=index, kind="event").exists()


def test_same_data_again_is_a_noop(api, operator):
    assert post(api, operator, chip_rows("DUP", 3)).status_code == 201
    leaves = LogLeaf.objects.count()
    again = post(api, operator, chip_rows("DUP", 3))
    assert again.status_code == 200
    assert again.json() == {"batch": None, "submitted": 3, "created": 0, "existing": 3, "log_index": None}
    assert Chip.objects.filter(serial__startswith="DUP").count() == 3
    assert LogLeaf.objects.count() == leaves


def test_partly_new_batch_creates_only_the_new(api, operator):
    post(api, operator, chip_rows("MIX", 2))
    response = post(api, operator, chip_rows("MIX", 5))
    assert response.status_code == 201
    assert response.json()["created"] == 3 and response.json()["existing"] == 2


def test_new_chips_around_registered_ones(api, operator):
    """First and last chips new, some in the middle registered: the straight COPY's identities meet the
    unique key, the copy is rolled back, and the batch is compared row by row instead."""
    from registry.registration import chips_digest

    post(api, operator, chip_rows("MID", 10)[4:7])
    response = post(api, operator, chip_rows("MID", 10))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["created"] == 7 and body["existing"] == 3
    assert Chip.objects.filter(serial__startswith="MID").count() == 10
    data = json.loads(LogEventData.objects.get(index=body["log_index"]).data_jcs)
    new = [f"nvidia:MID{i:06d}" for i in (0, 1, 2, 3, 7, 8, 9)]
    assert data["count"] == 7 and data["chips_sha256"] == chips_digest(new)


def test_conflict_among_new_chips_stores_nothing(api, operator):
    post(api, operator, chip_rows("MIDC", 10)[5:6])
    rows = chip_rows("MIDC", 10)
    rows[5]["model"] = "nvidia-h200-sxm-141gb"
    leaves = LogLeaf.objects.count()
    response = post(api, operator, rows)
    assert response.status_code == 409, response.content
    assert response.json()["conflicts"] == [{"row": 6, "chip": "nvidia:MIDC000005", "fields": ["model"]}]
    assert Chip.objects.filter(serial__startswith="MIDC").count() == 1
    assert LogLeaf.objects.count() == leaves


def test_text_fields_are_stored_verbatim(api, operator):
    texts = {"uuid": "GPU-a\\b\tc", "board_part_number": "692\nX\r", "attestation_key_fingerprint": "\\N"}
    rows = chip_rows("TXT", 3)
    rows[1].update(texts)
    response = post(api, operator, rows)
    assert response.status_code == 201, response.content
    chip = Chip.objects.get(serial="TXT000001")
    assert {f: getattr(chip, f) for f in texts} == {f: v.strip() for f, v in texts.items()}
    assert Chip.objects.get(serial="TXT000000").uuid == ""
    assert post(api, operator, rows).status_code == 200  # the same data again: a no-op


def test_batch_digest_is_over_normalised_ids_in_any_spelling(api, operator):
    from registry.registration import chips_digest

    rows = [
        {"chip": "nvidia:SPELL000002", "model": "nvidia-h100-sxm5-80gb"},
        {"chip": "NVIDIA:spell000001", "model": "nvidia-h100-sxm5-80gb"},
        {"manufacturer": "nvidia", "serial": " spell000000 ", "model": "nvidia-h100-sxm5-80gb"},
    ]
    body = post(api, operator, rows).json()
    data = json.loads(LogEventData.objects.get(index=body["log_index"]).data_jcs)
    assert data["chips_sha256"] == chips_digest([f"nvidia:SPELL{i:06d}" for i in range(3)])


def test_chips_digest():
    import hashlib

    from registry.registration import chips_digest

    assert chips_digest([]) == hashlib.sha256(b"").hexdigest()
    assert chips_digest(["b:2", "a:1"]) == hashlib.sha256(b"a:1\nb:2\n").hexdigest()


@pytest.mark.parametrize(
    "change,field",
    [
        ({"model": "nvidia-h200-sxm-141gb"}, "model"),
        ({"uuid": "GPU-other"}, "uuid"),
        ({"board_part_number": "692-X"}, "board_part_number"),
    ],
)
def test_different_data_is_a_409_naming_the_conflict(api, operator, change, field):
    post(api, operator, chip_rows("CON", 3, uuid="GPU-1", board_part_number="692-A"))
    rows = chip_rows("CON", 3, uuid="GPU-1", board_part_number="692-A") + chip_rows("FRESH", 2)
    rows[1].update(change)
    response = post(api, operator, rows)
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["code"] == "chip_conflict"
    assert body["conflicts"][0] == {"row": 2, "chip": "nvidia:CON000001", "fields": [field]}
    assert not Chip.objects.filter(serial__startswith="FRESH").exists()  # all or nothing


def test_chip_of_another_custodian_is_a_conflict(api, parties):
    post(api, parties.users["op_a_admin"], chip_rows("TAKEN", 1))
    response = post(api, parties.users["op_b"], chip_rows("TAKEN", 1))
    assert response.status_code == 409
    # Another party's chip: only that it is registered to another party, never which fields differ.
    assert response.json()["conflicts"][0] == {
        "row": 1,
        "chip": "nvidia:TAKEN000000",
        "registered_to_another_party": True,
    }


@pytest.mark.parametrize(
    "bad,field",
    [
        ({"chip": "nvidia:X", "model": "nvidia-h100-sxm5-80gb"}, "chip"),  # serial too short
        ({"chip": "nvidia:ok serial", "model": "nvidia-h100-sxm5-80gb"}, "chip"),
        ({"chip": "nvidia:GOODSERIAL", "model": "no-such-model"}, "model"),
        ({"chip": "amd:GOODSERIAL", "model": "nvidia-h100-sxm5-80gb"}, "model"),  # model of another maker
        ({"chip": "acme:GOODSERIAL", "model": "nvidia-h100-sxm5-80gb"}, "manufacturer"),
        ({"chip": "nvidia:GOODSERIAL", "model": "nvidia-h100-sxm5-80gb", "status": "melted"}, "status"),
        ({"chip": "nvidia:GOODSERIAL", "model": "nvidia-h100-sxm5-80gb", "colour": "red"}, "colour"),
        ({"chip": 12, "model": "nvidia-h100-sxm5-80gb"}, "chip"),
        ({"model": "nvidia-h100-sxm5-80gb"}, "chip"),
        ({"chip": "nvidia:GOODSERIAL", "model": "nvidia-h100-sxm5-80gb", "uuid": "x" * 65}, "uuid"),
        (
            {"chip": "nvidia:GOODSERIAL", "model": "nvidia-h100-sxm5-80gb", "board_part_number": "69\x002"},
            "board_part_number",
        ),
        ("not an object", "row"),
    ],
)
def test_one_bad_row_stores_nothing_and_is_named(api, operator, bad, field):
    rows = chip_rows("OKAY", 10)
    rows.insert(7, bad)
    before = (Chip.objects.count(), LogLeaf.objects.count(), RegistrationBatch.objects.count())
    response = post(api, operator, rows)
    assert response.status_code == 400, response.content
    body = response.json()
    assert response["Content-Type"] == "application/problem+json"
    assert body["code"] == "invalid_rows"
    assert body["errors"][0]["row"] == 8 and body["errors"][0]["field"] == field
    assert (Chip.objects.count(), LogLeaf.objects.count(), RegistrationBatch.objects.count()) == before


def test_duplicate_in_one_batch_names_both_rows(api, operator):
    rows = chip_rows("TWICE", 3)
    rows.append({"chip": "nvidia:twice000001", "model": "nvidia-h100-sxm5-80gb"})  # same chip, other spelling
    response = post(api, operator, rows)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["row"] == 4 and "row 2" in error["message"]
    assert not Chip.objects.filter(serial__startswith="TWICE").exists()


def test_errors_are_capped_but_counted(api, operator):
    rows = [{"chip": "nvidia:X", "model": "nvidia-h100-sxm5-80gb"}] * 50
    body = post(api, operator, rows).json()
    assert body["error_count"] == 50 and len(body["errors"]) == 20


def test_empty_batch(api, operator):
    assert post(api, operator, []).json()["code"] == "empty_batch"


def test_too_many_rows(api, operator, settings):
    settings.CHIPREG_BULK_MAX_ROWS = 5
    response = post(api, operator, chip_rows("MANY", 6))
    assert response.status_code == 413 and response.json()["code"] == "too_many_rows"


def test_csv_upload(api, operator):
    body = "chip,model,uuid\nnvidia:CSV001,nvidia-h100-sxm5-80gb,GPU-1\nnvidia:CSV002,nvidia-h100-sxm5-80gb,\n"
    response = post(api, operator, body, content_type="text/csv")
    assert response.status_code == 201, response.content
    assert Chip.objects.get(serial="CSV001").uuid == "GPU-1"
    assert Chip.objects.get(serial="CSV002").uuid == ""


def test_csv_with_bad_row_names_it(api, operator):
    body = "manufacturer,serial,model\nnvidia,CSV101,nvidia-h100-sxm5-80gb\nnvidia,CSV102,bogus\n"
    response = post(api, operator, body, content_type="text/csv")
    assert response.status_code == 400
    assert response.json()["errors"][0]["row"] == 2
    assert not Chip.objects.filter(serial="CSV101").exists()


@pytest.mark.parametrize(
    "body",
    [
        'chip,model\n"nvidia:UNTERMINATED,nvidia-h100-sxm5-80gb\n',
        "chip,chip\nnvidia:A12,nvidia:B12\n",
        "chip,model\nnvidia:EXTRA1,nvidia-h100-sxm5-80gb,surplus\n",
        "",
    ],
)
def test_malformed_csv(api, operator, body):
    response = post(api, operator, body, content_type="text/csv")
    assert response.status_code == 400
    assert response.json()["code"] in ("malformed_json", "invalid_rows", "empty_batch")
    assert Chip.objects.count() == 0


def test_non_utf8_csv(api, operator):
    response = post(api, operator, b"chip,model\n\xff\xfe,x\n", content_type="text/csv")
    assert response.status_code == 400


def test_wrong_content_type(api, operator):
    response = post(api, operator, "<chips/>", content_type="application/xml")
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


@pytest.mark.parametrize("body", [b"{", b"[1,2", b"\xff\xfe", b"null", b"42", b'"x"', b"[[]]"])
def test_garbage_json(api, operator, body):
    response = post(api, operator, body, content_type="application/json")
    assert 400 <= response.status_code < 500, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert Chip.objects.count() == 0


def test_oversized_body(api, operator, settings):
    settings.CHIPREG_BODY_LIMITS = {"/api/v1/chips/": 1000}
    response = post(api, operator, chip_rows("BIG", 100))
    assert response.status_code == 413
    body = response.json()
    assert body["code"] == "payload_too_large" and "1000" in body["detail"]


def test_manufacturer_registers_only_its_own(api, parties):
    user = parties.users["nvidia"]
    assert post(api, user, chip_rows("MINE", 2)).status_code == 201
    assert Chip.objects.get(serial="MINE000000").status == "manufactured"
    response = post(api, user, chip_rows("THEIRS", 1, model="amd-instinct-mi300x", manufacturer="amd"))
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "manufacturer"


def test_writer_tells_new_same_and_different(parties):
    """The one writer: new chips (COPY), the same again (nothing new), different data (409 naming the field)."""
    user = parties.users["op_a_admin"]
    org = user.organisation
    rows = validate_rows(chip_rows("GEN", 30), org)
    ends = rows[0][1:3], rows[-1][1:3]
    batch, floor, registered = _open_batch(org, user, 30, *ends)
    assert RegistrationBatch.objects.filter(pk=batch.pk, organisation=org, user=user, submitted=30).exists()
    assert not registered
    assert _write(rows, org, batch, [], floor, registered) == 30
    assert set(ChipIdentity.objects.filter(serial__startswith="GEN").values_list("chip_id", flat=True)) == set(
        Chip.objects.filter(serial__startswith="GEN").values_list("pk", flat=True)
    )
    retry, floor, registered = _open_batch(org, user, 30, *ends)
    assert registered
    assert _write(rows, org, retry, [], floor, registered) == 0
    changed = validate_rows(chip_rows("GEN", 30, model="nvidia-h200-sxm-141gb"), org)
    from core.errors import DomainError

    with pytest.raises(DomainError) as exc:
        _write(changed, org, retry, [], floor, registered)
    assert exc.value.status == 409
    assert exc.value.extra["conflicts"][0]["fields"] == ["model"]
    # Told the ends are new when a middle one is not: the copy meets the identity key and is taken back.
    new_keys = []
    mixed = validate_rows(chip_rows("GEN", 40)[25:], org)
    third, floor, registered = _open_batch(org, user, len(mixed), mixed[0][1:3], mixed[-1][1:3])
    assert registered  # GEN000025 is the first
    assert _write(mixed, org, third, new_keys, floor, False) == 10
    assert sorted(s for _, s in new_keys) == [f"GEN{i:06d}" for i in range(30, 40)]
    assert (
        Chip.objects.filter(serial__startswith="GEN").count()
        == ChipIdentity.objects.filter(serial__startswith="GEN").count()
        == 40
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_registration_of_the_same_chip_with_different_data(parties):
    """The insert-then-compare order catches a conflict committed by a concurrent request."""
    import threading

    from django.db import connections

    from core.errors import DomainError

    user_a, user_b = parties.users["op_a_admin"], parties.users["op_b"]
    results = {}
    barrier = threading.Barrier(2)

    def register(name, user):
        try:
            barrier.wait()
            results[name] = register_chips(chip_rows("RACE", 200), user).created
        except DomainError as exc:
            results[name] = exc.status
        finally:
            connections.close_all()

    threads = [threading.Thread(target=register, args=(n, u)) for n, u in (("a", user_a), ("b", user_b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == [200, 409]
    assert Chip.objects.filter(serial__startswith="RACE").count() == 200
    assert Chip.objects.filter(serial__startswith="RACE").values("custodian").distinct().count() == 1


def test_large_batch_uses_set_based_writes(api, operator, django_assert_max_num_queries):
    """20,000 chips in a bounded number of statements: no save per row."""
    rows = chip_rows("BULK", 20_000)
    with django_assert_max_num_queries(40):
        response = post(api, operator, rows)
    assert response.status_code == 201
    assert Chip.objects.filter(serial__startswith="BULK").count() == 20_000
    assert connection.vendor == "postgresql"


def test_history_and_log_of_changes(api, parties):
    user = parties.users["op_a_admin"]
    post(api, user, chip_rows("HIST", 1))
    path = "/api/v1/chips/nvidia:HIST000000/"
    assert api(user).patch(path, {"status": "lost", "reason": "end of life"}).status_code == 200
    assert api(user).patch(path, {"uuid": "GPU-abc"}).status_code == 200
    # Custody moves only through a transfer (tests/registry/test_authority.py); the model by its manufacturer.
    response = api(parties.users["nvidia"]).patch(path, {"model": "nvidia-h200-sxm-141gb", "reason": "relabelled"})
    assert response.status_code == 200, response.content
    history = api(user).get(path + "history/").json()["results"]
    assert [e["kind"] for e in history] == ["status", "identity", "model"]
    assert history[0]["before"] == {"status": "installed"} and history[0]["after"] == {"status": "lost"}
    assert history[0]["actor"] == user.username and history[0]["reason"] == "end of life"
    events = LogEventData.objects.filter(object_id="nvidia:HIST000000").order_by("index")
    assert [e.event for e in events] == ["chip.status_changed", "chip.identity_changed", "chip.model_corrected"]
    assert [e["log_index"] for e in history] == [e.index for e in events]


def test_history_is_append_only(parties):
    from django.core.exceptions import ValidationError

    register_chips(chip_rows("APP", 1), parties.users["op_a_admin"])
    from registry.services import change_chip

    chip = Chip.objects.get(serial="APP000000")
    (event,) = change_chip(chip, parties.users["op_a_admin"], status="lost")
    event.reason = "rewritten"
    with pytest.raises(ValidationError):
        event.save()
    with pytest.raises(ValidationError):
        event.delete()
    assert ChipEvent.objects.get(pk=event.pk).reason == ""


@pytest.mark.parametrize(
    "start,target,ok",
    [
        ("installed", "lost", True),
        ("lost", "installed", True),
        # Off the books only by a witnessed disposal request (tests/registry/test_disposals.py).
        ("installed", "decommissioned", "disposal_by_request"),
        ("decommissioned", "destroyed", "disposal_by_request"),
        ("destroyed", "installed", False),
        ("installed", "manufactured", False),
        ("stolen", "installed", True),
    ],
)
def test_status_transitions(api, parties, start, target, ok):
    user = parties.users["op_a_admin"]
    register_chips(chip_rows("ST", 1), user)
    # A chip is registered live (test_registration_refuses_statuses_off_the_books); the start state is set here.
    Chip.objects.filter(serial="ST000000").update(status=start)
    response = api(user).patch("/api/v1/chips/nvidia:ST000000/", {"status": target})
    assert response.status_code == (200 if ok is True else 409), response.content
    if ok is not True:
        assert response.json()["code"] == (ok or "invalid_transition")
    assert Chip.objects.get(serial="ST000000").status == (target if ok is True else start)


@pytest.mark.parametrize("status", ["destroyed", "decommissioned", "lost", "stolen"])
def test_registration_refuses_statuses_off_the_books(api, parties, status):
    """Registered already destroyed (or lost), a chip would never count: it enters the books live."""
    response = api(parties.users["op_a_admin"]).post("/api/v1/chips/", chip_rows("OFF", 1, status=status))
    assert response.status_code == 400, response.content
    assert not Chip.objects.filter(serial="OFF000000").exists()


def test_change_rejects_unknown_fields(api, parties):
    user = parties.users["op_a_admin"]
    register_chips(chip_rows("UNK", 1), user)
    response = api(user).patch("/api/v1/chips/nvidia:UNK000000/", {"serial": "OTHER"})
    assert response.status_code == 400
    assert Chip.objects.filter(serial="UNK000000").exists()


def test_list_query_count_is_constant(api, parties, django_assert_max_num_queries):
    user = parties.users["treaty"]
    register_chips(chip_rows("QC", 150), parties.users["op_a_admin"])
    with django_assert_max_num_queries(6):
        response = api(user).get("/api/v1/chips/?limit=150")
    assert len(response.json()["results"]) == 150


def test_keyset_pagination_walks_everything(api, parties):
    register_chips(chip_rows("PG", 25), parties.users["op_a_admin"])
    client = api(parties.users["op_a_admin"])
    seen, url = [], "/api/v1/chips/?limit=10"
    while url:
        body = client.get(url).json()
        assert "count" not in body  # never COUNT(*)
        seen += [c["serial"] for c in body["results"]]
        url = body["next"]
    assert seen == [f"PG{i:06d}" for i in range(25)]


def test_filters(api, parties):
    user = parties.users["treaty"]
    register_chips(chip_rows("FA", 3), parties.users["op_a_admin"])
    register_chips(chip_rows("FB", 2, model="nvidia-h200-sxm-141gb"), parties.users["op_b"])
    client = api(user)
    assert len(client.get("/api/v1/chips/?custodian=op-b").json()["results"]) == 2
    assert len(client.get("/api/v1/chips/?model=nvidia-h100-sxm5-80gb").json()["results"]) == 3
    assert len(client.get("/api/v1/chips/?country=US").json()["results"]) == 3
    assert client.get("/api/v1/chips/?serial=fa000001").json()["results"][0]["serial"] == "FA000001"
    assert client.get("/api/v1/chips/?serial=bad serial").json()["results"] == []


def test_bulk_body_beyond_djangos_default_limit(api, operator, settings):
    """The bulk endpoint's own limit applies, not DATA_UPLOAD_MAX_MEMORY_SIZE (regression)."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = post(api, operator, chip_rows("BIGBODY", 200))
    assert response.status_code == 201, response.content
    assert response.json()["created"] == 200
    # Ordinary endpoints keep the small limit.
    assert api(operator).post("/api/v1/tokens/", {"name": "x" * 2000}).status_code == 413
