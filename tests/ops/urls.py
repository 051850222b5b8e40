"""The project's URLs plus one view that queues a task, as a view that hands work to Celery does."""

from django.http import JsonResponse
from django.urls import include, path

from tests.ops.tasks import echo_request_id


def queue_task(request):
    result = echo_request_id.delay("from a request")
    return JsonResponse({"task_saw": result.get() if result.ready() else None})


urlpatterns = [
    path("ops-test/queue/", queue_task, name="ops-test-queue"),
    path("", include("config.urls")),
]
handler404 = "core.problems.handler404"
