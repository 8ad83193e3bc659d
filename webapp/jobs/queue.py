"""RQ on Redis: one connection per process, named queues, and a job class that runs every job
inside the application context."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app, has_app_context
from redis import Redis
from rq import Queue
from rq.job import Job

from webapp.extensions import db

_connections: dict[str, Redis] = {}


def redis_connection(url: str | None = None) -> Redis:
    url = url or current_app.config["REDIS_URL"]
    if url not in _connections:
        _connections[url] = Redis.from_url(url)
    return _connections[url]


class AppJob(Job):
    """Runs the job function inside an app context, with a database session of its own."""

    def perform(self) -> Any:
        if has_app_context():
            return self._perform_in_context()
        from webapp import create_app

        with create_app().app_context():
            return self._perform_in_context()

    def _perform_in_context(self) -> Any:
        db.engine.dispose(close=False)  # never reuse a connection inherited across fork()
        try:
            return super().perform()
        finally:
            db.session.remove()


def get_queue(name: str) -> Queue:
    return Queue(name, connection=redis_connection(), job_class=AppJob)


def enqueue(queue_name: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Job:
    """Enqueue `func(*args)`; RQ options go in kwargs prefixed as RQ names them (job_id, …)."""
    return get_queue(queue_name).enqueue(func, *args, **kwargs)
