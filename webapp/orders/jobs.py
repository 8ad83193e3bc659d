"""Order jobs, on the `orders` queue: pull an account's orders by `update_time` window (on the
schedule), fetch and process named orders (a TikTok webhook, *Retry*), and retry the orders
held for items that were just linked."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from flask import current_app
from sqlalchemy.orm import Session

from webapp.accounts.models import MarketplaceAccount, User
from webapp.adapters.base import AdapterError, AuthenticationFailed
from webapp.extensions import db
from webapp.jobs.models import JobKind, JobRun
from webapp.jobs.queue import enqueue_after_commit
from webapp.jobs.services import (
    JobError,
    ProgressRecorder,
    job_type,
    run_in_foreground,
    run_tracked,
    start_job,
)
from webapp.linking.services import NO_STORE_MESSAGE
from webapp.linking.signals import links_went_live
from webapp.orders.models import Order, OrderState
from webapp.orders.services import held_orders_for_links, process_order, record_orders
from webapp.sync.jobs import platform_clients, settings_for
from webapp.sync.models import SyncSettings

QUEUE = "orders"
FIRST_PULL_SECONDS = 7 * 86_400  # the first pull looks a week back
OVERLAP_SECONDS = 600  # each pull starts a little before the last one ended


def orders_paused(account: MarketplaceAccount, settings: SyncSettings) -> str | None:
    if not account.is_usable:
        return "Orders are paused: the account cannot be used."
    if account.store_id is None:
        return NO_STORE_MESSAGE
    if not settings.orders:
        return "Order sync is switched off in this account's settings."
    return None


@job_type(JobKind.ORDERS, queue=QUEUE)
def run_orders(job_run_id: int) -> dict[str, Any]:
    def work(run: JobRun, progress: ProgressRecorder) -> dict[str, Any]:
        session = db.session
        account = session.get(MarketplaceAccount, run.account_id)
        settings = settings_for(session, account.id)
        paused = orders_paused(account, settings)
        if paused:
            return {"paused": paused}
        order_ids = run.params.get("order_ids")
        with platform_clients(session, account) as clients:
            if order_ids:
                remote = clients.tiktok.get_orders(order_ids)
                pulled_until = None
            else:
                pulled_until = int(time.time()) + 1  # this second included
                since = (settings.orders_pulled_until or pulled_until - FIRST_PULL_SECONDS) - (
                    OVERLAP_SECONDS
                )
                remote = clients.tiktok.iter_orders(
                    update_time_ge=since, update_time_lt=pulled_until
                )
            counts = _process(session, account, clients.store, remote, progress)
        if pulled_until is not None:
            settings = session.merge(settings)
            settings.orders_pulled_until = pulled_until
            session.commit()
        return counts

    return run_tracked(job_run_id, work)


def _process(session: Session, account, store, remote, progress) -> dict[str, Any]:
    """Record and process orders a page at a time. One order's failure is recorded on it and
    the others go on; only a refused authorization stops the run."""
    counts = {"orders": 0} | {state.value: 0 for state in OrderState}
    batch = []
    for order in remote:
        batch.append(order)
        if len(batch) == 100:
            _process_batch(session, account, store, batch, counts, progress)
            batch.clear()
    _process_batch(session, account, store, batch, counts, progress)
    return counts


def _process_batch(session, account, store, batch, counts, progress: ProgressRecorder) -> None:
    for order in record_orders(session, account, batch):
        counts["orders"] += 1
        try:
            state = process_order(session, order, store, job_run_id=progress.run.id)
        except AuthenticationFailed:
            raise
        except AdapterError as error:  # a read the adapter gave up on: try next time
            session.rollback()
            current_app.logger.warning("Order %s: %s", order.tiktok_order_id, error)
            state = OrderState.FAILED
        counts[state.value] += 1
        progress.update(done=counts["orders"], message=f"{counts['orders']:,} orders")


def start_orders(
    session: Session,
    account: MarketplaceAccount,
    actor: User | None,
    *,
    order_ids: Sequence[str] | None = None,
) -> JobRun:
    """Pull the account's orders since the last pull, or fetch and process these orders."""
    if account.store_id is None:
        raise JobError(NO_STORE_MESSAGE)
    params = {"order_ids": sorted(set(order_ids))} if order_ids else {}
    return start_job(
        session,
        kind=JobKind.ORDERS,
        organization_id=account.organization_id,
        account_id=account.id,
        actor=actor,
        params=params,
    )


def retry_order(session: Session, order: Order, actor: User | None) -> JobRun:
    account = session.get(MarketplaceAccount, order.account_id)
    return start_orders(session, account, actor, order_ids=[order.tiktok_order_id])


def _retry_held_once_committed(account_id: int, *, link_ids: list[int], **_: Any) -> None:
    enqueue_after_commit(db.session, QUEUE, retry_held_orders, account_id, link_ids)


links_went_live.connect(_retry_held_once_committed)


def retry_held_orders(account_id: int, link_ids: list[int]) -> None:
    """Items were just linked: process again the orders held for them."""
    held = [o.tiktok_order_id for o in held_orders_for_links(db.session, account_id, link_ids)]
    account = db.session.get(MarketplaceAccount, account_id)
    if held and account is not None and account.store_id is not None:
        run_in_foreground(
            db.session,
            kind=JobKind.ORDERS,
            organization_id=account.organization_id,
            account_id=account.id,
            actor=None,
            params={"order_ids": held},
        )
