"""Starting background jobs, recording their progress, and finding interrupted ones."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from redis.exceptions import RedisError
from rq import get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import JobStatus as RQStatus
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from webapp.accounts.models import User
from webapp.audit import record_event
from webapp.dbutil import refresh_planner_statistics
from webapp.domain import DomainError
from webapp.extensions import db, utcnow
from webapp.jobs.models import JobKind, JobRun, JobStatus
from webapp.jobs.queue import AppJob, enqueue, job_id_of_run, redis_connection
from webapp.linking.search import merge_pending_search_entries


class JobError(DomainError):
    """A job could not be started; the message says why."""


JobFunction = Callable[[int], Any]  # a module-level function taking the JobRun id


@dataclass(frozen=True)
class JobType:
    func: JobFunction
    queue: str


JOB_TYPES: dict[JobKind, JobType] = {}
JOB_TIMEOUT = 3 * 3600  # seconds; a million-row import fits well within it


def job_type(kind: JobKind, *, queue: str) -> Callable[[JobFunction], JobFunction]:
    """Register the module-level function that runs jobs of `kind`, and its queue."""

    def register(func: JobFunction) -> JobFunction:
        JOB_TYPES[kind] = JobType(func, queue)
        return func

    return register


def active_jobs(
    session: Session,
    kinds: Iterable[JobKind],
    *,
    account_id: int | None = None,
    store_id: int | None = None,
) -> list[JobRun]:
    """Queued or running jobs of these kinds for this account or store, newest first; runs
    whose worker died are marked interrupted on the way and left out."""
    runs = session.scalars(
        select(JobRun)
        .where(
            JobRun.kind.in_(list(kinds)),
            JobRun.account_id == account_id,
            JobRun.store_id == store_id,
            JobRun.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]),
        )
        .order_by(JobRun.id.desc())
    ).all()
    return [run for run in notice_interrupted(session, runs) if not run.status.is_over]


def shown_jobs(
    session: Session,
    kinds: Iterable[JobKind],
    *,
    account_id: int | None = None,
    store_id: int | None = None,
) -> list[JobRun]:
    """What a page showing jobs under way shows: the queued or running ones, or else the
    newest run if it failed or was interrupted, so that why and its Retry are at hand until
    another starts."""
    kinds = list(kinds)
    alive = active_jobs(session, kinds, account_id=account_id, store_id=store_id)
    if alive:
        return alive
    newest = session.scalar(
        select(JobRun)
        .where(JobRun.kind.in_(kinds), JobRun.account_id == account_id, JobRun.store_id == store_id)
        .order_by(JobRun.id.desc())
        .limit(1)
    )
    stopped = (JobStatus.FAILED, JobStatus.INTERRUPTED)
    return [newest] if newest is not None and newest.status in stopped else []


def active_job(
    session: Session,
    kind: JobKind,
    *,
    account_id: int | None = None,
    store_id: int | None = None,
    params: dict[str, Any] | None = None,
) -> JobRun | None:
    """The live job of this kind for this account or store (with these params, if given)."""
    for run in active_jobs(session, [kind], account_id=account_id, store_id=store_id):
        if params is None or run.params == params:
            return run
    return None


def is_interrupted(run: JobRun) -> bool:
    """Whether a run that is not over has lost its RQ job: the job failed, was stopped or
    vanished without telling us, or its worker stopped heartbeating (see `AppWorker`).

    RQ notices an abandoned job only when its StartedJobRegistry is cleaned up, which live
    workers do every few minutes; cleaning it here, when someone looks, shows it at once. A job
    whose worker still heartbeats is never abandoned, however slow the job is."""
    if not run.rq_job_id:
        return False
    connection = redis_connection()
    try:
        job = AppJob.fetch(run.rq_job_id, connection=connection)
    except NoSuchJobError:
        return True
    status = job.get_status()
    if status == RQStatus.STARTED:
        job.started_job_registry.cleanup()  # fails the job if its execution lapsed
        status = job.get_status(refresh=True)
    return status in (RQStatus.FAILED, RQStatus.STOPPED, RQStatus.CANCELED)


INTERRUPTED_MESSAGE = (
    "The job stopped before it finished: the worker running it stopped (its process or its "
    "machine went away). What it did is kept; press Retry to finish the work."
)


def mark_interrupted(session: Session, run: JobRun) -> None:
    """Record that the run's worker stopped, unless the run got over meanwhile."""
    session.execute(
        update(JobRun)
        .where(JobRun.id == run.id, JobRun.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
        .values(status=JobStatus.INTERRUPTED, error=INTERRUPTED_MESSAGE, finished_at=utcnow())
    )
    session.commit()
    session.refresh(run)


def notice_interrupted(session: Session, runs: Iterable[JobRun]) -> list[JobRun]:
    """Mark the runs among these whose worker stopped as interrupted; returns the runs."""
    runs = list(runs)
    for run in runs:
        if not run.status.is_over and is_interrupted(run):
            mark_interrupted(session, run)
    return runs


# What the Jobs list can show, by status: its URL value and its label.
RUN_LISTS = {
    "all": ("All runs", ()),
    "running": ("Under way", (JobStatus.QUEUED, JobStatus.RUNNING)),
    "failed": ("Failed or interrupted", (JobStatus.FAILED, JobStatus.INTERRUPTED)),
}


@dataclass(frozen=True)
class RunListQuery:
    organization_id: int
    shows: str = "all"  # a RUN_LISTS key
    kind: JobKind | None = None
    before: int | None = None  # runs older than this one (the next page)
    page_size: int = 50


@dataclass(frozen=True)
class RunPage:
    runs: list[JobRun]
    has_older: bool


def list_runs(session: Session, query: RunListQuery) -> RunPage:
    """One page of an organization's runs, newest first, cut by id (keyset): a shop whose
    sync runs every few minutes still finds yesterday's failed import."""
    statement = select(JobRun).where(JobRun.organization_id == query.organization_id)
    statuses = RUN_LISTS[query.shows][1]
    if statuses:
        statement = statement.where(JobRun.status.in_(statuses))
    if query.kind is not None:
        statement = statement.where(JobRun.kind == query.kind)
    if query.before is not None:
        statement = statement.where(JobRun.id < query.before)
    runs = list(session.scalars(statement.order_by(JobRun.id.desc()).limit(query.page_size + 1)))
    notice_interrupted(session, runs[: query.page_size])
    return RunPage(runs=runs[: query.page_size], has_older=len(runs) > query.page_size)


ANNOUNCE_WITHIN = timedelta(minutes=15)  # a run over longer ago is not news


@dataclass(frozen=True)
class Watch:
    """A person's own runs: those still under way, and those just over, to be announced."""

    running: list[JobRun]
    over: list[JobRun]


def watch_own_runs(session: Session, user: User, organization_id: int) -> Watch:
    """The runs `user` started for this organization that are under way, and those that got
    over in the last few minutes without being announced to them; the latter are marked
    announced, so that each end is told once, on whichever page the person has open."""
    runs = session.scalars(
        select(JobRun)
        .where(
            JobRun.created_by_id == user.id,
            JobRun.organization_id == organization_id,
            JobRun.announced_at.is_(None),
            or_(JobRun.finished_at.is_(None), JobRun.finished_at >= utcnow() - ANNOUNCE_WITHIN),
        )
        .order_by(JobRun.id)
    ).all()
    notice_interrupted(session, runs)
    over = [run for run in runs if run.status.is_over]
    if over:  # another tab of theirs may be announcing the same runs: each is told once
        claimed = set(
            session.scalars(
                update(JobRun)
                .where(JobRun.id.in_([run.id for run in over]), JobRun.announced_at.is_(None))
                .values(announced_at=utcnow())
                .returning(JobRun.id)
            )
        )
        session.commit()
        over = [run for run in over if run.id in claimed]
    return Watch(running=[run for run in runs if not run.status.is_over], over=over)


def record_job_run(
    session: Session,
    *,
    kind: JobKind,
    organization_id: int,
    actor: User | None,
    account_id: int | None = None,
    store_id: int | None = None,
    params: dict[str, Any] | None = None,
) -> JobRun:
    """Record a job run and who asked for it, without queueing it."""
    run = JobRun(
        kind=kind,
        organization_id=organization_id,
        account_id=account_id,
        store_id=store_id,
        created_by_id=actor.id if actor else None,
        message="Waiting for a worker…",
        params=params or {},
    )
    session.add(run)
    record_event(
        session,
        actor=actor,
        organization_id=organization_id,
        action="job.started",
        target=f"job:{kind.value}",
        account_id=account_id,
        store_id=store_id,
    )
    session.commit()
    return run


def start_job(session: Session, *, kind: JobKind, **target: Any) -> JobRun:
    """Record a job run and enqueue it; if the same job (same kind, target and params) is
    already under way, return that one. `target`: organization_id, actor, and account_id,
    store_id, params as the job needs."""
    existing = active_job(
        session,
        kind,
        account_id=target.get("account_id"),
        store_id=target.get("store_id"),
        params=target.get("params") or {},
    )
    if existing is not None:
        return existing
    run = record_job_run(session, kind=kind, **target)
    job = JOB_TYPES[kind]
    try:
        rq_job = enqueue(
            job.queue, job.func, run.id, job_id=job_id_of_run(run.id), job_timeout=JOB_TIMEOUT
        )
    except RedisError as error:
        run.status = JobStatus.FAILED
        run.error = "The job queue (Redis) is not reachable, so the job could not start."
        run.finished_at = run.announced_at = utcnow()  # the refusal itself tells them
        session.commit()
        raise JobError(run.error) from error
    run.rq_job_id = rq_job.id
    session.commit()
    return run


def run_in_foreground(session: Session, *, kind: JobKind, **target: Any) -> JobRun:
    """Record a job run and do its work here and now (the command line runs the jobs' own
    code this way, and so do RQ jobs that decide for themselves whether there is work).
    Exceptions propagate, as they do in a worker. Inside an RQ job the run is tied to it, so
    it is shown as interrupted if its worker stops."""
    run = record_job_run(session, kind=kind, **target)
    rq_job = get_current_job()
    if rq_job is not None:
        run.rq_job_id = rq_job.id
        session.commit()
    JOB_TYPES[kind].func(run.id)
    session.refresh(run)
    return run


def retry_job(session: Session, run: JobRun, actor: User | None) -> JobRun:
    """Start a failed job again, for the same account or store (the work is idempotent)."""
    if not run.status.is_over:
        raise JobError("This job is still under way.")
    return start_job(
        session,
        kind=run.kind,
        organization_id=run.organization_id,
        account_id=run.account_id,
        store_id=run.store_id,
        actor=actor,
        params=run.params,
    )


class ProgressRecorder:
    """Writes done / total / message to the job run, committing at most every `interval` s,
    with the rate of the current phase: a phase starts when the total changes or the count
    goes back (a job reading pages, then writing rows, has two)."""

    MIN_PHASE_SECONDS = 1.0  # a rate measured over less is noise

    def __init__(self, session: Session, run: JobRun, interval: float = 0.25):
        self.session = session
        self.run = run
        self.interval = interval
        self._last_write = 0.0
        self._phase_start = (time.monotonic(), run.done)
        run.rate = None

    def update(
        self,
        *,
        done: int | None = None,
        advance: int = 0,
        total: int | None = None,
        message: str | None = None,
        force: bool = False,
    ) -> None:
        now = time.monotonic()
        before = (self.run.total, self.run.done)
        if total is not None:
            self.run.total = total
        if done is not None:
            self.run.done = done
        self.run.done += advance
        if message is not None:
            self.run.message = message[:500]
        if self.run.total != before[0] or self.run.done < before[1]:
            self._phase_start = (now, self.run.done)
            self.run.rate = None
        started, done_at_start = self._phase_start
        if now - started >= self.MIN_PHASE_SECONDS:
            self.run.rate = (self.run.done - done_at_start) / (now - started) or None
        if force or now - self._last_write >= self.interval:
            self.session.commit()
            self._last_write = now


def run_tracked(
    job_run_id: int, work: Callable[[JobRun, ProgressRecorder], dict[str, Any]]
) -> dict[str, Any]:
    """Run a job's work, recording running / finished / failed on its JobRun.

    Exceptions are recorded with a readable message and then re-raised, so RQ's failed registry
    sees them too. Running a finished job again just does the (idempotent) work again.
    """
    session = db.session
    run = session.get(JobRun, job_run_id)
    if run is None:
        raise LookupError(f"No job run {job_run_id}")
    run.status, run.started_at, run.finished_at, run.error = (
        JobStatus.RUNNING,
        utcnow(),
        None,
        "",
    )
    session.commit()
    current_app.logger.info("%s started", run.kind.label)
    progress = ProgressRecorder(session, run)
    try:
        result = work(run, progress)
    except Exception as error:
        session.rollback()
        run = session.get(JobRun, job_run_id)
        run.status = JobStatus.FAILED
        run.error = readable_error(error)
        run.finished_at = utcnow()
        session.commit()
        current_app.logger.error("Job %s failed\n%s", job_run_id, traceback.format_exc())
        raise
    run.status = JobStatus.FINISHED
    run.result = result
    run.finished_at = utcnow()
    if run.total is not None:
        run.done = run.total
    session.commit()
    current_app.logger.info("%s finished", run.kind.label)
    if run.kind.writes_in_bulk:
        refresh_planner_statistics(session)
        merge_pending_search_entries(session)
    return result


def readable_error(error: Exception) -> str:
    """Errors of our own carry a message for people; anything else is named, not dumped."""
    if isinstance(error, DomainError):
        return str(error)
    return f"Unexpected error ({type(error).__name__}). It has been logged; Retry may help."
