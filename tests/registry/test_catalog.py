"""The accelerator catalog: loaded from the CSV, TPP by its rule, H100-equivalents by convention,
corrections kept."""

import csv
import json

import pytest

from core.errors import Invalid
from registry.catalog import (
    CATALOG_CSV,
    THROUGHPUT_FIELDS,
    fastest_peak,
    h100_equivalents,
    load_catalog,
    total_processing_performance,
)
from registry.models import AcceleratorModel, AcceleratorModelRevision
from transparency.models import LogEventData


def csv_rows():
    with open(CATALOG_CSV, newline="") as fh:
        return list(csv.DictReader(fh))


def test_every_row_and_figure_is_loaded(db):
    rows = csv_rows()
    assert AcceleratorModel.objects.count() == len(rows)
    for row in rows:
        model = AcceleratorModel.objects.get(manufacturer__code=row["manufacturer"], name=row["model"])
        for field in (*THROUGHPUT_FIELDS, "memory_gb", "memory_tbps", "tdp_w", "tpp"):
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


def test_every_row_names_its_source(db):
    for model in AcceleratorModel.objects.all():
        assert len(model.source) > 10, model.name


def test_tpp_follows_the_rule_for_every_model(db):
    """TPP = the largest over the chip's precisions of dense TOP/s x bit length (ECCN 3A090)."""
    for model in AcceleratorModel.objects.all():
        assert model.tpp == total_processing_performance(model.figures()), model.name
    tpp = dict(AcceleratorModel.objects.values_list("slug", "tpp"))
    assert tpp["nvidia-h100-sxm5-80gb"] == 1979 * 8  # FP8 and INT8 (BF16 989 x 16 = 15,824)
    assert tpp["nvidia-b300-sxm"] == 13125 * 4  # FP4 decides: 52,500, above its FP8 4,500 x 8 = 36,000
    assert tpp["amd-instinct-mi355x"] == 10066 * 6  # FP6 decides: 60,396
    assert tpp["intel-gaudi-3"] == 1835 * 16  # BF16 decides when FP8 runs at the BF16 rate


def test_tpp_rule_by_itself():
    none = dict.fromkeys(THROUGHPUT_FIELDS)
    assert total_processing_performance(none) is None
    assert total_processing_performance({**none, "fp4_tflops": 100, "fp8_tflops": 40}) == 400
    assert total_processing_performance({**none, "fp6_tflops": 100, "fp4_tflops": 100}) == 600
    assert total_processing_performance({**none, "fp64_tflops": 10, "bf16_tflops": 30}) == 640
    # TF32 counts at its 19 operand bits, so a rounded TF32 figure never outbids BF16 (H100: 495 vs 989).
    assert total_processing_performance({**none, "tf32_tflops": 495, "bf16_tflops": 989}) == 989 * 16


def test_b300_carries_hgx_figures_not_gb300(db):
    b300 = AcceleratorModel.objects.get(slug="nvidia-b300-sxm")
    assert (b300.bf16_tflops, b300.fp8_tflops, b300.fp6_tflops, b300.fp4_tflops) == (2250, 4500, 4500, 13125)
    assert (b300.memory_gb, b300.memory_tbps, b300.tdp_w) == (288, 8.0, 1100)
    assert b300.int8_tops is None  # no public dense INT8 figure for Blackwell Ultra
    assert "HGX" in b300.source and "fibermall" in b300.source
    assert h100_equivalents(b300, "treaty_tpp") == pytest.approx(52500 / 15840)
    assert h100_equivalents(b300, "epoch_8bit") == pytest.approx(4500 / 1979)


def test_fastest_peak_counts_every_precision(db):
    """The rate no work on the chip can exceed (the usage estimator's `peak` bound): FP4 on a B300."""
    peaks = {m.slug: fastest_peak(m.figures()) for m in AcceleratorModel.objects.all()}
    assert peaks["nvidia-b300-sxm"] == 13125 and peaks["amd-instinct-mi355x"] == 10066
    assert peaks["nvidia-h100-sxm5-80gb"] == 1979 and peaks["google-tpu-v4"] == 275
    assert all(p >= (m.bf16_tflops or 0) for m in AcceleratorModel.objects.all() for p in [peaks[m.slug]])


def _csv_with(tmp_path, change):
    """The bundled CSV with `change(row)` applied to the H100 SXM row."""
    rows = csv_rows()
    for row in rows:
        if row["model"] == "H100 SXM5 80GB":
            change(row)
    path = tmp_path / "catalog.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_a_file_whose_tpp_contradicts_its_figures_is_refused_whole(db, tmp_path):
    before = list(AcceleratorModel.objects.order_by("pk").values())
    path = _csv_with(tmp_path, lambda row: row.update(fp4_tflops="5000", tdp_w="650"))  # TPP now 20,000
    with pytest.raises(Invalid) as refused:
        load_catalog(path)
    assert refused.value.code == "catalog_tpp_mismatch" and "H100 SXM5 80GB" in refused.value.detail
    assert list(AcceleratorModel.objects.order_by("pk").values()) == before
    assert not AcceleratorModelRevision.objects.exists()


def test_a_file_without_tpp_gets_it_from_the_rule(db, tmp_path):
    path = _csv_with(tmp_path, lambda row: row.update(fp4_tflops="5000", tpp=""))
    assert load_catalog(path) == (0, 1)
    h100 = AcceleratorModel.objects.get(slug="nvidia-h100-sxm5-80gb")
    assert h100.tpp == 20000
    revision = h100.revisions.get()
    assert (revision.before["tpp"], revision.after["tpp"]) == (15832, 20000)


def test_correction_keeps_history(api, parties):
    """A corrected throughput figure moves TPP with it, in the revision and in the log."""
    client = api(parties.users["treaty"])
    # Ascend 910C: BF16 800 x 16 = 12,800 decides its TPP (INT8 1,504 x 8 = 12,032).
    response = client.patch("/api/v1/models/huawei-ascend-910c/", {"bf16_tflops": 781.25, "reason": "new teardown"})
    assert response.status_code == 200
    assert response.json()["tpp"] == 12500
    revisions = client.get("/api/v1/models/huawei-ascend-910c/revisions/").json()["results"]
    assert len(revisions) == 1
    assert revisions[0]["before"]["tpp"] == 12800 and revisions[0]["after"]["tpp"] == 12500
    assert revisions[0]["before"]["bf16_tflops"] == 800 and revisions[0]["after"]["bf16_tflops"] == 781.25
    assert revisions[0]["reason"] == "new teardown" and revisions[0]["changed_by"] == parties.users["treaty"].username
    event = LogEventData.objects.filter(event="model.corrected").latest("index")
    assert json.loads(event.data_jcs)["after"] == {"bf16_tflops": 781.25, "tpp": 12500}
    # Its readers, as the README lists them: the model's manufacturer, the corrector, every inspectorate; not an
    # operator, nor another maker.
    for user, status in (("treaty", 200), ("insp_us", 200), ("insp_fr", 200), ("op_a_admin", 403), ("nvidia", 403)):
        got = api(parties.users[user]).get(f"/api/v1/log/entries/{event.index}").status_code
        assert got == status, (user, got)


def test_fp4_correction_raises_tpp(api, parties):
    client = api(parties.users["treaty"])
    response = client.patch("/api/v1/models/nvidia-b200-sxm/", {"fp4_tflops": 10000, "reason": "datasheet rev"})
    assert response.status_code == 200, response.content
    assert response.json()["tpp"] == 40000 and response.json()["fp4_tflops"] == 10000


def test_tpp_is_not_set_by_itself(api, parties):
    client = api(parties.users["treaty"])
    response = client.patch("/api/v1/models/huawei-ascend-910c/", {"tpp": 12500, "reason": "new teardown"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and "tpp" in response.json()["errors"]
    assert AcceleratorModel.objects.get(slug="huawei-ascend-910c").tpp == 12800
    assert not AcceleratorModelRevision.objects.exists()


def test_an_operator_cannot_raise_or_lower_figures(api, parties):
    for user in ("op_a_admin", "nvidia"):
        response = api(parties.users[user]).patch("/api/v1/models/nvidia-b200-sxm/", {"fp4_tflops": 1})
        assert response.status_code in (403, 404), (user, response.content)
    assert AcceleratorModel.objects.get(slug="nvidia-b200-sxm").fp4_tflops == 9000
    assert not AcceleratorModelRevision.objects.exists()


def test_negative_throughput_is_refused(api, parties):
    response = api(parties.users["treaty"]).patch("/api/v1/models/nvidia-b200-sxm/", {"fp6_tflops": -1})
    assert response.status_code == 400 and "fp6_tflops" in response.json()["errors"]
    assert not AcceleratorModelRevision.objects.exists()


def test_catalog_reload_after_correction_is_itself_a_revision(parties):
    model = AcceleratorModel.objects.get(slug="huawei-ascend-910c")
    model.bf16_tflops = 1
    model.save()
    assert model.tpp == 1504 * 8  # saving derives TPP: INT8 now decides
    assert load_catalog() == (0, 1)
    model.refresh_from_db()
    assert (model.bf16_tflops, model.tpp) == (800, 12800)
    assert model.revisions.get().before["tpp"] == 1504 * 8
