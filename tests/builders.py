"""Builders of test data, in one place. Accounts are connected through the sandbox's real OAuth
flow and stores point at the Magento sandbox, so the data is what the product itself makes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask, current_app, request
from sqlalchemy import func, select
from werkzeug.serving import make_server

from webapp.accounts.models import MarketplaceAccount, Organization, Store, User, UserRole
from webapp.accounts.services import TikTokApp
from webapp.auth.services import create_user, get_or_create_organization
from webapp.catalog.jobs import start_marketplace_import, start_store_catalog_refresh
from webapp.catalog.models import MarketplaceSku, StoreSku
from webapp.demo import connect_demo_shop
from webapp.extensions import db
from webapp.linking.grid import status_counts
from webapp.linking.models import Link, LinkState
from webapp.sandbox.catalog import DemoCatalog, catalog_for
from webapp.sandbox.settings import SandboxSettings
from webapp.sandbox.tiktok import create_tiktok_sandbox
from webapp.stores.services import create_store

PASSWORD = "correct-horse-battery"


def make_user(
    email: str = "owner@shop.test",
    *,
    role: UserRole = UserRole.OWNER,
    organization: str | None = "Shop One",
) -> User:
    user = create_user(
        db.session,
        email=email,
        password=PASSWORD,
        role=role,
        organization_name=organization if role is not UserRole.SUPPORT else None,
    )
    db.session.commit()
    return user


def make_organization(name: str = "Shop One") -> Organization:
    organization = get_or_create_organization(db.session, name)
    db.session.commit()
    return organization


def make_store(organization: Organization, *, token: str | None = None) -> Store:
    store = create_store(
        db.session,
        organization_id=organization.id,
        platform="magento",
        name=f"{organization.name} Magento",
        base_url=current_app.config["SANDBOX_MAGENTO_URL"],
        credentials={"access_token": token or SandboxSettings.magento_token},
        actor=None,
    )
    db.session.commit()
    return store


def make_account(
    organization: Organization, owner: User, *, shop_index: int = 0, store: Store | None = None
) -> MarketplaceAccount:
    tiktok = TikTokApp.from_config(current_app.config)
    account = connect_demo_shop(tiktok, organization.id, owner, shop_index)
    account.store_id = store.id if store else None
    db.session.commit()
    return account


@contextmanager
def serve_app(app: Flask) -> Iterator[str]:
    """A WSGI app (a platform sandbox) served on a free loopback port; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def serve_webhook_receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    """A webhook endpoint of our own on loopback: yields its URL and the deliveries it gets,
    each as (headers, raw body)."""
    app = Flask("webhook_receiver")
    deliveries: list[tuple[dict[str, str], bytes]] = []
    lock = threading.Lock()

    @app.post("/hooks")
    def receive():
        with lock:
            deliveries.append((dict(request.headers), request.get_data()))
        return "", 200

    with serve_app(app) as url:
        yield f"{url}/hooks", deliveries


@contextmanager
def serve_sandbox(
    create: Callable[[SandboxSettings, DemoCatalog], Flask], settings: SandboxSettings
) -> Iterator[tuple[str, Flask, DemoCatalog]]:
    """A platform sandbox of its own (`create` is its `create_…_sandbox`) on a free loopback
    port, for knobs the shared one must not change: yields its URL, app and catalog."""
    catalog = catalog_for(settings)
    app = create(settings, catalog)
    with serve_app(app) as url:
        yield url, app, catalog


@contextmanager
def serve_tiktok(settings: SandboxSettings) -> Iterator[tuple[str, DemoCatalog]]:
    """A TikTok sandbox of its own on a free loopback port, for knobs the shared one must not
    change (search cap, rate limit, revocations)."""
    with serve_sandbox(create_tiktok_sandbox, settings) as (url, _, catalog):
        yield url, catalog


def import_shop(owner: User, run_jobs, shop_index: int = 0) -> tuple[Store, MarketplaceAccount]:
    """A Magento store whose catalog is read and a sandbox shop (the first by default) linked
    to it with its products imported, through the real jobs (`run_jobs`: that fixture)."""
    store = make_store(owner.organization)
    account = make_account(owner.organization, owner, shop_index=shop_index, store=store)
    start_store_catalog_refresh(db.session, store, owner)
    start_marketplace_import(db.session, account, owner)
    run_jobs()
    return store, account


def unique_variants(store_id: int, n: int = 3, *, sku_like: str | None = None) -> list[StoreSku]:
    """Sellable store variants whose SKU no other catalog entry shares, in catalog order."""
    shared = (
        select(StoreSku.sku)
        .where(StoreSku.store_id == store_id)
        .group_by(StoreSku.sku)
        .having(func.count() > 1)
    )
    statement = select(StoreSku).where(
        StoreSku.store_id == store_id,
        StoreSku.is_parent.is_(False),
        StoreSku.sku.not_in(shared),
    )
    if sku_like:
        statement = statement.where(StoreSku.sku.like(sku_like))
    return db.session.scalars(statement.order_by(StoreSku.id).limit(n)).all()


# The platforms' own catalog exports, kept beside the project (never copied into it).
REAL_EXPORTS = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real"
needs_real_exports = pytest.mark.skipif(
    not REAL_EXPORTS.is_dir(),
    reason=f"the platforms' real catalog exports are not at {REAL_EXPORTS}",
)


def kept_counts_agree(account_id: int) -> None:
    """The tab counts kept by triggers equal the rows counted."""
    per_state = select(Link.state, func.count()).where(Link.account_id == account_id)
    counted = dict(db.session.execute(per_state.group_by(Link.state)).all())
    kept = status_counts(db.session, account_id)
    for state in LinkState:
        assert kept[state.value] == counted.get(state, 0), state


def links_of(account_id: int) -> dict[str, tuple]:
    """Every SKU of the account with its link, keyed by TikTok SKU id; store SKUs by SKU."""
    rows = db.session.execute(
        select(
            MarketplaceSku.sku_id,
            MarketplaceSku.seller_sku,
            MarketplaceSku.product_id,
            MarketplaceSku.variant,
            MarketplaceSku.price,
            MarketplaceSku.quantity,
            MarketplaceSku.gone_at.is_(None),
            Link.state,
            StoreSku.sku,
            Link.quantity,
            Link.failure_reason,
        )
        .join(Link, Link.marketplace_sku_id == MarketplaceSku.id)
        .outerjoin(StoreSku, StoreSku.id == Link.store_sku_id)
        .where(MarketplaceSku.account_id == account_id)
    )
    found: dict[str, tuple] = {}
    for sku_id, *rest in rows:
        assert sku_id not in found, f"SKU {sku_id} twice"
        found[sku_id] = tuple(rest)
    return found
