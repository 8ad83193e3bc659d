"""TikTok Shop accounts: connect (OAuth), pick shops, select, switch on and off."""

from __future__ import annotations

import secrets

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user

from webapp.accounts.models import MarketplaceAccount, PendingAuthorization, Store
from webapp.accounts.services import (
    AccountError,
    TikTokApp,
    complete_authorization,
    connect_shops,
    set_account_active,
    set_account_store,
)
from webapp.accounts.settings import set_auto_link
from webapp.extensions import db
from webapp.htmx import htmx_target, hx_redirect, is_htmx, toast
from webapp.tenancy import (
    choose_account,
    get_or_404,
    organization_accounts,
    organization_stores,
    require_manager,
    require_organization,
)
from webapp.urls import safe_next

bp = Blueprint("accounts", __name__, url_prefix="/accounts")
OAUTH_STATE_KEY = "tiktok_oauth_state"
AUTO_LINK_WORDS = {True: "linked automatically on import", False: "left for you to link by hand"}


def _tiktok_app() -> TikTokApp:
    return TikTokApp.from_config(current_app.config)


@bp.get("/")
def index():
    return render_template(
        "accounts/index.html", accounts=organization_accounts(), stores=organization_stores()
    )


@bp.get("/tiktok/connect")
def connect():
    require_manager()
    state = secrets.token_urlsafe(24)
    session[OAUTH_STATE_KEY] = state
    return redirect(_tiktok_app().authorization_url(state))


@bp.get("/tiktok/callback")
def callback():
    require_manager()
    organization = require_organization()
    expected_state = session.pop(OAUTH_STATE_KEY, None)
    if not expected_state or request.args.get("state") != expected_state:
        flash("That authorization link is stale or was not started here. Connect again.", "error")
        return redirect(url_for("accounts.index"))
    if request.args.get("error") or not request.args.get("code"):
        flash("TikTok Shop authorization was cancelled; nothing was connected.", "info")
        return redirect(url_for("accounts.index"))
    try:
        pending = complete_authorization(
            db.session,
            _tiktok_app(),
            organization_id=organization.id,
            user=current_user,
            auth_code=request.args["code"],
        )
    except AccountError as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect(url_for("accounts.index"))
    db.session.commit()
    return redirect(url_for("accounts.pick_shops", pending_id=pending.id))


@bp.route("/tiktok/shops/<int:pending_id>", methods=["GET", "POST"])
def pick_shops(pending_id: int):
    require_manager()
    pending = get_or_404(PendingAuthorization, pending_id)
    if request.method == "POST":
        try:
            accounts = connect_shops(
                db.session, pending, request.form.getlist("shop_id"), user=current_user
            )
        except AccountError as error:
            db.session.rollback()
            flash(str(error), "error")
            return render_template("accounts/pick_shops.html", pending=pending), 422
        db.session.commit()
        choose_account(accounts[0])
        names = ", ".join(a.name for a in accounts)
        flash(f"Connected {names}. Choose its store, then Initiate Import.", "success")
        return redirect(url_for("accounts.index"))
    return render_template("accounts/pick_shops.html", pending=pending)


@bp.post("/select")
def select_account():
    account = get_or_404(MarketplaceAccount, request.form.get("account_id", type=int))
    choose_account(account)
    target = safe_next(request.form.get("next"), url_for("linking.grid"))
    # htmx must see HX-Redirect itself: a 302 would be followed by the browser instead.
    return hx_redirect(Response(status=204), target) if is_htmx() else redirect(target)


@bp.post("/<int:account_id>/active")
def set_active(account_id: int):
    require_manager()
    account = get_or_404(MarketplaceAccount, account_id)
    active = request.form.get("active") == "1"
    try:
        set_account_active(db.session, account, active, actor=current_user)
    except AccountError as error:
        flash(str(error), "error")
        return redirect(url_for("accounts.index"))
    db.session.commit()
    flash(f"{account.name} is {'on' if active else 'switched off'}.", "success")
    return redirect(safe_next(request.form.get("next"), url_for("accounts.index")))


@bp.post("/<int:account_id>/store")
def set_store(account_id: int):
    require_manager()
    account = get_or_404(MarketplaceAccount, account_id)
    store_id = request.form.get("store_id", type=int)
    store = get_or_404(Store, store_id) if store_id else None
    set_account_store(db.session, account, store.id if store else None, actor=current_user)
    db.session.commit()
    flash(f"{account.name} now links to {store.name if store else 'no store'}.", "success")
    return redirect(url_for("accounts.index"))


@bp.post("/<int:account_id>/auto-link")
def auto_link(account_id: int):
    """Auto-link new products on import: the Accounts page toggle and the first-import question."""
    require_manager()
    account = get_or_404(MarketplaceAccount, account_id)
    if request.form.get("enabled") not in ("0", "1"):
        abort(400)
    enabled = request.form["enabled"] == "1"
    set_auto_link(db.session, account, enabled, actor=current_user)
    db.session.commit()
    message = f"New products of {account.name} will be {AUTO_LINK_WORDS[enabled]}."
    if not is_htmx():
        flash(message, "success")
        return redirect(safe_next(request.form.get("next"), url_for("accounts.index")))
    if htmx_target() == "auto-link-question":
        return toast("", message)  # the question is answered: the banner goes
    return toast(render_template("accounts/_auto_link.html", account=account), message)
