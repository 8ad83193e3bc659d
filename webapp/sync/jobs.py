"""When pushes run: on *Assign Products* (the first push of the rows that went live), on each
account's schedule (`webapp.schedule`), on *Sync now*, and on store webhooks. All on the `sync`
queue, so a long import never delays them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from webapp.accounts.models import AccountStatus, MarketplaceAccount, Store, User
from webapp.accounts.selector import account_problem
from webapp.accounts.services import TikTokApp, account_client
from webapp.adapters.base import StoreAdapter
from webapp.adapters.tiktok import TikTokShopClient
from webapp.catalog.models import StoreSku
from webapp.dbutil import chunked
from webapp.extensions import db, utcnow
from webapp.jobs.models import JobKind, JobRun
from webapp.jobs.queue import enqueue_after_commit, redis_connection
from webapp.jobs.services import (
    JobError,
    ProgressRecorder,
    job_type,
    run_in_foreground,
    run_tracked,
    start_job,
)
from webapp.linking.models import Link, LinkComponent, LinkState
from webapp.linking.services import NO_STORE_MESSAGE
from webapp.linking.signals import links_stopped, links_went_live
from webapp.stores.services import store_adapter
from webapp.sync.engine import Push
from webapp.sync.limiter import RedisRateLimiter
from webapp.sync.models import LinkSync, SyncSettings

QUEUE = "sync"


def settings_for(session: Session, account_id: int) -> SyncSettings:
    """The account's sync settings; the defaults (not saved) when it has none yet."""
    return session.get(SyncSettings, account_id) or SyncSettings.defaults(account_id)


def pause_reason(account: MarketplaceAccount, settings: SyncSettings) -> str | None:
    """Why this account's rows are not pushed now, or None when they are."""
    if not account.is_usable:
        problem = account_problem(account)
        return f"Sync is paused: {problem.reason}" if problem else "Sync is paused."
    if account.store_id is None:
        return NO_STORE_MESSAGE
    if not settings.pushes_anything:
        return "Sync is switched off in this account's settings."
    return None


@dataclass
class PlatformClients:
    """An account's TikTok Shop client and its store's adapter, each behind the limiter every
    worker shares for that shop or store."""

    tiktok: TikTokShopClient
    store: StoreAdapter
    tiktok_limiter: RedisRateLimiter


@contextmanager
def platform_clients(session: Session, account: MarketplaceAccount) -> Iterator[PlatformClients]:
    config, redis = current_app.config, redis_connection()
    tiktok_limiter = RedisRateLimiter(
        redis, f"tiktok:{account.shop_id}", rate=config["TIKTOK_CALLS_PER_SECOND"]
    )
    store_limiter = RedisRateLimiter(
        redis, f"store:{account.store_id}", rate=config["STORE_CALLS_PER_SECOND"]
    )
    tiktok = account_client(session, TikTokApp.from_config(config), account, limiter=tiktok_limiter)
    store = store_adapter(account.store, limiter=store_limiter)
    try:
        yield PlatformClients(tiktok, store, tiktok_limiter)
    finally:
        tiktok.close()
        store.close()


@job_type(JobKind.SYNC, queue=QUEUE)
def run_sync(job_run_id: int) -> dict[str, Any]:
    def work(run: JobRun, progress: ProgressRecorder) -> dict[str, Any]:
        session = db.session
        account = session.get(MarketplaceAccount, run.account_id)
        settings = settings_for(session, account.id)
        paused = pause_reason(account, settings)
        if paused:
            return {"paused": paused}
        link_ids = run.params.get("link_ids")
        full = bool(run.params.get("full"))
        with platform_clients(session, account) as clients:
            push = Push(
                session,
                account,
                settings,
                client=clients.tiktok,
                store=clients.store,
                full=full,
                link_ids=link_ids,
                unpushed_only=bool(run.params.get("unpushed")),
                progress=lambda done, message: progress.update(done=done, message=message),
            )
            progress.update(done=0, total=push.row_count(), message="Reading the store…")
            report = push.run()
        settings = session.merge(settings)
        settings.last_sync_at = utcnow()
        if full and link_ids is None:
            settings.last_full_sync_at = settings.last_sync_at
        session.commit()
        return report.as_dict() | {"waited_seconds": round(clients.tiktok_limiter.waited, 2)}

    return run_tracked(job_run_id, work)


def start_sync(
    session: Session,
    account: MarketplaceAccount,
    actor: User | None,
    *,
    full: bool = False,
    link_ids: Sequence[int] | None = None,
) -> JobRun:
    """Queue a push of the account's linked rows (of `link_ids` only, when given)."""
    if account.store_id is None:
        raise JobError(NO_STORE_MESSAGE)
    params: dict[str, Any] = {"full": full}
    if link_ids is not None:
        params["link_ids"] = sorted(set(link_ids))
    return start_job(
        session,
        kind=JobKind.SYNC,
        organization_id=account.organization_id,
        account_id=account.id,
        actor=actor,
        params=params,
    )


def _first_push_once_committed(account_id: int, *, link_ids: list[int], **_: Any) -> None:
    """Rows that went live are pushed once their change is committed (never before: the push
    must see them linked, and a rolled-back change pushes nothing)."""
    enqueue_after_commit(db.session, QUEUE, first_push, account_id, link_ids)


def _forget_pushes(account_id: int, *, link_ids: list[int], **_: Any) -> None:
    """Rows that left `linked` stop syncing at once, and what was pushed for them is
    forgotten: linked again, they get a first push of their own."""
    for chunk in chunked(link_ids):
        db.session.execute(delete(LinkSync).where(LinkSync.link_id.in_(chunk)))


links_went_live.connect(_first_push_once_committed)
links_stopped.connect(_forget_pushes)


def first_push(account_id: int, link_ids: list[int]) -> None:
    """Rows `link_ids` went live: push the account's linked rows that were never pushed.
    An assignment of many rows goes live in several commits, each queueing a first push: the
    first to run pushes every row committed by then, one call per product, and the others
    find their rows pushed already (they record no run then)."""
    account = db.session.get(MarketplaceAccount, account_id)
    if account is None or account.store_id is None:
        return
    waiting = select(func.count()).where(
        Link.id.in_(link_ids), Link.state == LinkState.LINKED, Push.never_pushed()
    )
    if not db.session.scalar(waiting):
        return
    run_in_foreground(
        db.session,
        kind=JobKind.SYNC,
        organization_id=account.organization_id,
        account_id=account.id,
        actor=None,
        params={"unpushed": True},
    )


def push_changed_variants(session: Session, store: Store, remote_ids: Sequence[str]) -> int:
    """A store said these variants changed (a webhook): push the linked rows that use them,
    one push per account. Returns how many pushes started."""
    if not remote_ids:
        return 0
    changed = select(StoreSku.id).where(
        StoreSku.store_id == store.id, StoreSku.remote_id.in_(list(remote_ids))
    )
    kits_using_them = select(LinkComponent.link_id).where(LinkComponent.store_sku_id.in_(changed))
    by_account: dict[int, list[int]] = {}
    for account_id, link_id in session.execute(
        select(Link.account_id, Link.id)
        .where(
            Link.state == LinkState.LINKED,
            or_(Link.store_sku_id.in_(changed), Link.id.in_(kits_using_them)),
        )
        .order_by(Link.id)
    ):
        by_account.setdefault(account_id, []).append(link_id)
    started = 0
    for account_id, link_ids in by_account.items():
        account = session.get(MarketplaceAccount, account_id)
        if pause_reason(account, settings_for(session, account_id)) is None:
            start_sync(session, account, None, link_ids=link_ids)
            started += 1
    return started


def due_accounts(session: Session) -> list[tuple[MarketplaceAccount, bool]]:
    """Active accounts whose interval has passed since their last push, each with whether its
    push is the periodic full re-send."""
    now = utcnow()
    resend_after = timedelta(hours=current_app.config["SYNC_FULL_RESEND_HOURS"])
    due = []
    accounts = session.scalars(
        select(MarketplaceAccount).where(
            MarketplaceAccount.status == AccountStatus.ACTIVE,
            MarketplaceAccount.store_id.is_not(None),
        )
    )
    for account in accounts:
        settings = settings_for(session, account.id)
        if pause_reason(account, settings):
            continue
        last = settings.last_sync_at
        if last is not None and now - last < timedelta(minutes=settings.interval_minutes):
            continue
        full = (
            settings.last_full_sync_at is None or now - settings.last_full_sync_at >= resend_after
        )
        due.append((account, full))
    return due
