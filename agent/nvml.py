"""Thin access to NVML through `pynvml` (package nvidia-ml-py), imported only when used.

The agent installs and runs without it (`--from-xml` needs no driver); the
`nvml` extra installs it. Every call that a GPU or driver may not support
answers None instead of raising, so one unsupported field never hides a chip.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agent.errors import AgentError, UsageError
from protocol.statements import MAX_CHIP_POWER_W

BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")


FROM_XML = "read nvidia-smi XML with --from-xml"


def load(instead: str | None = FROM_XML) -> Any:
    """pynvml, or a usage error naming what the command offers instead (`instead`: its own option, or None)."""
    try:
        return importlib.import_module("pynvml")
    except ImportError:
        alternative = f", or {instead}" if instead else ""
        raise UsageError(
            f"NVML is not available: install the agent's `nvml` extra (nvidia-ml-py){alternative}"
        ) from None


def _error_type(lib: Any) -> type[BaseException]:
    err = getattr(lib, "NVMLError", None)
    return err if isinstance(err, type) and issubclass(err, BaseException) else Exception


def _s(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value).strip() or None


NVML_ERROR_NOT_SUPPORTED = 3


def call(lib: Any, name: str, *args: Any, strict: bool = False) -> Any:
    """lib.name(*args), or None when the function is missing or NVML refuses.

    With `strict`, only "not supported" answers None; any other NVML error (the
    driver went away, the GPU is lost) propagates so that the caller can restart NVML.
    """
    fn = getattr(lib, name, None)
    if fn is None:
        return None
    try:
        return fn(*args)
    except _error_type(lib) as exc:
        if strict and getattr(exc, "value", None) != NVML_ERROR_NOT_SUPPORTED:
            raise
        return None


@contextlib.contextmanager
def session(instead: str | None = FROM_XML) -> Iterator[Any]:
    lib = load(instead)
    init(lib)
    try:
        yield lib
    finally:
        shutdown(lib)


def init(lib: Any) -> None:
    try:
        lib.nvmlInit()
    except _error_type(lib) as exc:
        raise AgentError(f"NVML could not start (is the NVIDIA driver loaded?): {exc}") from None


def shutdown(lib: Any) -> None:
    with contextlib.suppress(Exception):
        lib.nvmlShutdown()


def handles(lib: Any) -> list[Any]:
    """Every device handle; raises the library's error if the driver goes away."""
    return [lib.nvmlDeviceGetHandleByIndex(i) for i in range(lib.nvmlDeviceGetCount())]


def driver_version(lib: Any) -> str | None:
    return _s(call(lib, "nvmlSystemGetDriverVersion"))


def boot_id() -> str | None:
    try:
        return BOOT_ID_PATH.read_text(encoding="ascii").strip() or None
    except OSError:
        return None


def identity(lib: Any, handle: Any) -> dict[str, Any]:
    limit = call(lib, "nvmlDeviceGetPowerManagementLimit", handle)
    pci = call(lib, "nvmlDeviceGetPciInfo", handle)
    bus_id = getattr(pci, "busId", None) if pci is not None else None
    return {
        "name": _s(call(lib, "nvmlDeviceGetName", handle)),
        "serial": _s(call(lib, "nvmlDeviceGetSerial", handle)),
        "uuid": _s(call(lib, "nvmlDeviceGetUUID", handle)),
        "board_part_number": _s(call(lib, "nvmlDeviceGetBoardPartNumber", handle)),
        "power_limit_mw": int(limit) if limit is not None else None,
        "pci_bus_id": _s(bus_id),
    }


MAX_ENERGY_MJ = (1 << 63) - 1  # SQLite's INTEGER; NVML's 'no value' for an unsigned 64-bit counter is above it
MAX_POWER_MW = int(MAX_CHIP_POWER_W * 1000)


def _in_range(value: Any, hi: int) -> bool:
    """0 <= value <= hi, compared exactly (an int near 2**63 is not rounded into range); NaN is not."""
    if isinstance(value, bool):
        return False
    if not isinstance(value, int):
        try:
            value = float(value)
        except (TypeError, ValueError, OverflowError):
            return False
    return 0 <= value <= hi


def read(lib: Any, handle: Any) -> dict[str, Any]:
    """One reading: energy counter (mJ since driver load), GPU utilization (%), power (mW).

    A value out of range (a negative or NaN one, a utilization above 100 %, an
    'unavailable' sentinel like 2**64 - 1) is recorded as unknown (None) and named
    in `rejected`: a nonsense reading never reaches the database or a statement.
    Raises the library's NVMLError for anything but "not supported".
    """
    energy = call(lib, "nvmlDeviceGetTotalEnergyConsumption", handle, strict=True)
    rates = call(lib, "nvmlDeviceGetUtilizationRates", handle, strict=True)
    power = call(lib, "nvmlDeviceGetPowerUsage", handle, strict=True)
    util = getattr(rates, "gpu", None) if rates is not None else None
    out: dict[str, Any] = {"energy_mj": None, "gpu_util": None, "power_mw": None, "rejected": []}
    for name, value, hi in (
        ("energy_mj", energy, MAX_ENERGY_MJ),
        ("gpu_util", util, 100),
        ("power_mw", power, MAX_POWER_MW),
    ):
        if value is None:
            continue
        if _in_range(value, hi):
            out[name] = float(value) if name == "gpu_util" else int(value)
        else:
            out["rejected"].append(f"{name}={value!r}")
    return out
