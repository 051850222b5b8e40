"""The accelerators on a host, from NVML or from `nvidia-smi -q -x` XML files.

Each GPU is mapped to its registry chip id (`nvidia:<SERIAL>`, normalised with
protocol.serials) and model slug (agent.models). A GPU whose serial is missing
or not a valid registry serial gets no chip id and a warning: it cannot be named
in a statement.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from xml.parsers import expat

from agent import nvml
from agent.errors import UsageError
from agent.models import model_slug
from protocol.errors import InvalidChipId
from protocol.serials import format_chip_id

MANUFACTURERS = ("nvidia",)
_NA = {"", "N/A", "NA", "[N/A]", "[NOT SUPPORTED]", "NOT SUPPORTED", "UNKNOWN ERROR"}
_WATTS_RE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*W\s*", re.IGNORECASE)


@dataclass
class Gpu:
    source: str  # "nvml" or the XML file it came from
    index: int
    name: str | None
    serial: str | None
    uuid: str | None
    board_part_number: str | None
    power_limit_w: float | None
    pci_bus_id: str | None = None
    driver_version: str | None = None
    chip: str | None = None
    model: str | None = None
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("warnings")
        return d


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return None if value.upper() in _NA else value


def finish(gpu: Gpu, manufacturer: str = "nvidia", models: dict[str, str] | None = None) -> Gpu:
    """Fill chip id and model slug, collecting warnings."""
    where = f"{gpu.source} GPU {gpu.index}"
    if gpu.serial:
        try:
            gpu.chip = format_chip_id(manufacturer, gpu.serial)
        except InvalidChipId as exc:
            gpu.warnings.append(f"{where}: serial {gpu.serial!r} is not a registry serial ({exc.detail})")
    else:
        gpu.warnings.append(f"{where}: no serial number reported; it cannot be named in a statement")
    gpu.model = model_slug(gpu.name, models)
    if gpu.model is None:
        gpu.warnings.append(
            f"{where}: unknown product {gpu.name!r}; no registry model (add it under [models] in the config)"
        )
    return gpu


# --- nvidia-smi -q -x --------------------------------------------------------------


def _text(el: ET.Element, path: str) -> str | None:
    found = el.find(path)
    return _clean(found.text) if found is not None and found.text is not None else None


def _watts(text: str | None) -> float | None:
    if text is None:
        return None
    m = _WATTS_RE.fullmatch(text)
    return float(m.group(1)) if m else None


def _power_limit(gpu: ET.Element) -> float | None:
    # Current drivers: gpu_power_readings; older ones: power_readings (power_limit/enforced_power_limit).
    for path in (
        "gpu_power_readings/current_power_limit",
        "gpu_power_readings/enforced_power_limit",
        "power_readings/current_power_limit",
        "power_readings/enforced_power_limit",
        "power_readings/power_limit",
        "module_power_readings/current_power_limit",
    ):
        watts = _watts(_text(gpu, path))
        if watts is not None:
            return watts
    return None


class _Declaration(Exception):
    pass


def _refuse(*_: object) -> None:
    raise _Declaration


def _has_entity_declaration(data: bytes) -> bool:
    """Whether the document declares an entity, in whatever encoding expat reads it (UTF-16 too)."""
    parser = expat.ParserCreate()
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    try:
        parser.Parse(data, True)
    except _Declaration:
        return True
    except expat.ExpatError:
        pass  # not well-formed: the parse below says so
    return False


def _parse_xml(data: bytes, source: str) -> ET.Element:
    # nvidia-smi writes no entity declarations; refusing them (seen by expat itself, before any
    # is expanded) rules out entity expansion attacks without a third-party parser. External
    # DTDs are never fetched.
    if _has_entity_declaration(data):
        raise UsageError(f"{source}: XML entity declarations are not accepted")
    try:
        root = ET.fromstring(data)  # noqa: S314
    except ET.ParseError as exc:
        raise UsageError(f"{source}: not valid XML ({exc})") from None
    if root.tag != "nvidia_smi_log":
        raise UsageError(f"{source}: not `nvidia-smi -q -x` output (root element is <{root.tag}>)")
    return root


def gpus_from_xml(path: str | Path, manufacturer: str = "nvidia", models: dict[str, str] | None = None) -> list[Gpu]:
    source = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {source}: {exc.strerror or exc}") from None
    root = _parse_xml(data, source)
    driver = _text(root, "driver_version")
    gpus = []
    for i, el in enumerate(root.findall("gpu")):
        gpu = Gpu(
            source=source,
            index=i,
            name=_text(el, "product_name"),
            serial=_text(el, "serial"),
            uuid=_text(el, "uuid"),
            board_part_number=_text(el, "board_part_number"),
            power_limit_w=_power_limit(el),
            pci_bus_id=el.get("id") or _text(el, "pci/pci_bus_id"),
            driver_version=driver,
        )
        gpus.append(finish(gpu, manufacturer, models))
    if not gpus:
        raise UsageError(f"{source}: no <gpu> element in the nvidia-smi output")
    return gpus


# --- NVML ------------------------------------------------------------------------


def gpus_from_nvml(
    manufacturer: str = "nvidia", models: dict[str, str] | None = None, instead: str | None = nvml.FROM_XML
) -> list[Gpu]:
    with nvml.session(instead) as lib:
        driver = nvml.driver_version(lib)
        gpus = []
        for i, handle in enumerate(nvml.handles(lib)):
            ident = nvml.identity(lib, handle)
            limit_mw = ident.get("power_limit_mw")
            gpu = Gpu(
                source="nvml",
                index=i,
                name=ident.get("name"),
                serial=_clean(ident.get("serial")),
                uuid=_clean(ident.get("uuid")),
                board_part_number=_clean(ident.get("board_part_number")),
                power_limit_w=limit_mw / 1000.0 if limit_mw is not None else None,
                pci_bus_id=ident.get("pci_bus_id"),
                driver_version=driver,
            )
            gpus.append(finish(gpu, manufacturer, models))
    return gpus


def collect(
    xml_files: list[str] | None,
    manufacturer: str = "nvidia",
    models: dict[str, str] | None = None,
    instead: str | None = nvml.FROM_XML,
) -> list[Gpu]:
    """The GPUs of the XML files, or NVML's (`instead`: what the command offers where NVML is missing)."""
    if manufacturer not in MANUFACTURERS:
        raise UsageError(f"manufacturer {manufacturer!r} is not supported (supported: {', '.join(MANUFACTURERS)})")
    if xml_files:
        gpus: list[Gpu] = []
        for f in xml_files:
            gpus.extend(gpus_from_xml(f, manufacturer, models))
        return gpus
    return gpus_from_nvml(manufacturer, models, instead)


def chip_entries(gpus: list[Gpu]) -> list[str]:
    """The chip ids of the GPUs that have one, refusing a chip seen twice."""
    seen: dict[str, Gpu] = {}
    for gpu in gpus:
        if gpu.chip is None:
            continue
        if gpu.chip in seen:
            other = seen[gpu.chip]
            raise UsageError(
                f"chip {gpu.chip} appears twice ({other.source} GPU {other.index} and {gpu.source} GPU {gpu.index})"
            )
        seen[gpu.chip] = gpu
    return list(seen)
