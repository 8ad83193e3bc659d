"""The JSON API's endpoints (`/api/v1`): a bearer token says which organization asks; the
session cookie counts for nothing here, so the blueprint needs no CSRF token either."""

from __future__ import annotations

from typing import Any

from flask import Response, g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from werkzeug.exceptions import HTTPException

from webapp.accounts.models import MarketplaceAccount, Organization, User
from webapp.api.links import (
    MarketplaceSkuAmbiguous,
    MarketplaceSkuNotFound,
    PartByText,
    find_link,
    list_links,
    put_link_target,
    remove_link_target,
)
from webapp.api.problems import API_PREFIX, PROBLEM_JSON, problem
from webapp.api.schemas import (
    AccountListSchema,
    ConflictSchema,
    LinkListQuerySchema,
    LinkPageSchema,
    LinkSchema,
    LinkTargetSchema,
    ProblemSchema,
    VersionQuerySchema,
    account_document,
    link_document,
)
from webapp.api.tokens import ApiTokenError, authenticate
from webapp.extensions import csrf, db
from webapp.linking.models import Link
from webapp.linking.services import LinkConflict, LinkError
from webapp.tenancy import get_or_404, organization_accounts

bp = Blueprint(
    "api", __name__, url_prefix=API_PREFIX, description="Accounts and links, by marketplace SKU"
)
csrf.exempt(bp)

LINK_URL = "/accounts/<int:account_id>/links/<path:marketplace_sku>"


class ApiProblem(Exception):
    """Answer with this problem document (raised by the views' helpers)."""

    def __init__(self, status: int, detail: str, **extensions: Any):
        super().__init__(detail)
        self.response = problem(status, detail, **extensions)


def _problem_response(status: int, description: str, schema: type = ProblemSchema, **kwargs):
    return bp.alt_response(
        status, schema=schema, content_type=PROBLEM_JSON, description=description, **kwargs
    )


UNAUTHORIZED = _problem_response(
    401,
    "No token, or a token that is not valid or was revoked",
    headers={"WWW-Authenticate": {"schema": {"type": "string"}}},
)
NOT_FOUND = _problem_response(
    404, "No such account or TikTok SKU in the token's organization (another's is the same)"
)
SHARED_SELLER_SKU = _problem_response(
    409, "The seller SKU is shared by several TikTok SKUs: `sku_ids` lists them"
)
STALE_VERSION = _problem_response(
    409,
    "`version` is no longer the link's (`link` shows it now), or the seller SKU is shared "
    "by several TikTok SKUs (`sku_ids` lists them)",
    schema=ConflictSchema,
)


# --- authentication and errors ----------------------------------------------------------------


@bp.before_request
def authenticate_token() -> Response | None:
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    try:
        if scheme.lower() != "bearer" or not secret.strip():
            raise ApiTokenError(
                "Send an API token as `Authorization: Bearer <token>`. Owners make tokens on "
                "the API tokens page of the dashboard; the dashboard's login does not count here."
            )
        token = authenticate(db.session, secret.strip())
    except ApiTokenError as error:
        return problem(401, str(error))
    if db.session.dirty:
        db.session.commit()  # the token's last use
    g.organization = db.session.get(Organization, token.organization_id)
    g.api_actor = db.session.get(User, token.created_by_id)
    return None


@bp.errorhandler(ApiProblem)
def answer_problem(error: ApiProblem) -> Response:
    db.session.rollback()
    return error.response


def answer_http_error(error: HTTPException) -> Response:
    """Aborts (get_or_404) and refused requests (webargs: 422 with the messages of each
    field, 400 for a body that is no JSON) as problem documents. Registered for each status
    as well as for the class: Flask asks the app's handlers of a status before any handler of
    a class."""
    db.session.rollback()
    status = error.code or 500
    messages = (getattr(error, "data", None) or {}).get("messages")
    if status == 422 and messages:
        return problem(422, _summary(messages), errors=messages)
    if status == 400 and messages:
        return problem(400, "The body is not valid JSON.", errors=messages)
    return problem(status)


bp.register_error_handler(HTTPException, answer_http_error)
for _status in (400, 401, 403, 404, 405, 409, 413, 415, 422, 500):
    bp.register_error_handler(_status, answer_http_error)


def _summary(messages: dict[str, Any]) -> str:
    """`field: message` for each refused field, nested fields as `kit_parts.0.quantity`."""
    parts: list[str] = []

    def walk(value: Any, path: tuple[str, ...]) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(inner, (*path, str(key)))
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            parts.append(f"{'.'.join(path[1:]) or path[0]}: {' '.join(value)}")
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                walk(inner, (*path, str(index)))

    for location, fields in messages.items():
        walk(fields, (location,))
    return "The request is not valid. " + "; ".join(parts)


def _link(account_id: int, marketplace_sku: str) -> Link:
    account = get_or_404(MarketplaceAccount, account_id)
    try:
        return find_link(db.session, account.id, marketplace_sku)
    except MarketplaceSkuNotFound as error:
        raise ApiProblem(404, str(error)) from error
    except MarketplaceSkuAmbiguous as error:
        raise ApiProblem(409, str(error), sku_ids=error.sku_ids) from error


def _conflict(conflict: LinkConflict, expected_version: int | None) -> ApiProblem:
    db.session.rollback()
    link = db.session.get(Link, conflict.link.id)
    db.session.refresh(link)
    detail = (
        f"The link changed since version {expected_version}: it is version {link.version} "
        "now (see `link`). Read it, and send your change again if it is still needed."
    )
    return ApiProblem(409, detail, link=LinkSchema().dump(link_document(link)))


# --- endpoints --------------------------------------------------------------------------------


@bp.get("/accounts")
@bp.response(200, AccountListSchema)
@UNAUTHORIZED
def list_accounts():
    """The TikTok Shop accounts of the token's organization"""
    return {"items": [account_document(account) for account in organization_accounts()]}


@bp.get("/accounts/<int:account_id>/links")
@bp.arguments(LinkListQuerySchema, location="query", as_kwargs=True)
@bp.response(200, LinkPageSchema)
@UNAUTHORIZED
@NOT_FOUND
def list_account_links(account_id: int, limit: int, state=None, after: int | None = None):
    """The account's links in id order, a page at a time

    Pass a page's `next_after` as `after` for the next page.
    """
    account = get_or_404(MarketplaceAccount, account_id)
    links, next_after = list_links(db.session, account.id, state=state, after=after, limit=limit)
    return {"items": [link_document(link) for link in links], "next_after": next_after}


@bp.route(LINK_URL, endpoint="link")
class LinkByMarketplaceSku(MethodView):
    """One link, by marketplace SKU: `marketplace_sku` is a TikTok SKU ID, or a seller SKU that
    no other TikTok SKU of the account shares (percent-encoded), as in a mapping file.

    One view for the three methods, so that one URL rule serves them: an id past what a
    database holds is then a 404 for each (separate rules made it a 405 for PUT and DELETE).
    """

    @bp.response(200, LinkSchema)
    @UNAUTHORIZED
    @NOT_FOUND
    @SHARED_SELLER_SKU
    def get(self, account_id: int, marketplace_sku: str):
        """One link, by marketplace SKU"""
        return link_document(_link(account_id, marketplace_sku))

    @bp.arguments(LinkTargetSchema)
    @bp.response(200, LinkSchema)
    @_problem_response(400, "The body is not valid JSON")
    @UNAUTHORIZED
    @NOT_FOUND
    @STALE_VERSION
    def put(self, target: dict[str, Any], account_id: int, marketplace_sku: str):
        """Link a marketplace SKU to a store SKU, a multi-pack or a kit

        The link becomes Mapped, as after a change in the dashboard's editor (a Linked one
        stops syncing until it is assigned again). Asking for the target the link already has
        changes nothing. A store SKU that names no sellable variant of the account's store
        (unknown, shared by several products, a parent product) is refused with 422.
        """
        link = _link(account_id, marketplace_sku)
        parts = [PartByText(target["store_sku"], target["quantity"])] + [
            PartByText(part["store_sku"], part["quantity"]) for part in target["kit_parts"]
        ]
        version = target.get("version")
        try:
            put_link_target(db.session, link, parts, expected_version=version, actor=g.api_actor)
        except LinkConflict as conflict:
            raise _conflict(conflict, version) from conflict
        except LinkError as error:
            raise ApiProblem(422, str(error)) from error
        db.session.commit()
        return link_document(link)

    @bp.arguments(VersionQuerySchema, location="query", as_kwargs=True)
    @bp.response(200, LinkSchema)
    @UNAUTHORIZED
    @NOT_FOUND
    @STALE_VERSION
    def delete(self, account_id: int, marketplace_sku: str, version: int | None = None):
        """Unlink a marketplace SKU: its sync stops at once

        Deleting a link that is already Not Linked changes nothing.
        """
        link = _link(account_id, marketplace_sku)
        try:
            remove_link_target(db.session, link, expected_version=version, actor=g.api_actor)
        except LinkConflict as conflict:
            raise _conflict(conflict, version) from conflict
        db.session.commit()
        return link_document(link)
