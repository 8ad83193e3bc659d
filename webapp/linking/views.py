"""The linking page: status tabs with counts, active search and the keyset-paginated grid.

One URL serves the full page or, for htmx, only the `#linking-grid` fragment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, current_app, render_template, request
from sqlalchemy import select

from webapp.catalog.models import MarketplaceSku
from webapp.extensions import db
from webapp.htmx import is_htmx
from webapp.jobs.models import JobKind
from webapp.jobs.services import shown_jobs
from webapp.linking.grid import (
    FAILURE_KINDS,
    MAX_QUERY_LENGTH,
    GridQuery,
    failure_counts,
    grid_page,
    refused_push_count,
    status_counts,
)
from webapp.linking.models import LINK_STATE_LABELS, LinkState
from webapp.sync.jobs import settings_for
from webapp.tenancy import current_account
from webapp.urls import PAGE_LINK_NOT_VALID, id_from, url_for_each

bp = Blueprint("linking", __name__)

LINK_JOB_KINDS = [kind for kind in JobKind if kind.changes_links or kind is JobKind.UNDO]
SYNC_REFUSED = "refused"  # ?sync=refused: the Linked tab's rows whose last push was refused
TABS = [("all", "All")] + [(state.value, label) for state, label in LINK_STATE_LABELS.items()]


@dataclass(frozen=True)
class RowUrls:
    """Where a grid row's buttons go, as functions of the row's id."""

    edit: Callable[[int], str]
    unlink: Callable[[int], str]


@bp.app_template_global()
def row_urls(then_assign: bool = False) -> RowUrls:
    """The row buttons' URLs, built once for a whole page of rows (linking/_grid_row.html).
    `then_assign`: the rows of an order held for mapping, whose editor assigns once linked."""
    return RowUrls(
        edit=url_for_each("linking.edit_link", "link_id", then="assign" if then_assign else None),
        unlink=url_for_each("linking.unlink_link", "link_id"),
    )


def parse_grid_args(account_id: int) -> tuple[GridQuery, list[str]]:
    """Read the grid's query string; anything unusable is ignored with a message, never a 500."""
    problems = []
    status_arg = request.args.get("status", "all")
    status = None
    if status_arg != "all":
        try:
            status = LinkState(status_arg)
        except ValueError:
            problems.append(f"There is no status “{status_arg[:40]}”; showing all rows.")
    search = request.args.get("q", "")
    if len(search) > MAX_QUERY_LENGTH:
        problems.append(f"Search was cut to its first {MAX_QUERY_LENGTH} characters.")
        search = search[:MAX_QUERY_LENGTH]
    cursors = {}
    for name in ("after", "before"):
        value = request.args.get(name, "")
        cursors[name] = id_from(value)
        if value and cursors[name] is None:
            problems.append(PAGE_LINK_NOT_VALID)
            cursors = {}
            break
    failure = request.args.get("failure") or None
    if failure is not None and failure not in FAILURE_KINDS:
        problems.append("That failure filter does not exist; showing every reason.")
        failure = None
    sync = request.args.get("sync") or None
    if sync not in (None, SYNC_REFUSED):
        problems.append("That sync filter does not exist; showing every row.")
    query = GridQuery(
        account_id=account_id,
        status=status,
        search=search,
        failure=failure,
        sync_refused=sync == SYNC_REFUSED,
        page_size=current_app.config["GRID_PAGE_SIZE"],
        **cursors,
    )
    return query, problems


@bp.get("/")
def grid():
    account = current_account()
    context: dict[str, object] = {"account": account, "tabs": TABS}
    if account is not None:
        query, problems = parse_grid_args(account.id)
        page = grid_page(db.session, query)
        context.update(
            query=query,
            problems=problems,
            page=page,
            counts=status_counts(db.session, account.id, query.search),
            failure_kinds=FAILURE_KINDS,
            failure_counts=(
                failure_counts(db.session, account.id) if query.status is LinkState.FAILED else {}
            ),
            refused_pushes=(
                refused_push_count(db.session, account.id)
                if query.status is LinkState.LINKED
                else None
            ),
            # Rows shown mean products were imported; only an empty page needs to ask.
            imported=bool(page.rows)
            or db.session.scalar(
                select(MarketplaceSku.id).where(MarketplaceSku.account_id == account.id).limit(1)
            )
            is not None,
        )
        if is_htmx() and request.headers.get("HX-Target") == "linking-grid":
            return render_template("linking/_grid.html", **context)
        import_runs = shown_jobs(db.session, [JobKind.MARKETPLACE_IMPORT], account_id=account.id)
        context["import_run"] = import_runs[0] if import_runs else None
        link_jobs = shown_jobs(db.session, LINK_JOB_KINDS, account_id=account.id)
        context["link_job_run"] = link_jobs[0] if link_jobs else None
        context["sync_settings"] = settings_for(db.session, account.id)
    return render_template("linking/index.html", **context)


# Routes of the same blueprint kept in modules of their own.
import webapp.linking.bulk_views  # noqa: E402, F401
import webapp.linking.editor_views  # noqa: E402, F401
