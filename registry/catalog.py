"""The accelerator catalog: loading the public CSV, Total Processing Performance, H100-equivalents."""

import csv
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils.text import slugify

from core.errors import Invalid
from registry.choices import OrgKind

CATALOG_CSV = Path(__file__).resolve().parent / "data" / "accelerators.csv"

# The draft international agreement (MIRI TGT, 2025): 16 H100e = 253,440 TPP.
TREATY_TPP_PER_H100E = 15_840.0
# Epoch AI: dense 8-bit OP/s of one H100 SXM, in TOP/s.
EPOCH_8BIT_TOPS_PER_H100E = 1_979.0

CONVENTIONS = ("treaty_tpp", "epoch_8bit")

# precision -> (the model's field holding its dense peak in TFLOP/s or TOP/s, the bit length of its operands)
THROUGHPUT = {
    "fp64": ("fp64_tflops", 64),
    "fp32": ("fp32_tflops", 32),
    # TF32 operands are 19 bits (1 sign, 8 exponent, 10 mantissa) stored in 32. Tensor cores run it at half
    # the BF16 rate, so at 19 bits it never decides a chip's TPP; at 32 it would tie with BF16 and only the
    # rounding of the published figures would pick the larger (H100: 495 x 32 = 15,840 vs 15,832).
    "tf32": ("tf32_tflops", 19),
    "bf16": ("bf16_tflops", 16),
    "fp8": ("fp8_tflops", 8),
    "fp6": ("fp6_tflops", 6),
    "fp4": ("fp4_tflops", 4),
    "int8": ("int8_tops", 8),
}
THROUGHPUT_FIELDS = tuple(field for field, _ in THROUGHPUT.values())
FLOAT_COLUMNS = (*THROUGHPUT_FIELDS, "memory_gb", "memory_tbps", "tdp_w", "tpp")
# The published figures are rounded: a file's `tpp` within this of the rule's value agrees with it.
TPP_TOLERANCE = 0.5


def total_processing_performance(figures):
    """US export control's Total Processing Performance (ECCN 3A090; BIS, 88 FR 73458, 2023): 2 x MacTOPS x
    the bit length of the operation, i.e. dense TOP/s x bits, the largest over the chip's precisions.

    `figures` maps THROUGHPUT_FIELDS to dense peaks (None: no such precision). None when the chip has no
    throughput figure at all. A precision below 8 bits counts like any other: a chip whose FP4 rate is
    more than twice its FP8 rate has a TPP above what its 8-bit figure gives (HGX B300: 13,125 x 4).
    """
    products = [figures[field] * bits for field, bits in THROUGHPUT.values() if figures.get(field) is not None]
    return max(products, default=None)


def fastest_peak(figures):
    """The largest dense peak over the chip's precisions, in TFLOP/s (TOP/s), BF16 included: the rate no
    work on the chip can exceed, whatever its precision. None when the chip has no throughput figure."""
    return max((figures[f] for f in THROUGHPUT_FIELDS if figures.get(f) is not None), default=None)


def h100_equivalents(model, convention=None):
    """H100-equivalents of one chip of `model` under a convention (settings by default).

    Returns None when the catalog lacks the figure the convention needs,
    rather than guessing: a missing figure is for an administrator to fill.
    """
    convention = convention or settings.CHIPREG_H100E_CONVENTION
    if convention == "treaty_tpp":
        return None if model.tpp is None else model.tpp / TREATY_TPP_PER_H100E
    if convention == "epoch_8bit":
        eight_bit = max((v for v in (model.fp8_tflops, model.int8_tops) if v is not None), default=None)
        return None if eight_bit is None else eight_bit / EPOCH_8BIT_TOPS_PER_H100E
    raise ValueError(f"Unknown H100-equivalent convention {convention!r}; use one of {CONVENTIONS}.")


def read_catalog(path=CATALOG_CSV):
    """The file's rows as model fields, `tpp` computed by the rule; a row whose `tpp` column disagrees with
    the rule is refused (code `catalog_tpp_mismatch`), so a file cannot carry a TPP its figures contradict."""
    with open(path, newline="", encoding="utf-8") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            record = {k: (row[k] or "").strip() for k in row}
            for col in FLOAT_COLUMNS:
                record[col] = float(record[col]) if record.get(col) else None
            record["year"] = int(record["year"]) if record["year"] else None
            stated, record["tpp"] = record["tpp"], total_processing_performance(record)
            if stated is not None and (record["tpp"] is None or abs(stated - record["tpp"]) > TPP_TOLERANCE):
                raise Invalid(
                    f"{Path(path).name} line {line} ({record['model']}): tpp {stated:g} disagrees with the "
                    f"rule (largest dense TOP/s x bit length over its precisions: {record['tpp']}).",
                    code="catalog_tpp_mismatch",
                )
            yield record


def model_slug(manufacturer_code, name):
    return slugify(f"{manufacturer_code} {name}")[:100]


@transaction.atomic
def load_catalog(path=CATALOG_CSV, user=None):
    """Create or correct models from the CSV. Returns (created, corrected).

    A changed figure is a correction and leaves a revision and a log event
    behind; loading the same file twice changes nothing. Models and
    manufacturers the file adds are not logged: the file is public and the
    same for every install.
    """
    from registry import records
    from registry.models import AcceleratorModel, Organisation

    created = corrected = 0
    for record in read_catalog(path):
        code = record.pop("manufacturer").lower()
        name = record.pop("model")
        manufacturer, _ = Organisation.objects.get_or_create(
            code=code, defaults={"name": code.upper() if len(code) <= 4 else code.title(), "kind": OrgKind.MANUFACTURER}
        )
        model = AcceleratorModel.objects.filter(manufacturer=manufacturer, name=name).first()
        if model is None:
            AcceleratorModel.objects.create(manufacturer=manufacturer, name=name, slug=model_slug(code, name), **record)
            created += 1
            continue
        if all(getattr(model, field) == value for field, value in record.items()):
            continue
        # A correction: kept as a revision and logged (registry.records), like one made through the API.
        if records.correct_model(model, user, record, reason=f"catalog load from {Path(path).name}"):
            corrected += 1
    return created, corrected
