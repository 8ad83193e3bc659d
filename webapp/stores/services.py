"""Store connections: create, test, and open an adapter for one. No HTTP objects here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webapp.accounts.models import Store, User
from webapp.adapters.base import CallPolicy, ConnectionCheck, RateLimiter, StoreAdapter
from webapp.adapters.registry import UnknownPlatform, store_adapter_class
from webapp.audit import record_event
from webapp.catalog.models import StoreSku
from webapp.domain import DomainError
from webapp.extensions import utcnow


class StoreError(DomainError, ValueError):
    """A store connection that cannot be saved or used; the message says why."""


def store_adapter(store: Store, *, limiter: RateLimiter | None = None) -> StoreAdapter:
    """The store's adapter, calling the store as the app's `PLATFORM_*` settings say."""
    policy = CallPolicy.from_config(current_app.config)
    try:
        adapter_class = store_adapter_class(store.platform)
        return adapter_class(store.base_url, store.credentials, policy=policy, limiter=limiter)
    except (UnknownPlatform, ValueError) as error:
        raise StoreError(str(error)) from error


def validate_base_url(base_url: str) -> str:
    base_url = base_url.strip().rstrip("/")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise StoreError("The store URL must start with https:// (or http://) and name a host.")
    return base_url


def create_store(
    session: Session,
    *,
    organization_id: int,
    platform: str,
    name: str,
    base_url: str,
    credentials: Mapping[str, str],
    actor: User | None,
) -> Store:
    try:
        adapter_class = store_adapter_class(platform)
    except UnknownPlatform as error:
        raise StoreError("Choose a store platform.") from error
    name = name.strip()
    if not name:
        raise StoreError("Give the store a name.")
    base_url = validate_base_url(base_url)
    wanted = {
        f.name: (credentials.get(f.name) or "").strip() for f in adapter_class.credential_fields
    }
    missing = [
        f.label for f in adapter_class.credential_fields if f.required and not wanted[f.name]
    ]
    if missing:
        raise StoreError(f"{adapter_class.label} needs: {', '.join(missing)}.")
    store = Store(
        organization_id=organization_id,
        platform=platform,
        name=name,
        base_url=base_url,
        credentials=wanted,
    )
    session.add(store)
    session.flush()
    record_event(
        session,
        actor=actor,
        organization_id=organization_id,
        action="store.created",
        target=f"store:{store.id}",
        platform=platform,
    )
    return store


def check_connection(session: Session, store: Store, *, actor: User | None) -> ConnectionCheck:
    """Ask the store for one cheap authenticated answer and remember the outcome."""
    try:
        adapter = store_adapter(store)
    except StoreError as error:
        check = ConnectionCheck(ok=False, message=str(error))
    else:
        try:
            check = adapter.test_connection()
        finally:
            adapter.close()
    store.last_checked_at = utcnow()
    store.last_check_ok = check.ok
    store.last_check_message = check.message[:500]
    record_event(
        session,
        actor=actor,
        organization_id=store.organization_id,
        action="store.connection_tested",
        target=f"store:{store.id}",
        ok=check.ok,
    )
    return check


@dataclass(frozen=True)
class CatalogSummary:
    variants: int = 0  # sellable entries, the link targets
    parents: int = 0
    gone: int = 0


def catalog_summaries(session: Session, store_ids: list[int]) -> dict[int, CatalogSummary]:
    """What each store's last catalog refresh brought in."""
    rows = session.execute(
        select(
            StoreSku.store_id,
            func.count().filter(StoreSku.gone_at.is_(None), StoreSku.is_parent.is_(False)),
            func.count().filter(StoreSku.gone_at.is_(None), StoreSku.is_parent.is_(True)),
            func.count().filter(StoreSku.gone_at.is_not(None)),
        )
        .where(StoreSku.store_id.in_(store_ids))
        .group_by(StoreSku.store_id)
    )
    return {store_id: CatalogSummary(*counts) for store_id, *counts in rows}
