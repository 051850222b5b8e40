"""The WSGI entry point freezes what a worker loads before its first request out of the cyclic collector."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wsgi_application_freezes_the_loaded_world():
    probe = (
        "import gc, sys, config.wsgi;"
        "frozen, views = gc.get_freeze_count(), 'attestations.api.views' in sys.modules;"
        "sys.exit(0 if frozen > 100_000 and views else f'frozen {frozen}, views loaded: {views}')"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
