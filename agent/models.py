"""Product names as NVML / nvidia-smi report them -> registry model slugs.

The slugs are the registry catalog's (`registry/data/accelerators.csv`, slug =
slugify("<manufacturer> <model>")). A name that is not known maps to None and the
caller warns: guessing a model would put wrong peak figures behind a chip.
Operators can add names in the config file's `[models]` table.
"""

from __future__ import annotations

import re

# Keys are normalised with `normalise_product_name`.
NVIDIA_MODELS: dict[str, str] = {
    "NVIDIA H200": "nvidia-h200-sxm-141gb",
    "NVIDIA H200 SXM": "nvidia-h200-sxm-141gb",
    "NVIDIA H200 SXM 141GB": "nvidia-h200-sxm-141gb",
    "NVIDIA H200 141GB HBM3E": "nvidia-h200-sxm-141gb",
    "NVIDIA H100 80GB HBM3": "nvidia-h100-sxm5-80gb",
    "NVIDIA H100 SXM5 80GB": "nvidia-h100-sxm5-80gb",
    "NVIDIA H100 SXM": "nvidia-h100-sxm5-80gb",
    "NVIDIA H100 PCIE": "nvidia-h100-pcie-80gb",
    "NVIDIA H100 80GB PCIE": "nvidia-h100-pcie-80gb",
    "NVIDIA H800": "nvidia-h800-sxm5-80gb",
    "NVIDIA H800 80GB HBM3": "nvidia-h800-sxm5-80gb",
    "NVIDIA H20": "nvidia-h20",
    "NVIDIA A100 SXM4 80GB": "nvidia-a100-sxm4-80gb",
    "NVIDIA A800 SXM4 80GB": "nvidia-a800-sxm4-80gb",
    "NVIDIA B200": "nvidia-b200-sxm",
    "NVIDIA B200 SXM": "nvidia-b200-sxm",
    "NVIDIA GB200": "nvidia-gb200-per-gpu",
    "NVIDIA B300": "nvidia-b300-sxm",
    "NVIDIA B300 SXM6 AC": "nvidia-b300-sxm",
}


def normalise_product_name(name: str) -> str:
    """Upper-case, '-' and '_' as spaces, runs of whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"[-_]", " ", name)).strip().upper()


def model_slug(product_name: str | None, extra: dict[str, str] | None = None) -> str | None:
    if not product_name:
        return None
    key = normalise_product_name(product_name)
    for name, slug in (extra or {}).items():
        if normalise_product_name(name) == key:
            return slug
    return NVIDIA_MODELS.get(key)
