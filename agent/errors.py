"""Exit codes and the one exception type the command line turns into them.

Every failure the operator can cause or meet (a wrong key file, a corrupt XML,
an expired token, a registry that is down) is raised as an AgentError carrying
its exit code and a one-line message; `agent.cli.main` prints the message on
stderr and returns the code, never a traceback.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1  # anything unexpected
EXIT_USAGE = 2  # bad arguments, configuration, key file, input file
EXIT_REFUSED = 3  # the registry answered 4xx (problem details)
EXIT_UNREACHABLE = 4  # no answer or 5xx: signed statements stay queued in the outbox
EXIT_VERIFY = 5  # a receipt, evidence bundle, checkpoint or consistency proof does not verify (split view)

EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_ERROR: "unexpected error",
    EXIT_USAGE: "usage or configuration error (arguments, config file, key file, input file)",
    EXIT_REFUSED: "the registry refused the request (4xx problem details)",
    EXIT_UNREACHABLE: "the registry is unreachable or answered 5xx; signed statements are queued",
    EXIT_VERIFY: "verification failure: receipt, evidence bundle, checkpoint signature or consistency (split view)",
}


class AgentError(Exception):
    """A failure with a one-line message for the operator and an exit code."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class UsageError(AgentError):
    exit_code = EXIT_USAGE


class RefusedError(AgentError):
    """The registry answered 4xx; `code` is the problem's stable code when there was one."""

    exit_code = EXIT_REFUSED

    def __init__(self, message: str, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.code = code
        self.status = status


class UnreachableError(AgentError):
    exit_code = EXIT_UNREACHABLE


class VerificationError(AgentError):
    exit_code = EXIT_VERIFY
