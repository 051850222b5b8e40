"""Request size limits on every endpoint, answered as 413 problem details.

Django checks DATA_UPLOAD_MAX_MEMORY_SIZE only when a view reads
`request.body`; DRF's parsers read the stream, so the limit is enforced here,
from Content-Length, before anything is read. Bulk endpoints have their own,
larger limits (settings.CHIPREG_BODY_LIMITS: path prefix -> bytes).
"""

from django.conf import settings

from core.problems import problem_response


class BodySizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def limit_for(self, path):
        for prefix, limit in getattr(settings, "CHIPREG_BODY_LIMITS", {}).items():
            if path.startswith(prefix):
                return limit
        return settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    def __call__(self, request):
        raw = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(raw)
        except ValueError:
            return problem_response(400, "bad_request", "Content-Length is not a number.")
        limit = self.limit_for(request.path)
        if length > limit:
            return problem_response(
                413, "payload_too_large", f"This endpoint accepts at most {limit} bytes; the body has {length}."
            )
        if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE and request.method in ("POST", "PUT", "PATCH"):
            # A bulk endpoint within its own limit: read the body now, so that
            # Django's global DATA_UPLOAD_MAX_MEMORY_SIZE check (which
            # `request.body` applies) does not refuse what this endpoint allows.
            request._body = request.read(length)
        return self.get_response(request)
