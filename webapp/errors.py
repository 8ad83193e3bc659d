"""Error pages: a clear message in the page, never a bare status."""

from __future__ import annotations

from flask import Flask, Response, current_app, make_response, render_template
from flask_wtf.csrf import CSRFError

from webapp.api.problems import is_api_request, problem
from webapp.htmx import is_htmx, retarget, toast

MESSAGES = {
    400: "That request could not be understood.",
    403: "You do not have access to that.",
    404: "That page does not exist, or it belongs to another organization.",
    405: "That action is not allowed here.",
    413: "That file is too large.",
    500: "Something went wrong on our side. The error has been logged.",
}


def error_page(status: int, message: str) -> Response:
    """The message in the page (a toast for htmx), with the status; under the JSON API's
    prefix a problem document (the API's own wording for the statuses' usual messages)."""
    if is_api_request():
        return problem(status, None if message == MESSAGES.get(status) else message)
    if is_htmx():
        response = make_response(render_template("errors/_message.html", message=message), status)
        return retarget(toast(response, message, "error"), "#flash", "innerHTML")
    return make_response(
        render_template("errors/error.html", status=status, message=message), status
    )


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        return error_page(400, "Your session expired or the form was stale. Reload and try again.")

    for status, message in MESSAGES.items():
        app.register_error_handler(status, lambda error, m=message, s=status: error_page(s, m))

    @app.errorhandler(413)
    def too_large(error: Exception) -> Response:
        limit = (current_app.config.get("MAX_CONTENT_LENGTH") or 0) // (1024 * 1024)
        return error_page(
            413,
            f"That file is larger than the upload limit of {limit} MB. "
            "Split it into smaller files and upload them one after the other.",
        )
