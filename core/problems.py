"""RFC 9457 problem details with a stable `code` for every error the API returns.

Clients branch on `code`, never on `title` or `detail`, so codes are part of
the contract: add new ones, never rename.
"""

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import DataError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import DomainError, storable
from protocol.errors import ProtocolError

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://chipreg.example/problems/"


class Problem(exceptions.APIException):
    """An API error with an explicit status and stable code.

    `extra` members are added to the problem body (for example the row that
    failed in a bulk upload, or the id of the first accepted duplicate).
    """

    def __init__(self, status_code, code, detail, title=None, **extra):
        self.status_code = status_code
        self.code = code
        self.title = title
        self.extra = extra
        super().__init__(detail=detail, code=code)


# Stable codes for the exceptions DRF and Django raise themselves.
_DRF_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "not_authenticated",
    exceptions.PermissionDenied: "forbidden",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.ParseError: "malformed_json",
    exceptions.Throttled: "rate_limited",
    exceptions.ValidationError: "invalid",
}


def problem_body(status_code, code, title, detail, **extra):
    body = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status_code,
        "detail": detail,
        "code": code,
    }
    body.update(extra)
    return body


def _title(status_code):
    from http import HTTPStatus

    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return "Error"


def _flatten_detail(detail):
    if isinstance(detail, list):
        return "; ".join(_flatten_detail(d) for d in detail)
    if isinstance(detail, dict):
        return "; ".join(f"{k}: {_flatten_detail(v)}" for k, v in detail.items())
    return str(detail)


def as_problem(exc):
    """A domain error (core.errors, or a wire-format refusal of protocol/) as a Problem."""
    extra = getattr(exc, "extra", {})
    return Problem(exc.status, exc.code, storable(exc.detail or exc.code), **extra)


def exception_handler(exc, context):
    if isinstance(exc, DomainError | ProtocolError):
        exc = as_problem(exc)
    elif isinstance(exc, DataError):
        # The database refused a value (PostgreSQL text cannot hold NUL bytes): bad input, not a crash.
        exc = Problem(
            400, "invalid", "The request contains a value the registry cannot store (for example a NUL byte)."
        )
    elif isinstance(exc, RequestDataTooBig):
        exc = Problem(413, "payload_too_large", str(exc) or "The request body is too large.")
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: let Django log it and answer 500

    if isinstance(exc, Problem):
        body = problem_body(
            exc.status_code, exc.code, exc.title or _title(exc.status_code), str(exc.detail), **exc.extra
        )
    else:
        code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), None)
        if code is None:
            code = getattr(exc, "default_code", None) or "error"
        extra = {}
        if isinstance(exc, exceptions.ValidationError):
            extra["errors"] = exc.detail
            detail = _flatten_detail(exc.detail)
        else:
            detail = _flatten_detail(exc.detail)
        body = problem_body(response.status_code, code, _title(response.status_code), detail, **extra)

    response.data = body
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def problem_response(status_code, code, detail, **extra):
    """A problem response outside DRF's exception flow (Django handlers, middleware)."""
    return JsonResponse(
        problem_body(status_code, code, _title(status_code), detail, **extra),
        status=status_code,
        content_type=PROBLEM_CONTENT_TYPE,
    )


def handler404(request, exception=None):
    if request.path.startswith("/api/"):
        return problem_response(404, "not_found", "No such resource.")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request):
    if request.path.startswith("/api/"):
        return problem_response(500, "server_error", "An internal error occurred; it has been logged.")
    from django.views.defaults import server_error

    return server_error(request)


def handler400(request, exception=None):
    if isinstance(exception, RequestDataTooBig):
        return problem_response(413, "payload_too_large", str(exception))
    if request.path.startswith("/api/"):
        return problem_response(400, "bad_request", str(exception) or "Bad request.")
    from django.views.defaults import bad_request

    return bad_request(request, exception)


def handler403(request, exception=None):
    if request.path.startswith("/api/"):
        return problem_response(403, "forbidden", "You may not do this.")
    from django.views.defaults import permission_denied

    return permission_denied(request, exception)


__all__ = ["Problem", "Response", "exception_handler", "problem_response", "status"]
