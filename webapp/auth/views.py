"""Login, logout, and the organization picker for support users."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_limiter import RateLimitExceeded
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select

from webapp.accounts.models import Organization
from webapp.audit import record_event
from webapp.auth.forms import LoginForm
from webapp.auth.services import authenticate
from webapp.extensions import db, limiter
from webapp.tenancy import open_organization
from webapp.urls import safe_next

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    return safe_next(target, url_for("linking.grid"))


TOO_MANY_FAILURES = "Too many failed logins. Wait a minute, then try again."


def _failures_a_minute() -> str:
    return f"{current_app.config['LOGIN_FAILURES_PER_MINUTE']} per minute"


def _login_email() -> str:
    return "email:" + request.form.get("email", "").strip().lower()[:254]


def _failed(response: Response) -> bool:
    """Only refused logins count: a user who logs in often is never locked out."""
    return response.status_code != 302


# Guessing passwords is slowed per address and, from many addresses, per email.
@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_failures_a_minute, methods=["POST"], deduct_when=_failed)
@limiter.limit(_failures_a_minute, methods=["POST"], deduct_when=_failed, key_func=_login_email)
def login():
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(db.session, form.email.data, form.password.data)
        if user is None:
            form.password.errors.append("Email or password is not right.")
        else:
            login_user(user, remember=form.remember.data)
            record_event(
                db.session, actor=user, organization_id=user.organization_id, action="login"
            )
            db.session.commit()
            return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form), 200 if not form.errors else 422


@bp.errorhandler(RateLimitExceeded)
def too_many_failures(error: RateLimitExceeded):
    """The login form again, with what happened, and nothing checked."""
    form = LoginForm()
    form.password.errors = [TOO_MANY_FAILURES]
    return render_template("auth/login.html", form=form), 429


@bp.post("/logout")
def logout():
    logout_user()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.get("/organizations")
def organizations():
    if not current_user.is_support:
        abort(404)
    rows = db.session.scalars(select(Organization).order_by(Organization.name)).all()
    return render_template("auth/organizations.html", organizations=rows)


@bp.post("/organizations/<int:organization_id>/open", endpoint="open_organization")
def open_organization_view(organization_id: int):
    if not current_user.is_support:
        abort(404)
    organization = db.get_or_404(Organization, organization_id)
    open_organization(organization)
    record_event(
        db.session,
        actor=current_user,
        organization_id=organization.id,
        action="support.open_organization",
        target=f"organization:{organization.id}",
    )
    db.session.commit()
    flash(f"You are working in {organization.name} as support.", "info")
    return redirect(url_for("linking.grid"))
