"""Every answer the test suite receives from the API is checked against /api/v1/schema/.

Clients are generated from the OpenAPI schema, so a response that the schema
does not describe is a bug a client meets in production. The test clients
(tests/conftest.py's `Api` and the authz matrix's) are `SchemaCheckedClient`s:
each response to a request under /api/v1/ is matched to its operation (method +
path template, a trailing slash optional as the routers allow it), then to the
documented response for its status (exact code, then `4XX`, then `default`),
then to the documented content type; a JSON body (application/json or
application/problem+json) must validate against that content's schema. A
mismatch fails the test that received the answer.

The schema is built once per session with drf-spectacular's generator (the same
code that serves /api/v1/schema/). Object schemas are checked strictly (no
member the schema does not name), except where the schema itself says
`additionalProperties`: a member a client cannot see in the schema is as much a
lie as a missing one.
"""

import copy
import datetime
import functools
import json
import re
import urllib.parse
import uuid

from jsonschema import Draft4Validator, FormatChecker
from rest_framework.test import APIClient

API_PREFIX = "/api/v1/"
# The schema and its viewer are not API operations (drf-spectacular leaves them out).
UNDOCUMENTED = ("/api/v1/schema/", "/api/v1/docs/")
# HTTP-level methods that every view answers; the API's operations are the others.
SKIP_METHODS = {"HEAD", "OPTIONS"}


# The formats drf-spectacular writes, checked (a blank email or URL is documented as `oneOf` a
# formatted string or an empty one: without the format, '' would match both and fail the oneOf).
FORMATS = FormatChecker(formats=())


@FORMATS.checks("email")
def _email(value):
    return not isinstance(value, str) or "@" in value


@FORMATS.checks("uri", raises=ValueError)
def _uri(value):
    parts = urllib.parse.urlsplit(value) if isinstance(value, str) else None
    return parts is None or bool(parts.scheme and parts.netloc)


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value):
    return not isinstance(value, str) or ("T" in value and bool(datetime.datetime.fromisoformat(value)))


@FORMATS.checks("date", raises=ValueError)
def _date(value):
    return not isinstance(value, str) or bool(datetime.date.fromisoformat(value))


@FORMATS.checks("uuid", raises=ValueError)
def _uuid(value):
    return not isinstance(value, str) or bool(uuid.UUID(value))


class SchemaViolation(AssertionError):
    """An answer that /api/v1/schema/ does not describe."""


@functools.cache
def spec():
    """The OpenAPI document, as /api/v1/schema/ serves it (built once per session)."""
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


# Keywords whose values are data, not schemas.
VALUES = {"enum", "default", "example", "examples", "required"}


def to_json_schema(node):
    """OpenAPI 3.0 schema objects as JSON Schema (draft 4): `nullable`, and strict objects."""
    if isinstance(node, list):
        return [to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    converted = {}
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):  # a mapping of names to schemas, not a schema
            converted[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in VALUES:
            converted[key] = value
        else:
            converted[key] = to_json_schema(value)
    node = converted
    if "properties" in node and "additionalProperties" not in node:
        node["additionalProperties"] = False
    if node.pop("nullable", False):
        if "enum" in node and None not in node["enum"]:
            node["enum"] = [*node["enum"], None]
        if isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
        elif "type" not in node:
            node = {"anyOf": [node, {"type": "null"}]}
    return node


@functools.cache
def _components():
    return to_json_schema(copy.deepcopy(spec().get("components", {})))


@functools.cache
def _routes():
    """(regex, template) for every documented path, literal paths before templated ones."""
    routes = []
    for template in spec()["paths"]:
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template.rstrip("/")))
        routes.append((template.count("{"), re.compile(f"^{pattern}/?$"), template))
    return [(regex, template) for _, regex, template in sorted(routes, key=lambda r: r[0])]


def find_template(path):
    """The documented path template that `path` falls under, or None.

    A trailing slash is optional on both sides: some routers accept both
    (`trailing_slash = "/?"`), and a router that does not answers a problem 404,
    which every operation documents."""
    for regex, template in _routes():
        if regex.match(path):
            return template
    return None


def documented_response(operation, status):
    responses = operation.get("responses", {})
    for key in (str(status), f"{str(status)[0]}XX", "default"):
        if key in responses:
            return key, _deref(responses[key])
    return None, None


def _deref(node):
    """A `$ref` to a component (`#/components/responses/Problem`), followed."""
    while "$ref" in node:
        *_, section, name = node["$ref"].split("/")
        node = spec()["components"][section][name]
    return node


def _media(content_type):
    return (content_type or "").split(";")[0].strip().lower()


def _body(response):
    if getattr(response, "streaming", False):
        # Read the stream once, and hand the test an equal one to read again.
        data = b"".join(response.streaming_content)
        response.streaming_content = [data]
        return data
    return response.content


def _validate(schema, instance):
    validator = Draft4Validator(
        {"allOf": [to_json_schema(copy.deepcopy(schema))], "components": _components()}, format_checker=FORMATS
    )
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        return "; ".join(f"at {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}" for e in errors[:5])
    return None


def check(method, path, response):
    """Raise SchemaViolation when `response` to `method path` breaks the schema."""
    method = method.upper()
    if not path.startswith(API_PREFIX) or path.startswith(UNDOCUMENTED) or method in SKIP_METHODS:
        return
    status = response.status_code
    where = f"{method} {path} answered {status}"
    template = find_template(path)
    operation = spec()["paths"].get(template, {}).get(method.lower()) if template else None
    if operation is None:
        # No such route or method: only an error may answer, and errors are problems (documented globally).
        if status < 400:
            raise SchemaViolation(f"{where}, but the schema has no operation {method} {template or path}")
        operation = {"responses": {"4XX": {"$ref": "#/components/responses/Problem"}}}
    key, documented = documented_response(operation, status)
    if documented is None:
        raise SchemaViolation(f"{where}; the schema documents only {sorted(operation.get('responses', {}))}")
    content = documented.get("content") or {}
    body = _body(response)
    media = _media(response.get("Content-Type"))
    if not content:
        if body:
            raise SchemaViolation(f"{where} with a {media} body; the schema documents no content for {key}")
        return
    if media not in content:
        raise SchemaViolation(f"{where} as {media!r}; the schema documents {sorted(content)} for {key}")
    schema = content[media].get("schema")
    if schema is None or not (media == "application/json" or media.endswith("+json")):
        return
    try:
        instance = json.loads(body)
    except ValueError as exc:
        raise SchemaViolation(f"{where} as {media}, but the body is not JSON: {exc}") from None
    problem = _validate(schema, instance)
    if problem:
        raise SchemaViolation(f"{where}; the body breaks the schema ({template} {key} {media}): {problem}")


def request_violation(method, path, body, media="application/json"):
    """What in `body` the documented request of `method path` does not describe, or None where it does.

    Requests are not checked on every call (tests send bodies the API must refuse); a test that shows a body
    clients may send is documented calls this."""
    template = find_template(path)
    operation = spec()["paths"].get(template, {}).get(method.lower()) if template else None
    content = ((operation or {}).get("requestBody") or {}).get("content") or {}
    if media not in content:
        return f"{method.upper()} {path} documents no {media} request (only {sorted(content)})"
    return _validate(content[media].get("schema", {}), body)


class SchemaCheckedClient(APIClient):
    """DRF's test client, checking every API answer against the OpenAPI schema."""

    def request(self, **kwargs):
        response = super().request(**kwargs)
        check(kwargs.get("REQUEST_METHOD", "GET"), kwargs.get("PATH_INFO", ""), response)
        return response
