"""RQ jobs for bulk link changes: auto-map, Assign Products, bulk unlink, undo.

Each is a batch: its LinkEvents carry the job run's id, so the job's page can undo it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.accounts.models import MarketplaceAccount, User
from webapp.dbutil import chunked
from webapp.extensions import db
from webapp.jobs.models import JobKind, JobRun
from webapp.jobs.services import (
    JobError,
    ProgressRecorder,
    active_job,
    job_type,
    run_tracked,
    start_job,
)
from webapp.linking.automap import apply_automap
from webapp.linking.models import Link, LinkState
from webapp.linking.services import assign_links, undo_batch, unlink

LINK_QUEUE = "imports"  # bulk link changes queue with imports, never ahead of sync
BATCH_SIZE = 500


def _selected_links(session: Session, run: JobRun, states: Sequence[LinkState]):
    """The run's rows in batches: the ids it names, or every row of the account in `states`."""
    link_ids = run.params.get("link_ids")
    if link_ids is None:
        link_ids = session.scalars(
            select(Link.id)
            .where(Link.account_id == run.account_id, Link.state.in_(states))
            .order_by(Link.id)
        ).all()
    for chunk in chunked(list(link_ids), BATCH_SIZE):
        yield session.scalars(
            select(Link).where(Link.account_id == run.account_id, Link.id.in_(chunk))
        ).all()


def _total(session: Session, run: JobRun, states: Sequence[LinkState]) -> int:
    return sum(len(batch) for batch in _selected_links(session, run, states))


@job_type(JobKind.AUTOMAP, queue=LINK_QUEUE)
def run_automap(job_run_id: int) -> dict[str, Any]:
    """Map every proposal the owner left ticked in the preview, as one batch."""

    def work(run: JobRun, progress: ProgressRecorder) -> dict[str, Any]:
        account = db.session.get(MarketplaceAccount, run.account_id)
        return apply_automap(
            db.session,
            account,
            excluded_link_ids=set(run.params.get("excluded_link_ids") or []),
            actor=run.created_by,
            batch=run,
            progress=progress,
        )

    return run_tracked(job_run_id, work)


@job_type(JobKind.ASSIGN, queue=LINK_QUEUE)
def run_assign(job_run_id: int) -> dict[str, Any]:
    def work(run: JobRun, progress: ProgressRecorder) -> dict[str, Any]:
        account = db.session.get(MarketplaceAccount, run.account_id)
        actor = run.created_by
        progress.update(total=_total(db.session, run, [LinkState.MAPPED]), force=True)
        counts: Counter[str] = Counter()
        for batch in _selected_links(db.session, run, [LinkState.MAPPED]):
            counts.update(assign_links(db.session, account, batch, actor=actor, batch=run))
            progress.update(advance=len(batch), message=f"{counts['linked']} linked so far")
        db.session.commit()
        return {name: counts[name] for name in ("linked", "failed", "skipped")}

    return run_tracked(job_run_id, work)


@job_type(JobKind.BULK_UNLINK, queue=LINK_QUEUE)
def run_bulk_unlink(job_run_id: int) -> dict[str, Any]:
    def work(run: JobRun, progress: ProgressRecorder) -> dict[str, Any]:
        states = [s for s in LinkState if s is not LinkState.NOT_LINKED]
        progress.update(total=_total(db.session, run, states), force=True)
        unlinked = 0
        for batch in _selected_links(db.session, run, states):
            for link in batch:
                if link.state is not LinkState.NOT_LINKED:
                    unlink(db.session, link, expected_version=None, actor=run.created_by, batch=run)
                    unlinked += 1
            progress.update(advance=len(batch), message=f"{unlinked} unlinked so far")
        db.session.commit()
        return {"unlinked": unlinked}

    return run_tracked(job_run_id, work)


@job_type(JobKind.UNDO, queue=LINK_QUEUE)
def run_undo(job_run_id: int) -> dict[str, Any]:
    def work(run: JobRun, progress: ProgressRecorder) -> dict[str, Any]:
        target = db.session.get(JobRun, run.params["job_run_id"])
        progress.update(message=f"Undoing job {target.id}: {target.kind.label}", force=True)
        counts = undo_batch(db.session, target, actor=run.created_by, undo_run=run)
        db.session.commit()
        return {"reverted": counts["reverted"], "changed_since": counts["changed_since"]}

    return run_tracked(job_run_id, work)


def _start_for_account(
    session: Session,
    kind: JobKind,
    account: MarketplaceAccount,
    actor: User | None,
    params: dict[str, Any],
) -> JobRun:
    return start_job(
        session,
        kind=kind,
        organization_id=account.organization_id,
        account_id=account.id,
        actor=actor,
        params=params,
    )


def start_automap(
    session: Session, account: MarketplaceAccount, excluded_link_ids: Iterable[int], actor: User
) -> JobRun:
    """Map the account's proposals except the excluded rows (the ones unticked in the preview).

    Pressing Map twice returns the run already under way; a different selection while one runs
    is refused rather than silently dropped.
    """
    excluded = sorted(set(excluded_link_ids))
    running = active_job(session, JobKind.AUTOMAP, account_id=account.id)
    if running is not None and running.params.get("excluded_link_ids") != excluded:
        raise JobError(
            f"Auto-map is already running for {account.name} (job {running.id}). "
            "Wait for it to finish, then open the preview again."
        )
    return _start_for_account(
        session, JobKind.AUTOMAP, account, actor, {"excluded_link_ids": excluded}
    )


def start_assign(
    session: Session, account: MarketplaceAccount, link_ids: list[int] | None, actor: User
) -> JobRun:
    """Assign the selected rows, or every mapped row when `link_ids` is None."""
    return _start_for_account(session, JobKind.ASSIGN, account, actor, {"link_ids": link_ids})


def start_bulk_unlink(
    session: Session, account: MarketplaceAccount, link_ids: list[int], actor: User
) -> JobRun:
    if not link_ids:
        raise JobError("Select the rows to unlink first.")
    return _start_for_account(session, JobKind.BULK_UNLINK, account, actor, {"link_ids": link_ids})


def start_undo(session: Session, run: JobRun, actor: User) -> JobRun:
    if not run.kind.changes_links:
        raise JobError("Only bulk link changes can be undone.")
    if not run.status.is_over:
        raise JobError("Wait until the job has finished, then undo it.")
    if run.undone_by_id is not None:
        raise JobError("This change was already undone.")
    return start_job(
        session,
        kind=JobKind.UNDO,
        organization_id=run.organization_id,
        account_id=run.account_id,
        actor=actor,
        params={"job_run_id": run.id},
    )
