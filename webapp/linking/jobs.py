"""RQ jobs for bulk link changes: auto-map, Assign Products, bulk unlink, undo.

Each is a batch: its LinkEvents carry the job run's id, so the job's page can undo it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
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
from webapp.linking.services import LinkConflict, assign_links, plan_undo, undo_links, unlink

LINK_QUEUE = "imports"  # bulk link changes queue with imports, never ahead of sync
BATCH_SIZE = 500
CONFLICT_ATTEMPTS = 5  # times a batch is read again after someone changed one of its rows


def _selected_ids(session: Session, run: JobRun, states: Sequence[LinkState]) -> list[int]:
    """The ids the run names, or every row of the account in `states`."""
    link_ids = run.params.get("link_ids")
    if link_ids is not None:
        return list(link_ids)
    return list(
        session.scalars(
            select(Link.id)
            .where(Link.account_id == run.account_id, Link.state.in_(states))
            .order_by(Link.id)
        )
    )


def _locked_batch(session: Session, account_id: int, ids: Sequence[int]) -> Sequence[Link]:
    """The account's links among `ids`, locked in id order (on PostgreSQL): rows first, then
    the kept counts, as an edit takes them."""
    return session.scalars(
        select(Link)
        .where(Link.account_id == account_id, Link.id.in_(ids))
        .order_by(Link.id)
        .with_for_update()
    ).all()


def _change_in_batches(
    session: Session,
    run: JobRun,
    states: Sequence[LinkState],
    progress: ProgressRecorder,
    change: Callable[[Sequence[Link]], Counter[str]],
    say: Callable[[Counter[str]], str],
) -> Counter[str]:
    """Apply `change` to the run's rows a batch at a time, committing each batch.

    People keep editing rows while a bulk job runs. When one of them changes a row of the batch
    being written, the row's version check refuses the job's write and the batch is rolled
    back; the batch is then read again and changed from what is there now. So the job
    overwrites no one's edit, and none of its own rows is lost. On PostgreSQL the batch's rows
    are locked first, in id order: an edit takes its row and then the kept counts, and a job
    that held counts while it waited for a row being edited would deadlock with that edit.
    """
    counts: Counter[str] = Counter()
    ids = _selected_ids(session, run, states)
    progress.update(total=len(ids), force=True)
    for chunk in chunked(ids, BATCH_SIZE):
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                batch = _locked_batch(session, run.account_id, chunk)
                changed = change(batch)
                session.commit()
                break
            except LinkConflict:  # the batch was rolled back: read it again
                if attempt == CONFLICT_ATTEMPTS:
                    raise
        counts.update(changed)
        progress.update(advance=len(chunk), message=say(counts))
    return counts


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
        counts = _change_in_batches(
            db.session,
            run,
            [LinkState.MAPPED],
            progress,
            lambda batch: assign_links(db.session, account, batch, actor=actor, batch=run),
            lambda counts: f"{counts['linked']} linked so far",
        )
        return {name: counts[name] for name in ("linked", "failed", "skipped")}

    return run_tracked(job_run_id, work)


@job_type(JobKind.BULK_UNLINK, queue=LINK_QUEUE)
def run_bulk_unlink(job_run_id: int) -> dict[str, Any]:
    def work(run: JobRun, progress: ProgressRecorder) -> dict[str, Any]:
        def unlink_rows(batch: Sequence[Link]) -> Counter[str]:
            counts: Counter[str] = Counter()
            for link in batch:
                if link.state is not LinkState.NOT_LINKED:
                    unlink(db.session, link, expected_version=None, actor=run.created_by, batch=run)
                    counts["unlinked"] += 1
            return counts

        states = [s for s in LinkState if s is not LinkState.NOT_LINKED]
        counts = _change_in_batches(
            db.session,
            run,
            states,
            progress,
            unlink_rows,
            lambda counts: f"{counts['unlinked']} unlinked so far",
        )
        return {"unlinked": counts["unlinked"]}

    return run_tracked(job_run_id, work)


@job_type(JobKind.UNDO, queue=LINK_QUEUE)
def run_undo(job_run_id: int) -> dict[str, Any]:
    def work(run: JobRun, progress: ProgressRecorder) -> dict[str, Any]:
        target = db.session.get(JobRun, run.params["job_run_id"])
        plan = plan_undo(db.session, target, run)
        ids = plan.link_ids
        progress.update(
            total=len(ids), message=f"Undoing job {target.id}: {target.kind.label}", force=True
        )
        counts: Counter[str] = Counter()
        # A batch at a time, its rows locked in id order before any count is touched (as the
        # other bulk jobs do): a retry after an interruption finishes what is left.
        for chunk in chunked(ids, BATCH_SIZE):
            links = _locked_batch(db.session, target.account_id, chunk)
            counts["changed_since"] += len(chunk) - len(links)  # deleted since
            counts.update(undo_links(db.session, plan, links, actor=run.created_by, undo_run=run))
            progress.update(advance=len(chunk), message=f"{counts['reverted']:,} rows put back")
            db.session.commit()  # the batch and the progress that counts it, together
        target.undone_by_id = run.id
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
