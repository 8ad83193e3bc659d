"""Orders, TikTok Shop → store, end to end against the TikTok and Magento sandboxes: created
once, held for unlinked items with the reason, retried when the item is linked, cancelled."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select

from tests.builders import PASSWORD, unique_variants
from webapp.accounts.models import AccountStatus, MarketplaceAccount
from webapp.catalog.models import MarketplaceSku
from webapp.extensions import db, utcnow
from webapp.linking.models import Link, LinkState
from webapp.linking.services import Target, assign_links, set_link_target
from webapp.orders.jobs import start_orders
from webapp.orders.models import Order, OrderState
from webapp.orders.services import process_order
from webapp.stores.services import store_adapter


def _place_order(sandbox, account, items: list[tuple[str, int]], status: str | None = None):
    body = {
        "shop_cipher": account.shop_cipher,
        "items": [{"sku_id": sku_id, "quantity": quantity} for sku_id, quantity in items],
        "buyer": {
            "name": "Ada Buyer",
            "phone_number": "+1 555 0100",
            "email": "ada@example.com",
            "address_line1": "1 Main St",
            "city": "Austin",
            "state": "Texas",
            "postal_code": "73301",
        },
    }
    if status:
        body["status"] = status
    response = requests.post(
        f"{sandbox.url('tiktok')}/__sandbox__/tiktok/orders", json=body, timeout=5
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _store_orders(sandbox) -> list[dict]:
    response = requests.get(f"{sandbox.url('magento')}/__sandbox__/magento/orders", timeout=5)
    return response.json()["orders"]


def _skus(account_id: int, n: int) -> list[MarketplaceSku]:
    return db.session.scalars(
        select(MarketplaceSku)
        .where(MarketplaceSku.account_id == account_id, MarketplaceSku.seller_sku != "")
        .order_by(MarketplaceSku.id)
        .limit(n)
    ).all()


def _link(sku: MarketplaceSku) -> Link:
    return db.session.scalar(select(Link).where(Link.marketplace_sku_id == sku.id))


def _link_live(owner, account, skus, variants, pack: int = 1) -> None:
    links = []
    for sku, variant in zip(skus, variants, strict=True):
        link = _link(sku)
        set_link_target(
            db.session, link, [Target(variant.id, pack)], expected_version=None, actor=owner
        )
        links.append(link)
    assign_links(db.session, account, links, actor=owner, batch=None)
    db.session.commit()


def _order(tiktok_order_id: str) -> Order:
    db.session.expire_all()
    return db.session.scalar(select(Order).where(Order.tiktok_order_id == tiktok_order_id))


def test_an_order_of_linked_items_is_created_once_with_packs(shop, sandbox, run_jobs):
    owner, store, account = shop
    a, b = _skus(account.id, 2)
    x, y = unique_variants(store.id, 2)
    _link_live(owner, account, [a], [x], pack=2)
    _link_live(owner, account, [b], [y])
    run_jobs()
    order_id = _place_order(sandbox, account, [(a.sku_id, 3), (b.sku_id, 1)])

    start_orders(db.session, account, owner)
    run_jobs()
    order = _order(order_id)
    assert order.state is OrderState.CREATED, order.reason
    [created] = _store_orders(sandbox)
    assert created["ext_order_id"] == order_id
    quantities = {item["sku"]: item["qty_ordered"] for item in created["items"]}
    assert quantities == {x.sku: 6, y.sku: 1}  # 3 TikTok units of a 2-pack, and 1 unit

    start_orders(db.session, account, owner, order_ids=[order_id])  # a retry, a webhook again
    run_jobs()
    start_orders(db.session, account, owner)
    run_jobs()
    assert len(_store_orders(sandbox)) == 1


def test_an_unlinked_item_holds_the_order_until_it_is_linked(shop, sandbox, client, run_jobs):
    owner, store, account = shop
    a, b = _skus(account.id, 2)
    x, y = unique_variants(store.id, 2)
    _link_live(owner, account, [a], [x])
    run_jobs()
    order_id = _place_order(sandbox, account, [(a.sku_id, 1), (b.sku_id, 2)])
    other_id = _place_order(sandbox, account, [(a.sku_id, 1)])
    start_orders(db.session, account, owner)
    run_jobs()

    held = _order(order_id)
    assert held.state is OrderState.AWAITING_MAPPING
    assert b.seller_sku in held.reason and "not linked" in held.reason
    assert _order(other_id).state is OrderState.CREATED  # one held order blocks no other

    client.login(owner.email, PASSWORD)
    page = client.get("/orders/").get_data(as_text=True)
    assert "1 order held: link products" in page and "Link product" in page
    link = _link(b)
    editor = client.hx_get(f"/links/{link.id}/edit?then=assign").get_data(as_text=True)
    assert 'name="then" value="assign"' in editor
    response = client.post_form(
        f"/links/{link.id}",
        {
            "version": str(link.version),
            "then": "assign",
            "store_sku_id": str(y.id),
            "quantity": "1",
        },
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert _link(b).state is LinkState.LINKED
    run_jobs()  # the first push, and the held order retried
    assert _order(order_id).state is OrderState.CREATED
    assert len(_store_orders(sandbox)) == 2


def test_two_workers_racing_create_one_store_order(app, shop, sandbox, run_jobs):
    owner, store, account = shop
    [a] = _skus(account.id, 1)
    _link_live(owner, account, [a], unique_variants(store.id, 1))
    run_jobs()
    order_id = _place_order(sandbox, account, [(a.sku_id, 1)])
    faults = sandbox.apps["magento"].extensions["sandbox_faults"]
    faults.configure(error_rate=1.0)  # the store is down: the order is kept, failed
    start_orders(db.session, account, owner)
    run_jobs()
    faults.reset()
    order = _order(order_id)
    assert order.state is OrderState.FAILED and "did not take the order" in order.reason

    def worker() -> None:
        with app.app_context():
            mine = db.session.get(Order, order.id)
            account_now = db.session.get(MarketplaceAccount, mine.account_id)
            process_order(db.session, mine, store_adapter(account_now.store))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _order(order_id).state is OrderState.CREATED
    assert len(_store_orders(sandbox)) == 1


def test_a_worker_that_died_after_creating_does_not_create_twice(shop, sandbox, run_jobs):
    owner, store, account = shop
    [a] = _skus(account.id, 1)
    _link_live(owner, account, [a], unique_variants(store.id, 1))
    run_jobs()
    order_id = _place_order(sandbox, account, [(a.sku_id, 1)])
    start_orders(db.session, account, owner)
    run_jobs()
    order = _order(order_id)
    # As if the worker died between the store's answer and our commit: created there,
    # still claimed here, long ago.
    order.state, order.store_order_id = OrderState.CREATING, None
    order.claim, order.claimed_at = "dead-worker", utcnow() - timedelta(hours=1)
    db.session.commit()
    assert process_order(db.session, order, store_adapter(store)) is OrderState.CREATED
    assert len(_store_orders(sandbox)) == 1
    assert _order(order_id).store_order_id


def test_a_cancelled_order_is_cancelled_in_the_store(shop, sandbox, run_jobs):
    owner, store, account = shop
    [a] = _skus(account.id, 1)
    _link_live(owner, account, [a], unique_variants(store.id, 1))
    run_jobs()
    order_id = _place_order(sandbox, account, [(a.sku_id, 1)])
    start_orders(db.session, account, owner)
    run_jobs()
    requests.post(
        f"{sandbox.url('tiktok')}/__sandbox__/tiktok/orders/{order_id}/status",
        json={"status": "CANCELLED"},
        timeout=5,
    ).raise_for_status()
    start_orders(db.session, account, owner, order_ids=[order_id])
    run_jobs()
    assert _order(order_id).state is OrderState.CANCELLED
    [created] = _store_orders(sandbox)
    assert created["state"] == "canceled"


def _signed(sandbox, payload: dict, *, bad: bool = False) -> tuple[bytes, str]:
    response = requests.post(
        f"{sandbox.url('tiktok')}/__sandbox__/tiktok/webhooks/deliver",
        json=payload | {"bad_signature": bad},
        timeout=5,
    )
    response.raise_for_status()
    signed = response.json()
    return signed["body"].encode(), signed["authorization"]


def _deliver(client, body: bytes, authorization: str):
    return client.post(
        "/webhooks/tiktok",
        data=body,
        headers={"Authorization": authorization, "Content-Type": "application/json"},
    )


def test_the_order_webhook_is_verified_and_deduplicated(shop, sandbox, client, run_jobs):
    owner, store, account = shop
    [a] = _skus(account.id, 1)
    _link_live(owner, account, [a], unique_variants(store.id, 1))
    run_jobs()
    order_id = _place_order(sandbox, account, [(a.sku_id, 1)])
    payload = {"type": 1, "shop_id": account.shop_id, "data": {"order_id": order_id}}

    assert _deliver(client, *_signed(sandbox, payload, bad=True)).status_code == 401
    body, authorization = _signed(sandbox, payload)
    assert _deliver(client, body, authorization).status_code == 202
    assert _deliver(client, body, authorization).get_json() == {"status": "duplicate"}
    run_jobs()
    assert _order(order_id).state is OrderState.CREATED


def test_deauthorization_and_expiry_show_in_the_account_selector(shop, sandbox, client):
    owner, store, account = shop
    client.login(owner.email, PASSWORD)
    expiring = {"type": 7, "shop_id": account.shop_id, "data": {"expiration_time": 1893456000}}
    assert _deliver(client, *_signed(sandbox, expiring)).status_code == 202
    page = client.get("/orders/").get_data(as_text=True)
    assert "authorization ends on 2030-01-01" in page

    assert (
        _deliver(client, *_signed(sandbox, {"type": 6, "shop_id": account.shop_id})).status_code
        == 202
    )
    db.session.expire_all()
    assert db.session.get(MarketplaceAccount, account.id).status is AccountStatus.DISCONNECTED
    page = client.get("/orders/").get_data(as_text=True)
    assert "No Active/Valid Accounts Found" in page and "removed SKU Bridge" in page


def test_an_order_the_store_fails_is_kept_as_failed_and_retry_creates_it(
    shop, sandbox, client, run_jobs
):
    owner, store, account = shop
    [a] = _skus(account.id, 1)
    [x] = unique_variants(store.id, 1)
    _link_live(owner, account, [a], [x])
    run_jobs()
    order_id = _place_order(sandbox, account, [(a.sku_id, 1)])
    faults = f"{sandbox.url('magento')}/__sandbox__/faults"
    requests.post(faults, json={"error_rate": 1.0}, timeout=5).raise_for_status()
    start_orders(db.session, account, owner)
    run_jobs()

    failed = _order(order_id)
    assert failed.state is OrderState.FAILED
    assert "The store did not take the order" in failed.reason
    assert _store_orders(sandbox) == []

    requests.post(faults, json={"error_rate": 0}, timeout=5).raise_for_status()
    client.login(owner.email, PASSWORD)
    assert client.post_form(f"/orders/{failed.id}/retry").status_code in (200, 302)
    run_jobs()
    assert _order(order_id).state is OrderState.CREATED
    assert len(_store_orders(sandbox)) == 1


@pytest.mark.parametrize("before", ["abc", "-3", "9" * 40])
def test_a_bad_page_link_shows_the_first_page_with_a_notice(shop, client, before):
    owner, _, _ = shop
    client.login(owner.email, PASSWORD)
    response = client.get(f"/orders/?tab=all&before={before}")
    assert response.status_code == 200
    assert "That page link was not valid; showing the first page." in response.get_data(
        as_text=True
    )
