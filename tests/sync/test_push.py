"""The push to TikTok Shop, end to end: Assign Products → RQ job → store sandbox read → TikTok
sandbox written, over HTTP on loopback."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import func, select

from tests.builders import PASSWORD, unique_variants
from webapp.accounts.models import AccountStatus
from webapp.catalog.models import MarketplaceSku, StoreSku
from webapp.extensions import db
from webapp.jobs.models import JobKind, JobRun, JobStatus
from webapp.linking.models import Link, LinkState
from webapp.linking.services import Target, assign_links, set_link_target, unlink
from webapp.sync.jobs import start_sync
from webapp.sync.models import LinkSync, SyncSettings

INVENTORY_CALL = "POST /product/202309/products/{product_id}/inventory/update"
PRICE_CALL = "POST /product/202309/products/{product_id}/prices/update"


def _tiktok(sandbox):
    return sandbox.apps["tiktok"].extensions


def _calls(sandbox, name: str) -> int:
    return _tiktok(sandbox)["sandbox_faults"].stats[name]


def _pushed_inventory(sandbox, sku_id: str):
    return _tiktok(sandbox)["tiktok_sandbox"].state.inventory.get(sku_id)


def _products_with_skus(account_id: int, products: int, per_product: int) -> list[MarketplaceSku]:
    """SKUs of `products` TikTok products that have at least `per_product` SKUs each."""
    product_ids = db.session.scalars(
        select(MarketplaceSku.product_id)
        .where(MarketplaceSku.account_id == account_id)
        .group_by(MarketplaceSku.product_id)
        .having(func.count() >= per_product)
        .order_by(MarketplaceSku.product_id)
        .limit(products)
    ).all()
    return [
        sku
        for product_id in product_ids
        for sku in db.session.scalars(
            select(MarketplaceSku)
            .where(MarketplaceSku.product_id == product_id)
            .order_by(MarketplaceSku.id)
            .limit(per_product)
        )
    ]


def _link_and_assign(owner, store, account, skus, *, pack: int = 1) -> dict[str, StoreSku]:
    variants = unique_variants(store.id, len(skus))
    links = []
    for sku, variant in zip(skus, variants, strict=True):
        link = db.session.scalar(select(Link).where(Link.marketplace_sku_id == sku.id))
        set_link_target(
            db.session, link, [Target(variant.id, pack)], expected_version=None, actor=owner
        )
        links.append(link)
    assign_links(db.session, account, links, actor=owner, batch=None)
    db.session.commit()
    return {sku.sku_id: variant for sku, variant in zip(skus, variants, strict=True)}


def _sync_runs() -> list[JobRun]:
    return db.session.scalars(
        select(JobRun).where(JobRun.kind == JobKind.SYNC).order_by(JobRun.id)
    ).all()


def _set_store_quantity(sandbox, variant: StoreSku, quantity: int) -> None:
    requests.post(
        f"{sandbox.url('magento')}/__sandbox__/magento/products/{variant.remote_id}",
        json={"quantity": quantity},
        timeout=5,
    ).raise_for_status()


def test_assign_pushes_each_product_once_with_every_warehouse(shop, sandbox, run_jobs):
    owner, store, account = shop
    skus = _products_with_skus(account.id, products=2, per_product=2)
    targets = _link_and_assign(owner, store, account, skus)
    run_jobs()

    run = _sync_runs()[-1]
    assert run.status is JobStatus.FINISHED, run.error
    assert run.result["inventory"] == 4 and run.result["failed"] == 0
    assert _calls(sandbox, INVENTORY_CALL) == 2  # one call per product, all its SKUs in it
    for sku in skus:
        warehouses = [entry[0] for entry in sku.inventory]
        expected = ((warehouses[0], targets[sku.sku_id].quantity),) + tuple(
            (warehouse, 0) for warehouse in warehouses[1:]
        )
        assert _pushed_inventory(sandbox, sku.sku_id) == expected
        record = db.session.get(
            LinkSync, db.session.scalar(select(Link.id).where(Link.marketplace_sku_id == sku.id))
        )
        assert record.synced_at is not None and record.error == ""


def test_only_what_changed_in_the_store_goes_out(shop, sandbox, run_jobs):
    owner, store, account = shop
    skus = _products_with_skus(account.id, products=2, per_product=2)
    targets = _link_and_assign(owner, store, account, skus)
    run_jobs()
    inventory_calls, price_calls = _calls(sandbox, INVENTORY_CALL), _calls(sandbox, PRICE_CALL)

    start_sync(db.session, account, owner)
    run_jobs()
    assert _sync_runs()[-1].result["unchanged"] == 4
    assert (_calls(sandbox, INVENTORY_CALL), _calls(sandbox, PRICE_CALL)) == (
        inventory_calls,
        price_calls,
    )

    _set_store_quantity(sandbox, targets[skus[0].sku_id], 3)
    start_sync(db.session, account, owner)
    run_jobs()
    assert _calls(sandbox, INVENTORY_CALL) == inventory_calls + 1
    assert _pushed_inventory(sandbox, skus[0].sku_id)[0][1] == 3
    assert _sync_runs()[-1].result["inventory"] == 1


def test_packs_and_safety_stock(shop, sandbox, run_jobs):
    owner, store, account = shop
    db.session.add(SyncSettings.defaults(account.id))
    db.session.get(SyncSettings, account.id).safety_stock = 2
    db.session.commit()
    skus = _products_with_skus(account.id, products=1, per_product=1)
    variant = _link_and_assign(owner, store, account, skus, pack=2)[skus[0].sku_id]
    _set_store_quantity(sandbox, variant, 11)
    run_jobs()
    assert _pushed_inventory(sandbox, skus[0].sku_id)[0][1] == (11 - 2) // 2


def test_a_sku_tiktok_refuses_keeps_its_error_and_the_others_go_through(shop, sandbox, run_jobs):
    owner, store, account = shop
    skus = _products_with_skus(account.id, products=1, per_product=2)
    skus[0].inventory = [["not-a-warehouse-of-this-shop", 0]]
    db.session.commit()
    _link_and_assign(owner, store, account, skus)
    run_jobs()
    result = _sync_runs()[-1].result
    assert (result["inventory"], result["failed"]) == (1, 1)
    refused, fine = (
        db.session.get(
            LinkSync, db.session.scalar(select(Link.id).where(Link.marketplace_sku_id == sku.id))
        )
        for sku in skus
    )
    assert refused.has_error and "TikTok Shop refused the stock" in refused.error
    assert fine.synced_at is not None and not fine.has_error


def test_a_paused_account_pushes_nothing(shop, sandbox, run_jobs):
    owner, store, account = shop
    skus = _products_with_skus(account.id, products=1, per_product=1)
    account.status = AccountStatus.INACTIVE
    db.session.commit()
    _link_and_assign(owner, store, account, skus)
    run_jobs()
    assert "paused" in _sync_runs()[-1].result
    assert _calls(sandbox, INVENTORY_CALL) == 0


def test_settings_refuse_bad_input_and_change_nothing(shop, client):
    owner, store, account = shop
    client.login(owner.email, PASSWORD)
    url = f"/sync/accounts/{account.id}/settings"
    response = client.post_form(
        url,
        {
            "interval_minutes": "1",
            "safety_stock": "-3",
            "reserve_percent": "150",
            "out_of_stock_threshold": "0",
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Nothing was saved" in page and "5 to 1,440 minutes" in page
    assert "percentage from 0 to 100" in page
    assert db.session.get(SyncSettings, account.id) is None

    response = client.post_form(
        url,
        {
            "inventory": "y",
            "interval_minutes": "30",
            "safety_stock": "4",
            "reserve_percent": "10",
            "out_of_stock_threshold": "1",
            "store_overwrites": "y",
        },
        follow_redirects=True,
    )
    assert "Sync settings saved." in response.get_data(as_text=True)
    saved = db.session.get(SyncSettings, account.id)
    assert (saved.interval_minutes, saved.safety_stock, saved.price) == (30, 4, False)


def test_sync_now_starts_a_push(shop, client, run_jobs):
    owner, store, account = shop
    client.login(owner.email, PASSWORD)
    response = client.post_form(
        f"/sync/accounts/{account.id}/run", {}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200 and "Sync to TikTok Shop" in response.get_data(as_text=True)
    run_jobs()
    run = _sync_runs()[-1]
    assert run.status is JobStatus.FINISHED and run.result["rows"] == 0
    assert (
        db.session.scalar(
            select(func.count()).select_from(Link).where(Link.state == LinkState.LINKED)
        )
        == 0
    )


def test_a_kit_offers_what_its_scarcest_part_allows(shop, sandbox, run_jobs):
    owner, store, account = shop
    [sku] = _products_with_skus(account.id, products=1, per_product=1)
    shirt, socks = unique_variants(store.id, 2)
    _set_store_quantity(sandbox, shirt, 7)
    _set_store_quantity(sandbox, socks, 12)
    link = db.session.scalar(select(Link).where(Link.marketplace_sku_id == sku.id))
    kit = [Target(shirt.id, 1), Target(socks.id, 3)]  # one shirt and three pairs of socks
    set_link_target(db.session, link, kit, expected_version=None, actor=owner)
    assign_links(db.session, account, [link], actor=owner, batch=None)
    db.session.commit()
    run_jobs()

    assert _pushed_inventory(sandbox, sku.sku_id)[0][1] == min(7 // 1, 12 // 3)


@pytest.fixture
def tiktok_rate_limit(sandbox):
    """TikTok Shop's sandbox answers 429 / 36009002 above 5 calls a second per shop."""
    sandbox.settings.rate_limit_per_second = 5
    yield 5
    sandbox.settings.rate_limit_per_second = 0


def test_a_429_storm_is_waited_out_and_every_row_pushed(
    app, shop, sandbox, run_jobs, tiktok_rate_limit, monkeypatch
):
    owner, store, account = shop
    monkeypatch.setitem(app.config, "TIKTOK_CALLS_PER_SECOND", 1000.0)  # far above the limit
    skus = _products_with_skus(account.id, products=12, per_product=1)
    _link_and_assign(owner, store, account, skus)
    run_jobs()

    run = _sync_runs()[-1]
    assert run.status is JobStatus.FINISHED, run.error
    assert (run.result["inventory"], run.result["failed"]) == (12, 0)
    assert _calls(sandbox, INVENTORY_CALL) == 12  # each product's call went through once
    assert _tiktok(sandbox)["sandbox_faults"].stats["rate_limited"] > 0
    for sku in skus:
        assert _pushed_inventory(sandbox, sku.sku_id) is not None


def test_the_limiter_at_the_platforms_rate_is_never_refused(
    app, shop, sandbox, run_jobs, tiktok_rate_limit, monkeypatch
):
    owner, store, account = shop
    monkeypatch.setitem(app.config, "TIKTOK_CALLS_PER_SECOND", float(tiktok_rate_limit))
    skus = _products_with_skus(account.id, products=12, per_product=1)
    _link_and_assign(owner, store, account, skus)
    run_jobs()

    run = _sync_runs()[-1]
    assert (run.result["inventory"], run.result["failed"]) == (12, 0)
    assert _tiktok(sandbox)["sandbox_faults"].stats["rate_limited"] == 0


def test_rows_assigned_in_several_commits_go_out_in_one_push(shop, sandbox, run_jobs):
    owner, store, account = shop
    skus = _products_with_skus(account.id, products=1, per_product=2)
    variants = unique_variants(store.id, 2)
    for sku, variant in zip(skus, variants, strict=True):
        link = db.session.scalar(select(Link).where(Link.marketplace_sku_id == sku.id))
        set_link_target(
            db.session, link, [Target(variant.id, 1)], expected_version=None, actor=owner
        )
        assign_links(db.session, account, [link], actor=owner, batch=None)
        db.session.commit()  # a bulk assignment commits batch by batch
    run_jobs()

    assert len(_sync_runs()) == 1
    assert _sync_runs()[0].result["inventory"] == 2
    assert _calls(sandbox, INVENTORY_CALL) == 1


def test_an_unlinked_row_is_forgotten_and_pushed_afresh_when_linked_again(shop, sandbox, run_jobs):
    owner, store, account = shop
    [sku] = _products_with_skus(account.id, products=1, per_product=1)
    variant = _link_and_assign(owner, store, account, [sku])[sku.sku_id]
    run_jobs()
    link = db.session.scalar(select(Link).where(Link.marketplace_sku_id == sku.id))
    assert db.session.get(LinkSync, link.id) is not None

    unlink(db.session, link, expected_version=link.version, actor=owner)
    db.session.commit()
    assert db.session.get(LinkSync, link.id) is None

    _set_store_quantity(sandbox, variant, 9)
    set_link_target(db.session, link, [Target(variant.id, 1)], expected_version=None, actor=owner)
    assign_links(db.session, account, [link], actor=owner, batch=None)
    db.session.commit()
    run_jobs()
    assert db.session.get(LinkSync, link.id).quantity == 9
    assert _pushed_inventory(sandbox, sku.sku_id)[0][1] == 9
