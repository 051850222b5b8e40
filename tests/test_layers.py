"""The import graph points down (ARCHITECTURE.md, "Layers point down"; issue #16).

Every module of every app is parsed (not imported), and every `import` in it,
at module level or inside a function, is an edge. The rules:

- `core`, `protocol` and `outbox` are the ground; then transparency < registry <
  inventory < runs < attestations < compliance < console and ops; an app imports only apps of
  a lower rank (core and outbox may use protocol, not each other);
- no app imports `demo` (the top: it may import anyone) or `console` (only
  `demo` may), nor `config` (Celery tasks use @shared_task);
- `protocol` imports no Django and no app; `agent` imports `protocol` and no
  other part of the server, and no Django.

Lazy model references (`ForeignKey("registry.Chip")`, `apps.get_model(...)`)
point the same way and are checked too.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RANK = {
    "core": 0,
    "protocol": 0,
    "outbox": 0,
    "transparency": 1,
    "registry": 2,
    "inventory": 3,
    "runs": 4,  # declared training runs: attestations attribute usage to them, compliance reviews them
    "attestations": 5,
    "compliance": 6,
    "casework": 7,  # tips and cases (issue 19): may read every app below; only console (and config) import it
    "console": 8,
    "ops": 7,  # health, readiness and metrics: reads outbox and transparency; nothing imports it but config
    "demo": 9,
}
PACKAGES = [*RANK, "agent", "config"]
FRAMEWORKS = {"django", "rest_framework", "drf_spectacular", "celery", "django_filters"}
MODEL_FIELDS = {"ForeignKey", "OneToOneField", "ManyToManyField"}

# Lazy references allowed against the order, each with its reason (none today: transparency stores
# what a witness needs by value).
KNOWN_LAZY = set()


def _modules(package):
    for path in sorted((ROOT / package).rglob("*.py")):
        if "migrations" not in path.parts:
            yield path


def _edges(path):
    """(line, imported top-level name, kind) for every import and lazy model reference in a file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0], "import"
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0], "import"
        elif isinstance(node, ast.Call):
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            first = node.args[0] if node.args else None
            if name in MODEL_FIELDS and isinstance(first, ast.Constant) and isinstance(first.value, str):
                if "." in first.value:
                    yield node.lineno, first.value.split(".")[0], "model"
            elif name == "get_model" and isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield node.lineno, first.value.split(".")[0], "model"


def _violation(app, target):
    """Why `app` may not depend on `target`, or None when it may."""
    if target == app:
        return None
    if app == "protocol":
        if target in FRAMEWORKS or target in PACKAGES:
            return "protocol is pure Python: no Django, no app"
        return None
    if app == "agent":
        if target in FRAMEWORKS or (target in PACKAGES and target != "protocol"):
            return "the agent imports protocol and nothing else of the server"
        return None
    if target not in PACKAGES:
        return None
    if target == "config" and app != "config":
        return "apps never import config"
    if target == "agent":
        return "the server does not import the agent"
    if target == "demo" and app != "config":
        return "no app imports demo"
    if target == "console" and app not in ("demo", "config"):
        return "only demo imports console"
    if target == "casework" and app not in ("console", "demo", "config"):
        return "only console (and demo, config) import casework"
    if app in RANK and target in RANK and RANK[target] > RANK[app]:
        return f"{app} (layer {RANK[app]}) imports a higher layer ({target}, {RANK[target]})"
    if app in RANK and target in RANK and RANK[app] == RANK[target] == 0 and target != "protocol":
        return "core and outbox do not import each other (both may use protocol, the pure wire formats)"
    return None


def _violations(kinds):
    found = []
    for app in PACKAGES:
        for path in _modules(app):
            for line, target, kind in _edges(path):
                if kind not in kinds:
                    continue
                why = _violation(app, target)
                if why and not (kind == "model" and (app, target) in KNOWN_LAZY):
                    found.append(f"{path.relative_to(ROOT)}:{line}: {target} ({why})")
    return found


def test_imports_point_down():
    assert _violations({"import"}) == []


def test_lazy_model_references_point_down():
    assert _violations({"model"}) == []


def test_registry_names_no_higher_app_even_in_a_string():
    """Not even as a dotted name (import_module("console.demo"), a settings path, a lazy model): the demo
    used to be loaded from registry's load_demo command."""
    higher = "|".join(a for a, rank in RANK.items() if rank > RANK["registry"])
    dotted = re.compile(rf"^({higher})\.[A-Za-z_]")
    hits = []
    for path in _modules("registry"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and dotted.match(node.value):
                hits.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value}")
    assert hits == []


@pytest.mark.parametrize(
    ("app", "target", "allowed"),
    [
        ("registry", "console", False),
        ("registry", "demo", False),
        ("inventory", "attestations", False),
        ("runs", "attestations", False),
        ("runs", "compliance", False),
        ("attestations", "runs", True),
        ("compliance", "console", False),
        ("compliance", "casework", False),
        ("ops", "casework", False),
        ("console", "casework", True),
        ("casework", "compliance", True),
        ("console", "compliance", True),
        ("demo", "console", True),
        ("agent", "registry", False),
        ("agent", "protocol", True),
        ("protocol", "django", False),
        ("core", "outbox", False),
        ("core", "protocol", True),
    ],
)
def test_the_rules_themselves(app, target, allowed):
    """The checker would catch what it is for (a checker that allows everything passes the tests above too)."""
    assert (_violation(app, target) is None) == allowed
