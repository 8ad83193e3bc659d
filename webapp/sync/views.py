"""Sync in the browser: an account's sync settings and *Sync now*."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from webapp.accounts.models import MarketplaceAccount
from webapp.extensions import db
from webapp.jobs.models import JobKind
from webapp.jobs.responses import job_refused, job_started
from webapp.jobs.services import JobError, shown_jobs
from webapp.sync.forms import SyncSettingsForm
from webapp.sync.jobs import pause_reason, settings_for, start_sync
from webapp.sync.settings import save_sync_settings
from webapp.tenancy import get_or_404, require_manager

bp = Blueprint("sync", __name__, url_prefix="/sync")


@bp.route("/accounts/<int:account_id>/settings", methods=["GET", "POST"])
def settings(account_id: int):
    account = get_or_404(MarketplaceAccount, account_id)
    current = settings_for(db.session, account.id)
    form = SyncSettingsForm(obj=current)
    if request.method == "POST":
        require_manager()
        if form.validate_on_submit():
            values = {name: form[name].data for name in SyncSettingsForm.FIELDS}
            save_sync_settings(db.session, account, values, actor=current_user)
            flash("Sync settings saved.", "success")
            return redirect(url_for("sync.settings", account_id=account.id))
        status = 422
    else:
        status = 200
    return (
        render_template(
            "sync/settings.html",
            account=account,
            form=form,
            settings=current,
            paused=pause_reason(account, current),
            runs=shown_jobs(db.session, [JobKind.SYNC], account_id=account.id),
        ),
        status,
    )


@bp.post("/accounts/<int:account_id>/run")
def sync_now(account_id: int):
    account = get_or_404(MarketplaceAccount, account_id)
    back = request.form.get("back") == "settings"
    fallback = url_for("sync.settings", account_id=account.id) if back else url_for("linking.grid")
    paused = pause_reason(account, settings_for(db.session, account.id))
    if paused:
        return job_refused(paused, fallback)
    try:
        run = start_sync(db.session, account, current_user)
    except JobError as error:
        return job_refused(str(error), fallback)
    return job_started(run, f"Syncing {account.name} with its store…", fallback)
