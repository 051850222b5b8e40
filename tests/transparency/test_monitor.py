"""`manage.py log_monitor` against a real registry over HTTP (pytest-django's live_server).

Exit statuses, carried by CommandError.returncode: 1 could not check, 2 a
checkpoint does not verify under the pinned key, 3 split view or rollback.
"""

import json
import subprocess
import sys
from io import StringIO

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command

from protocol import note
from transparency.checkpoints import log_private_key, verifier_key_line

from .helpers import append_events


def monitor(url, *args):
    out = StringIO()
    call_command("log_monitor", url, *args, stdout=out)
    return out.getvalue().strip()


def failure(url, *args):
    with pytest.raises(CommandError) as excinfo:
        monitor(url, *args)
    return excinfo.value.returncode, str(excinfo.value)


def forged_state(path, key_line, text):
    path.write_text(json.dumps({"version": 1, "key": key_line, "checkpoint": text, "size": 0}))


@pytest.fixture
def registry(live_server, tmp_path):
    append_events(3)
    return live_server.url, verifier_key_line(), tmp_path / "state.json"


def other_key_line():
    return note.verifier_key_line(django_settings.CHIPREG_LOG_ORIGIN, Ed25519PrivateKey.generate().public_key())


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("restore_catalog")
def test_monitor_follows_a_growing_log(registry, tmp_path):
    url, key, state = registry
    key_file = tmp_path / "log.vkey"
    key_file.write_text(key + "\n")
    assert monitor(url, "--state", str(state), "--key-file", str(key_file)) == "first checkpoint: size 3"
    remembered = json.loads(state.read_text())
    assert remembered["size"] == 3 and remembered["key"] == key
    note.verify_checkpoint(remembered["checkpoint"], key)

    append_events(4, prefix="MORE")
    # The key is pinned in the state from now on.
    assert monitor(url, "--state", str(state)) == "consistent: size 3 -> 7"
    assert monitor(url + "/api/v1/", "--state", str(state), "--key", key) == "unchanged: size 7"
    assert json.loads(state.read_text())["size"] == 7

    code, message = failure(url, "--state", str(state), "--key", other_key_line())
    assert code == 1 and "pinned to another key" in message
    code, message = failure(url, "--state", str(tmp_path / "new.json"))
    assert code == 1 and "no key" in message
    code, message = failure("http://127.0.0.1:9/", "--key", key, "--timeout", "2")
    assert code == 1
    code, message = failure("file:///etc/passwd", "--key", key)
    assert code == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("restore_catalog")
def test_signature_failures(registry):
    url, key, state = registry
    # The registry signs with a key other than the pinned one.
    code, message = failure(url, "--state", str(state), "--key", other_key_line())
    assert code == 2 and "served checkpoint" in message
    assert not state.exists()  # nothing remembered from an unverified answer
    # The remembered checkpoint was not signed by the pinned key.
    impostor = Ed25519PrivateKey.generate()
    forged_state(state, key, note.sign_checkpoint(impostor, django_settings.CHIPREG_LOG_ORIGIN, 3, b"\7" * 32))
    code, message = failure(url, "--state", str(state))
    assert code == 2 and "remembered checkpoint" in message


SPLIT_VIEWS = [
    (3, "two different roots signed for size 3"),  # same size, other root
    (2, "does not extend"),  # a smaller tree that is not a prefix of the served one
    (1, "does not extend"),
    (9, "rollback"),  # a bigger tree than the registry now serves
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("restore_catalog")
def test_split_view_is_detected(registry):
    url, key, state = registry
    for size, expect in SPLIT_VIEWS:
        # A checkpoint the registry's own key signed for another history: the split view's evidence.
        other = note.sign_checkpoint(log_private_key(), django_settings.CHIPREG_LOG_ORIGIN, size, b"\7" * 32)
        forged_state(state, key, other)
        code, message = failure(url, "--state", str(state))
        assert code == 3 and expect in message, (size, message)
        assert "SPLIT VIEW" in message and other in message  # both signed notes are printed
        assert json.loads(state.read_text())["checkpoint"] == other  # the state never moves past a failure


def test_monitor_module_does_not_import_django():
    code = "import sys, protocol.monitor; sys.exit(any(m.split('.')[0] == 'django' for m in sys.modules))"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(django_settings.BASE_DIR)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=str(django_settings.BASE_DIR))
