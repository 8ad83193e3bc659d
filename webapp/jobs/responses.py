"""What a button that starts a job answers: the progress card (htmx) or a redirect with a
flashed message (a plain form post)."""

from __future__ import annotations

from flask import flash, redirect, render_template

from webapp.htmx import is_htmx, toast
from webapp.jobs.models import JobRun


def job_started(run: JobRun, message: str, fallback_url: str):
    if is_htmx():
        return toast(render_template("jobs/_progress.html", run=run), message, "info")
    flash(message, "info")
    return redirect(fallback_url)


def job_refused(message: str, fallback_url: str):
    if is_htmx():
        return toast(render_template("errors/_message.html", message=message), message, "error")
    flash(message, "error")
    return redirect(fallback_url)
