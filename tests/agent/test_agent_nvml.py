"""NVML through a fake pynvml module: inventory, sampling, counter resets, driver reloads."""

import json
import sys

import pytest

from agent.samples import Collector, SampleStore, usage_from_samples
from tests.agent.helpers import FakeGpu, fake_pynvml


class Clock:
    def __init__(self, t=1_800_000_000.0):
        self.t = t

    def __call__(self):
        return self.t


@pytest.fixture
def nvml(monkeypatch):
    mod = fake_pynvml([FakeGpu(), FakeGpu(serial="1653924010418", uuid="GPU-second", name="NVIDIA H100 80GB HBM3")])
    monkeypatch.setitem(sys.modules, "pynvml", mod)
    return mod


def test_inventory_through_nvml(cli, nvml):
    rc, out, err = cli("inventory", "--json")
    assert rc == 0, err
    gpus = json.loads(out)
    assert [g["chip"] for g in gpus] == ["nvidia:1653924010417", "nvidia:1653924010418"]
    assert [g["model"] for g in gpus] == ["nvidia-h200-sxm-141gb", "nvidia-h100-sxm5-80gb"]
    assert gpus[0]["power_limit_w"] == 700.0
    assert gpus[0]["uuid"] == "GPU-7a41d2e9-03c8-6b1f-a9d4-52e0c8b3f611"
    assert gpus[0]["driver_version"] == "580.159.04"
    assert nvml.state.calls == ["init", "shutdown"]


def test_inventory_without_pynvml_is_a_usage_error(cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails
    rc, _out, err = cli("inventory")
    assert rc == 2
    assert "NVML is not available" in err and "--from-xml" in err


@pytest.mark.parametrize(
    "command,offered",
    [(("sample", "--once"), None), (("attest", "evidence", "--challenge", "ab" * 32), "--from-files")],
)
def test_without_pynvml_each_command_names_only_what_it_offers_instead(
    cli, operator_env, monkeypatch, command, offered
):
    """`sample` has no --from-xml, `attest evidence` reads recorded reports with --from-files: the usage error
    named --from-xml to both (found by an operator following the README)."""
    monkeypatch.setitem(sys.modules, "pynvml", None)
    rc, _out, err = cli(*command)
    assert rc == 2 and "NVML is not available" in err, err
    assert "--from-xml" not in err
    if offered:
        assert offered in err


def test_inventory_driver_not_loaded(cli, nvml):
    nvml.state.driver_loaded = False
    rc, _, err = cli("inventory")
    assert rc == 1
    assert "NVML could not start" in err and "Traceback" not in err


def test_counter_reset_mid_sampling_never_counts_a_negative_delta(tmp_path, nvml):
    clock = Clock()
    warnings = []
    store = SampleStore(tmp_path / "s.sqlite3")
    collector = Collector(store, 10.0, lib=nvml, clock=clock, warn=warnings.append)
    gpu = nvml.state.gpus[0]
    start = clock.t

    def tick(energy, util=50):
        gpu.energy_mj, gpu.util = energy, util
        collector.tick()
        clock.t += 10

    for e in (5_000_000, 5_010_000, 5_020_000):  # 10 J per 10 s
        tick(e)
    # The driver reloads: NVML fails once, the collector restarts it, the counter starts again near zero.
    nvml.state.driver_loaded = False
    tick(0)
    assert warnings and "NVML" in warnings[0]
    nvml.state.driver_loaded = True
    for e in (1_000, 11_000, 21_000):
        tick(e)

    rows = store.window(gpu.uuid, 0, 2e9)
    assert [r.energy_mj for r in rows] == [5_000_000, 5_010_000, 5_020_000, 1_000, 11_000, 21_000]
    assert [r.epoch for r in rows] == [0, 0, 0, 1, 1, 1]
    (u,) = [u for u in store.usage(start, clock.t) if u.gpu == gpu.uuid]
    assert u.energy_j == pytest.approx(40.0)  # 2 × 10 J before, 2 × 10 J after; the reset interval counts nothing
    assert u.energy_j >= 0
    assert u.resets == 1
    assert u.chip == "nvidia:1653924010417"
    assert u.active_s == pytest.approx(40.0)  # 4 covered intervals of 10 s; the reset and the gap are not
    assert u.utilization == pytest.approx(0.5)
    assert nvml.state.calls.count("init") == 2


def test_counter_going_down_without_error_starts_a_new_epoch(tmp_path):
    store = SampleStore(tmp_path / "s.sqlite3")
    kw = {"interval_s": 1.0, "boot_id": "b", "driver": "d", "chip": "nvidia:ABC"}
    energies = [100, 200, 300, 50, 150]
    for i, e in enumerate(energies):
        store.add("G", 1000.0 + i, e, 100.0, 1, **kw)
    rows = store.window("G", 0, 1e9)
    assert [r.epoch for r in rows] == [0, 0, 0, 1, 1]
    u = usage_from_samples(rows, 1000.0, 1004.0)
    assert u.energy_j == pytest.approx(0.3)  # 100 + 100 + 100 mJ; never 50 - 300
    assert u.active_s == pytest.approx(3.0)


@pytest.mark.parametrize("change", [{"boot_id": "other-boot"}, {"driver": "590.1"}])
def test_new_boot_or_driver_starts_a_new_epoch_even_if_the_counter_grew(tmp_path, change):
    store = SampleStore(tmp_path / "s.sqlite3")
    base = {"interval_s": 1.0, "boot_id": "b", "driver": "d"}
    store.add("G", 1.0, 100, 0, 0, **base)
    store.add("G", 2.0, 200, 0, 0, **base)
    assert store.add("G", 3.0, 900_000, 0, 0, **{**base, **change}) == 1
    u = usage_from_samples(store.window("G", 0, 10), 0, 10)
    assert u.energy_j == pytest.approx(0.1)


def test_restart_of_the_collector_continues_the_epoch(tmp_path):
    path = tmp_path / "s.sqlite3"
    with SampleStore(path) as store:
        store.add("G", 1.0, 100, 0, 0, interval_s=1.0, boot_id="b", driver="d")
    with SampleStore(path) as store:
        assert store.add("G", 2.0, 300, 0, 0, interval_s=1.0, boot_id="b", driver="d") == 0
        assert usage_from_samples(store.window("G", 0, 5), 0, 5).energy_j == pytest.approx(0.2)


def test_sample_command_once_and_duration(cli, nvml, tmp_path):
    db = tmp_path / "samples.sqlite3"
    nvml.state.gpus[0].energy_mj = 123
    rc, _, err = cli("sample", "--once", "--db", db)
    assert rc == 0, err
    with SampleStore(db) as store:
        assert store.count() == 2
    rc, _, err = cli("sample", "--interval", "50ms", "--duration", "0.12s", "--db", db)
    assert rc == 0, err
    with SampleStore(db) as store:
        assert store.count() == 2 + 2 * 3  # ticks at 0, 50 and 100 ms
    assert nvml.state.calls[-1] == "shutdown"


def test_sample_bad_interval(cli, nvml):
    rc, _, err = cli("sample", "--interval", "often")
    assert rc == 2 and "not a duration" in err


def test_unsupported_energy_counter_is_recorded_as_null(tmp_path, nvml):
    def unsupported(h):
        raise nvml.NVMLError(3)  # NVML_ERROR_NOT_SUPPORTED

    nvml.nvmlDeviceGetTotalEnergyConsumption = unsupported
    store = SampleStore(tmp_path / "s.sqlite3")
    Collector(store, 1.0, lib=nvml, clock=Clock(), warn=print).tick()
    rows = store.window("GPU-second", 0, 2e9)
    assert rows[0].energy_mj is None and rows[0].gpu_util == 0


def test_sample_once_without_driver_fails_but_the_daemon_keeps_trying(cli, nvml, tmp_path):
    nvml.state.driver_loaded = False
    rc, _, err = cli("sample", "--once", "--db", tmp_path / "s.sqlite3")
    assert rc == 1 and "NVML could not start" in err
    rc, _, err = cli("sample", "--interval", "20ms", "--duration", "50ms", "--db", tmp_path / "s.sqlite3")
    assert rc == 0 and "will retry" in err
