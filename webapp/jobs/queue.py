"""RQ on Redis: one connection per process, named queues, a job class that runs every job
inside the application context, and a worker whose jobs are seen to stop soon after it does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app, has_app_context
from redis import Redis
from rq import Queue, Worker
from rq.job import Job
from sqlalchemy import event
from sqlalchemy.orm import Session

from webapp.extensions import db
from webapp.logs import log_context

_connections: dict[str, Redis] = {}


def redis_connection(url: str | None = None) -> Redis:
    url = url or current_app.config["REDIS_URL"]
    if url not in _connections:
        _connections[url] = Redis.from_url(url)
    return _connections[url]


JOB_RUN_PREFIX = "jobrun-"


def job_id_of_run(run_id: int) -> str:
    """The RQ job id of a job run's job."""
    return f"{JOB_RUN_PREFIX}{run_id}"


def job_log_ids(job: Job) -> dict[str, Any]:
    """What every log line about the job names: its RQ id, and its JobRun's when it has one."""
    run_id = job.id.removeprefix(JOB_RUN_PREFIX)
    return {"job_id": job.id, "job_run_id": int(run_id) if run_id != job.id else None}


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
            with log_context(**job_log_ids(self)):
                return super().perform()
        finally:
            db.session.remove()


class AppWorker(Worker):
    """RQ's forking worker with the app's job class, whose jobs lapse soon after it stops.

    While a job runs the worker heartbeats every `job_monitoring_interval` seconds, and each
    heartbeat keeps the job's execution in RQ's StartedJobRegistry a while longer. RQ's own
    margin is the interval plus 60 s; here it is two more intervals, so an execution lapses
    once two heartbeats in a row are missed: its worker was killed or its machine went away.
    `StartedJobRegistry.cleanup()` then fails the job as abandoned (AbandonedJobError), which is
    how `webapp.jobs.services.is_interrupted` tells a dead job from one that is merely slow:
    the heartbeat comes from the worker's own process, not from the job's progress. With the
    CLI's default interval (30 s) the margin is RQ's own 90 s.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("job_class", AppJob)
        super().__init__(*args, **kwargs)

    def execute_job(self, job: Job, queue: Queue) -> Any:
        with log_context(**job_log_ids(job)):  # the worker's own lines about it, and the horse's
            return super().execute_job(job, queue)

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        interval = self.job_monitoring_interval
        next_heartbeat = interval
        if job.timeout and job.timeout > 0:
            next_heartbeat = max(1, min(job.timeout - working_time, interval))
        return int(next_heartbeat) + MISSED_HEARTBEATS * interval


MISSED_HEARTBEATS = 2  # a running job's execution lapses after this many heartbeats missed


def get_queue(name: str) -> Queue:
    return Queue(name, connection=redis_connection(), job_class=AppJob)


def enqueue(queue_name: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Job:
    """Enqueue `func(*args)`; RQ options go in kwargs prefixed as RQ names them (job_id, …)."""
    return get_queue(queue_name).enqueue(func, *args, **kwargs)


def enqueue_after_commit(
    session: Session, queue_name: str, func: Callable[[int, list[int]], Any], key: int, ids
) -> None:
    """Enqueue `func(key, ids)` once the session's transaction commits (never if it rolls
    back). Calls for the same function and key in one transaction merge their ids into one
    job: an undo of a thousand rows is one job, not a thousand."""
    pending = session.info.setdefault(_AFTER_COMMIT, {})
    pending.setdefault((queue_name, func, key), set()).update(ids)


_AFTER_COMMIT = "enqueue_after_commit"


def _enqueue_pending(session: Session) -> None:
    for (queue_name, func, key), ids in session.info.pop(_AFTER_COMMIT, {}).items():
        enqueue(queue_name, func, key, sorted(ids))


def _drop_pending(session: Session, _previous_transaction: object = None) -> None:
    session.info.pop(_AFTER_COMMIT, None)


event.listen(Session, "after_commit", _enqueue_pending)
event.listen(Session, "after_soft_rollback", _drop_pending)
