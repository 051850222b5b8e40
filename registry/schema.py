"""OpenAPI description of the bearer-token authentication (drf-spectacular)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "registry.authentication.BearerTokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (`manage.py issue_token` or POST /api/v1/tokens/), shown once.",
        }


# RFC 9457 problem details: what every error of the API answers (core/problems.py builds them).
PROBLEM_SCHEMA = {
    "type": "object",
    "description": (
        "RFC 9457 problem details. Clients branch on `code`, which is stable; some problems add "
        "members (`errors` for invalid fields, the failing `row` of a bulk upload, `first_id` of a "
        "replayed statement)."
    ),
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "errors": {"description": "Per-field messages, for code `invalid`."},
    },
    "required": ["type", "title", "status", "detail", "code"],
    "additionalProperties": True,
}
PROBLEM_CONTENT = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
PROBLEM_RESPONSE = {"description": "Problem details (RFC 9457) with a stable `code`.", "content": PROBLEM_CONTENT}


def document_problems(result, generator, request, public):
    """Postprocessing hook: every operation answers its errors (4XX, 5XX) as problem details.

    Operations that document a particular error status keep their description and
    gain the problem body; the rest answer through the `4XX` and `5XX` ranges."""
    components = result.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    components.setdefault("responses", {})["Problem"] = PROBLEM_RESPONSE
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in {"get", "put", "post", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            for code, response in responses.items():
                if code[:1] in "45" and "content" not in response and "$ref" not in response:
                    response["content"] = PROBLEM_CONTENT
            for code in ("4XX", "5XX"):
                responses.setdefault(code, {"$ref": "#/components/responses/Problem"})
    return result
