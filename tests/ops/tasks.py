"""A task for the request-id tests: logs one line and answers the request id it ran under."""

import logging

from celery import shared_task

from core.logging import get_request_id

log = logging.getLogger("tests.ops.tasks")


@shared_task(name="tests.ops.tasks.echo_request_id")
def echo_request_id(note):
    log.info("task ran: %s", note, extra={"note": note})
    return get_request_id()
