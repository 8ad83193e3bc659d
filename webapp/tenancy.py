"""Who is asking, and for which organization and account: every page but login needs a session,
and every lookup by id is confined to the current organization."""

from __future__ import annotations

from typing import TypeVar

from flask import Flask, Response, abort, g, redirect, request, session, url_for
from flask_login import current_user
from sqlalchemy import select

from webapp.accounts.models import MarketplaceAccount, Organization, Store, User, UserRole
from webapp.accounts.selector import AccountSelector, account_selector
from webapp.api.problems import is_api_request
from webapp.dbutil import MAX_ID
from webapp.extensions import db, login_manager
from webapp.htmx import hx_redirect, is_htmx

PUBLIC_ENDPOINTS = {
    "auth.login",
    "static",
    "webhooks.store_webhook",
    "webhooks.tiktok_webhook",
    "health.healthz",  # for load balancers: say only whether the parts answer
    "health.readyz",
    "api-docs.openapi_json",  # the JSON API's OpenAPI document
}
# Endpoints a support user may reach before opening an organization.
ORGANIZATION_FREE_ENDPOINTS = {"auth.logout", "auth.organizations", "auth.open_organization"}
SUPPORT_ORG_KEY = "support_organization_id"
ACCOUNT_KEY = "account_id"

M = TypeVar("M")


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id)) if user_id.isdigit() else None


def current_organization() -> Organization | None:
    if "organization" not in g:
        g.organization = _find_organization()
    return g.organization


def _find_organization() -> Organization | None:
    if not current_user.is_authenticated:
        return None
    if not current_user.is_support:
        return current_user.organization
    organization_id = session.get(SUPPORT_ORG_KEY)
    return db.session.get(Organization, organization_id) if organization_id else None


def require_organization() -> Organization:
    organization = current_organization()
    if organization is None:
        abort(404)
    return organization


def require_manager() -> None:
    """Accounts and stores are managed by owners (and support acting for them), not staff."""
    if not (current_user.is_support or current_user.role is UserRole.OWNER):
        abort(403)


def get_or_404(model: type[M], object_id: int | None) -> M:
    """Fetch by id within the current organization; another organization's id, a missing one
    and a number no row can have are each a 404."""
    if object_id is None or not 0 < object_id <= MAX_ID:
        abort(404)
    obj = db.session.get(model, object_id)
    organization = current_organization()
    if obj is None or organization is None:
        abort(404)
    owner_id = getattr(obj, "organization_id", None)
    if owner_id is None and hasattr(obj, "account_id"):
        owner_id = db.session.get(MarketplaceAccount, obj.account_id).organization_id
    if owner_id != organization.id:
        abort(404)
    return obj


def organization_accounts() -> list[MarketplaceAccount]:
    """The current organization's accounts, read once a request (the selector and the page
    both ask)."""
    if "accounts" not in g:
        g.accounts = _find_accounts()
    return g.accounts


def _find_accounts() -> list[MarketplaceAccount]:
    organization = current_organization()
    if organization is None:
        return []
    return list(
        db.session.scalars(
            select(MarketplaceAccount)
            .where(MarketplaceAccount.organization_id == organization.id)
            .order_by(MarketplaceAccount.name, MarketplaceAccount.id)
        )
    )


def organization_stores() -> list[Store]:
    organization = current_organization()
    if organization is None:
        return []
    return list(
        db.session.scalars(
            select(Store).where(Store.organization_id == organization.id).order_by(Store.name)
        )
    )


def current_account() -> MarketplaceAccount | None:
    """The account the selector shows: the one chosen in this session, else the first usable."""
    if "account" not in g:
        accounts = organization_accounts()
        chosen = session.get(ACCOUNT_KEY)
        g.account = next((a for a in accounts if a.id == chosen), None) or next(
            (a for a in accounts if a.is_usable), accounts[0] if accounts else None
        )
    return g.account


def choose_account(account: MarketplaceAccount) -> None:
    session[ACCOUNT_KEY] = account.id
    g.account = account


def open_organization(organization: Organization) -> None:
    session[SUPPORT_ORG_KEY] = organization.id
    session.pop(ACCOUNT_KEY, None)
    for key in ("organization", "accounts", "account"):
        g.pop(key, None)


def init_app(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to continue."

    @app.before_request
    def require_login() -> Response | None:
        if request.endpoint in PUBLIC_ENDPOINTS:
            return None
        if is_api_request():  # a bearer token, never the session (webapp.api.views)
            return None
        if not current_user.is_authenticated:
            login_url = url_for("auth.login", next=request.full_path.rstrip("?"))
            if is_htmx():
                return hx_redirect(Response(status=401), login_url)
            return redirect(login_url)
        if (
            current_user.is_support
            and current_organization() is None
            and request.endpoint not in ORGANIZATION_FREE_ENDPOINTS
        ):
            return redirect(url_for("auth.organizations"))
        return None

    @app.template_global()
    def page_navigation() -> tuple[Organization | None, AccountSelector | None]:
        """The organization and account selector the page header shows. A template global
        rather than a context processor: only full pages ask, not every partial."""
        if not current_user.is_authenticated or current_organization() is None:
            return None, None
        return current_organization(), account_selector(organization_accounts(), current_account())
