"""Logs a machine can read: one line a record on stderr, as JSON (`LOG_FORMAT=json`, the default)
or as plain text (`make run` asks for it), every line naming the request or the job it belongs
to.

A request takes its id from the `X-Request-ID` header its proxy set (when it looks like one) or
makes one, sends it back in the same header and logs one line when it is answered: method,
path, status, time taken, user. A job's lines carry its RQ job id and its job run's id, so a
failure on the Jobs page can be found in the worker's log. The ids live in a context variable
that a filter on the handler copies onto each record, whichever library logged it.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from flask import Flask, Response, g, request
from flask.logging import default_handler
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
OFFERED_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,64}")
FIELDS = ("request_id", "job_id", "job_run_id")

_context: ContextVar[dict[str, Any] | None] = ContextVar("log_context", default=None)
requests_log = logging.getLogger("webapp.requests")


class ContextFilter(logging.Filter):
    """Puts the ids of the request or job under way on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_context.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class TextFormatter(logging.Formatter):
    """`time LEVEL logger [ids] message`, for people reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        ids = " ".join(
            f"{name.removesuffix('_id')}={getattr(record, name)}"
            for name in FIELDS
            if getattr(record, name, None) is not None
        )
        record.ids = f" [{ids}]" if ids else ""
        return super().format(record)


def make_handler(log_format: str) -> logging.Handler:
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    if log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s%(ids)s %(message)s"))
    handler.skubridge = True  # type: ignore[attr-defined]  (ours: replaced, never doubled)
    return handler


def configure_logging(log_format: str, level: str) -> None:
    """One handler of ours on the root logger, whatever ran before (each app factory call)."""
    if log_format not in ("json", "text"):
        raise ValueError(f"LOG_FORMAT must be json or text, not {log_format!r}")
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "skubridge", False)]:
        root.removeHandler(handler)
    root.addHandler(make_handler(log_format))
    root.setLevel(level.upper())
    # Each request's line is ours (with its id and duration); the development server's own
    # line for it would say the same twice. Its warnings still show.
    logging.getLogger("werkzeug").setLevel(max(logging.WARNING, root.level))


@contextmanager
def log_context(**ids: Any) -> Iterator[None]:
    """Every record logged inside names these ids (a job's, say)."""
    token = _context.set({**(_context.get() or {}), **ids})
    try:
        yield
    finally:
        _context.reset(token)


def init_app(app: Flask) -> None:
    configure_logging(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])
    app.logger.removeHandler(default_handler)  # ours, on the root logger, writes its records

    @app.before_request
    def name_request() -> None:
        offered = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = offered if OFFERED_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
        g.request_started = time.perf_counter()
        g.log_token = _context.set({"request_id": g.request_id})

    @app.after_request
    def log_request(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id is None:  # answered before the request was named (a routing error)
            return response
        response.headers[REQUEST_ID_HEADER] = request_id
        milliseconds = round((time.perf_counter() - g.request_started) * 1000, 1)
        user = getattr(g.get("_login_user"), "id", None)  # only if the request loaded one
        requests_log.info(
            "%s %s %s %.1f ms",
            request.method,
            request.path,
            response.status_code,
            milliseconds,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": milliseconds,
                "user_id": user,
            },
        )
        return response

    @app.teardown_request
    def forget_request(_error: BaseException | None) -> None:
        token = g.pop("log_token", None)
        if token is not None:
            _context.reset(token)
