"""The TikTok Shop client's writes, orders and webhooks against the emulated API over real HTTP."""

from __future__ import annotations

import time
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.adapters.test_tiktok import Sleeps, fault_stats, make_client, mint_grant
from tests.builders import serve_tiktok
from tests.conftest import TEST_SANDBOX_SETTINGS
from tests.fakes import RecordingLimiter
from webapp.adapters.base import InvalidResponse, OrderAddress
from webapp.adapters.tiktok import (
    ORDER_STATUS_CHANGE,
    InventoryUpdate,
    ItemFailure,
    PriceUpdate,
    TikTokApiError,
    TikTokShopClient,
    parse_webhook,
    verify_webhook,
)
from webapp.sandbox.settings import SandboxSettings

INVENTORY_CALLS = "POST /product/202309/products/{product_id}/inventory/update"
DEACTIVATE_CALLS = "POST /product/202309/products/deactivate"
ACTIVATE_CALLS = "POST /product/202309/products/activate"
GET_ORDERS_CALLS = "GET /order/202309/orders"


@pytest.fixture
def tiktok_url(sandbox):
    return sandbox.url("tiktok")


@pytest.fixture
def us_shop(sandbox):
    return sandbox.catalog.shops[0]


@pytest.fixture
def client(sandbox, tiktok_url, us_shop):
    """A client with a fresh access token, bound to the US shop. The shared sandbox forgets its
    writes and orders after each test (tests/conftest.py)."""
    token = mint_grant(tiktok_url)["access_token"]
    client = make_client(
        tiktok_url, sandbox.settings, access_token=token, shop_cipher=us_shop.cipher
    )
    yield client
    client.close()


def product_with_split_stock(shop):
    """A product with a SKU stocked in both US warehouses and another SKU in one warehouse."""
    return next(
        product
        for product in shop.products
        if any(len(sku.inventory) == 2 for sku in product.skus)
        and any(len(sku.inventory) == 1 for sku in product.skus)
    )


def create_order(base_url: str, **options) -> dict:
    response = requests.post(f"{base_url}/__sandbox__/tiktok/orders", json=options, timeout=5)
    assert response.status_code == 201, response.text
    return response.json()


# --- inventory -------------------------------------------------------------------------------


def test_inventory_across_two_warehouses_is_one_call_and_shows_in_reads(
    client, us_shop, tiktok_url
):
    product = product_with_split_stock(us_shop)
    split = next(sku for sku in product.skus if len(sku.inventory) == 2)
    (first, _), (second, _) = split.inventory

    failures = client.update_inventory(
        product.id, [InventoryUpdate(split.id, ((first, 11), (second, 4)))]
    )

    assert failures == []
    assert fault_stats(tiktok_url)[INVENTORY_CALLS] == 1
    detail = {sku.sku_id: sku for sku in client.get_product(product.id).skus}
    assert detail[split.id].inventory == ((first, 11), (second, 4))
    searched = next(
        p for page in client.iter_products() for p in page.products if p.id == product.id
    )
    assert {sku.sku_id: sku.inventory for sku in searched.skus}[split.id] == (
        (first, 11),
        (second, 4),
    )
    assert searched.update_time >= int(time.time()) - 5  # a write makes the product recent


def test_a_refused_sku_does_not_stop_the_others(client, us_shop, sandbox):
    product = product_with_split_stock(us_shop)
    split = next(sku for sku in product.skus if len(sku.inventory) == 2)
    single = next(sku for sku in product.skus if len(sku.inventory) == 1)
    uk_warehouse = sandbox.catalog.shops[1].warehouses[0].id

    failures = client.update_inventory(
        product.id,
        [
            InventoryUpdate(single.id, ((single.inventory[0][0], 9),)),
            InventoryUpdate(split.id, ((split.inventory[0][0], 3),)),  # a warehouse left out
            InventoryUpdate("1", ((single.inventory[0][0], 1),)),
        ],
    )

    by_id = {failure.id: failure for failure in failures}
    assert set(by_id) == {split.id, "1"}
    assert by_id["1"] == ItemFailure("1", 12019022, "sku ID is invalid")
    assert split.inventory[1][0] in by_id[split.id].message
    detail = {sku.sku_id: sku for sku in client.get_product(product.id).skus}
    assert detail[single.id].inventory == ((single.inventory[0][0], 9),)
    assert detail[split.id].inventory == split.inventory

    [refused] = client.update_inventory(
        product.id, [InventoryUpdate(single.id, ((uk_warehouse, 5), (single.inventory[0][0], -2)))]
    )
    assert refused.id == single.id
    assert f"warehouse {uk_warehouse}: The warehouse does not exist" in refused.message
    assert "from 0 to 99999" in refused.message


def test_no_skus_make_no_call(client, us_shop, tiktok_url):
    product = us_shop.products[0]

    assert client.update_inventory(product.id, []) == []
    assert client.update_prices(product.id, []) == []
    assert client.activate_products([]) == []
    assert client.get_orders([]) == []
    assert INVENTORY_CALLS not in fault_stats(tiktok_url)


# --- prices and status -----------------------------------------------------------------------


def test_price_update_shows_in_product_detail(client, us_shop):
    product = next(p for p in us_shop.products if len(p.skus) >= 2)
    first, second = product.skus[:2]

    failures = client.update_prices(
        product.id,
        [
            PriceUpdate(first.id, Decimal("12.5"), "USD"),
            PriceUpdate(second.id, Decimal("7"), "USD"),
        ],
    )

    assert failures == []
    prices = {sku.sku_id: sku.price for sku in client.get_product(product.id).skus}
    assert prices[first.id] == Decimal("12.50") and prices[second.id] == Decimal("7.00")


def test_a_wrong_sku_refuses_the_whole_price_update(client, us_shop):
    product = us_shop.products[0]
    sku = product.skus[0]

    with pytest.raises(TikTokApiError) as refused:
        client.update_prices(
            product.id,
            [PriceUpdate(sku.id, Decimal("3.00"), "USD"), PriceUpdate("1", Decimal("3"), "USD")],
        )

    assert refused.value.code == 12019022 and client.sleep == []
    assert client.get_product(product.id).skus[0].price == sku.price


def test_deactivate_and_activate_split_past_twenty_ids(client, us_shop, tiktok_url):
    live = [p.id for p in us_shop.products if p.status == "ACTIVATE"][:25]

    failures = client.deactivate_products([*live, "1"])

    assert failures == [ItemFailure("1", 12019150, "The product ID does not exist.")]
    assert fault_stats(tiktok_url)[DEACTIVATE_CALLS] == 2
    deactivated = client.search_products(status="SELLER_DEACTIVATED")
    assert set(live) <= {p.id for p in deactivated.products}

    assert client.activate_products(live) == []
    assert fault_stats(tiktok_url)[ACTIVATE_CALLS] == 2
    assert client.get_product(live[-1]).status == "ACTIVATE"


# --- rate limits -----------------------------------------------------------------------------


def test_a_rate_limited_write_pauses_the_limiter_and_is_retried_re_signed():
    settings = SandboxSettings(**TEST_SANDBOX_SETTINGS, rate_limit_per_second=1)
    with serve_tiktok(settings) as (url, catalog):
        shop = catalog.shops[0]
        limiter = RecordingLimiter(hold=True)
        client = TikTokShopClient(
            settings.app_key,
            settings.app_secret,
            url,
            url,
            mint_grant(url)["access_token"],
            shop.cipher,
            sleep=Sleeps(),
            limiter=limiter,
        )
        signs: list[str] = []
        client.api.session.hooks["response"].append(
            lambda response, **_: signs.append(parse_qs(urlsplit(response.url).query)["sign"][0])
        )
        first, second = shop.products[:2]

        for product in (first, second):
            sku = product.skus[0]
            update = InventoryUpdate(sku.id, tuple((w, 6) for w, _ in sku.inventory))
            assert client.update_inventory(product.id, [update]) == []

        assert limiter.pauses == [1.0]  # the sandbox's Retry-After
        assert client.sleep == [1.0]
        assert limiter.acquired == 3 and len(set(signs)) == 3
        assert fault_stats(url)[INVENTORY_CALLS] == 2  # the refused attempt was not served


# --- orders ----------------------------------------------------------------------------------


def test_orders_search_by_update_time_window(client, us_shop, tiktok_url):
    sku_id = us_shop.products[0].skus[0].id
    now = int(time.time())
    old, middle, recent = (
        create_order(tiktok_url, items=[{"sku_id": sku_id}], create_time=now - age)
        for age in (300, 200, 100)
    )

    page = client.search_orders(update_time_ge=now - 250, update_time_lt=now - 100)

    assert [order.id for order in page.orders] == [middle["id"]]
    assert page.total == 1 and page.next_page_token == ""
    everything = {order.id for order in client.iter_orders(update_time_ge=now - 300)}
    assert everything == {old["id"], middle["id"], recent["id"]}
    cancelled = client.search_orders(order_status="CANCELLED")
    assert cancelled.orders == [] and cancelled.total == 0


def test_orders_page_by_token(client, us_shop, tiktok_url):
    sku_id = us_shop.products[0].skus[0].id
    created = {create_order(tiktok_url, items=[{"sku_id": sku_id}])["id"] for _ in range(5)}

    first = client.search_orders(page_size=2)
    second = client.search_orders(page_size=2, page_token=first.next_page_token)
    third = client.search_orders(page_size=2, page_token=second.next_page_token)

    assert (len(first.orders), len(second.orders), len(third.orders)) == (2, 2, 1)
    assert first.total == 5 and third.next_page_token == ""
    assert {o.id for page in (first, second, third) for o in page.orders} == created
    assert {order.id for order in client.iter_orders()} == created
    with pytest.raises(ValueError):
        client.search_orders(page_size=101)


def test_get_orders_reads_one_line_item_per_unit_and_the_address(client, us_shop, tiktok_url):
    product = next(p for p in us_shop.products if len(p.skus) >= 2)
    double, single = product.skus[:2]
    created = create_order(
        tiktok_url,
        items=[{"sku_id": double.id, "quantity": 2}, {"sku_id": single.id}],
        buyer={"name": "Sam Ortiz", "message": "Gift wrap, please", "city": "Pasadena"},
    )

    [order] = client.get_orders([created["id"]])

    assert order.status == "AWAITING_SHIPMENT" and order.currency == "USD"
    assert [item.sku_id for item in order.items] == [double.id, double.id, single.id]
    assert len({item.id for item in order.items}) == 3
    assert order.items[0].sale_price == double.price and order.items[0].currency == "USD"
    assert order.items[0].seller_sku == double.seller_sku
    assert order.items[0].product_name == product.title
    assert order.buyer_message == "Gift wrap, please" and order.buyer_email.startswith("v2_")
    assert order.recipient == OrderAddress(
        name="Sam Ortiz",
        phone="(+1)2135550188",
        lines=("1200 Sunset Blvd", "Apt 4B"),
        city="Pasadena",
        region="California",
        postal_code="90026",
        country_code="US",
    )


def test_get_orders_splits_past_fifty_ids_and_leaves_unknown_ones_out(
    client, us_shop, tiktok_url, sandbox
):
    sku_id = us_shop.products[0].skus[0].id
    created = create_order(tiktok_url, items=[{"sku_id": sku_id}])
    uk = sandbox.catalog.shops[1]
    other_shop = create_order(
        tiktok_url, shop_id=uk.id, items=[{"sku_id": uk.products[0].skus[0].id}]
    )

    orders = client.get_orders([str(n) for n in range(50)] + [created["id"], other_shop["id"]])

    assert [order.id for order in orders] == [created["id"]]
    assert fault_stats(tiktok_url)[GET_ORDERS_CALLS] == 2


def test_an_unpaid_order_has_no_address_and_a_cancelled_one_moves_forward(
    client, us_shop, tiktok_url
):
    created = create_order(tiktok_url, items=[{"sku_id": us_shop.products[0].skus[0].id}])
    unpaid = create_order(
        tiktok_url, items=[{"sku_id": us_shop.products[0].skus[0].id}], status="UNPAID"
    )
    response = requests.post(
        f"{tiktok_url}/__sandbox__/tiktok/orders/{created['id']}/status",
        json={"status": "CANCELLED"},
        timeout=5,
    )
    assert response.status_code == 200

    cancelled, hidden = client.get_orders([created["id"], unpaid["id"]])

    assert hidden.recipient == OrderAddress("", "", (), "", "", "", "")
    assert cancelled.status == "CANCELLED"
    assert cancelled.update_time > created["update_time"]
    assert [order.id for order in client.search_orders(order_status="CANCELLED").orders] == [
        created["id"]
    ]


# --- webhooks --------------------------------------------------------------------------------


def signed_notification(base_url: str, **options) -> dict:
    """A notification the sandbox signs without sending: {payload, body, authorization}."""
    response = requests.post(
        f"{base_url}/__sandbox__/tiktok/webhooks/deliver", json=options, timeout=5
    )
    response.raise_for_status()
    return response.json()


def test_webhook_signature_verifies_and_parses(sandbox, tiktok_url, us_shop):
    settings = sandbox.settings
    data = {"order_id": "576000000000000001", "order_status": "AWAITING_SHIPMENT"}
    signed = signed_notification(tiktok_url, type=1, shop_id=us_shop.id, data=data)
    body = signed["body"].encode()

    assert verify_webhook(settings.app_key, settings.app_secret, body, signed["authorization"])
    event = parse_webhook(body)
    assert event.type == ORDER_STATUS_CHANGE and event.shop_id == us_shop.id
    assert event.data == data and event.timestamp >= int(time.time()) - 5
    assert event.notification_id == signed["payload"]["tts_notification_id"]


def test_a_wrong_webhook_signature_is_refused(sandbox, tiktok_url):
    settings = sandbox.settings
    forged = signed_notification(tiktok_url, type=6, data={}, bad_signature=True)
    good = signed_notification(tiktok_url, type=6, data={})
    tampered = good["body"].replace('"type":6', '"type":7').encode()

    assert not verify_webhook(
        settings.app_key, settings.app_secret, forged["body"].encode(), forged["authorization"]
    )
    assert not verify_webhook(
        settings.app_key, settings.app_secret, tampered, good["authorization"]
    )
    assert not verify_webhook(settings.app_key, settings.app_secret, good["body"].encode(), None)
    assert not verify_webhook(
        settings.app_key, "other-secret", good["body"].encode(), good["authorization"]
    )


@pytest.mark.parametrize(
    "body", [b"not json", b"[1, 2]", b'{"shop_id": "1", "data": {}}', b'{"type": 1, "data": 3}']
)
def test_a_body_that_is_not_a_notification_is_invalid(body):
    with pytest.raises(InvalidResponse):
        parse_webhook(body)
