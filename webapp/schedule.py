"""The schedule: a sweep that RQ's scheduler runs every minute (SYNC_SWEEP_SECONDS) starts the
pushes and order pulls that are due, each account on its own interval, and clears away
uploads abandoned half way."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from webapp.accounts.models import AccountStatus, MarketplaceAccount
from webapp.csvio.uploads import remove_abandoned_uploads
from webapp.extensions import db
from webapp.jobs.queue import get_queue
from webapp.orders.jobs import orders_paused, start_orders
from webapp.sync.jobs import due_accounts, settings_for, start_sync

SWEEP_JOB_ID = "schedule-sweep"
SWEEP_QUEUE = "sync"


def sweep() -> dict[str, int]:
    """Start what is due, then schedule the next sweep (even when this one failed)."""
    counts = {"pushes": 0, "order_pulls": 0, "abandoned_uploads": 0}
    try:
        for account, full in due_accounts(db.session):
            start_sync(db.session, account, None, full=full)
            counts["pushes"] += 1
        now = int(time.time())
        for account in _order_accounts_due(now):
            start_orders(db.session, account, None)
            counts["order_pulls"] += 1
        counts["abandoned_uploads"] = remove_abandoned_uploads()
    finally:
        schedule_sweep()
    return counts


def _order_accounts_due(now: int) -> Iterator[MarketplaceAccount]:
    for account in db.session.scalars(
        select(MarketplaceAccount).where(MarketplaceAccount.status == AccountStatus.ACTIVE)
    ):
        settings = settings_for(db.session, account.id)
        if orders_paused(account, settings):
            continue
        last = settings.orders_pulled_until
        if last is None or now - last >= settings.interval_minutes * 60:
            yield account


def schedule_sweep(delay: timedelta | None = None) -> None:
    """One sweep is pending at a time: its fixed job id replaces any earlier one."""
    if delay is None:
        delay = timedelta(seconds=current_app.config["SYNC_SWEEP_SECONDS"])
    get_queue(SWEEP_QUEUE).enqueue_in(delay, sweep, job_id=SWEEP_JOB_ID)
