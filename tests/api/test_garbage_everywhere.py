"""Garbage to every route: no 5xx, a refusal is problem details with a stable `code`, and leaves nothing written.

Every (method, path) of the API permission matrix (tests/authz/policy.py API) is sent garbage as a role the
matrix lets reach it (the registry administrator, the treaty body, operator A's admin...), with the matrix's
world and path parameters (tests/authz/conftest.py):

- writes: bodies of every wrong shape (a list, a string, a number, null, true), malformed JSON bytes, JSON
  nested 5000 deep, the wrong Content-Type, and the route's own valid body with every value of the wrong
  type, every string carrying a NUL or a lone surrogate or 64 KiB long, every number huge, negative,
  1e309 or NaN, every date malformed or at the calendar's ends, and each top-level field an object or list;
- reads: every documented query parameter (and the pagination, ordering and CSV ones) set to a NUL, a
  huge or negative number, a malformed date, 10 KiB of text, invalid UTF-8, or repeated;
- path parameters: non-numeric, huge, negative, NUL and percent-encoded junk;
- the console (console/urls.py, signed in, CSRF enforced): forms with NUL bytes, repeated and long fields,
  invalid UTF-8 and the wrong Content-Type; pages and their CSV downloads with the same query garbage.

Every answer must be below 500; an API answer in 4xx must be `application/problem+json` with a non-empty
string `code`; a refused write must leave the route's tables and the transparency log as they were.
Each request runs in a savepoint (a server runs in autocommit: a statement PostgreSQL refuses does not poison
the next request); a failure lists every input that broke the route, not just the first.
"""

import json
import re
from functools import cache

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from tests.authz.conftest import authz_world, world  # noqa: F401  (the matrix's world, one per module)
from tests.authz.policy import API, CONSOLE, Raw
from tests.authz.test_api_matrix import fingerprint

pytestmark = pytest.mark.django_db

# Who sends the garbage: the first of these the matrix lets reach the route (an allowed cell, else one whose
# body is judged: a 400/409/422 cell), so the garbage gets past authentication and permission checks.
ROLE_PREFERENCE = (
    "registry_admin",
    "treaty",
    "op_admin",
    "insp_in",
    "manufacturer",
    "op_member",
    "op_other",
    "insp_out",
    "op_readonly",
)
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
PROBLEM = "application/problem+json"


def _reaches(outcome):
    codes = outcome.codes
    if any(200 <= c < 300 for c in codes):
        return 2
    if codes & {400, 409, 422}:
        return 1
    return 0


def _pick(cases):
    """(case, role) of the route: a role allowed through (2xx) if any, else one whose body is judged."""
    for wanted in (2, 1):
        for case in cases:
            for role in ROLE_PREFERENCE:
                cell = case.expect[role]
                outcome = getattr(cell, "outcome", cell)
                if _reaches(outcome) == wanted:
                    return case, role
    return None, None


# --- garbage ------------------------------------------------------------------------------------------

NUM_1E309 = "@@num:1e309@@"
NUM_NAN = "@@num:NaN@@"


def _dumps(value):
    """JSON text, with the markers above written as the bare tokens Python's encoder never writes."""
    text = json.dumps(value)
    return text.replace(f'"{NUM_1E309}"', "1e309").replace(f'"{NUM_NAN}"', "NaN").encode("utf-8", "surrogatepass")


def _leaves(value, fn):
    if isinstance(value, dict):
        return {k: _leaves(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [_leaves(v, fn) for v in value]
    return fn(value)


def _is_number(v):
    return isinstance(v, int | float) and not isinstance(v, bool)


def _strings(fn):
    return lambda v: fn(v) if isinstance(v, str) else v


def _numbers(fn):
    return lambda v: fn(v) if _is_number(v) else v


DATE_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _dates(replacement):
    return lambda v: replacement if isinstance(v, str) and DATE_LIKE.match(v) else v


# Every leaf of the route's valid body replaced: (label, function of a leaf).
LEAF_GARBAGE = (
    ("NUL in every string", _strings(lambda s: s + "\x00")),
    ("lone surrogate in every string", _strings(lambda s: s + "\ud800")),
    ("64 KiB strings", _strings(lambda s: "x" * 65536)),
    ("every string a number", _strings(lambda s: 12345)),
    ("every number huge", _numbers(lambda n: 10**30)),
    ("every number negative", _numbers(lambda n: -1)),
    ("every number 1e309", _numbers(lambda n: NUM_1E309)),
    ("every number NaN", _numbers(lambda n: NUM_NAN)),
    ("every number a string", _numbers(lambda n: "12abc")),
    ("every number the string NaN", _numbers(lambda n: "NaN")),
    ("every date malformed", _dates("2024-13-45T25:61:00Z")),
    ("every date at year 1 east of UTC", _dates("0001-01-01T00:00:00+01:00")),
    ("every date at year 9999 west of UTC", _dates("9999-12-31T23:59:59-01:00")),
    ("every date with a +23:59 offset", _dates("2024-01-01T00:00:00+23:59")),
    ("every value a list", lambda v: [v, v]),
    ("every value an object", lambda v: {"x": v}),
    ("every value true", lambda v: True),
    ("every value null", lambda v: None),
)


def _json_bodies(valid):
    """(label, bytes) of JSON garbage made from the route's valid body (a dict or a list of them)."""
    for label, fn in LEAF_GARBAGE:
        yield label, _dumps(_leaves(valid, fn))
    target = valid[0] if isinstance(valid, list) and valid and isinstance(valid[0], dict) else valid
    if isinstance(target, dict):
        for i, key in enumerate(target):
            label, wrong = (("an object", {"$": [1, {"x": None}]}), ("a list", [{"x": "y"}, 1]))[i % 2]
            changed = {**target, key: wrong}
            yield f"field {key!r} {label}", _dumps([changed] if target is not valid else changed)
        yield "NUL key", _dumps({**target, "\x00": "\x00", "k\x00": 1})


SHAPES = (
    ("a list", []),
    ("a list of junk", [1, "x", None, [], {}]),
    ("a string", "garbage"),
    ("a number", 42),
    ("null", None),
    ("true", True),
    ("an empty object", {}),
)
RAW_BODIES = (
    ("truncated JSON", b"{", "application/json"),
    ("a value missing", b'{"a": }', "application/json"),
    ("two documents", b'{"a": 1}{"b"', "application/json"),
    ("invalid UTF-8", b'{"a": "\xff\xfe"}', "application/json"),
    ("a raw NUL byte", b'{"a": "\x00"}', "application/json"),
    ("a BOM", b"\xef\xbb\xbf{}", "application/json"),
    ("NaN", b"NaN", "application/json"),
    ("arrays 5000 deep", b"[" * 5000 + b"]" * 5000, "application/json"),
    ("objects 5000 deep", b'{"a":' * 5000 + b"1" + b"}" * 5000, "application/json"),
    ("an empty body", b"", "application/json"),
    ("a form", b"a=b&c=%00", "application/x-www-form-urlencoded"),
    ("multipart without a boundary", b"--x\r\n", "multipart/form-data"),
    ("text", b"hello", "text/plain"),
    ("JSON in an unknown charset", b"{}", "application/json; charset=x-nonsense"),
    ("JSON as UTF-16", "{}".encode("utf-16"), "application/json; charset=utf-16"),
    ("JSON compressed", b"x\x9c\xab\xae\x05\x00\x01u\x00\xf9", "application/json; charset=zlib_codec"),
    ("no media type", b"{}", ""),
)


def write_garbage(valid):
    """(label, bytes, content type) for a write route whose valid body is `valid` (None: it takes none)."""
    for label, value in SHAPES:
        yield f"body {label}", _dumps(value), "application/json"
    for label, data, content_type in RAW_BODIES:
        yield f"body {label}", data, content_type
    if valid is not None:
        yield "valid body as text/plain", _dumps(valid), "text/plain"
        yield "valid body as a form", b"x=1", "application/x-www-form-urlencoded"
        if isinstance(valid, dict | list):
            for label, data in _json_bodies(valid):
                yield label, data, "application/json"


QUERY_VALUES = (
    ("NUL", "%00"),
    ("NUL inside", "a%00b"),
    ("huge number", "9" * 40),
    ("negative number", "-1"),
    ("1e309", "1e309"),
    ("malformed date", "2024-13-45T25:61"),
    ("year-1 date east of UTC", "0001-01-01T00:00:00%2B01:00"),
    ("invalid UTF-8", "%ff%fe"),
    ("lone surrogate as CESU-8", "%ed%a0%80"),
    ("10 KiB", "x" * 10240),
)
# Parameter by parameter (the rest go to every parameter at once): a refusal of one cannot hide another's crash.
PER_PARAMETER = (("NUL", "%00"), ("huge number", "9" * 40))
# Parameters every list may meet: pagination, ordering, the CSV switch, and common filter names.
COMMON_PARAMS = ("limit", "cursor", "offset", "page", "page_size", "ordering", "format", "since", "until", "q")


@cache
def schema_query_params():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    out = {}
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            if isinstance(op, dict):
                names = [p["name"] for p in op.get("parameters", ()) if p.get("in") == "query"]
                out[(method.upper(), path)] = tuple(names)
    return out


def query_garbage(names, per_parameter=True):
    """Query strings: each value for every parameter at once, the worst ones parameter by parameter (where
    a filter form refuses the whole query for one bad value), repeated parameters, the CSV download."""
    names = tuple(dict.fromkeys((*names, *COMMON_PARAMS)))
    for label, value in QUERY_VALUES:
        yield f"every parameter {label}", "&".join(f"{n}={value}" for n in names)
    for name in names if per_parameter else ():
        for label, value in PER_PARAMETER:
            yield f"{name}={label}", f"{name}={value}"
    yield "every parameter repeated", "&".join(f"{n}=1&{n}=x&{n}=" for n in names)
    yield "limit huge, offset huge", f"limit={10**30}&offset={10**30}&page_size={10**30}&page={10**30}"
    yield "limit zero", "limit=0"
    yield "unknown ordering", "ordering=-no_such_field,%00,__class__"
    yield "cursor garbage", "cursor=%%%%&cursor=AAAA"
    yield "a cursor at a NUL position", "cursor=cD0lMDA%3D"
    yield "CSV with garbage", "format=csv&" + "&".join(f"{n}=%00" for n in names if n != "format")
    yield "format garbage", "format=%00"
    yield "a NUL parameter name", "%00=1&a%00b=2"


PATH_VALUES = (
    ("non-numeric", "abc"),
    ("huge", "9" * 40),
    ("negative", "-1"),
    ("NUL", "%00"),
    ("NUL inside", "1%00"),
    ("invalid UTF-8", "%ff%fe"),
    ("lone surrogate as CESU-8", "%ed%a0%80"),
    ("dot-dot slash", "..%2f..%2f"),
    ("long", "x" * 5000),
)


# --- checks ---------------------------------------------------------------------------------------------


class Sweep:
    """Sends garbage, each request in a savepoint, and collects every answer that breaks the rules."""

    def __init__(self, tables=()):
        self.tables = tables
        self.failures = []
        self.count = 0
        self.before = None

    def _writes(self):
        statements = []

        def wrapper(execute, sql, params, many, context):
            result = execute(sql, params, many, context)
            if re.match(r"\s*(INSERT|UPDATE|DELETE)\b", sql, re.I) and "last_used_at" not in sql:
                statements.append(sql[:120])
            return result

        return statements, wrapper

    def send(self, label, call, *args, api=True, write=False, **kwargs):
        """`call(*args, **kwargs)` in a savepoint, rolled back after the checks: every request meets the world."""
        self.count += 1
        if write and self.before is None:
            self.before = fingerprint(self.tables)  # the same before every request: each is rolled back
        before = self.before if write else None
        sid = transaction.savepoint()
        statements, wrapper = self._writes()
        try:
            with connection.execute_wrapper(wrapper):
                response = call(*args, **kwargs)
        except Exception as exc:  # the test client re-raises what the view let escape
            transaction.savepoint_rollback(sid)
            self.failures.append(f"{label}: raised {type(exc).__name__}: {str(exc)[:200]}")
            return None
        try:
            self._check(label, response, api, write, before, statements)
        finally:
            transaction.savepoint_rollback(sid)
        return response

    def _check(self, label, response, api, write, before, statements):
        status = response.status_code
        content = b"".join(response.streaming_content) if response.streaming else response.content
        if status >= 500:
            exc = getattr(response, "exc_info", None)
            cause = f" ({exc[0].__name__}: {str(exc[1])[:200]})" if exc else ""
            self.failures.append(f"{label}: {status}{cause} {content[:200]!r}")
            return
        if api and 400 <= status < 500:
            content_type = response.get("Content-Type", "")
            if not content_type.startswith(PROBLEM):
                self.failures.append(f"{label}: {status} as {content_type!r}, not problem details: {content[:200]!r}")
            else:
                code = json.loads(content).get("code")
                if not (isinstance(code, str) and code):
                    self.failures.append(f"{label}: {status} without a code: {content[:200]!r}")
        if write and status >= 400:
            try:
                with transaction.atomic():
                    after = fingerprint(self.tables)
            except DatabaseError:
                # The request left the transaction aborted (a statement PostgreSQL refused, outside any atomic
                # block of the view): in autocommit what it wrote before stays, so it must have written nothing.
                if statements:
                    self.failures.append(f"{label}: refused ({status}) after writing {statements}")
                return
            if after != before:
                self.failures.append(f"{label}: refused ({status}) but changed {self.tables} or the log")

    def assert_clean(self, route):
        assert not self.failures, f"{route}: {len(self.failures)} of {self.count} garbage requests broke it:\n" + (
            "\n".join(self.failures)
        )


def _api_client(w, role):
    client = APIClient()
    client.raise_request_exception = False
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {w.tokens[role]}")
    return client


def _url(path, params, query=""):
    url = path.format(**params)
    return url + (f"?{query}" if query else "")


def _valid_body(w, case, role):
    body = case.body(w, role) if callable(case.body) else case.body
    if isinstance(body, Raw):
        try:
            return json.loads(body.data)
        except ValueError:
            return None
    return body


# --- the API ------------------------------------------------------------------------------------------


def _api_routes():
    for (method, path), cases in sorted(API.items()):
        case, role = _pick(cases)
        marks = () if case is not None else pytest.mark.skip(reason="no role reaches this route")
        yield pytest.param(method, path, case, role, id=f"{method} {path}", marks=marks)


@pytest.mark.parametrize(("method", "path", "case", "role"), list(_api_routes()))
def test_api_route_takes_garbage(world, method, path, case, role):  # noqa: F811
    client = _api_client(world, role)
    params = case.params(world, role) if case.params else {}
    write = method in WRITES
    tables = tuple(dict.fromkeys(t for c in API[(method, path)] for t in c.tables))
    sweep = Sweep(tables)

    def call(url, data=b"", content_type="application/json"):
        return client.generic(method, url, data, content_type=content_type)

    if write:
        valid = _valid_body(world, case, role)
        for label, data, content_type in write_garbage(valid):
            sweep.send(label, call, _url(path, params), data, content_type, write=True)
    else:
        names = schema_query_params().get((method, path), ())
        for label, query in query_garbage(names):
            sweep.send(f"?{label}", call, _url(path, params, query))

    # Path parameters: each replaced by junk, the rest as the matrix sends them (a write with its valid body).
    body = _valid_body(world, case, role) if write else None
    for name in params:
        for label, value in PATH_VALUES:
            url = _url(path, {**params, name: value})
            if write:
                sweep.send(f"{name} {label}", call, url, _dumps(body), write=True)
            else:
                sweep.send(f"{name} {label}", call, url)
    sweep.assert_clean(f"{method} {path} as {role}")


# --- the console --------------------------------------------------------------------------------------

CONSOLE_QUERY_PARAMS = ("q", "table", "format", "facility", "case", "state", "fragment", "live", "view", "evidence")
C_ROLE_PREFERENCE = ROLE_PREFERENCE


def _console_pick(cases):
    for wanted in (2, 1):
        for case in cases:
            for role in C_ROLE_PREFERENCE:
                cell = case.expect[role]
                outcome = getattr(cell, "outcome", cell)
                codes = outcome.codes
                reach = 2 if any(200 <= c < 400 for c in codes) else (1 if codes & {400, 409, 422} else 0)
                if reach == wanted:
                    return case, role
    return None, None


def _console_routes():
    for (name, method), cases in sorted(CONSOLE.items()):
        if name in ("login", "logout"):
            continue  # no garbage reaches anything behind them signed in; login's form is Django's own
        case, role = _console_pick(cases)
        if case is None:
            continue
        yield pytest.param(name, method, case, role, id=f"{method} {name}")


def _form_garbage(valid):
    """(label, bytes, content type) for a console form whose valid data is `valid`."""
    from urllib.parse import urlencode

    fields = {k: v for k, v in (valid or {}).items() if isinstance(v, str | int)}
    keys = list(fields) or ["x"]

    def enc(data):
        return urlencode(data, doseq=True).encode()

    form = "application/x-www-form-urlencoded"
    yield "NUL in every field", enc({k: f"{fields.get(k, '')}\x00" for k in keys}), form
    yield "a NUL for every field", enc(dict.fromkeys(keys, "\x00")), form
    yield "every field repeated", enc({k: [str(fields.get(k, "")), "other", ""] for k in keys}), form
    yield "every field 64 KiB", enc(dict.fromkeys(keys, "x" * 65536)), form
    yield "every field a huge number", enc(dict.fromkeys(keys, "9" * 40)), form
    yield "every field negative", enc(dict.fromkeys(keys, "-1")), form
    yield "every field a malformed date", enc(dict.fromkeys(keys, "2024-13-45T25:61")), form
    yield "every field invalid UTF-8", "&".join(f"{k}=%ff%fe%ed%a0%80" for k in keys).encode(), form
    yield "no fields", b"", form
    yield "JSON instead of a form", _dumps({k: ["\x00"] for k in keys}), "application/json"
    yield "multipart without a boundary", b"--x\r\n", "multipart/form-data"
    yield (
        "multipart with NUL names",
        (b'--B\r\nContent-Disposition: form-data; name="\x00"; filename="\x00.csv"\r\n\r\n\x00\r\n--B--\r\n'),
        "multipart/form-data; boundary=B",
    )


def _console_url(name, params, swap=None):
    url = reverse(f"console:{name}", kwargs=params or None)
    if swap is not None:
        key, value = swap
        url = url.replace(f"/{params[key]}/", f"/{value}/", 1)
    return url


@pytest.mark.parametrize(("name", "method", "case", "role"), list(_console_routes()))
def test_console_route_takes_garbage(world, name, method, case, role):  # noqa: F811
    client = Client(enforce_csrf_checks=True)
    client.raise_request_exception = False
    client.force_login(world.users[role])
    client.get("/")  # the CSRF cookie
    token = client.cookies["csrftoken"].value
    params = case.params(world, role) if case.params else {}
    tables = tuple(dict.fromkeys(t for c in CONSOLE[(name, method)] for t in c.tables))
    sweep = Sweep(tables)
    url = _console_url(name, params)
    base_query = case.query_fn(world) if case.query_fn else case.query

    if method == "POST":
        valid = case.body(world, role) if callable(case.body) else case.body
        for label, data, content_type in _form_garbage(valid):
            sweep.send(
                label,
                client.generic,
                "POST",
                url,
                data,
                content_type=content_type,
                HTTP_X_CSRFTOKEN=token,
                api=False,
                write=True,
            )
    else:
        # The console's pages read each parameter by itself (no filter form refuses the whole query): every
        # parameter at once reaches each of them, and a page is dear to render, so none one by one.
        for label, query in query_garbage(CONSOLE_QUERY_PARAMS, per_parameter=False):
            full = "&".join(q for q in (base_query, query) if q)
            sweep.send(f"?{label}", client.get, f"{url}?{full}", api=False)
    for key in params:
        for label, value in PATH_VALUES:
            bad = _console_url(name, params, (key, value))
            if method == "POST":
                sweep.send(
                    f"{key} {label}",
                    client.post,
                    bad,
                    {},
                    HTTP_X_CSRFTOKEN=token,
                    api=False,
                    write=True,
                )
            else:
                sweep.send(f"{key} {label}", client.get, bad, api=False)
    sweep.assert_clean(f"{method} console:{name} as {role}")
