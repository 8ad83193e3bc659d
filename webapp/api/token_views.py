"""The dashboard's API tokens page: owners (and support acting for them) make and revoke the
organization's tokens for the JSON API. A new token's secret is shown once, in the answer to
the request that made it."""

from __future__ import annotations

from flask import Blueprint, render_template, request, url_for
from flask_login import current_user

from webapp.api.models import ApiToken
from webapp.api.tokens import (
    MAX_NAME_LENGTH,
    ApiTokenError,
    NewApiToken,
    create_api_token,
    organization_tokens,
    revoke_api_token,
)
from webapp.extensions import db
from webapp.htmx import is_htmx, toast
from webapp.tenancy import get_or_404, require_manager, require_organization

bp = Blueprint("api_tokens", __name__, url_prefix="/settings/api-tokens")


def _tokens_page(
    *, new: NewApiToken | None = None, error: str | None = None, name: str = "", status: int = 200
):
    """The full page, or for htmx only its #api-tokens section (one template serves both)."""
    context = dict(
        tokens=organization_tokens(db.session, require_organization().id),
        new=new,
        error=error,
        name=name,
        max_name_length=MAX_NAME_LENGTH,
        openapi_url=url_for("api-docs.openapi_json", _external=True),
    )
    template = "api/_tokens.html" if is_htmx() else "api/tokens.html"
    return render_template(template, **context), status


@bp.get("/")
def index():
    require_manager()
    return _tokens_page()


@bp.post("/")
def create():
    require_manager()
    name = request.form.get("name", "")
    try:
        new = create_api_token(
            db.session,
            organization_id=require_organization().id,
            name=name,
            actor=current_user,
        )
    except ApiTokenError as error:
        db.session.rollback()
        return _tokens_page(error=str(error), name=name[:MAX_NAME_LENGTH], status=422)
    db.session.commit()
    return _tokens_page(new=new)


@bp.post("/<int:token_id>/revoke")
def revoke(token_id: int):
    require_manager()
    token = revoke_api_token(db.session, get_or_404(ApiToken, token_id), actor=current_user)
    db.session.commit()
    body, status = _tokens_page()
    message = f"Revoked {token.name} ({token.prefix}…): calls with it are refused from now on."
    return toast(body, message) if is_htmx() else (body, status)
