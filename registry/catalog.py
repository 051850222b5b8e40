"""The accelerator catalog: loading the public CSV and counting H100-equivalents."""

import csv
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils.text import slugify

from registry.choices import OrgKind

CATALOG_CSV = Path(__file__).resolve().parent / "data" / "accelerators.csv"

# The draft international agreement (MIRI TGT, 2025): 16 H100e = 253,440 TPP.
TREATY_TPP_PER_H100E = 15_840.0
# Epoch AI: dense 8-bit OP/s of one H100 SXM, in TOP/s.
EPOCH_8BIT_TOPS_PER_H100E = 1_979.0

CONVENTIONS = ("treaty_tpp", "epoch_8bit")
FLOAT_COLUMNS = (
    "fp64_tflops",
    "fp32_tflops",
    "tf32_tflops",
    "bf16_tflops",
    "fp8_tflops",
    "int8_tops",
    "memory_gb",
    "memory_tbps",
    "tdp_w",
    "tpp",
)


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
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            record = {k: (row[k] or "").strip() for k in row}
            for col in FLOAT_COLUMNS:
                record[col] = float(record[col]) if record[col] else None
            record["year"] = int(record["year"]) if record["year"] else None
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
