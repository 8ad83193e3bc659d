"""The inline link editor: a grid row turns into an editor that searches the store catalog, then
saves, unlinks or cancels; every answer is a partial that replaces that one row.

Routes hang on the `linking` blueprint. Every link is fetched through `get_or_404`, so another
organization's id is a 404. Staff may link: there is no manager check.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import make_response, render_template, request
from flask.typing import ResponseReturnValue
from flask_login import current_user

from webapp.accounts.models import MarketplaceAccount
from webapp.catalog.models import StoreSku
from webapp.dbutil import MAX_ID
from webapp.extensions import db
from webapp.htmx import retarget, toast
from webapp.linking.grid import MAX_QUERY_LENGTH, GridQuery, GridRow, grid_row, status_counts
from webapp.linking.history import HISTORY_LIMIT, link_history
from webapp.linking.models import Link, LinkState
from webapp.linking.services import (
    MAX_PACK_QUANTITY,
    NO_STORE_MESSAGE,
    LinkConflict,
    LinkError,
    Target,
    assign_links,
    current_targets,
    set_link_target,
    unlink,
    validate_targets,
)
from webapp.linking.suggestions import (
    CatalogHit,
    Suggestion,
    catalog_facets,
    search_store_catalog,
    suggest_targets,
)
from webapp.linking.views import TABS, bp
from webapp.tenancy import get_or_404

LINK_URL = "/links/<int:link_id>"


@dataclass(frozen=True)
class Part:
    """A store SKU the editor shows as chosen or as a kit part, with its quantity."""

    store_sku: StoreSku
    quantity: int


# --- parsing ----------------------------------------------------------------------------------


def _number(text: str) -> int | None:
    """A whole number from the form that a database column can hold, else None."""
    text = text.strip()
    if not text.isascii() or not text.isdigit():
        return None
    number = int(text)
    return number if number <= MAX_ID else None


def parse_version(form: Mapping[str, str]) -> int:
    version = _number(form.get("version", ""))
    if version is None:
        raise LinkError("This editor lost track of the row's version. Cancel and open it again.")
    return version


def parse_targets(form: Any, *, strict: bool = True) -> list[Target]:
    """Pair the repeated `store_sku_id` and `quantity` fields; blank ids are the unused
    "chosen" slot. Lenient parsing skips what is unusable (to redisplay a refused form)."""
    ids, quantities = form.getlist("store_sku_id"), form.getlist("quantity")
    if len(ids) != len(quantities) and strict:
        raise LinkError("Each store SKU needs its own quantity.")
    targets = []
    for raw_id, raw_quantity in zip(ids, quantities, strict=False):
        if not raw_id.strip():
            continue
        store_sku_id, quantity = _number(raw_id), _number(raw_quantity)
        if store_sku_id is None and strict:
            raise LinkError(f"“{raw_id[:40]}” is not a store SKU: choose one from the list.")
        if quantity is None and strict:
            raise LinkError(f"Quantities are whole numbers from 1 to {MAX_PACK_QUANTITY}.")
        if store_sku_id is not None and quantity is not None:
            targets.append(Target(store_sku_id, quantity))
    return targets


def _search_args(args: Mapping[str, str]) -> dict[str, str]:
    return {
        name: args.get(name, "").strip()[:MAX_QUERY_LENGTH] for name in ("q", "category", "tag")
    }


def _page_filters() -> tuple[str, str]:
    """The status tab and search of the page the row sits on, read from HX-Current-URL."""
    args = parse_qs(urlsplit(request.headers.get("HX-Current-URL", "")).query)
    status = args.get("status", ["all"])[0]
    if status not in {value for value, _ in TABS}:
        status = "all"
    return status, args.get("q", [""])[0][:MAX_QUERY_LENGTH]


# --- building the partials -------------------------------------------------------------------


def _store_id(link: Link) -> int | None:
    return db.session.get(MarketplaceAccount, link.account_id).store_id


def _parts(store_id: int | None, targets: Sequence[Target]) -> list[Part]:
    parts = []
    for target in targets:
        store_sku = db.session.get(StoreSku, target.store_sku_id)
        if store_sku is not None and store_sku.store_id == store_id:
            parts.append(Part(store_sku, target.quantity))
    return parts


def _narrowed(suggestions: list[Suggestion], q: str, category: str, tag: str) -> list[Suggestion]:
    """The suggestions that also answer the search, so typing narrows them too."""
    needle = q.casefold()
    return [
        s
        for s in suggestions
        if (not needle or needle in f"{s.sku} {s.name} {s.variant}".casefold())
        and (not category or category in s.categories)
        and (not tag or tag in s.tags)
    ]


def _candidates(link: Link, store_id: int | None, q: str, category: str, tag: str) -> dict:
    """Ranked suggestions first, then catalog search results not already suggested."""
    if store_id is None:
        return {"suggestions": [], "hits": []}
    suggestions = _narrowed(suggest_targets(db.session, link), q, category, tag)
    hits: list[CatalogHit] = []
    if q or category or tag:
        shown = {s.store_sku_id for s in suggestions}
        hits = [
            hit
            for hit in search_store_catalog(
                db.session, store_id, q, category=category or None, tag=tag or None
            )
            if hit.store_sku_id not in shown
        ]
    return {"suggestions": suggestions, "hits": hits}


def _editor(
    link: Link,
    targets: Sequence[Target],
    *,
    search: Mapping[str, str] | None = None,
    version: int | None = None,
    error: str | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    search = _search_args(search or {})
    row = grid_row(db.session, link.id)
    store_id = _store_id(link)
    shown = _parts(store_id, targets)
    categories, tags = catalog_facets(db.session, store_id) if store_id else ([], [])
    context = dict(
        row=row,
        link_id=row.id,
        version=row.version if version is None else version,
        categories=categories,
        tags=tags,
        message=error or (None if store_id else NO_STORE_MESSAGE),
        chosen=shown[0] if len(shown) == 1 else None,
        parts=shown if len(shown) > 1 else [],
        then_assign=_then_assign(),
        **search,
        **_candidates(link, store_id, **search),
    )
    return render_template("linking/_editor.html", **context), status


def _then_assign() -> bool:
    """Opened from an order held for this item: saving links the row and assigns it at once,
    so the order can go to the store."""
    return (request.form.get("then") or request.args.get("then")) == "assign"


def sku_label(row: GridRow) -> str:
    return row.marketplace_sku or f"SKU ID {row.sku_id}"


def target_text(row: GridRow) -> str:
    parts = [(row.store_sku, row.quantity), *row.components]
    return " + ".join(f"{quantity} × {sku}" if quantity > 1 else sku for sku, quantity in parts)


def _row_with_tabs(row: GridRow, notice: str | None = None) -> str:
    """The display row, plus the status tabs out of band since a count changed."""
    status_value, search = _page_filters()
    tabs = render_template(
        "linking/_tabs.html",
        oob=True,
        tabs=TABS,
        status_value=status_value,
        query=GridQuery(account_id=row.account_id, search=search),
        counts=status_counts(db.session, row.account_id, search),
    )
    return render_template("linking/_row.html", row=row, notice=notice) + tabs


def _conflict(conflict: LinkConflict) -> ResponseReturnValue:
    db.session.rollback()
    body = _row_with_tabs(grid_row(db.session, conflict.link.id), notice=str(conflict))
    return toast(make_response(body, 409), str(conflict), "error")


# --- routes ----------------------------------------------------------------------------------


@bp.get(LINK_URL)
def show_link(link_id: int):
    """The display row: Cancel in the editor swaps it back."""
    link = get_or_404(Link, link_id)
    return render_template(
        "linking/_row.html", row=grid_row(db.session, link.id), then_assign=_then_assign()
    )


@bp.get(LINK_URL + "/history")
def link_history_view(link_id: int):
    """Every change of the row, newest first: opened from the editor."""
    link = get_or_404(Link, link_id)
    return render_template(
        "linking/_history.html",
        entries=link_history(db.session, link.id),
        history_limit=HISTORY_LIMIT,
    )


@bp.get(LINK_URL + "/edit")
def edit_link(link_id: int):
    link = get_or_404(Link, link_id)
    return _editor(link, current_targets(link))


@bp.get(LINK_URL + "/candidates")
def link_candidates(link_id: int):
    link = get_or_404(Link, link_id)
    search = _search_args(request.args)
    context = _candidates(link, _store_id(link), **search)
    return render_template("linking/_candidates.html", link_id=link.id, **search, **context)


@bp.get(LINK_URL + "/part")
def kit_part(link_id: int):
    """Add to kit: the chosen store SKU as a kit part, and the chosen slot emptied."""
    link = get_or_404(Link, link_id)
    try:
        targets = parse_targets(request.args)
        if len(targets) != 1:
            raise LinkError("Choose a store SKU in the list first, then add it to the kit.")
        validate_targets(db.session, link, targets)
    except LinkError as error:
        response = make_response(
            render_template("linking/_editor_message.html", link_id=link.id, message=str(error)),
            422,
        )
        return retarget(response, f"#editor-message-{link.id}", "outerHTML")
    part = Part(db.session.get(StoreSku, targets[0].store_sku_id), targets[0].quantity)
    return "".join(
        render_template(f"linking/{name}.html", link_id=link.id, part=part, oob=True)
        for name in ("_editor_part", "_editor_chosen", "_editor_message")
    )


@bp.post(LINK_URL)
def save_link(link_id: int):
    link = get_or_404(Link, link_id)
    try:
        version = parse_version(request.form)
        targets = parse_targets(request.form)
        set_link_target(db.session, link, targets, expected_version=version, actor=current_user)
        if _then_assign():
            account = db.session.get(MarketplaceAccount, link.account_id)
            assign_links(db.session, account, [link], actor=current_user, batch=None)
    except LinkConflict as conflict:
        return _conflict(conflict)
    except LinkError as error:
        db.session.rollback()
        posted = parse_targets(request.form, strict=False)
        shown_version = _number(request.form.get("version", ""))
        return _editor(
            link, posted, search=request.form, version=shown_version, error=str(error), status=422
        )
    db.session.commit()
    row = grid_row(db.session, link_id)
    body = _row_with_tabs(row)
    message = f"Linked {sku_label(row)} to {target_text(row)}."
    if _then_assign() and row.state is LinkState.LINKED:
        message += " The orders held for it are being sent to the store."
    return toast(body, message)


@bp.post(LINK_URL + "/unlink")
def unlink_link(link_id: int):
    link = get_or_404(Link, link_id)
    try:
        unlink(db.session, link, expected_version=parse_version(request.form), actor=current_user)
    except LinkConflict as conflict:
        return _conflict(conflict)
    except LinkError as error:
        db.session.rollback()
        body = render_template("linking/_row.html", row=grid_row(db.session, link.id))
        return toast(make_response(body, 422), str(error), "error")
    db.session.commit()
    row = grid_row(db.session, link_id)
    message = f"Unlinked {sku_label(row)}: inventory, price and order sync stopped for it."
    return toast(_row_with_tabs(row), message)
