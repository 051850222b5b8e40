"""Domain errors (core.errors, protocol's ProtocolError) become problem details in one place: core.problems."""

import ast

import pytest

from core.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, TooLarge
from core.problems import PROBLEM_CONTENT_TYPE, exception_handler
from protocol.errors import ProtocolError


@pytest.mark.parametrize(
    ("exc", "status", "code", "extra"),
    [
        (Forbidden("Only a treaty body registers landmarks."), 403, "forbidden", {}),
        (NotFound("No facility 'X' in your view."), 404, "not_found", {}),
        (Conflict("accepted before", code="replayed_nonce", first_id=7), 409, "replayed_nonce", {"first_id": 7}),
        (DomainError("bad"), 400, "invalid", {}),
        (
            Invalid("Row 3: bad", code="invalid_rows", errors=[{"row": 3}]),
            400,
            "invalid_rows",
            {"errors": [{"row": 3}]},
        ),
        (Forbidden("no", code="role_above_own"), 403, "role_above_own", {}),
        (Conflict("Key k is already registered."), 409, "conflict", {}),
        (TooLarge("At most 2 chips", code="too_many_rows"), 413, "too_many_rows", {}),
        (ProtocolError("unknown_key", "no such key"), 403, "unknown_key", {}),
    ],
)
def test_mapped_by_the_handler(exc, status, code, extra):
    response = exception_handler(exc, {})
    assert response.status_code == status and response.content_type == PROBLEM_CONTENT_TYPE
    assert response.data["code"] == code and response.data["status"] == status
    assert response.data["type"].endswith("/" + code)
    assert {k: response.data[k] for k in extra} == extra


def test_echoed_details_are_storable():
    response = exception_handler(DomainError("nul\x00 and \udcff"), {})
    assert "\x00" not in response.data["detail"]
    response.data["detail"].encode("utf-8")  # no lone surrogate left


# The HTTP layer (core/, each app's api/ package) and the console turn refusals into answers; everything else
# raises core.errors and never sees DRF's Problem, so services, tasks and commands stay free of the web.
HTTP_LAYER = ("core", "console")


def _domain_modules():
    """Every module of the project's packages but the HTTP layer's, the tests' and the migrations'."""
    import os
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for top in sorted(p for p in root.iterdir() if (p / "__init__.py").is_file() and not p.is_symlink()):
        if top.name in HTTP_LAYER or top.name == "tests":
            continue
        for folder, dirs, files in os.walk(top):  # symlinks (a .venv) are not followed
            rel = Path(folder).relative_to(root)
            dirs[:] = [d for d in dirs if d not in ("api", "migrations", "__pycache__")]
            for name in sorted(files):
                if name.endswith(".py"):
                    yield rel / name, Path(folder) / name


def _imports_problem(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "core.problems":
            if any(alias.name in ("Problem", "*") for alias in node.names):
                return True
        if isinstance(node, ast.ImportFrom) and node.module == "core" and any(a.name == "problems" for a in node.names):
            return True
        if isinstance(node, ast.Import) and any(alias.name == "core.problems" for alias in node.names):
            return True
    return False


def test_domain_modules_do_not_import_problem():
    offenders = [str(rel) for rel, path in _domain_modules() if _imports_problem(ast.parse(path.read_text()))]
    assert offenders == [], f"raise core.errors exceptions instead of core.problems.Problem in {offenders}"


def test_the_check_sees_the_domain_and_an_import():
    scanned = {str(rel) for rel, _ in _domain_modules()}
    assert {"registry/authority.py", "inventory/services/transfers.py", "attestations/services.py"} <= scanned
    assert not any(s.startswith(("core/", "console/")) or "/api/" in s for s in scanned)
    assert _imports_problem(ast.parse("def f():\n    from core.problems import Problem\n"))
    assert _imports_problem(ast.parse("import core.problems\n"))
    assert not _imports_problem(ast.parse("from core.errors import Conflict\n"))
