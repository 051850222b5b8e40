"""Hostile review of the read side of signed statements: the compute of a rival's chip, read off one's own record.

A usage statement may name chips another party holds: its records are kept by reference, and their compute is
bounded by "the most its manufacturer's catalogued chips could do" (README, "The API"), so that the speaker, who
reads its own records' `flop` in `usage/`, "must not read that party's chip model out of them" (kinds.usage).
op-b holds an H100 SXM5 (700 W) and an H100 PCIe (350 W); op-a, a rival, files a minute of work on each with the
energy of half an hour at 350 W. Were the active time the energy witnesses judged by each chip's own power limit,
the two records would read differently, and their ratio is the ratio of the chips' power limits: the model.
"""

from datetime import timedelta

import pytest

from registry.registration import register_chips
from tests.attestations.conftest import World, now
from tests.factories import chip_rows


@pytest.fixture
def world(api, parties):
    w = World(api, parties)
    register_chips(chip_rows("BP", 1, model="nvidia-h100-pcie-80gb"), parties.users["op_b"])
    return w


@pytest.mark.parametrize("basis", ["fp16", "peak"])
def test_a_rivals_chip_counts_alike_whatever_its_model(world, basis):
    sxm, pcie = "nvidia:B000000", "nvidia:BP000000"
    energy = 350 * 1800
    rows = [{"chip": c, "active_s": 60, "utilization": 1.0, "energy_j": energy} for c in (sxm, pcie)]
    end = now() - timedelta(minutes=5)
    r, _ = world.submit(world.op_a, world.usage(rows, end - timedelta(hours=1), end))
    assert r.status_code == 201, r.content
    assert r.json()["flags"] == {"other_operator": 2}, r.json()
    records = world.op_a.get("/api/v1/usage/", {"basis": basis}).json()["results"]
    flop = {rec["chip"]: rec["flop"] for rec in records}
    assert flop[sxm] is not None and flop[sxm] == flop[pcie], flop
