"""Job progress: a self-replacing component polled by htmx, and the list of recent jobs."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from webapp.extensions import db
from webapp.htmx import is_htmx, toast, trigger_client_event
from webapp.jobs.models import JobRun
from webapp.jobs.services import JobError, is_interrupted, mark_interrupted, retry_job
from webapp.tenancy import get_or_404, require_organization

bp = Blueprint("jobs", __name__, url_prefix="/jobs")


@bp.get("/")
def index():
    organization = require_organization()
    runs = db.session.scalars(
        select(JobRun)
        .where(JobRun.organization_id == organization.id)
        .order_by(JobRun.id.desc())
        .limit(50)
    ).all()
    return render_template("jobs/index.html", runs=runs)


@bp.post("/<int:run_id>/retry")
def retry(run_id: int):
    run = get_or_404(JobRun, run_id)
    try:
        new_run = retry_job(db.session, run, current_user)
    except JobError as error:
        return toast(render_template("jobs/_progress.html", run=run), str(error), "error")
    if not is_htmx():
        return redirect(url_for("jobs.show", run_id=new_run.id))
    return toast(render_template("jobs/_progress.html", run=new_run), "Started again.", "info")


@bp.get("/<int:run_id>")
def show(run_id: int):
    run = get_or_404(JobRun, run_id)
    if not run.status.is_over and is_interrupted(run):
        mark_interrupted(db.session, run)
    if not is_htmx():
        return render_template("jobs/show.html", run=run)
    response = render_template("jobs/_progress.html", run=run)
    if run.status.is_over:
        # The grid and tab counts listen for this to reload themselves once.
        response = trigger_client_event(response, "jobFinished", {"id": run.id})
    return response
