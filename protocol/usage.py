"""An upper bound on the compute a chip could have executed, from a usage report.

Treaty thresholds are about compute (FLOP), which no chip counts. A usage
statement reports, per chip, powered time `active_s`, NVML-style `utilization`
(the fraction of that time during which at least one kernel was running) and
`energy_j`. While no kernel runs, nothing is computed; while one runs, at most
the chip's peak rate is. So

    FLOP executed <= peak × active_s × utilization

is a sound bound if the utilization is right. Two ways it can be low in honest
reports, and what this estimator does about them:

1. NVML reports whole percent; the mean of such samples is rounded *up* to the
   next whole percent here.
2. Utilization is sampled, so short bursts between an agent's polls are missed,
   while the energy counter is cumulative and misses nothing. Running costs
   energy, so the fraction of time the chip could have run at full power,
   energy_j / (tdp_w × active_s), is a second witness of busy time; the larger
   of the two fractions is used.

The result is capped at peak × active_s (utilization 1), which no honest report
can exceed. A report that is not honest about its active time (its energy is more
than the power limit allows in it) is counted on the time its energy witnesses at
full power, up to the period's length (`witnessed_active_s`).

On the H200 fixture (tests/fixtures/nvidia) the bound is about 1.5× the FLOP
executed at full load and 1.9× at half duty; it never falls below it.

`peak_flops_basis` is the dense peak in the registry's basis (FP16/BF16 dense,
e.g. 989e12 FLOP/s for an H200); `tdp_w` is the chip's power limit.
"""

from __future__ import annotations

import math

H200_BF16_DENSE_PEAK_FLOPS = 989e12  # NVIDIA H200 SXM, dense BF16/FP16 tensor core
H200_TDP_W = 700.0


def _finite_nonneg(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be finite and >= 0")
    return value


def busy_fraction(active_s: float, utilization: float, energy_j: float, tdp_w: float) -> float:
    """The fraction of active time the chip is assumed to have computed at peak (see module doc)."""
    active_s = _finite_nonneg("active_s", active_s)
    utilization = _finite_nonneg("utilization", utilization)
    energy_j = _finite_nonneg("energy_j", energy_j)
    tdp_w = _finite_nonneg("tdp_w", tdp_w)
    if tdp_w == 0:
        raise ValueError("tdp_w must be > 0")
    if active_s == 0:
        return 0.0
    # The epsilon keeps an exact percentage (0.97 * 100 == 97.00000000000001) from rounding up twice.
    reported = math.ceil(utilization * 100 - 1e-9) / 100
    by_energy = energy_j / (tdp_w * active_s)
    return min(1.0, max(reported, by_energy))


def estimate_flop(active_s: float, utilization: float, energy_j: float, peak_flops_basis: float, tdp_w: float) -> float:
    """Upper bound on FLOP executed: peak × active_s × busy_fraction(...)."""
    peak = _finite_nonneg("peak_flops_basis", peak_flops_basis)
    return peak * float(active_s) * busy_fraction(active_s, utilization, energy_j, tdp_w)


def witnessed_active_s(
    active_s: float, energy_j: float, tdp_w: float, period_s: float, tolerance: float = 1.05
) -> float:
    """The active time a report's bound is counted on: `active_s`, unless the energy reported is more than the
    power limit allows in it (energy_exceeds_limit): the chip then drew power for at least energy_j / tdp_w
    seconds at its full power, and that (at most the period's length) is counted instead. Otherwise the energy
    witness, capped at utilization 1 over `active_s`, could never witness more than the report's own active
    time, and a month of work reported as a minute of it counted a minute."""
    active_s = _finite_nonneg("active_s", active_s)
    if not energy_exceeds_limit(active_s, energy_j, tdp_w, tolerance):
        return active_s
    return max(active_s, min(_finite_nonneg("period_s", period_s), energy_j / tdp_w))


def energy_exceeds_limit(active_s: float, energy_j: float, tdp_w: float, tolerance: float = 1.05) -> bool:
    """True when the reported energy is more than the power limit allows (a finding, ATTESTATION.md 5).

    The tolerance absorbs brief excursions above the limit and counter rounding.
    """
    active_s = _finite_nonneg("active_s", active_s)
    energy_j = _finite_nonneg("energy_j", energy_j)
    tdp_w = _finite_nonneg("tdp_w", tdp_w)
    return energy_j > tdp_w * active_s * tolerance
