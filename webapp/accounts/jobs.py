"""The periodic token sweep: access tokens are renewed before they expire even when an account
is idle, so the next import or sync never starts with a dead token."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from webapp.accounts.models import AccountStatus, MarketplaceAccount
from webapp.accounts.services import AccountUnusable, TikTokApp, ensure_fresh_token
from webapp.adapters.base import AdapterError
from webapp.extensions import db, utcnow
from webapp.jobs.queue import get_queue

TOKEN_SWEEP_JOB_ID = "refresh-expiring-tokens"
TOKEN_SWEEP_INTERVAL = timedelta(minutes=30)
TOKEN_SWEEP_QUEUE = "sync"


def refresh_expiring_tokens() -> dict[str, int]:
    """Refresh every active account whose token expires before the next sweep, then schedule
    the next sweep. A platform that is down now is tried again next time."""
    app = TikTokApp.from_config(current_app.config)
    horizon = utcnow() + TOKEN_SWEEP_INTERVAL + timedelta(seconds=app.refresh_margin)
    due = db.session.scalars(
        select(MarketplaceAccount).where(
            MarketplaceAccount.status == AccountStatus.ACTIVE,
            MarketplaceAccount.access_token_expires_at <= horizon,
        )
    ).all()
    counts = {"due": len(due), "refreshed": 0, "expired": 0, "retry_later": 0}
    for account in due:
        try:
            ensure_fresh_token(db.session, app, account, within=horizon - utcnow())
            counts["refreshed"] += 1
        except AccountUnusable:
            counts["expired"] += 1
        except AdapterError as error:
            current_app.logger.warning("Token refresh of account %s failed: %s", account.id, error)
            counts["retry_later"] += 1
    schedule_token_sweep()
    return counts


def schedule_token_sweep(delay: timedelta = TOKEN_SWEEP_INTERVAL) -> None:
    """One sweep is pending at a time: its fixed job id replaces any earlier one."""
    get_queue(TOKEN_SWEEP_QUEUE).enqueue_in(
        delay, refresh_expiring_tokens, job_id=TOKEN_SWEEP_JOB_ID
    )
