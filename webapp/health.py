"""Health and readiness, for load balancers and process managers (no login, no cookie).

`GET /healthz`: 200 when the database and Redis both answer, 503 naming the one that does not.
`GET /readyz`: the same, and the database's schema no older than this code's newest migration,
so a machine whose release step (`flask --app webapp db upgrade`) has not run gets no traffic
yet. A schema newer than the code (the next release migrated it first, and this machine waits
for its turn to restart) is ready: migrations add before they take away. Neither answer says
more than which part is down: the reason goes to the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cache

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, Response, current_app, jsonify
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from webapp.extensions import db
from webapp.jobs.queue import redis_connection

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)
Check = Callable[[], str]  # "ok", or what is wrong in a few words


def database() -> str:
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        db.session.rollback()
        log.warning("Health check: the database does not answer: %s", error)
        return "not reachable"
    return "ok"


def redis() -> str:
    try:
        redis_connection().ping()
    except RedisError as error:
        log.warning("Health check: Redis does not answer: %s", error)
        return "not reachable"
    return "ok"


@cache
def _migrations(directory: str) -> tuple[frozenset[str], frozenset[str]]:
    """This code's newest migrations, and every migration it knows."""
    config = current_app.extensions["migrate"].migrate.get_config(directory)
    script = ScriptDirectory.from_config(config)
    known = frozenset(revision.revision for revision in script.walk_revisions())
    return frozenset(script.get_heads()), known


def schema() -> str:
    newest, known = _migrations(current_app.extensions["migrate"].directory)
    try:
        current = set(MigrationContext.configure(db.session.connection()).get_current_heads())
    except SQLAlchemyError as error:
        db.session.rollback()
        log.warning("Readiness check: cannot read the schema's version: %s", error)
        return "not reachable"
    if current == newest or (current and not current <= known):  # at ours, or a newer one
        return "ok"
    return "migrations pending"


def _answer(checks: dict[str, Check]) -> tuple[Response, int]:
    results = {name: check() for name, check in checks.items()}
    healthy = all(result == "ok" for result in results.values())
    body = jsonify(status="ok" if healthy else "unavailable", checks=results)
    return body, 200 if healthy else 503


@bp.get("/healthz")
def healthz():
    return _answer({"database": database, "redis": redis})


@bp.get("/readyz")
def readyz():
    return _answer({"database": database, "redis": redis, "schema": schema})
