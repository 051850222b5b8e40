"""Request size limits (413), authentication before a large body is read (401), and an
unreachable database (503), answered as problem details.

Size limits apply to every endpoint. Django checks DATA_UPLOAD_MAX_MEMORY_SIZE only when a view reads
`request.body`; DRF's parsers read the stream, so the limit is enforced here,
from Content-Length, before anything is read. Bulk endpoints have their own,
larger limits (settings.CHIPREG_BODY_LIMITS: path prefix -> bytes).
"""

import logging

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest

from core.problems import problem_response

log = logging.getLogger(__name__)


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
        request.chipreg_body_length = length  # read by AuthenticateBeforeBodyMiddleware, after the session
        return self.get_response(request)


class RefuseNulMiddleware:
    """A NUL character in the path or the query string is a 400 before any view sees it.

    PostgreSQL text cannot hold NUL. A path parameter (`/facilities/%00/`) or a query parameter
    (`?q=%00`, `?state=a%00b`) that carried one reached a lookup: the console answered 500 (a
    DataError), a CSV download broke off mid-stream after its 200, and the API answered 400 only
    after the database had refused it. No code, serial, filter or cursor of the registry holds one,
    so the request is refused as it arrives: problem details with code `invalid` under /api/ (the
    code the API already gave it), a plain 400 elsewhere. JSON bodies are checked by
    core.parsers.JSONParser; Django's form fields refuse NUL themselves. An API list's `cursor`
    is left to the paginator, which refuses a NUL in it as `invalid_cursor` (core.pagination).
    """

    LEFT_TO_THE_VIEW = {"cursor"}

    DETAIL = "The request's path or query string holds a NUL character, which the registry cannot store."

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if self.has_nul(request, api=request.path.startswith("/api/")):
            if request.path.startswith("/api/"):
                return problem_response(400, "invalid", self.DETAIL)
            return HttpResponseBadRequest(self.DETAIL + "\n", content_type="text/plain; charset=utf-8")
        return self.get_response(request)

    @classmethod
    def has_nul(cls, request, api):
        if "\x00" in request.path_info:
            return True
        raw = request.META.get("QUERY_STRING", "")
        if "%00" not in raw and "\x00" not in raw:  # the common case: nothing to decode
            return False
        return any(
            "\x00" in key or (not (api and key in cls.LEFT_TO_THE_VIEW) and any("\x00" in v for v in values))
            for key, values in request.GET.lists()
        )


class AuthenticateBeforeBodyMiddleware:
    """Who is sending is known before a byte of a large body is read.

    Unauthenticated, a body larger than CHIPREG_ANONYMOUS_BODY_MAX (no route
    takes a large one from nobody) is a 401 at once, from the headers alone:
    the session cookie or the API's authenticators (a bearer token is one
    indexed lookup), never the body. Before, a bulk endpoint's body (up to
    256 MiB) was read whole here and only then did DRF answer 401.

    Then, for a bulk endpoint within its own limit, the body is read now, so
    that Django's global DATA_UPLOAD_MAX_MEMORY_SIZE check (which
    `request.body` applies) does not refuse what that endpoint allows.

    Placed after AuthenticationMiddleware (it needs `request.user`).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        length = getattr(request, "chipreg_body_length", None)
        if length is None:  # BodySizeLimitMiddleware did not run: nothing checked yet, check nothing here
            return self.get_response(request)
        anonymous_max = getattr(settings, "CHIPREG_ANONYMOUS_BODY_MAX", 64 * 1024)
        if length > anonymous_max and not authenticated(request):
            return self._refuse(request, anonymous_max)
        if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE and request.method in ("POST", "PUT", "PATCH"):
            request._body = request.read(length)
        return self.get_response(request)

    @staticmethod
    def _refuse(request, anonymous_max):
        detail = (
            f"Authenticate to send a body of more than {anonymous_max} bytes "
            "(a valid 'Authorization: Bearer' token or a signed-in session)."
        )
        if request.path.startswith("/api/"):
            response = problem_response(401, "not_authenticated", detail)
        else:
            response = HttpResponse(detail + "\n", status=401, content_type="text/plain; charset=utf-8")
        response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response


def authenticated(request):
    """Whether the request's headers authenticate someone, read without touching its body.

    A session (Django's lazy `request.user`), else each of the API's
    authenticators but the session one (which checks CSRF, reading the form).
    """
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return True
    if not request.META.get("HTTP_AUTHORIZATION"):
        return False
    from rest_framework.authentication import SessionAuthentication
    from rest_framework.exceptions import APIException
    from rest_framework.request import Request
    from rest_framework.settings import api_settings

    wrapped = Request(request, parsers=(), authenticators=())
    for authenticator_class in api_settings.DEFAULT_AUTHENTICATION_CLASSES:
        if issubclass(authenticator_class, SessionAuthentication):
            continue
        try:
            if authenticator_class().authenticate(wrapped) is not None:
                return True
        except APIException:
            return False
    return False


class DatabaseUnavailableMiddleware:
    """A database that cannot be reached is a 503 with Retry-After, not a 500.

    While PostgreSQL restarts, fails over or refuses connections, a view's
    query raises OperationalError (or InterfaceError on a connection already
    closed). The server rolled the request's transaction back with the
    connection, so nothing of it is half written; the client is told to retry
    (registrations are idempotent, a statement sent again is answered
    `replayed_nonce` with the id it got if it was stored after all). Django
    drops the broken connection when the request ends and CONN_HEALTH_CHECKS
    replaces a stale persistent one before use, so service resumes by itself.

    Only failures of the connection or the server count (no SQLSTATE: the
    connection failed or was lost; classes 08, 53, 57: connection exception,
    insufficient resources, operator intervention); any other database error
    is a bug and stays a 500.
    """

    RETRY_AFTER_S = 5
    UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    @classmethod
    def unavailable(cls, exc):
        from django.db import InterfaceError, OperationalError

        if isinstance(exc, InterfaceError):
            return True
        if not isinstance(exc, OperationalError):
            return False
        cause = exc.__cause__
        if not type(cause).__module__.startswith("psycopg"):
            return False  # not raised by the PostgreSQL driver: nothing says the server is away
        sqlstate = getattr(cause, "sqlstate", None)
        return sqlstate is None or sqlstate[:2] in cls.UNAVAILABLE_SQLSTATE_CLASSES

    def process_exception(self, request, exception):
        if not self.unavailable(exception):
            return None
        log.warning("database unavailable during %s %s: %s", request.method, request.path, exception)
        if request.path.startswith("/api/"):
            response = problem_response(
                503, "database_unavailable", "The database cannot be reached at the moment; retry shortly."
            )
        else:
            response = HttpResponse(
                "The registry's database cannot be reached at the moment; retry shortly.\n",
                status=503,
                content_type="text/plain; charset=utf-8",
            )
        response["Retry-After"] = str(self.RETRY_AFTER_S)
        return response
