"""Small typed helpers for htmx requests and responses, instead of header strings in views."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, make_response, request

STOP_POLLING = 286  # htmx stops an `every` poll on this status


def is_htmx() -> bool:
    """True for a request htmx made (history restores ask for the full page)."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def htmx_target() -> str | None:
    return request.headers.get("HX-Target") if is_htmx() else None


def trigger_client_event(
    response: Response | str, name: str, params: dict[str, Any] | None = None
) -> Response:
    """Merge an event into the response's HX-Trigger header."""
    response = make_response(response)
    events = json.loads(response.headers.get("HX-Trigger", "{}") or "{}")
    events[name] = params or {}
    response.headers["HX-Trigger"] = json.dumps(events)
    return response


def toast(response: Response | str, message: str, level: str = "success") -> Response:
    """Show a toast: the one `showMessage` listener in static/app.js displays it."""
    return trigger_client_event(response, "showMessage", {"message": message, "level": level})


def hx_redirect(response: Response, url: str) -> Response:
    response.headers["HX-Redirect"] = url
    return response


def retarget(response: Response, selector: str, swap: str | None = None) -> Response:
    response.headers["HX-Retarget"] = selector
    if swap:
        response.headers["HX-Reswap"] = swap
    return response


def init_app(app: Flask) -> None:
    @app.after_request
    def vary_on_htmx(response: Response) -> Response:
        if response.mimetype == "text/html":
            response.vary.add("HX-Request")
        return response
