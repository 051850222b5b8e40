"""The accelerator catalog: loaded from the CSV, H100-equivalents by convention, corrections kept."""

import csv

import pytest

from registry.catalog import CATALOG_CSV, h100_equivalents, load_catalog
from registry.models import AcceleratorModel, AcceleratorModelRevision


def csv_rows():
    with open(CATALOG_CSV, newline="") as fh:
        return list(csv.DictReader(fh))


def test_every_row_and_figure_is_loaded(db):
    rows = csv_rows()
    assert AcceleratorModel.objects.count() == len(rows)
    for row in rows:
        model = AcceleratorModel.objects.get(manufacturer__code=row["manufacturer"], name=row["model"])
        for field in ("fp64_tflops", "bf16_tflops", "fp8_tflops", "int8_tops", "memory_gb", "tdp_w", "tpp"):
            expected = float(row[field]) if row[field] else None
            assert getattr(model, field) == expected, (row["model"], field)
        assert model.source == row["source"] and model.confidence == row["confidence"]


def test_loading_again_changes_nothing(db):
    assert load_catalog() == (0, 0)
    assert not AcceleratorModelRevision.objects.exists()


def test_h100e_conventions(db):
    h100 = AcceleratorModel.objects.get(slug="nvidia-h100-sxm5-80gb")
    gaudi3 = AcceleratorModel.objects.get(slug="intel-gaudi-3")
    # The data README's worked disagreement: Gaudi 3 is 1.85 (treaty TPP) vs 0.93 (Epoch 8-bit).
    assert h100_equivalents(gaudi3, "treaty_tpp") == pytest.approx(1.85, abs=0.01)
    assert h100_equivalents(gaudi3, "epoch_8bit") == pytest.approx(0.93, abs=0.01)
    assert h100_equivalents(h100, "epoch_8bit") == pytest.approx(1.0)
    assert h100_equivalents(h100, "treaty_tpp") == pytest.approx(15832 / 15840)
    with pytest.raises(ValueError):
        h100_equivalents(h100, "made_up")


def test_convention_is_a_setting(api, parties, settings):
    client = api(parties.users["op_a_member"])
    settings.CHIPREG_H100E_CONVENTION = "epoch_8bit"
    assert client.get("/api/v1/models/intel-gaudi-3/").json()["h100e"] == pytest.approx(0.93, abs=0.01)
    settings.CHIPREG_H100E_CONVENTION = "treaty_tpp"
    body = client.get("/api/v1/models/intel-gaudi-3/").json()
    assert body["h100e"] == pytest.approx(1.85, abs=0.01)
    assert set(body["h100e_by_convention"]) == {"treaty_tpp", "epoch_8bit"}


def test_correction_keeps_history(api, parties):
    client = api(parties.users["treaty"])
    response = client.patch("/api/v1/models/huawei-ascend-910c/", {"tpp": 12500, "reason": "new teardown"})
    assert response.status_code == 200
    revisions = client.get("/api/v1/models/huawei-ascend-910c/revisions/").json()["results"]
    assert len(revisions) == 1
    assert revisions[0]["before"]["tpp"] == 12800 and revisions[0]["after"]["tpp"] == 12500
    assert revisions[0]["reason"] == "new teardown" and revisions[0]["changed_by"] == parties.users["treaty"].username


def test_catalog_reload_after_correction_is_itself_a_revision(parties):
    model = AcceleratorModel.objects.get(slug="huawei-ascend-910c")
    model.tpp = 1
    model.save()
    assert load_catalog() == (0, 1)
    model.refresh_from_db()
    assert model.tpp == 12800
    assert model.revisions.get().before["tpp"] == 1
