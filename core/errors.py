"""Domain errors: what services raise when a request cannot be done.

Pure Python (no DRF), so services, tasks and commands raise the same thing;
core.problems.exception_handler is the one place that turns them into RFC 9457
problem details. `code` is the stable contract (core/problems.py), `detail` is
prose, `extra` members go into the problem body (e.g. `first_id` of a replay).
"""


def storable(text):
    """Text safe to store and to echo: submitted garbage may carry NUL bytes or lone surrogates."""
    return str(text).encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


class DomainError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, detail, *, code=None, status=None, **extra):
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.code
        self.status = status or self.status
        self.extra = extra


class Forbidden(DomainError):
    """The party may not do this at all (its kind or role), whatever the object."""

    status = 403
    code = "forbidden"


class NotFound(DomainError):
    """Not in the party's view: nobody learns whether it exists."""

    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
