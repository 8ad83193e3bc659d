"""ShopifyAdapter against the Shopify sandbox over real loopback HTTP."""

from __future__ import annotations

import itertools
import logging
import math
import socket
from collections import Counter
from decimal import Decimal

import pytest
import requests

from tests.builders import serve_sandbox, serve_webhook_receiver
from tests.fakes import FakeSleep, RecordingLimiter
from webapp.adapters.base import (
    AuthenticationFailed,
    CallPolicy,
    NewOrder,
    OrderAddress,
    OrderLine,
    RemoteServerError,
    VariantUpdate,
    WebhookRefused,
)
from webapp.adapters.shopify import ShopifyAdapter, shop_root
from webapp.sandbox.settings import SandboxSettings
from webapp.sandbox.shopify import create_shopify_sandbox, product_gid, sign_webhook, variant_gid

SETTINGS = SandboxSettings(tiktok_skus=240, products=60, shopify_restore_rate=0)


class Sandbox:
    def __init__(self, url, app, catalog, settings):
        self.url, self.app, self.catalog, self.settings = url, app, catalog, settings

    @property
    def store(self):
        return self.app.extensions["shopify_store"]

    @property
    def faults(self):
        return self.app.extensions["sandbox_faults"]

    def adapter(self, *, token=None, secret="default", url=None, sleep=None, **options):
        credentials = {"access_token": token or self.settings.shopify_access_token}
        if secret:
            credentials["client_secret"] = (
                self.settings.shopify_webhook_secret if secret == "default" else secret
            )
        return ShopifyAdapter(
            url or self.url,
            credentials,
            policy=CallPolicy(timeout=(1.0, 5.0)),
            sleep=sleep or FakeSleep(),
            **options,
        )

    def sellable(self):
        return [p for p in self.catalog.store_products if p.type_id == "simple"]


@pytest.fixture(scope="module")
def shopify():
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with serve_sandbox(create_shopify_sandbox, SETTINGS) as served:
        yield Sandbox(*served, SETTINGS)


@pytest.fixture(autouse=True)
def _calm(shopify):
    shopify.faults.reset()
    shopify.store.operations.clear()
    yield
    shopify.faults.reset()


@pytest.fixture
def receiver():
    with serve_webhook_receiver() as receiver:
        yield receiver


def catalog_entries(adapter, max_pages=1000):
    """Every entry, with a page cap so an adapter that loops forever fails instead of hanging."""
    pages = list(itertools.islice(adapter.iter_catalog(), max_pages))
    assert len(pages) < max_pages, "iter_catalog did not stop"
    return [entry for page in pages for entry in page.items]


def buyer_address() -> OrderAddress:
    return OrderAddress(
        name="Jordan Rivera",
        phone="+12135550188",
        lines=("1200 Sunset Blvd", "Apt 4B"),
        city="Los Angeles",
        region="California",
        postal_code="90026",
        country_code="US",
    )


# --- construction and connection -------------------------------------------------------------


def test_constructor_validates_and_reads_the_shop_address():
    with pytest.raises(ValueError, match="Admin API access token"):
        ShopifyAdapter("https://shop.myshopify.com", {})
    with pytest.raises(ValueError, match="Variants per product"):
        ShopifyAdapter("https://shop.myshopify.com", {"access_token": "t"}, variants_per_product=0)
    adapter = ShopifyAdapter("https://shop.myshopify.com/admin/", {"access_token": " t "})

    assert adapter.http.base_url == "https://shop.myshopify.com"
    assert adapter.http.session.headers["X-Shopify-Access-Token"] == "t"
    assert shop_root("https://admin.shopify.com/store/demo-outfitters/products") == (
        "https://demo-outfitters.myshopify.com"
    )
    assert shop_root(" https://shop.myshopify.com/admin/api/2025-01/graphql.json ") == (
        "https://shop.myshopify.com"
    )
    assert ShopifyAdapter.platform == "shopify" and ShopifyAdapter.supports_webhooks
    fields = ShopifyAdapter.credential_fields
    assert [(f.name, f.required) for f in fields] == [
        ("access_token", True),
        ("client_secret", False),  # only webhooks need it
    ]
    assert all(f.help for f in fields)


def test_connection_ok(shopify):
    check = shopify.adapter().test_connection()

    assert check.ok
    assert "Demo Outfitters" in check.message and "USD" in check.message


def test_connection_with_a_refused_token(shopify):
    check = shopify.adapter(token="shpat_revoked").test_connection()

    assert not check.ok
    assert "Invalid API key or access token" in check.message
    assert "API credentials" in check.message


def test_connection_to_a_port_nobody_listens_on(shopify):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed when the block ends: nothing listens there
    check = shopify.adapter(url=f"http://127.0.0.1:{port}").test_connection()

    assert not check.ok
    assert "Could not reach the shop" in check.message


def test_connection_to_something_that_is_not_shopify(shopify):
    check = shopify.adapter(url=f"{shopify.url}/elsewhere").test_connection()

    assert not check.ok
    assert "No Shopify Admin API answered" in check.message


# --- catalog ---------------------------------------------------------------------------------


def test_catalog_lists_every_variant_once_and_parents_by_name(shopify):
    entries = catalog_entries(shopify.adapter())
    variants = [e for e in entries if not e.is_parent]
    parents = [e for e in entries if e.is_parent]
    products = shopify.store.products

    assert Counter(e.remote_id for e in variants) == Counter(
        variant_gid(p) for p in shopify.sellable()
    )
    assert {e.remote_id for e in parents} == {p.gid for p in products if len(p.variants) > 1}
    assert all(e.sku == "" and e.price is None and e.quantity is None for e in parents)
    duplicated = [sku for sku, n in Counter(e.sku for e in variants).items() if n > 1]
    assert duplicated, "the demo catalog has duplicated SKUs; both entries must come back"


def test_catalog_entries_carry_variants_barcodes_and_details(shopify):
    entries = {e.remote_id: e for e in catalog_entries(shopify.adapter())}
    by_gid = shopify.store.variants

    for product in shopify.sellable():
        entry = entries[variant_gid(product)]
        served = by_gid[variant_gid(product)]
        assert entry.sku == product.sku
        assert entry.barcode == product.barcode
        assert entry.price == served.price and isinstance(entry.price, Decimal)
        assert entry.tags == product.tags
        assert entry.categories[0] == product.categories[0]
        if product.parent_id is None:  # one "Default Title" variant: no options
            assert entry.variant == "" and entry.parent_remote_id is None
            assert entry.name == product.name
        else:
            assert entry.variant == f"{product.color} / {product.size}"
            assert entry.parent_remote_id == product_gid(product)
            assert entries[product_gid(product)].name == entry.name
        if product.name.endswith("(old listing)"):  # archived, inventory not tracked
            assert not entry.enabled and entry.quantity is None
        else:
            assert entry.enabled and entry.quantity == served.quantity
    sale = next(e for e in entries.values() if "sale" in e.tags)
    assert "Sale" in sale.categories  # the shop's "Sale" collection


def test_catalog_pages_keep_each_query_under_half_the_bucket(shopify):
    adapter = shopify.adapter()
    pages = list(adapter.iter_catalog())

    products = len(shopify.store.products)
    per_product = 1 + 1 + (2 + 10) + (2 + 2 * 100)
    per_page = (1000 // 2 - 2) // per_product
    assert per_page * per_product + 2 <= 500
    assert len(pages) == math.ceil(products / per_page)
    assert shopify.faults.stats["requests"] == len(pages)
    assert all(page.total is None for page in pages)


def test_products_with_more_variants_than_a_page_are_read_to_the_end(shopify):
    entries = catalog_entries(shopify.adapter(variants_per_product=2))
    requests_made = shopify.faults.stats["requests"]
    product_pages = shopify.store.operations["products"]

    big = [p for p in shopify.store.products if len(p.variants) > 2]
    assert big, "the demo catalog has products with several variants"
    extra_pages = sum(math.ceil(len(p.variants) / 2) - 1 for p in big)
    assert requests_made - product_pages == extra_pages
    expected = catalog_entries(shopify.adapter())
    assert sorted(entries, key=str) == sorted(expected, key=str)


# --- stock levels ----------------------------------------------------------------------------


def test_stock_levels_in_few_calls_leaving_out_unknown_ids(shopify):
    ids = [variant_gid(p) for p in shopify.sellable()]
    asked = ids + ids[:5] + ["gid://shopify/ProductVariant/1", "not-a-gid", "12345"]

    levels = shopify.adapter().stock_levels(asked)

    assert set(levels) == set(ids)
    assert shopify.store.operations["nodes"] == math.ceil(len(ids) / (500 // 3))
    for gid, level in levels.items():
        served = shopify.store.variants[gid]
        assert level.price == served.price
        assert level.quantity == (served.quantity if served.tracked else None)
        assert level.enabled == (served.product.status == "ACTIVE")


def test_a_merchant_edit_shows_in_stock_levels(shopify):
    product = shopify.sellable()[7]
    requests.post(
        f"{shopify.url}/__sandbox__/shopify/variants",
        json={"id": variant_gid(product), "quantity": 13, "price": "21.50"},
    )

    level = shopify.adapter().stock_levels([variant_gid(product)])[variant_gid(product)]

    assert (level.quantity, level.price) == (13, Decimal("21.50"))


# --- updates ---------------------------------------------------------------------------------


def test_update_variants_writes_and_returns_the_refused_ones(shopify):
    first, second, third, fourth = [
        variant_gid(p) for p in shopify.sellable() if p.parent_id is not None
    ][10:14]
    adapter = shopify.adapter()

    refused = adapter.update_variants(
        [
            VariantUpdate(first, quantity=17, price=Decimal("18.25")),
            VariantUpdate(second, quantity=-3),  # Shopify refuses a negative quantity
            VariantUpdate(third, quantity=4),
            VariantUpdate(fourth, price=Decimal("-1")),  # and a negative price
            VariantUpdate("gid://shopify/ProductVariant/1", quantity=1),
            VariantUpdate("12345", quantity=1),
        ]
    )

    assert set(refused) == {second, fourth, "gid://shopify/ProductVariant/1", "12345"}
    assert "negative" in refused[second]
    assert "greater than or equal to 0" in refused[fourth]
    assert "no longer has" in refused["gid://shopify/ProductVariant/1"]
    levels = adapter.stock_levels([first, second, third, fourth])
    variants = shopify.store.variants
    assert (levels[first].quantity, levels[first].price) == (17, Decimal("18.25"))
    assert levels[third].quantity == 4, "the refused quantity did not stop the others"
    assert levels[second].quantity == variants[second].quantity >= 0
    assert levels[fourth].price == variants[fourth].price >= 0
    assert shopify.store.operations["location"] == 1


def test_update_variants_batches_quantities_and_prices_per_product(shopify):
    parent = next(p for p in shopify.store.products if len(p.variants) >= 3)
    updates = [
        VariantUpdate(v.gid, quantity=50 + i, price=Decimal("30.00") + i)
        for i, v in enumerate(parent.variants)
    ]

    refused = shopify.adapter().update_variants(updates)

    assert refused == {}
    assert shopify.store.operations["inventorySetQuantities"] == 1
    assert shopify.store.operations["productVariantsBulkUpdate"] == 1
    assert [v.quantity for v in parent.variants] == [50 + i for i in range(len(parent.variants))]


# --- orders ----------------------------------------------------------------------------------


def test_create_find_and_cancel_an_order(shopify):
    product = next(p for p in shopify.sellable() if p.parent_id and p.barcode)
    gid = variant_gid(product)
    adapter = shopify.adapter()
    before = shopify.store.variants[gid].quantity
    order = NewOrder(
        reference="576461413038785001",
        currency="USD",
        lines=(OrderLine(gid, product.sku, product.name, 2, Decimal("19.99")),),
        shipping_address=buyer_address(),
        email="buyer@example.test",
    )

    created = adapter.create_order(order)
    found = adapter.find_order("576461413038785001")
    after_order = shopify.store.variants[gid].quantity
    cancelled = adapter.cancel_order(created.remote_id)
    cancelled_again = adapter.cancel_order(created.remote_id)
    listed = requests.get(f"{shopify.url}/__sandbox__/shopify/orders").json()["orders"]

    assert created.number.startswith("#") and not created.cancelled
    assert created.status == "unfulfilled"
    assert found == created
    assert adapter.find_order("576461413038785999") is None
    assert after_order == before - 2, "the order claimed the stock"
    assert cancelled.cancelled and cancelled_again.cancelled
    assert cancelled.number == cancelled_again.number == created.number
    assert shopify.store.variants[gid].quantity == before, "cancelling restocked it"
    assert shopify.store.operations["orderCancel"] == 1, "a cancelled order is left alone"
    [summary] = [o for o in listed if o["id"] == created.remote_id]
    assert summary["sourceName"] == "tiktok"
    assert summary["sourceIdentifier"] == "576461413038785001"
    assert summary["financialStatus"] == "PAID"
    assert summary["tags"] == ["TikTok Shop"]
    assert summary["email"] == "buyer@example.test"
    assert summary["lineItems"] == [
        {"variantId": gid, "sku": product.sku, "quantity": 2, "price": "19.99"}
    ]
    assert summary["shippingAddress"]["firstName"] == "Jordan"
    assert summary["shippingAddress"]["lastName"] == "Rivera"
    assert summary["shippingAddress"]["address2"] == "Apt 4B"
    assert summary["shippingAddress"]["province"] == "California"


def test_an_order_shopify_refuses_says_why(shopify):
    order = NewOrder(
        reference="576461413038785002",
        currency="USD",
        lines=(OrderLine("gid://shopify/ProductVariant/1", "GONE", "Gone", 1, Decimal("5")),),
        shipping_address=buyer_address(),
    )

    with pytest.raises(Exception, match="order.lineItems.0.variantId"):
        shopify.adapter().create_order(order)
    assert shopify.adapter().find_order("576461413038785002") is None


def test_create_order_is_never_sent_twice_after_a_server_error(shopify):
    shopify.faults.configure(error_rate=1.0)
    sleep = FakeSleep()
    order = NewOrder(
        reference="576461413038785003",
        currency="USD",
        lines=(OrderLine(variant_gid(shopify.sellable()[0]), "S", "N", 1, Decimal("5")),),
        shipping_address=buyer_address(),
    )

    with pytest.raises(RemoteServerError, match="Internal error"):
        shopify.adapter(sleep=sleep).create_order(order)
    assert shopify.faults.stats["requests"] == 1
    assert sleep.delays == []


def test_create_order_is_sent_again_after_a_throttle(shopify):
    shopify.faults.configure(rate_limit_rate=1.0)
    sleep = FakeSleep(on_sleep=shopify.faults.reset)  # the throttle clears while the adapter waits
    order = NewOrder(
        reference="576461413038785004",
        currency="USD",
        lines=(OrderLine(variant_gid(shopify.sellable()[1]), "S", "N", 1, Decimal("5")),),
        shipping_address=buyer_address(),
    )

    created = shopify.adapter(sleep=sleep).create_order(order)

    assert len(sleep.delays) == 1
    listed = requests.get(f"{shopify.url}/__sandbox__/shopify/orders").json()["orders"]
    assert [o["id"] for o in listed if o["sourceIdentifier"] == order.reference] == [
        created.remote_id
    ]


# --- faults ----------------------------------------------------------------------------------


@pytest.mark.parametrize("knob", ["error_rate", "rate_limit_rate"])
def test_reads_are_retried_after_an_injected_fault(shopify, knob):
    shopify.faults.configure(**{knob: 1.0})
    sleep = FakeSleep(on_sleep=shopify.faults.reset)  # the fault clears while the adapter waits
    ids = [variant_gid(p) for p in shopify.sellable()[:5]]

    levels = shopify.adapter(sleep=sleep).stock_levels(ids)

    assert set(levels) == set(ids)
    assert len(sleep.delays) == 1


def test_gives_up_after_repeated_server_errors(shopify):
    shopify.faults.configure(error_rate=1.0)
    sleep = FakeSleep()

    with pytest.raises(RemoteServerError, match="Shopify failed"):
        catalog_entries(shopify.adapter(sleep=sleep))
    assert len(sleep.delays) == 3  # four attempts


def test_a_refused_token_raises_without_retrying(shopify):
    sleep = FakeSleep()

    with pytest.raises(AuthenticationFailed) as refused:
        shopify.adapter(token="shpat_revoked", sleep=sleep).stock_levels(
            [variant_gid(shopify.sellable()[0])]
        )
    assert refused.value.status == 401
    assert "Invalid API key or access token" in str(refused.value)
    assert sleep.delays == []


# --- rate limits -----------------------------------------------------------------------------


def test_a_throttled_read_waits_what_the_bucket_needs_and_tells_the_limiter():
    settings = SandboxSettings(tiktok_skus=240, products=60, shopify_restore_rate=2000)
    with serve_sandbox(create_shopify_sandbox, settings) as served:
        sandbox = Sandbox(*served, settings)
        limiter = RecordingLimiter()
        adapter = ShopifyAdapter(
            sandbox.url, {"access_token": settings.shopify_access_token}, limiter=limiter
        )
        ids = [variant_gid(p) for p in sandbox.sellable()][:150]  # costs 450 points
        requests.post(f"{sandbox.url}/__sandbox__/shopify/bucket", json={"available": 0})

        levels = adapter.stock_levels(ids)

    assert set(levels) == set(ids)
    [pause] = limiter.pauses
    assert 0.15 < pause <= 450 / 2000  # (requested − available) ÷ restore rate
    assert limiter.acquired == 2


def test_a_bucket_smaller_than_a_page_shrinks_the_pages():
    settings = SandboxSettings(
        tiktok_skus=120, products=30, shopify_bucket_size=300, shopify_restore_rate=5000
    )
    with serve_sandbox(create_shopify_sandbox, settings) as served:
        sandbox = Sandbox(*served, settings)
        credentials = {"access_token": settings.shopify_access_token}
        catalog_limiter, stock_limiter = RecordingLimiter(), RecordingLimiter()
        adapter = ShopifyAdapter(sandbox.url, credentials, limiter=catalog_limiter)

        entries = catalog_entries(adapter)  # two products a page would cost 434 points
        fresh = ShopifyAdapter(sandbox.url, credentials, limiter=stock_limiter)
        ids = [e.remote_id for e in entries if not e.is_parent]
        levels = fresh.stock_levels(ids)  # 166 ids a query would cost 498 points

        assert sorted(ids) == sorted(variant_gid(p) for p in sandbox.sellable())
        assert set(levels) == set(ids)
        assert adapter.bucket_size == fresh.bucket_size == 300
        assert adapter._products_per_page() == 1
        assert sandbox.store.operations["products"] == len(sandbox.store.products)
        assert fresh._nodes_per_query(3) == 300 // 2 // 3
        assert catalog_limiter.pauses and stock_limiter.pauses


# --- webhooks --------------------------------------------------------------------------------


def deliver(shopify, url, **options):
    answer = requests.post(
        f"{shopify.url}/__sandbox__/shopify/webhooks", json={"url": url, **options}
    )
    return answer.json()["deliveries"]


def test_products_update_webhook_names_the_variants(shopify, receiver):
    url, received = receiver
    parent = next(p for p in shopify.store.products if len(p.variants) > 1)

    deliver(shopify, url, topic="products/update", variant_ids=[parent.variants[0].gid])
    [(headers, body)] = received
    webhook = shopify.adapter().parse_webhook(headers, body)

    assert set(webhook.remote_ids) == {v.gid for v in parent.variants}
    assert webhook.delivery_id == headers["X-Shopify-Webhook-Id"]


def test_inventory_level_webhooks_are_mapped_to_their_variant(shopify, receiver):
    url, received = receiver
    variant = shopify.store.products[3].variants[0]

    deliveries = deliver(
        shopify, url, topic="inventory_levels/update", variant_ids=[variant.gid], deliver_twice=True
    )
    fresh = shopify.adapter()
    first = fresh.parse_webhook(*received[0])
    lookups = shopify.store.operations["nodes"]
    second = fresh.parse_webhook(*received[1])

    assert first.remote_ids == second.remote_ids == (variant.gid,)
    assert first.delivery_id == second.delivery_id == deliveries[0]["webhook_id"]
    assert lookups == 1 and shopify.store.operations["nodes"] == 1, "the mapping is kept"

    catalog_read = shopify.adapter()
    catalog_entries(catalog_read)
    shopify.store.operations.clear()
    assert catalog_read.parse_webhook(*received[0]).remote_ids == (variant.gid,)
    assert shopify.store.operations["nodes"] == 0, "the catalog read taught the mapping"


def test_webhooks_with_a_wrong_or_missing_signature_are_refused(shopify, receiver):
    url, received = receiver
    variant = shopify.store.products[0].variants[0]
    deliver(
        shopify,
        url,
        topic="inventory_levels/update",
        variant_ids=[variant.gid],
        wrong_signature=True,
    )
    [(headers, body)] = received
    adapter = shopify.adapter()

    with pytest.raises(WebhookRefused, match="signature"):
        adapter.parse_webhook(headers, body)
    unsigned = {k: v for k, v in headers.items() if k != "X-Shopify-Hmac-Sha256"}
    with pytest.raises(WebhookRefused, match="signature"):
        adapter.parse_webhook(unsigned, body)
    with pytest.raises(WebhookRefused, match="API secret key"):
        shopify.adapter(secret=None).parse_webhook(headers, body)
    secret = SETTINGS.shopify_webhook_secret
    lower = {k.lower(): v for k, v in headers.items()}
    lower["x-shopify-hmac-sha256"] = sign_webhook(secret, b"not json")
    with pytest.raises(WebhookRefused, match="not JSON"):
        adapter.parse_webhook(lower, b"not json")
