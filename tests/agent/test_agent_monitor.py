"""`chipreg monitor`: consistent checkpoints pass, a fork or a rollback is exit 5."""

import json

import pytest

from protocol.leaves import event_leaf
from tests.agent.helpers import FakeLog, FakeRegistry, Reply, problem


def _leaf(i, tag="main"):
    return event_leaf("2026-11-26T05:00:00Z", "chip.registered", f"nvidia:{tag.upper()}{i:04d}", {"i": i})[0]


@pytest.fixture
def logs():
    """A log of 8 leaves, and a fork that shares the first 5 and then differs, under the same key."""
    main = FakeLog("registry.test/log")
    for i in range(8):
        main.append(_leaf(i))
    fork = FakeLog(main.origin, key=main.key)
    for i in range(5):
        fork.append(_leaf(i))
    for i in range(5, 9):
        fork.append(_leaf(i, "fork"))
    return main, fork


@pytest.fixture
def monitor(cli, tmp_path):
    state = tmp_path / "monitor.json"

    def run(registry, log_key):
        return cli("monitor", "--url", registry.url, "--state", state, "--log-key", log_key)

    run.state = state
    return run


def test_consistent_then_forked(monitor, logs):
    main, fork = logs
    with FakeRegistry(log=main) as reg:
        reg.checkpoints = [main.checkpoint(3), main.checkpoint(6), main.checkpoint(6), fork.checkpoint(9)]
        reg.consistency_log = main
        rc, out, err = monitor(reg, main.key_line)
        assert rc == 0, err
        assert "first checkpoint, tree size 3" in out
        rc, out, err = monitor(reg, main.key_line)
        assert rc == 0, err
        assert "tree size 6 is consistent with 3" in out
        rc, out, err = monitor(reg, main.key_line)  # same checkpoint again: fine, nothing to prove
        assert rc == 0, err
        assert "unchanged" in out
        saved = json.loads(monitor.state.read_text())
        assert saved["size"] == 6

        # The registry now shows a tree that rewrote leaf 5; whatever proof it serves cannot verify.
        reg.consistency_log = fork
        rc, out, err = monitor(reg, main.key_line)
        assert rc == 5
        assert "split view" in err and "does not extend the checkpoint of size 6" in err and "Traceback" not in err
        assert json.loads(monitor.state.read_text())["size"] == 6  # the state did not advance
        evidence = list(monitor.state.parent.glob("monitor-evidence-*.txt"))
        assert len(evidence) == 1
        assert fork.checkpoint(9).split("\n")[2] in evidence[0].read_text()  # the served root
        assert main.checkpoint(6).split("\n")[2] in evidence[0].read_text()  # the remembered one
        assert [r.query for r in reg.requests if r.path.endswith("consistency")][-1] == {
            "first": ["6"],
            "second": ["9"],
        }


def test_same_size_other_root(monitor, logs):
    main, fork = logs
    with FakeRegistry(log=main) as reg:
        reg.checkpoints = [main.checkpoint(7), fork.checkpoint(7)]
        assert monitor(reg, main.key_line)[0] == 0
        rc, _, err = monitor(reg, main.key_line)
        assert rc == 5 and "two different roots signed for size 7" in err


def test_rollback(monitor, logs):
    main, _ = logs
    with FakeRegistry(log=main) as reg:
        reg.checkpoints = [main.checkpoint(8), main.checkpoint(5)]
        assert monitor(reg, main.key_line)[0] == 0
        rc, _, err = monitor(reg, main.key_line)
        assert rc == 5 and "rollback" in err


def test_bad_signature(monitor, logs):
    main, _ = logs
    impostor = FakeLog(main.origin)
    for i in range(8):
        impostor.append(_leaf(i))
    with FakeRegistry(log=impostor) as reg:
        rc, _, err = monitor(reg, main.key_line)
        assert rc == 5 and "does not verify under the pinned key" in err
        assert not monitor.state.exists()


def test_consistency_proof_refused_or_malformed(monitor, logs):
    main, _ = logs
    with FakeRegistry(log=main) as reg:
        reg.checkpoints = [main.checkpoint(3), main.checkpoint(8)]
        assert monitor(reg, main.key_line)[0] == 0
        reg.script.append(("GET", "/api/v1/log/proof/consistency", problem(400, "invalid_range")))
        rc, _, err = monitor(reg, main.key_line)
        assert rc == 3 and "invalid_range" in err
        reg.script.append(("GET", "/api/v1/log/proof/consistency", Reply(200, {})))
        rc, _, err = monitor(reg, main.key_line)
        assert rc == 5
        rc, out, err = monitor(reg, main.key_line)
        assert rc == 0 and "tree size 8 is consistent with 3" in out


def test_registry_down_or_5xx(monitor, logs):
    main, _ = logs
    with FakeRegistry(log=main) as reg:
        reg.script.append(("GET", "/api/v1/log/checkpoint", problem(503, "unavailable")))
        rc, _, err = monitor(reg, main.key_line)
        assert rc == 4 and "503" in err
    rc, _, err = monitor(reg, main.key_line)  # server stopped
    assert rc == 4 and "unreachable" in err


def test_corrupt_state_is_not_silently_reset(monitor, logs):
    main, _ = logs
    monitor.state.write_text("{broken")
    with FakeRegistry(log=main) as reg:
        rc, _, err = monitor(reg, main.key_line)
    assert rc == 2 and "not starting over silently" in err


def test_state_pins_the_key(cli, monitor, logs, tmp_path):
    main, _ = logs
    with FakeRegistry(log=main) as reg:
        assert monitor(reg, main.key_line)[0] == 0
        state = json.loads(monitor.state.read_text())
        assert state["key"] == main.key_line and state["version"] == 1 and state["size"] == 8
        rc, _out, err = cli("monitor", "--url", reg.url, "--state", monitor.state)  # key from the state
        assert rc == 0, err
        rc, _, err = monitor(reg, FakeLog("other/log").key_line)
        assert rc == 2 and "pinned to another log key" in err


def test_a_deeply_nested_consistency_proof_is_a_split_view_not_a_crash(monitor, logs):
    """A forked registry answering the proof with JSON nested past Python's recursion limit made
    the monitor exit 1 (a bug, with a traceback), no split view reported and no evidence kept."""
    main, fork = logs
    with FakeRegistry(log=main) as reg:
        reg.checkpoints = [main.checkpoint(6), fork.checkpoint(9)]
        assert monitor(reg, main.key_line)[0] == 0
        reg.script.append(("GET", "/api/v1/log/proof/consistency", Reply(200, "[" * 200_000, "application/json")))
        rc, _, err = monitor(reg, main.key_line)
        assert rc == 5, err
        assert "split view" in err and "malformed consistency proof" in err and "Traceback" not in err
        assert json.loads(monitor.state.read_text())["size"] == 6
        assert len(list(monitor.state.parent.glob("monitor-evidence-*.txt"))) == 1
