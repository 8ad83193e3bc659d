"""Grid-level link actions: assign / unlink the selected rows, Assign Products, Auto-map.

Each starts a job and answers with its self-replacing progress component, which the Linking
page shows in `#job-progress`; when the job is over the grid reloads itself (jobFinished).
Refusals (no account, bad or foreign ids, nothing to do) say why in `#flash` and start nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from webapp.accounts.models import MarketplaceAccount
from webapp.dbutil import chunked
from webapp.extensions import db
from webapp.htmx import is_htmx, retarget, toast
from webapp.jobs.models import JobRun
from webapp.jobs.responses import job_started
from webapp.jobs.services import JobError
from webapp.linking.automap import AutomapError, preview_automap
from webapp.linking.grid import status_counts
from webapp.linking.jobs import start_assign, start_automap, start_bulk_unlink
from webapp.linking.matching import RULE_ORDER
from webapp.linking.models import Link, LinkState
from webapp.linking.views import bp
from webapp.tenancy import current_account
from webapp.urls import id_from

MAX_SELECTION = 5000
NO_ACCOUNT = "Connect a TikTok Shop account first."
STATE_HINTS = {
    "assign": "only Mapped rows can be assigned.",
    "unlink": "they are Not Linked already.",
}


class SelectionError(Exception):
    """The posted row ids cannot be used; the message says why. Nothing was changed."""


def _link_count(account_id: int, ids: list[int], states: Iterable[LinkState] = ()) -> int:
    states = list(states)
    total = 0
    for chunk in chunked(ids, 900):
        statement = select(func.count(Link.id)).where(
            Link.account_id == account_id, Link.id.in_(chunk)
        )
        if states:
            statement = statement.where(Link.state.in_(states))
        total += db.session.scalar(statement)
    return total


def _posted_ids(field: str) -> set[int]:
    ids = {id_from(value.strip()) for value in request.form.getlist(field)}
    if None in ids:
        raise SelectionError("That selection was not valid: row ids are numbers. Nothing changed.")
    return ids


def _owned(account: MarketplaceAccount, ids: set[int]) -> list[int]:
    """The ids, sorted, once every one is shown to be a row of this account."""
    if len(ids) > MAX_SELECTION:
        raise SelectionError(f"Select at most {MAX_SELECTION} rows at a time. Nothing changed.")
    ordered = sorted(ids)
    foreign = len(ordered) - _link_count(account.id, ordered)
    if foreign:
        raise SelectionError(
            f"{foreign} of the selected rows are not rows of {account.name}: reload the page "
            "and select again. Nothing changed."
        )
    return ordered


def _selected(account: MarketplaceAccount, states: Iterable[LinkState], verb: str) -> list[int]:
    ids = _owned(account, _posted_ids("link_id"))
    if not ids:
        raise SelectionError(f"No rows are selected. Tick the rows to {verb} first.")
    if not _link_count(account.id, ids, states):
        raise SelectionError(f"None of the selected rows can be {verb}ed: {STATE_HINTS[verb]}")
    return ids


def _excluded(account: MarketplaceAccount) -> list[int]:
    """The preview's unticked pairs: `excluded_link_id`s, and proposed ids not ticked."""
    unticked = _posted_ids("proposed_link_id") - _posted_ids("map_link_id")
    return _owned(account, _posted_ids("excluded_link_id") | unticked)


def _refused(message: str):
    if not is_htmx():
        flash(message, "error")
        return redirect(url_for("linking.grid"))
    response = make_response(render_template("errors/_message.html", message=message), 422)
    return retarget(toast(response, message, "error"), "#flash", "innerHTML")


def _started(run: JobRun, message: str):
    """The job's progress component (the same job already under way, if it was)."""
    return job_started(run, message, url_for("jobs.show", run_id=run.id))


@bp.post("/bulk/assign")
def bulk_assign():
    if (account := current_account()) is None:
        return _refused(NO_ACCOUNT)
    try:
        ids = _selected(account, [LinkState.MAPPED], "assign")
        run = start_assign(db.session, account, ids, current_user)
    except (SelectionError, JobError) as error:
        return _refused(str(error))
    return _started(run, f"Assigning {len(ids)} selected rows…")


@bp.post("/bulk/unlink")
def bulk_unlink():
    if (account := current_account()) is None:
        return _refused(NO_ACCOUNT)
    unlinkable = [state for state in LinkState if state is not LinkState.NOT_LINKED]
    try:
        ids = _selected(account, unlinkable, "unlink")
        run = start_bulk_unlink(db.session, account, ids, current_user)
    except (SelectionError, JobError) as error:
        return _refused(str(error))
    return _started(run, f"Unlinking {len(ids)} selected rows…")


@bp.post("/assign-products")
def assign_products():
    if (account := current_account()) is None:
        return _refused(NO_ACCOUNT)
    if not status_counts(db.session, account.id)[LinkState.MAPPED.value]:
        return _refused(
            "No rows are Mapped, so there is nothing to assign. "
            "Map rows first: Auto-map, or link them in the grid."
        )
    try:
        run = start_assign(db.session, account, None, current_user)
    except JobError as error:
        return _refused(str(error))
    return _started(run, f"Assigning every Mapped row of {account.name}…")


@bp.get("/automap")
def automap_preview():
    account, preview, problem = current_account(), None, None
    try:
        if account is None:
            raise AutomapError(NO_ACCOUNT)
        preview = preview_automap(db.session, account)
    except AutomapError as error:
        problem = str(error)
    template = "linking/_automap_preview.html" if is_htmx() else "linking/automap.html"
    return render_template(
        template,
        account=account,
        preview=preview,
        problem=problem,
        rules=RULE_ORDER,
    )


@bp.post("/automap")
def automap_run():
    if (account := current_account()) is None:
        return _refused(NO_ACCOUNT)
    try:
        excluded = _excluded(account)
        run = start_automap(db.session, account, excluded, current_user)
    except (SelectionError, JobError) as error:
        return _refused(str(error))
    left_out = f"; {len(excluded)} unticked pairs are left out" if excluded else ""
    return _started(run, f"Auto-map started for {account.name}{left_out}.")
