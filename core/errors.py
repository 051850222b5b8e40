"""Domain errors: what services raise when a request cannot be done.

Pure Python (no DRF), so services, tasks and commands raise the same thing;
core.problems.exception_handler is the one place that turns them into RFC 9457
problem details. `code` is the stable contract (core/problems.py), `detail` is
prose, `extra` members go into the problem body (e.g. `first_id` of a replay).

Raise the class that says what kind of refusal it is (Invalid 400, Forbidden
403, NotFound 404, Conflict 409, TooLarge 413) with the stable `code` of the
case; catch DomainError. core.problems.Problem belongs to the HTTP layer (core/,
the apps' api/ packages): tests/core/test_domain_errors.py keeps it there.
"""


def storable(text):
    """Text safe to store and to echo: submitted garbage may carry NUL bytes or lone surrogates."""
    return str(text).encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


class DomainError(Exception):
    """The base of every refusal: a status, a stable code, a detail, extra members. Callers catch this."""

    status = 400
    code = "invalid"

    def __init__(self, detail, *, code=None, status=None, **extra):
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.code
        self.status = status or self.status
        self.extra = extra

    def __repr__(self):
        return f"{type(self).__name__}({self.status}, {self.code!r}, {self.detail!r})"


class Invalid(DomainError):
    """The request itself is wrong (a value, a row, a transition it names): 400."""

    status = 400
    code = "invalid"


class Forbidden(DomainError):
    """The party may not do this at all (its kind or role), whatever the object."""

    status = 403
    code = "forbidden"


class NotFound(DomainError):
    """Not in the party's view: nobody learns whether it exists."""

    status = 404
    code = "not_found"


class Conflict(DomainError):
    """The request is fine but the state of the registry refuses it (already done, changed meanwhile): 409."""

    status = 409
    code = "conflict"


class TooLarge(DomainError):
    """More than the registry takes in one request (rows of a bulk upload): 413."""

    status = 413
    code = "payload_too_large"
