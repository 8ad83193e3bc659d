"""Job progress: a self-replacing component polled by htmx, and the list of recent jobs."""

from __future__ import annotations

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from webapp.extensions import db
from webapp.htmx import htmx_target, is_htmx, toast, trigger_client_event
from webapp.jobs.models import JobKind, JobRun, JobStatus
from webapp.jobs.responses import progress_card
from webapp.jobs.services import (
    RUN_LISTS,
    JobError,
    RunListQuery,
    list_runs,
    notice_interrupted,
    retry_job,
    watch_own_runs,
)
from webapp.linking.jobs import start_undo
from webapp.tenancy import get_or_404, require_organization
from webapp.urls import PAGE_LINK_NOT_VALID, id_from

bp = Blueprint("jobs", __name__, url_prefix="/jobs")


@bp.get("/")
def index():
    organization = require_organization()
    query, problems = _run_list_args(organization.id)
    context = {
        "page": list_runs(db.session, query),
        "query": query,
        "problems": problems,
        "run_lists": RUN_LISTS,
        "kinds": list(JobKind),
    }
    if htmx_target() == "job-list":
        return render_template("jobs/_list.html", **context)
    return render_template("jobs/index.html", **context)


def _run_list_args(organization_id: int) -> tuple[RunListQuery, list[str]]:
    """The Jobs list's filters from the URL; what cannot be used is said, not guessed."""
    problems = []
    shows = request.args.get("status") or "all"
    if shows not in RUN_LISTS:
        problems.append("That status filter does not exist; showing every run.")
        shows = "all"
    kind = None
    if kind_arg := request.args.get("kind"):
        try:
            kind = JobKind(kind_arg)
        except ValueError:
            problems.append("That kind of job does not exist; showing every kind.")
    before_arg = request.args.get("before", "")
    before = id_from(before_arg)
    if before_arg and before is None:
        problems.append(PAGE_LINK_NOT_VALID)
    query = RunListQuery(organization_id=organization_id, shows=shows, kind=kind, before=before)
    return query, problems


def _over_message(run: JobRun) -> dict[str, str]:
    """What the toast says of a run that is over, and where it leads."""
    if run.status is JobStatus.FINISHED:
        message, level = f"{run.kind.label} finished.", "success"
    elif run.status is JobStatus.INTERRUPTED:
        message, level = f"{run.kind.label} was interrupted: Retry finishes it.", "error"
    else:
        message, level = f"{run.kind.label} failed: {run.error or 'see the job'}", "error"
    link = url_for("jobs.show", run_id=run.id)
    return {"message": message, "level": level, "url": link, "link_text": f"Open job {run.id}"}


@bp.get("/watch")
def watch():
    """The job watcher of every page (jobs/_watch.html): a toast for each of the user's own
    runs that got over since it last looked."""
    organization = require_organization()
    runs = watch_own_runs(db.session, current_user, organization.id)
    response = make_response(render_template("jobs/_watch.html", running=runs.running))
    if runs.over:
        response = trigger_client_event(
            response, "jobsOver", {"runs": [_over_message(run) for run in runs.over]}
        )
    return response


@bp.post("/<int:run_id>/retry")
def retry(run_id: int):
    run = get_or_404(JobRun, run_id)
    try:
        new_run = retry_job(db.session, run, current_user)
    except JobError as error:
        return toast(render_template("jobs/_progress.html", run=run), str(error), "error")
    if not is_htmx():
        return redirect(url_for("jobs.show", run_id=new_run.id))
    return progress_card(new_run, "Started again.")


def _undo_refused(run: JobRun, message: str):
    if not is_htmx():
        flash(message, "error")
        return redirect(url_for("jobs.show", run_id=run.id))
    response = make_response(render_template("jobs/_progress.html", run=run), 409)
    return toast(response, message, "error")


@bp.post("/<int:run_id>/undo")
def undo(run_id: int):
    """Revert a bulk link change; answers with the undo job's progress component."""
    run = get_or_404(JobRun, run_id)
    try:
        undo_run = start_undo(db.session, run, current_user)
        if undo_run.params.get("job_run_id") != run.id:  # start_job handed back another undo
            raise JobError(f"Job {undo_run.id} is undoing another change: wait until it is done.")
    except JobError as error:
        return _undo_refused(run, str(error))
    if not is_htmx():
        return redirect(url_for("jobs.show", run_id=undo_run.id))
    return progress_card(undo_run, f"Undoing job {run.id}: {run.kind.label}…")


@bp.get("/<int:run_id>")
def show(run_id: int):
    run = get_or_404(JobRun, run_id)
    notice_interrupted(db.session, [run])
    if not is_htmx():
        return render_template("jobs/show.html", run=run)
    if htmx_target() == f"job-row-{run.id}":  # a row of the Jobs list
        return render_template("jobs/_row.html", run=run)
    response = render_template("jobs/_progress.html", run=run)
    if run.status.is_over:
        # The grid and tab counts listen for this to reload themselves once.
        response = trigger_client_event(response, "jobFinished", {"id": run.id})
    return response
