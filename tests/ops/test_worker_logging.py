"""A worker's logging follows settings.LOGGING, but Celery's own lines keep the command line's level.

Supervisors, the benches and the fault tests know a worker serves by its "ready." line (INFO): with
LOG_LEVEL=WARNING for the rest (as the benches run), the worker must still say it.
"""

import logging

from core.logging import _worker_logging


def test_celery_keeps_the_command_lines_level_under_a_quieter_root(settings):
    original = settings.LOGGING
    settings.LOGGING = {**settings.LOGGING, "root": {**settings.LOGGING["root"], "level": "WARNING"}}
    celery = logging.getLogger("celery")
    before = celery.level
    try:
        _worker_logging(loglevel=logging.INFO)
        assert logging.getLogger().getEffectiveLevel() == logging.WARNING
        assert logging.getLogger("celery.apps.worker").isEnabledFor(logging.INFO)
        assert not logging.getLogger("chipreg.elsewhere").isEnabledFor(logging.INFO)
    finally:
        from logging.config import dictConfig

        dictConfig(original)  # as the test process had it
        celery.setLevel(before)
