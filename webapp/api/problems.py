"""Errors of the JSON API as `application/problem+json` (RFC 9457): the status, its title, and a
`detail` a person can act on. Every error under the API's prefix answers so, whether a view,
the router or the app's own error handlers raised it."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from flask import Response, request

API_PREFIX = "/api/v1"
PROBLEM_JSON = "application/problem+json"

DETAILS = {
    400: "That request could not be read: send a JSON body with Content-Type: application/json.",
    401: "Send a valid API token as `Authorization: Bearer <token>`. Owners make and revoke "
    "tokens on the API tokens page of the dashboard.",
    404: "Nothing is at that URL for this token's organization: the account or SKU does not "
    "exist, or it belongs to another organization.",
    405: "That method is not allowed on this URL; see /api/v1/openapi.json.",
    409: "The link changed since you read it.",
    413: "That request is too large.",
    415: "Send the body as JSON with Content-Type: application/json.",
    422: "The request body is not valid.",
    500: "Something went wrong on our side. The error has been logged; try again later.",
}


def is_api_request() -> bool:
    return request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/")


def problem(status: int, detail: str | None = None, **extensions: Any) -> Response:
    """A problem document: `type` about:blank with the status's own title (RFC 9457 §4.2.1),
    and any extension members given."""
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail or DETAILS.get(status, HTTPStatus(status).description),
        **extensions,
    }
    response = Response(json_text(body), status=status, mimetype=PROBLEM_JSON)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="SKU Bridge API"'
    return response


def json_text(document: Any) -> str:
    """JSON with `<`, `>` and `&` written as escapes: the same document to a JSON reader, and
    nothing a browser sniffing the body could take for markup, whatever text it echoes."""
    return (
        json.dumps(document).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    )
