"""The API's flask-smorest extension: it validates requests with the schemas of
`webapp.api.schemas` and serves the OpenAPI document at `/api/v1/openapi.json`.

flask-smorest would answer every HTTP error of the whole app in its own JSON; here errors are
problem documents under the API's prefix only (`webapp.api.problems`), and the dashboard keeps
its pages.
"""

from __future__ import annotations

from http import HTTPStatus

from flask import Flask
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from werkzeug.routing import IntegerConverter

from webapp.api.problems import API_PREFIX, PROBLEM_JSON
from webapp.api.schemas import ProblemSchema

SECURITY_SCHEME = "bearerAuth"
DESCRIPTION = """\
Read and change the links between TikTok Shop SKUs and store SKUs of one organization.

Every call but this document needs `Authorization: Bearer <token>`; an owner makes tokens on
the dashboard's API tokens page. Changes go through the same rules as the dashboard's link
editor: a link set here is Mapped, and becomes Linked (synced) when it is assigned. Errors are
`application/problem+json` (RFC 9457) with a `detail` that says what to do.
"""


class JsonApi(Api):
    ERROR_SCHEMA = ProblemSchema
    # Each operation lists the errors it can answer with, rather than a catch-all default.
    DEFAULT_ERROR_RESPONSE_NAME = None

    def _register_error_handlers(self) -> None:
        """Nothing app-wide: see the module's docstring."""

    def _register_responses(self) -> None:
        """The status responses operations refer to (422 of a refused body among them), as
        problem documents."""
        for status in HTTPStatus:
            response: dict = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)


def init_app(app: Flask) -> JsonApi:
    """One JsonApi per app (it keeps the app's spec), in `app.extensions["flask-smorest"]`."""
    from webapp import DatabaseIdConverter
    from webapp.api.views import bp

    app.config.update(
        API_TITLE="SKU Bridge API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=API_PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {"description": DESCRIPTION},
            "servers": [{"url": "/"}],
            "security": [{SECURITY_SCHEME: []}],
        },
    )
    json_api = JsonApi(app)
    json_api.spec.components.security_scheme(
        SECURITY_SCHEME,
        {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token of the organization, made on the API tokens page",
        },
    )
    json_api.register_converter(DatabaseIdConverter, _id_parameter)
    json_api.register_blueprint(bp)
    return json_api


def _id_parameter(converter: IntegerConverter) -> dict:
    return {"type": "integer", "minimum": 1, "maximum": converter.max}
