"""The bases a usage record's compute bound is counted on, and the stored figure each one reads.

Ingest (attestations.kinds.usage) stores two upper bounds per chip and period (protocol.usage):
`flop_fp16` at the chip's dense FP16/BF16 peak, `flop_peak` at its fastest precision (FP8, FP6, FP4 or
INT8 where the chip has them). Both use the same busy fraction, and the fastest precision is taken over
every precision, BF16 included, so `flop_peak` is never below `flop_fp16`: it is the larger of the two.

- `fp16`: FP16-equivalent operations.
- `peak`: the bound at the chip's fastest precision.
- `higher`: the draft agreement's count, "FP16-equivalent or actual operations, whichever is higher",
  so that 8-bit (or 4-bit) work is never undercounted. Per record it is the larger of the FP16 bound and
  the bound at the fastest precision, which is the stored `flop_peak`; a rule names `higher` to say that
  it counts as the treaty text does, and reads the same figure as `peak`.
"""

from django.db import models


class Basis(models.TextChoices):
    FP16 = "fp16", "FP16-equivalent"
    PEAK = "peak", "Fastest precision"
    HIGHER = "higher", "FP16-equivalent or actual operations, whichever is higher"


# basis -> the UsageRecord field holding its bound (UsageDay keeps their daily sums as the same names, and
# as `ended_<name>` by the day the periods end).
_RECORD_FIELD = {Basis.FP16: "flop_fp16", Basis.PEAK: "flop_peak", Basis.HIGHER: "flop_peak"}


def record_field(basis):
    """The UsageRecord field that holds the bound on `basis` (a Basis value, or blank for the default
    `fp16`, as a rule's optional basis may be stored; ValueError otherwise)."""
    try:
        return _RECORD_FIELD[Basis(basis or Basis.FP16)]
    except ValueError:
        raise ValueError(f"Unknown basis {basis!r}; use one of {', '.join(Basis.values)}.") from None
