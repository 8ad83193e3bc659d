"""The Overview page of the account chosen in the account selector."""

from __future__ import annotations

from flask import Blueprint, render_template

from webapp.extensions import db
from webapp.overview.queries import account_overview
from webapp.tenancy import current_account

bp = Blueprint("overview", __name__, url_prefix="/overview")


@bp.get("/")
def index():
    account = current_account()
    overview = account_overview(db.session, account) if account is not None else None
    return render_template("overview/index.html", account=account, overview=overview)
