"""Row ids as clients spell them in paths and query strings.

ASCII digits only: str.isdigit() also takes '²' (which int() refuses: a 500) and '١٢' (which int() reads
as 12: one row under another spelling of its id). At most 18 digits: a bigint, never an overflow.
"""

import re

_ID = re.compile(r"[0-9]{1,18}")


def parse_id(raw):
    """The id `raw` spells, or None when it spells none."""
    raw = str(raw)
    return int(raw) if _ID.fullmatch(raw) else None
