"""The Orders page: held orders first, *Link product* on their items, *Retry*."""

from __future__ import annotations

from flask import Blueprint, render_template, request, url_for
from flask_login import current_user

from webapp.extensions import db
from webapp.jobs.models import JobKind
from webapp.jobs.responses import job_refused, job_started
from webapp.jobs.services import JobError, shown_jobs
from webapp.orders.jobs import orders_paused, retry_order, start_orders
from webapp.orders.models import Order
from webapp.orders.queries import TABS, orders_page, tab_counts
from webapp.sync.jobs import settings_for
from webapp.tenancy import current_account, get_or_404
from webapp.urls import PAGE_LINK_NOT_VALID, id_from

bp = Blueprint("orders", __name__, url_prefix="/orders")


@bp.get("/")
def index():
    account = current_account()
    tab = request.args.get("tab", "held")
    before = id_from(request.args.get("before"))
    context = {"account": account, "tabs": TABS, "tab": tab}
    if request.args.get("before") and before is None:
        context["problem"] = PAGE_LINK_NOT_VALID
    if account is not None:
        orders, next_before = orders_page(db.session, account.id, tab, before)
        context |= {
            "orders": orders,
            "next_before": next_before,
            "counts": tab_counts(db.session, account.id),
            "paused": orders_paused(account, settings_for(db.session, account.id)),
            "runs": shown_jobs(db.session, [JobKind.ORDERS], account_id=account.id),
        }
    return render_template("orders/index.html", **context)


@bp.post("/pull")
def pull():
    account = current_account()
    back = url_for("orders.index")
    if account is None:
        return job_refused("Connect a TikTok Shop account first.", back)
    paused = orders_paused(account, settings_for(db.session, account.id))
    if paused:
        return job_refused(paused, back)
    try:
        run = start_orders(db.session, account, current_user)
    except JobError as error:
        return job_refused(str(error), back)
    return job_started(run, f"Fetching the orders of {account.name}…", back)


@bp.post("/<int:order_id>/retry")
def retry(order_id: int):
    order = get_or_404(Order, order_id)
    back = url_for("orders.index")
    try:
        run = retry_order(db.session, order, current_user)
    except JobError as error:
        return job_refused(str(error), back)
    return job_started(run, f"Trying TikTok order {order.tiktok_order_id} again…", back)
