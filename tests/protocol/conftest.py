"""Protocol tests need nothing but the repository root on sys.path.

Nothing Django-specific here: protocol/ imports no Django and these tests touch
no database, so they also run as `pytest tests/protocol -p no:django --noconftest`.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
