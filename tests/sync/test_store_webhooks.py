"""Store webhooks end to end: the Shopify sandbox delivers signed webhooks over HTTP to the
dashboard's `/webhooks/stores/<id>`, which pushes the linked rows they name."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from tests.builders import make_account, make_user, serve_app
from webapp.catalog.jobs import start_marketplace_import, start_store_catalog_refresh
from webapp.catalog.models import MarketplaceSku, StoreSku
from webapp.extensions import db
from webapp.jobs.models import JobKind, JobRun, JobStatus
from webapp.linking.models import Link
from webapp.linking.services import Target, assign_links, set_link_target
from webapp.stores.services import create_store
from webapp.sync.models import LinkSync


@pytest.fixture
def shopify_shop(app_ctx, sandbox, run_jobs):
    """(store, account, link): a Shopify store (with its webhook secret) whose catalog is read,
    the first sandbox shop on it, and one TikTok SKU linked to a Shopify variant and pushed."""
    owner = make_user()
    settings = sandbox.settings
    store = create_store(
        db.session,
        organization_id=owner.organization_id,
        platform="shopify",
        name="Shop One Shopify",
        base_url=sandbox.url("shopify"),
        credentials={
            "access_token": settings.shopify_access_token,
            "client_secret": settings.shopify_webhook_secret,
        },
        actor=owner,
    )
    db.session.commit()
    account = make_account(owner.organization, owner, store=store)
    start_store_catalog_refresh(db.session, store, owner)
    start_marketplace_import(db.session, account, owner)
    run_jobs()
    sku = db.session.scalars(select(MarketplaceSku).where(MarketplaceSku.account_id == account.id))
    sku = sku.first()
    variant = db.session.scalar(
        select(StoreSku)
        .where(StoreSku.store_id == store.id, StoreSku.is_parent.is_(False))
        .order_by(StoreSku.id)
    )
    link = db.session.scalar(select(Link).where(Link.marketplace_sku_id == sku.id))
    set_link_target(db.session, link, [Target(variant.id, 1)], expected_version=None, actor=owner)
    assign_links(db.session, account, [link], actor=owner, batch=None)
    db.session.commit()
    run_jobs()  # the first push
    return store, account, link, variant


def _deliver(sandbox, url: str, variant: StoreSku, **options) -> list[dict]:
    answer = requests.post(
        f"{sandbox.url('shopify')}/__sandbox__/shopify/webhooks",
        json={
            "url": url,
            "topic": "inventory_levels/update",
            "variant_ids": [variant.remote_id],
            **options,
        },
        timeout=10,
    )
    answer.raise_for_status()
    return answer.json()["deliveries"]


def _set_quantity(sandbox, variant: StoreSku, quantity: int) -> None:
    requests.post(
        f"{sandbox.url('shopify')}/__sandbox__/shopify/variants",
        json={"id": variant.remote_id, "quantity": quantity},
        timeout=10,
    ).raise_for_status()


def _pushes(account_id: int) -> list[JobRun]:
    return db.session.scalars(
        select(JobRun)
        .where(JobRun.kind == JobKind.SYNC, JobRun.account_id == account_id)
        .order_by(JobRun.id)
    ).all()


def test_a_store_webhook_pushes_the_rows_it_names_once(app, sandbox, shopify_shop, run_jobs):
    store, account, link, variant = shopify_shop
    pushes_before = len(_pushes(account.id))
    _set_quantity(sandbox, variant, 37)

    with serve_app(app) as base_url:
        deliveries = _deliver(
            sandbox, f"{base_url}/webhooks/stores/{store.id}", variant, deliver_twice=True
        )
    run_jobs()

    assert [d["status"] for d in deliveries] == [202, 200]  # the repeat is acknowledged only
    pushes = _pushes(account.id)
    assert len(pushes) == pushes_before + 1
    assert pushes[-1].params["link_ids"] == [link.id]
    assert pushes[-1].status is JobStatus.FINISHED, pushes[-1].error
    assert pushes[-1].result["inventory"] == 1
    assert db.session.get(LinkSync, link.id).store_quantity == 37


def test_a_store_webhook_with_a_wrong_signature_is_refused(app, sandbox, shopify_shop, run_jobs):
    store, account, link, variant = shopify_shop
    pushes_before = len(_pushes(account.id))

    with serve_app(app) as base_url:
        deliveries = _deliver(
            sandbox, f"{base_url}/webhooks/stores/{store.id}", variant, wrong_signature=True
        )
    run_jobs()

    assert [d["status"] for d in deliveries] == [401]
    assert len(_pushes(account.id)) == pushes_before


def test_a_webhook_for_a_store_that_does_not_exist_is_not_found(client):
    assert client.post("/webhooks/stores/999999", data=b"{}").status_code == 404
