"""What the API tests share: a token of the shop's organization, calls with it, and SKUs of the
sandbox catalog of each kind a request can name."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from tests.builders import unique_variants
from webapp.api.tokens import create_api_token
from webapp.catalog.models import MarketplaceSku, StoreSku
from webapp.extensions import db
from webapp.linking.models import Link


@pytest.fixture
def token(shop) -> str:
    """A token of the shop's organization, made by its owner."""
    owner, _, _ = shop
    new = create_api_token(
        db.session, organization_id=owner.organization_id, name="ERP", actor=owner
    )
    db.session.commit()
    return new.secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def api(client, token):
    """Calls to the API with the shop's token: `api("GET", url)`, `api("PUT", url, json=…)`."""

    def call(method: str, url: str, **kwargs):
        headers = {**bearer(token), **kwargs.pop("headers", {})}
        return client.open(url, method=method, headers=headers, **kwargs)

    return call


@dataclass(frozen=True)
class CatalogPicks:
    """SKUs of the shop's catalogs, as an ERP would name them."""

    variants: list[StoreSku]  # sellable, no other store product shares their SKU
    parent: StoreSku
    shared_store_sku: str  # several sellable variants share it
    links: list[Link]  # links whose seller SKU no other TikTok SKU shares


def unshared_links(account_id: int, n: int) -> list[Link]:
    shared = (
        select(MarketplaceSku.seller_sku)
        .where(MarketplaceSku.account_id == account_id)
        .group_by(MarketplaceSku.seller_sku)
        .having(func.count() > 1)
    )
    return db.session.scalars(
        select(Link)
        .join(MarketplaceSku, MarketplaceSku.id == Link.marketplace_sku_id)
        .where(
            Link.account_id == account_id,
            MarketplaceSku.seller_sku != "",
            MarketplaceSku.seller_sku.not_in(shared),
        )
        .order_by(Link.id)
        .limit(n)
    ).all()


@pytest.fixture
def picks(shop) -> CatalogPicks:
    _, store, account = shop
    live = (StoreSku.store_id == store.id) & StoreSku.gone_at.is_(None)
    shared_store_sku = db.session.scalar(
        select(StoreSku.sku)
        .where(live, StoreSku.is_parent.is_(False), StoreSku.sku != "")
        .group_by(StoreSku.sku)
        .having(func.count() > 1)
        .limit(1)
    )
    parent = db.session.scalar(select(StoreSku).where(live, StoreSku.is_parent.is_(True)).limit(1))
    assert shared_store_sku and parent, "the sandbox catalog has shared SKUs and parents"
    return CatalogPicks(
        variants=unique_variants(store.id, 5, sku_like="TS-%"),
        parent=parent,
        shared_store_sku=shared_store_sku,
        links=unshared_links(account.id, 5),
    )
