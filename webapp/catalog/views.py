"""Starting catalog imports: Initiate Import (TikTok Shop) and store catalog refresh."""

from __future__ import annotations

from flask import Blueprint, url_for
from flask_login import current_user

from webapp.accounts.models import Store
from webapp.accounts.selector import account_problem
from webapp.catalog.jobs import start_marketplace_import, start_store_catalog_refresh
from webapp.extensions import db
from webapp.jobs.responses import job_refused, job_started
from webapp.jobs.services import JobError
from webapp.tenancy import current_account, get_or_404

bp = Blueprint("catalog", __name__, url_prefix="/catalog")


@bp.post("/import")
def initiate_import():
    account = current_account()
    grid_url = url_for("linking.grid")
    if account is None or not account.is_usable:
        problem = account and account_problem(account)
        return job_refused(
            problem.reason if problem else "Connect a TikTok Shop account first.", grid_url
        )
    try:
        run = start_marketplace_import(db.session, account, current_user)
    except JobError as error:
        return job_refused(str(error), grid_url)
    return job_started(run, f"Importing products of {account.name}…", grid_url)


@bp.post("/stores/<int:store_id>/refresh")
def refresh_store(store_id: int):
    store = get_or_404(Store, store_id)
    try:
        run = start_store_catalog_refresh(db.session, store, current_user)
    except JobError as error:
        return job_refused(str(error), url_for("stores.index"))
    return job_started(run, f"Refreshing the {store.name} catalog…", url_for("stores.index"))
