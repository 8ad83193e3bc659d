"""What a button that starts a job answers: the progress card (htmx) or a redirect with a
flashed message (a plain form post)."""

from __future__ import annotations

from flask import Response, flash, redirect, render_template

from webapp.htmx import is_htmx, toast, trigger_client_event
from webapp.jobs.models import JobRun


def announce_started(response: Response | str, run: JobRun) -> Response:
    """Tell the page's job watcher (jobs/_watch.html) that a job started, so it can say when
    the job is over."""
    return trigger_client_event(response, "jobStarted", {"id": run.id})


def progress_card(run: JobRun, message: str, level: str = "info") -> Response:
    """The run's progress component with a toast, its start announced to the job watcher."""
    return announce_started(
        toast(render_template("jobs/_progress.html", run=run), message, level), run
    )


def job_started(run: JobRun, message: str, fallback_url: str):
    if is_htmx():
        return progress_card(run, message)
    flash(message, "info")
    return redirect(fallback_url)


def job_refused(message: str, fallback_url: str):
    if is_htmx():
        return toast(render_template("errors/_message.html", message=message), message, "error")
    flash(message, "error")
    return redirect(fallback_url)
