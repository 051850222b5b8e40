"""Chip identity: `<manufacturer>:<serial>` (ATTESTATION.md section 3).

A chip must have exactly one spelling, or the same chip could be registered
twice and a location report could miss it. So:

- the serial is stripped of surrounding whitespace and ASCII letters are
  upper-cased; anything else outside `A-Z 0-9 . _ -` (internal whitespace,
  non-ASCII letters, ':' ...) is refused rather than dropped or transliterated,
  because Unicode case mapping can turn non-ASCII text into ASCII
  (`"ß".upper() == "SS"`) and so create a second spelling;
- the manufacturer is the registry's organisation code: a lowercase slug;
- a chip id in a signed statement or an URL must already be normalised
  (`parse_chip_id` is strict), while registration forms may normalise
  (`normalize_chip_id`).
"""

from __future__ import annotations

import re

from protocol.errors import InvalidChipId

SERIAL_PATTERN = r"[A-Z0-9._-]{3,64}"
MANUFACTURER_PATTERN = r"[a-z0-9][a-z0-9-]{0,31}"
CHIP_ID_PATTERN = f"{MANUFACTURER_PATTERN}:{SERIAL_PATTERN}"

SERIAL_RE = re.compile(SERIAL_PATTERN)
MANUFACTURER_RE = re.compile(MANUFACTURER_PATTERN)
# Compiled once; statements check up to a million ids with `fullmatch`.
CHIP_ID_RE = re.compile(CHIP_ID_PATTERN)


def normalize_serial(s: str) -> str:
    """Return the registry's spelling of a serial, or raise InvalidChipId.

    Idempotent: normalize_serial(normalize_serial(x)) == normalize_serial(x).
    """
    if not isinstance(s, str):
        raise InvalidChipId("serial must be a string")
    value = s.strip()
    if not value.isascii():
        raise InvalidChipId("serial may only contain A-Z, 0-9, '.', '_' and '-'")
    value = value.upper()
    if not SERIAL_RE.fullmatch(value):
        raise InvalidChipId("serial must be 3 to 64 characters from A-Z, 0-9, '.', '_' and '-'")
    return value


def normalize_manufacturer(slug: str) -> str:
    """Return the manufacturer slug in its one spelling, or raise InvalidChipId."""
    if not isinstance(slug, str):
        raise InvalidChipId("manufacturer must be a string")
    value = slug.strip()
    if not value.isascii():
        raise InvalidChipId("manufacturer must be a lowercase slug")
    value = value.lower()
    if not MANUFACTURER_RE.fullmatch(value):
        raise InvalidChipId("manufacturer must be 1 to 32 characters from a-z, 0-9 and '-', not starting with '-'")
    return value


def is_chip_id(s: object) -> bool:
    """True when `s` is a chip id in normalised form (cheap: one precompiled match)."""
    return isinstance(s, str) and CHIP_ID_RE.fullmatch(s) is not None


def parse_chip_id(s: str) -> tuple[str, str]:
    """Split a normalised chip id into (manufacturer, serial); refuse any other spelling."""
    if not is_chip_id(s):
        raise InvalidChipId(f"not a chip id of the form <manufacturer>:<SERIAL>: {str(s)[:100]!r}")
    manufacturer, _, serial = s.partition(":")
    return manufacturer, serial


def normalize_chip_id(s: str) -> str:
    """Normalise a human-typed chip id (`NVIDIA: abc-1` is refused: no inner spaces)."""
    if not isinstance(s, str) or ":" not in s:
        raise InvalidChipId("chip id must be <manufacturer>:<serial>")
    manufacturer, _, serial = s.strip().partition(":")
    if manufacturer != manufacturer.strip() or serial != serial.strip():
        raise InvalidChipId("chip id may not contain whitespace")
    return format_chip_id(manufacturer, serial)


def format_chip_id(manufacturer: str, serial: str) -> str:
    """Join a manufacturer and a serial into the public id, normalising both."""
    return f"{normalize_manufacturer(manufacturer)}:{normalize_serial(serial)}"
