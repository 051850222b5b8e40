"""Usage statements from the real H200 workload: the registry's compute bound must
never fall below the FLOP that were actually executed."""

import json
from datetime import UTC, datetime

import pytest

from agent import statements
from agent.samples import SampleStore
from protocol.statements import parse_statement
from protocol.usage import H200_BF16_DENSE_PEAK_FLOPS, H200_TDP_W, estimate_flop
from tests.agent.helpers import H200_WORKLOAD

WORKLOAD = json.loads(H200_WORKLOAD.read_text())
IDENTITY = WORKLOAD["identity"]
CHIP = f"nvidia:{IDENTITY['serial']}"


@pytest.fixture
def sample_db(tmp_path):
    """The fixture's samples fed through the same store the collector writes."""
    path = tmp_path / "samples.sqlite3"
    with SampleStore(path) as store:
        for s in WORKLOAD["samples"]:
            store.add(
                IDENTITY["uuid"],
                s["t"],
                s["energy_mj"],
                s["gpu_util"],
                s["power_mw"],
                chip=CHIP,
                interval_s=0.2,
                boot_id="fixture-boot",
                driver=IDENTITY["driver"],
            )
    return path


def _dt(t):
    return datetime.fromtimestamp(t, UTC)


@pytest.mark.parametrize("phase", WORKLOAD["phases"], ids=[p["phase"] for p in WORKLOAD["phases"]])
def test_estimate_from_agent_statement_covers_executed_flop(sample_db, phase):
    with SampleStore(sample_db) as store:
        usages = store.usage(phase["start"], phase["end"])
    start, end = _dt(phase["start"]), _dt(phase["end"])
    data = statements.serialize(
        statements.usage(
            operator="OPR-1",
            facility="FAC-1",
            period_start=start,
            period_end=end,
            usages=usages,
            issued_at=_dt(phase["end"] + 60),
            nonce="ab" * 16,
            workload="training",
        )
    )
    statement = parse_statement(data)
    ((chip, active_s, utilization, energy_j),) = statement.chips
    assert chip == CHIP
    duration = phase["end"] - phase["start"]
    assert active_s == pytest.approx(duration, abs=0.01)
    assert energy_j == pytest.approx(phase["energy_mj_delta"] / 1000, rel=0.03)
    bound = estimate_flop(active_s, utilization, energy_j, H200_BF16_DENSE_PEAK_FLOPS, H200_TDP_W)
    assert bound >= phase["flop_executed"]
    if phase["flop_executed"]:
        assert bound <= 3 * phase["flop_executed"]  # a bound, not a blank cheque


def test_whole_run_through_the_cli(cli, sample_db, monkeypatch):
    """`chipreg attest usage --dry-run` over the whole workload, with the clock after the capture."""
    import agent.cli

    first, last = WORKLOAD["phases"][0], WORKLOAD["phases"][-1]
    monkeypatch.setattr(agent.cli, "utcnow", lambda: _dt(last["end"] + 3600))
    rc, out, err = cli(
        "attest",
        "usage",
        "--dry-run",
        "--db",
        sample_db,
        "--operator",
        "OPR-1",
        "--facility",
        "FAC-1",
        "--since",
        _dt(first["start"]).isoformat(),
        "--until",
        _dt(last["end"]).isoformat(),
    )
    assert rc == 0, err
    statement = parse_statement(out.strip().encode())
    ((_, active_s, utilization, energy_j),) = statement.chips
    total_flop = sum(p["flop_executed"] for p in WORKLOAD["phases"])
    assert estimate_flop(active_s, utilization, energy_j, H200_BF16_DENSE_PEAK_FLOPS, H200_TDP_W) >= total_flop
    assert 0 < utilization <= 1


def test_usage_with_no_samples_in_the_period(cli, sample_db, monkeypatch):
    import agent.cli

    monkeypatch.setattr(agent.cli, "utcnow", lambda: _dt(2_000_000_000))
    rc, _, err = cli(
        "attest", "usage", "--dry-run", "--db", sample_db, "--operator", "O", "--facility", "F", "--since=-1h"
    )
    assert rc == 2 and "no samples" in err


def test_usage_period_too_long_or_in_the_future(cli, sample_db, monkeypatch):
    import agent.cli

    monkeypatch.setattr(agent.cli, "utcnow", lambda: _dt(WORKLOAD["phases"][-1]["end"] + 3600))
    rc, _, err = cli(
        "attest", "usage", "--dry-run", "--db", sample_db, "--operator", "O", "--facility", "F", "--since", "32d ago"
    )
    assert rc == 2 and "31 days" in err
    rc, _, err = cli(
        "attest",
        "usage",
        "--dry-run",
        "--db",
        sample_db,
        "--operator",
        "O",
        "--facility",
        "F",
        "--since=-1h",
        "--until",
        "2999-01-01T00:00:00Z",
    )
    assert rc == 2 and "future" in err


def test_negative_deltas_never_reach_a_statement(tmp_path):
    with SampleStore(tmp_path / "s.sqlite3") as store:
        for i, e in enumerate([10_000, 20_000, 5, 10_005, 3, 10_003]):
            store.add("G", 100.0 + i, e, 100, 1, chip="nvidia:ABC", interval_s=1.0, boot_id="b", driver="d")
        (u,) = store.usage(100.0, 105.0)
    assert u.energy_j == pytest.approx(30.0)
    assert u.resets == 2


def test_the_run_the_chips_worked_for(cli, sample_db, monkeypatch):
    """`--run CODE` names the declared run in the statement (ATTESTATION.md 3.2); a code that is no registry
    id is refused here, before anything is signed."""
    import agent.cli

    first, last = WORKLOAD["phases"][0], WORKLOAD["phases"][-1]
    monkeypatch.setattr(agent.cli, "utcnow", lambda: _dt(last["end"] + 3600))
    args = ["attest", "usage", "--dry-run", "--db", sample_db, "--operator", "OPR-1", "--facility", "FAC-1"]
    args += ["--since", _dt(first["start"]).isoformat(), "--until", _dt(last["end"]).isoformat()]
    rc, out, err = cli(*args, "--run", "run-0123456789abcdef0123")
    assert rc == 0, err
    assert parse_statement(out.strip().encode()).run == "run-0123456789abcdef0123"
    rc, out, _ = cli(*args)
    assert rc == 0 and parse_statement(out.strip().encode()).run is None and '"run"' not in out
    rc, out, err = cli(*args, "--run", "not a code")
    assert rc == 2 and "--run" in err and not out


def test_a_dry_run_loads_the_configured_key_as_the_real_run_would(cli, sample_db, tmp_path, monkeypatch):
    """A key open to other users fails the dry run as it fails the real one (nothing is signed either way); with
    no key configured yet the dry run still shows the statement."""
    import agent.cli

    first, last = WORKLOAD["phases"][0], WORKLOAD["phases"][-1]
    monkeypatch.setattr(agent.cli, "utcnow", lambda: _dt(last["end"] + 3600))
    args = ["attest", "usage", "--dry-run", "--db", sample_db, "--operator", "OPR-1", "--facility", "FAC-1"]
    args += ["--since", _dt(first["start"]).isoformat(), "--until", _dt(last["end"]).isoformat()]
    key = tmp_path / "key.pem"
    rc, _, err = cli("keygen", "--out", key)
    assert rc == 0, err
    monkeypatch.setenv("CHIPREG_KEY", str(key))
    rc, out, err = cli(*args)
    assert rc == 0 and parse_statement(out.strip().encode()).chips, err
    key.chmod(0o644)
    rc, out, err = cli(*args)
    assert rc == 2 and "is open to other users" in err and out == ""
    monkeypatch.delenv("CHIPREG_KEY")
    rc, out, err = cli(*args)
    assert rc == 0 and parse_statement(out.strip().encode()).chips, err
