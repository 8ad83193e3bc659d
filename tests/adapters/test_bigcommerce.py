"""BigCommerceAdapter against the BigCommerce sandbox over real loopback HTTP."""

from __future__ import annotations

import itertools
import logging
import math
import socket
import time
from collections import Counter
from decimal import Decimal

import pytest
import requests
from flask import Flask

from tests.builders import serve_app, serve_sandbox, serve_webhook_receiver
from tests.fakes import FakeSleep, RecordingLimiter
from webapp.adapters.base import (
    AdapterError,
    AuthenticationFailed,
    CallPolicy,
    NewOrder,
    OrderAddress,
    OrderLine,
    RemoteServerError,
    VariantUpdate,
    WebhookRefused,
)
from webapp.adapters.bigcommerce import API_HOST, BigCommerceAdapter
from webapp.sandbox.bigcommerce import create_bigcommerce_sandbox
from webapp.sandbox.settings import SandboxSettings

SETTINGS = SandboxSettings(tiktok_skus=400, products=100, bigcommerce_quota=100_000)


@pytest.fixture(scope="module")
def served():
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with serve_sandbox(create_bigcommerce_sandbox, SETTINGS) as served:
        yield served


@pytest.fixture(autouse=True)
def fresh_store(served):
    """Every test starts from the catalog as generated, with no orders and no faults."""
    yield
    _, app, _ = served
    app.extensions["sandbox_faults"].reset()
    app.extensions["bigcommerce_store"].reset()


@pytest.fixture
def url(served):
    return served[0]


@pytest.fixture
def store(served):
    return served[1].extensions["bigcommerce_store"]


@pytest.fixture
def faults(served):
    return served[1].extensions["sandbox_faults"]


@pytest.fixture
def catalog(served):
    return served[2]


def credentials(settings=SETTINGS, **changes):
    return {
        "store_hash": settings.bigcommerce_store_hash,
        "access_token": settings.bigcommerce_access_token,
        "webhook_secret": settings.bigcommerce_webhook_secret,
        **changes,
    }


def make_adapter(url, *, settings=SETTINGS, sleep=None, page_size=250, limiter=None, **changes):
    return BigCommerceAdapter(
        url,
        credentials(settings, **changes),
        page_size=page_size,
        policy=CallPolicy(timeout=(1.0, 5.0)),
        sleep=sleep or FakeSleep(),
        limiter=limiter,
    )


def catalog_entries(adapter, max_pages=1000):
    """Every entry, with a page cap so an adapter that loops forever fails instead of hanging."""
    pages = list(itertools.islice(adapter.iter_catalog(), max_pages))
    assert len(pages) < max_pages, "iter_catalog did not stop"
    return [entry for page in pages for entry in page.items]


def control(url, method, path, json=None):
    response = requests.request(method, f"{url}/__sandbox__/bigcommerce/{path}", json=json)
    assert response.status_code == 200, response.text
    return response.json()


ADDRESS = OrderAddress(
    name="Jordan Rivera",
    phone="(+1)2135550188",
    lines=("1200 Sunset Blvd", "Apt 4B"),
    city="Los Angeles",
    region="California",
    postal_code="90026",
    country_code="US",
)


def tiktok_order(store, reference="576461413038785752", *variant_ids, quantity=2):
    ids = variant_ids or (sorted(store.variants)[0],)
    return NewOrder(
        reference=reference,
        currency="USD",
        lines=tuple(
            OrderLine(
                remote_id=str(i),
                sku=store.variants[i].sku,
                name="Tee",
                quantity=quantity,
                unit_price=Decimal("12.34"),
            )
            for i in ids
        ),
        shipping_address=ADDRESS,
        note="Leave at the door",
    )


# --- construction and connection ---------------------------------------------------------------


def test_constructor_validates_and_reads_pasted_api_paths():
    with pytest.raises(ValueError, match="BigCommerce needs: Access token"):
        BigCommerceAdapter(API_HOST, {"store_hash": "abc123", "webhook_secret": "s"})
    with pytest.raises(ValueError, match="Page size"):
        BigCommerceAdapter(API_HOST, credentials(), page_size=251)
    with pytest.raises(ValueError, match="not one"):
        BigCommerceAdapter(API_HOST, credentials(store_hash="my shop!"))

    pasted = BigCommerceAdapter(
        "", credentials(store_hash="https://api.bigcommerce.com/stores/ABC123/v3/")
    )
    full_path = BigCommerceAdapter("https://api.bigcommerce.com/stores/abc123/v3/", credentials())

    assert pasted.store_hash == "abc123"
    assert pasted.http.base_url == f"{API_HOST}/stores/abc123"
    assert full_path.http.base_url == f"{API_HOST}/stores/{SETTINGS.bigcommerce_store_hash}"
    assert BigCommerceAdapter.supports_webhooks
    assert all(field.help for field in BigCommerceAdapter.credential_fields)


def test_connection_ok(url):
    check = make_adapter(url).test_connection()

    assert check.ok
    assert "Demo Outfitters" in check.message and "USD" in check.message


def test_connection_with_a_refused_token(url):
    check = make_adapter(url, access_token="not-the-token").test_connection()

    assert not check.ok
    assert "refused the access token" in check.message


def test_connection_with_another_store_hash(url):
    check = make_adapter(url, store_hash="otherhash").test_connection()

    assert not check.ok
    assert "no store with the hash otherhash" in check.message


def test_connection_to_a_port_nobody_listens_on():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed when the block ends: nothing listens there
    check = make_adapter(f"http://127.0.0.1:{port}").test_connection()

    assert not check.ok
    assert "Could not reach BigCommerce" in check.message


@pytest.mark.parametrize("status", [200, 404])
def test_connection_to_something_that_is_not_bigcommerce(status):
    shop_front = Flask("shop_front")

    @shop_front.route("/<path:anything>")
    def page(anything):
        return "<html><body>Welcome to our shop</body></html>", status

    with serve_app(shop_front) as front:
        check = make_adapter(front).test_connection()

    assert not check.ok
    assert "did not answer like the BigCommerce API" in check.message


# --- catalog -----------------------------------------------------------------------------------


def test_catalog_lists_every_variant_once_and_parents_of_several(url, store, catalog):
    entries = catalog_entries(make_adapter(url))
    variants = [e for e in entries if not e.is_parent]
    parents = [e for e in entries if e.is_parent]

    assert Counter(e.remote_id for e in variants) == Counter(map(str, store.variants))
    assert len(entries) == len({e.remote_id for e in entries})
    several = {p.id for p in store.products.values() if len(p.variant_ids) > 1}
    assert {e.remote_id for e in parents} == {f"product-{i}" for i in several}
    sold = [p for p in catalog.store_products if p.id in store.variant_of_demo]
    assert Counter(e.sku for e in variants) == Counter(p.sku for p in sold)
    duplicated = [sku for sku, n in Counter(e.sku for e in variants).items() if n > 1]
    assert duplicated, "the demo catalog has duplicated SKUs; every entry must come back"


def test_catalog_entries_carry_variants_parents_and_details(url, store, catalog):
    entries = {e.remote_id: e for e in catalog_entries(make_adapter(url))}
    by_id = {p.id: p for p in catalog.store_products}
    checked_base = checked_option = 0

    for demo in catalog.store_products:
        variant_id = store.variant_of_demo.get(demo.id)
        if variant_id is None:
            continue  # a configurable parent: its product is checked through its children
        entry = entries[str(variant_id)]
        product = store.products[store.variants[variant_id].product_id]
        parent = by_id[product.id]
        assert entry.is_parent is False
        assert entry.quantity == demo.quantity
        assert entry.price == demo.price and isinstance(entry.price, Decimal)
        assert entry.barcode == demo.barcode
        assert entry.categories == demo.categories
        assert entry.tags == demo.tags
        assert entry.enabled is True
        if store.variants[variant_id].is_base:
            checked_base += 1
            assert (entry.name, entry.variant, entry.parent_remote_id) == (demo.name, "", None)
        else:
            checked_option += 1
            assert entry.name == parent.name
            assert entry.variant == f"{demo.color} / {demo.size}"
            expected_parent = f"product-{product.id}" if len(product.variant_ids) > 1 else None
            assert entry.parent_remote_id == expected_parent
            if expected_parent:
                listed = entries[expected_parent]
                assert (listed.sku, listed.name, listed.quantity) == (parent.sku, parent.name, None)
                assert listed.price == parent.price and listed.categories == parent.categories
    assert checked_base and checked_option


def test_catalog_shows_disabled_and_untracked_variants(url, store):
    product = next(p for p in store.products.values() if len(p.variant_ids) > 2)
    hidden_variant, still_sold = product.variant_ids[:2]
    other = next(p for p in store.products.values() if p.id != product.id)
    control(url, "POST", f"variants/{hidden_variant}", {"purchasing_disabled": True})
    control(url, "POST", f"products/{other.id}", {"is_visible": False})
    control(url, "POST", f"products/{product.id}", {"inventory_tracking": "none"})

    entries = {e.remote_id: e for e in catalog_entries(make_adapter(url))}

    assert entries[str(hidden_variant)].enabled is False
    assert entries[str(still_sold)].enabled is True
    assert entries[str(still_sold)].quantity is None  # the product no longer tracks stock
    assert all(entries[str(v)].enabled is False for v in other.variant_ids)
    assert entries[f"product-{product.id}"].enabled is True


@pytest.mark.parametrize("page_size", [7, 50, 250])
def test_catalog_pages_by_product(url, store, faults, page_size):
    faults.reset()
    entries = catalog_entries(make_adapter(url, page_size=page_size))

    assert len(entries) == len({e.remote_id for e in entries})
    assert len([e for e in entries if not e.is_parent]) == len(store.variants)
    pages = math.ceil(len(store.categories) / page_size) + math.ceil(
        len(store.products) / page_size
    )
    assert faults.stats["requests"] == pages


# --- stock and prices --------------------------------------------------------------------------


def test_stock_levels_in_as_few_calls_as_the_platform_allows(url, store, faults):
    ids = [str(v) for v in sorted(store.variants)]
    parent = next(f"product-{p.id}" for p in store.products.values() if len(p.variant_ids) > 1)
    faults.reset()

    levels = make_adapter(url).stock_levels([*ids, parent, "999999"])

    assert set(levels) == set(ids)  # the parent and the unknown id are left out
    variant_calls = math.ceil((len(ids) + 1) / 250)
    product_calls = math.ceil(len(store.products) / 250)
    assert faults.stats["requests"] == variant_calls + product_calls
    for remote_id, level in levels.items():
        variant = store.variants[int(remote_id)]
        assert level.quantity == variant.inventory_level
        assert level.price == store.selling_price(variant)
        assert level.enabled is True


def test_stock_levels_see_the_merchants_edits(url, store):
    product = next(p for p in store.products.values() if len(p.variant_ids) > 1)
    edited, hidden = product.variant_ids[:2]
    base_product = next(p for p in store.products.values() if len(p.variant_ids) == 1)
    control(url, "POST", f"variants/{edited}", {"inventory_level": 4, "price": 17.25})
    control(url, "POST", f"variants/{hidden}", {"purchasing_disabled": True})
    control(url, "POST", f"products/{base_product.id}", {"price": 8.5, "availability": "disabled"})

    levels = make_adapter(url).stock_levels(
        [str(edited), str(hidden), *map(str, base_product.variant_ids)]
    )

    assert (levels[str(edited)].quantity, levels[str(edited)].price) == (4, Decimal("17.25"))
    assert levels[str(edited)].enabled and not levels[str(hidden)].enabled
    base = levels[str(base_product.variant_ids[0])]
    assert base.price == Decimal("8.5") and base.enabled is False


def test_update_variants_reports_the_refused_one_and_writes_the_rest(url, store, faults):
    first, second = sorted(store.variants)[:2]
    parent = next(f"product-{p.id}" for p in store.products.values() if len(p.variant_ids) > 1)
    faults.reset()

    refused = make_adapter(url).update_variants(
        [
            VariantUpdate(str(first), quantity=11, price=Decimal("21.50")),
            VariantUpdate("999999", quantity=3),
            VariantUpdate(str(second), quantity=0),
            VariantUpdate(parent, quantity=5),
            VariantUpdate(str(second)),  # nothing to change: not sent
        ]
    )

    assert set(refused) == {"999999", parent}
    assert "does not exist" in refused["999999"]
    assert "several variants" in refused[parent]
    assert store.variants[first].inventory_level == 11
    assert store.selling_price(store.variants[first]) == Decimal("21.5")
    assert store.variants[second].inventory_level == 0
    assert faults.stats["requests"] == 2  # the refused batch, then the rest of it


def test_update_variants_in_batches_of_50(url, store, faults):
    ids = sorted(store.variants)[:120]
    faults.reset()

    refused = make_adapter(url).update_variants(
        [VariantUpdate(str(i), quantity=i % 7) for i in ids]
    )

    assert refused == {}
    assert faults.stats["requests"] == 3
    assert all(store.variants[i].inventory_level == i % 7 for i in ids)


# --- orders ------------------------------------------------------------------------------------


def test_create_find_and_cancel_an_order_twice(url, store):
    adapter = make_adapter(url)
    with_options = next(v for v in store.variants.values() if not v.is_base)
    base = next(v for v in store.variants.values() if v.is_base)
    stock = with_options.inventory_level

    created = adapter.create_order(tiktok_order(store, "5764001", with_options.id, base.id))
    found = adapter.find_order("5764001")
    cancelled = adapter.cancel_order(created.remote_id)
    again = adapter.cancel_order(created.remote_id)

    assert created.status == "Awaiting Fulfillment" and not created.cancelled
    assert found == created
    assert adapter.find_order("5764999") is None
    assert cancelled.cancelled and again.cancelled and again.status == "Cancelled"
    assert store.variants[with_options.id].inventory_level == stock  # taken, then put back
    [order] = control(url, "GET", "orders")["orders"]
    assert order["external_order_id"] == "5764001"
    assert order["external_source"] == "TikTok Shop"
    assert order["customer_message"] == "Leave at the door"
    assert [(line["product_id"], line["variant_id"]) for line in order["products"]] == [
        (with_options.product_id, with_options.id),
        (base.product_id, base.id),
    ]
    assert order["products"][0]["price_inc_tax"] == "12.3400"
    [shipping] = order["shipping_addresses"]
    assert (shipping["first_name"], shipping["last_name"]) == ("Jordan", "Rivera")
    assert (shipping["street_1"], shipping["street_2"]) == ("1200 Sunset Blvd", "Apt 4B")
    assert (shipping["zip"], shipping["country_iso2"]) == ("90026", "US")
    assert order["billing_address"]["zip"] == "90026"


def test_an_order_for_a_variant_the_store_no_longer_has(url, store, faults):
    order = tiktok_order(store)
    gone = NewOrder(
        reference=order.reference,
        currency="USD",
        lines=(OrderLine("999999", "OLD-SKU", "Old tee", 1, Decimal("5")),),
        shipping_address=ADDRESS,
    )

    with pytest.raises(AdapterError, match="OLD-SKU .* no longer in the BigCommerce catalog"):
        make_adapter(url).create_order(gone)
    assert store.orders == {}


def test_create_order_is_never_sent_twice(url, store):
    control(url, "POST", "orders/fail-next", {"count": 1})  # created, but the answer is a 500
    sleep = FakeSleep()
    adapter = make_adapter(url, sleep=sleep)

    with pytest.raises(RemoteServerError):
        adapter.create_order(tiktok_order(store, "5764777"))

    assert len(control(url, "GET", "orders")["orders"]) == 1
    assert sleep.delays == []
    assert adapter.find_order("5764777") is not None  # how callers recover


# --- faults and rate limits --------------------------------------------------------------------


@pytest.mark.parametrize("knob", ["rate_limit_rate", "error_rate"])
def test_reads_retry_after_an_injected_fault(url, store, faults, knob):
    faults.configure(**{knob: 1.0})
    sleep = FakeSleep(on_sleep=faults.reset)  # the fault clears while the adapter waits

    levels = make_adapter(url, sleep=sleep).stock_levels([str(v) for v in store.variants])

    assert len(levels) == len(store.variants)
    assert len(sleep.delays) == 1
    if knob == "rate_limit_rate":
        assert sleep.delays == [1.0]  # the quota's reset time the 429 gave


def test_reads_give_up_after_repeated_faults(url, faults):
    faults.configure(error_rate=1.0)
    sleep = FakeSleep()

    with pytest.raises(RemoteServerError, match="BigCommerce failed"):
        catalog_entries(make_adapter(url, sleep=sleep))
    assert len(sleep.delays) == 3  # four attempts


def test_a_refused_token_raises_without_retrying(url):
    sleep = FakeSleep()

    with pytest.raises(AuthenticationFailed) as refused:
        make_adapter(url, sleep=sleep, access_token="revoked").stock_levels(["1"])
    assert refused.value.status == 401
    assert "X-Auth-Token" in str(refused.value)  # BigCommerce's own words are kept
    assert sleep.delays == []


@pytest.fixture
def throttled():
    """A sandbox of its own with a small quota and a short window."""
    settings = SandboxSettings(
        tiktok_skus=80, products=20, bigcommerce_quota=4, bigcommerce_window_ms=600
    )
    with serve_sandbox(create_bigcommerce_sandbox, settings) as (url, app, _):
        yield url, app.extensions["bigcommerce_store"], settings


def test_pauses_when_the_quota_runs_out_before_any_429(throttled):
    url, store, settings = throttled
    limiter = RecordingLimiter(hold=True)
    adapter = make_adapter(url, settings=settings, page_size=2, limiter=limiter, sleep=time.sleep)

    entries = catalog_entries(adapter)

    assert len([e for e in entries if not e.is_parent]) == len(store.variants)
    assert limiter.pauses and all(0 < pause <= 0.6 for pause in limiter.pauses)
    assert store.quota.refused == 0  # it waited for each reset instead of running into a 429


def test_backs_off_on_a_429_and_succeeds(throttled):
    url, store, settings = throttled
    headers = {"X-Auth-Token": settings.bigcommerce_access_token}
    api = f"{url}/stores/{settings.bigcommerce_store_hash}/v2/store"
    while requests.get(api, headers=headers).status_code != 429:  # another app used the quota
        pass
    limiter = RecordingLimiter(hold=True)
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        time.sleep(seconds)

    adapter = make_adapter(url, settings=settings, limiter=limiter, sleep=sleep)
    levels = adapter.stock_levels([str(v) for v in store.variants])

    assert len(levels) == len(store.variants)
    assert store.quota.refused >= 2  # ours, then the adapter's
    assert limiter.pauses and slept
    assert 0 < slept[0] <= 0.6  # the reset time the 429 named, not a guess


# --- webhooks ----------------------------------------------------------------------------------


@pytest.fixture
def receiver():
    with serve_webhook_receiver() as receiver:
        yield receiver


def deliver(url, receiver, **body):
    address, deliveries = receiver
    deliveries.clear()
    control(url, "POST", "webhooks", {"url": address, **body})
    return list(deliveries)


def test_webhook_about_a_variants_stock(url, store, receiver):
    variant = next(v for v in store.variants.values() if not v.is_base)

    [(headers, body)] = deliver(
        url, receiver, scope="store/sku/inventory/updated", variant_id=variant.id
    )
    delivery = make_adapter(url).parse_webhook(headers, body)

    assert delivery.remote_ids == (str(variant.id),)
    assert delivery.delivery_id and len(delivery.delivery_id) == 40


@pytest.mark.parametrize("scope", ["store/product/inventory/updated", "store/product/updated"])
def test_webhook_about_a_product_names_its_variants(url, store, receiver, scope):
    product = next(p for p in store.products.values() if len(p.variant_ids) > 1)

    [(headers, body)] = deliver(url, receiver, scope=scope, product_id=product.id)
    delivery = make_adapter(url).parse_webhook(headers, body)

    assert sorted(delivery.remote_ids) == sorted(map(str, product.variant_ids))


def test_a_repeated_delivery_keeps_its_id(url, store, receiver):
    product = next(iter(store.products.values()))

    first, second = deliver(
        url, receiver, scope="store/product/updated", product_id=product.id, repeat=True
    )
    adapter = make_adapter(url)

    assert adapter.parse_webhook(*first).delivery_id == adapter.parse_webhook(*second).delivery_id


def test_webhooks_without_the_secret_are_refused(url, store, receiver):
    variant = next(v for v in store.variants.values() if not v.is_base)
    [(headers, body)] = deliver(
        url,
        receiver,
        scope="store/sku/inventory/updated",
        variant_id=variant.id,
        wrong_secret=True,
    )
    adapter = make_adapter(url)

    with pytest.raises(WebhookRefused, match="X-SKU-Bridge-Secret"):
        adapter.parse_webhook(headers, body)
    with pytest.raises(WebhookRefused):
        adapter.parse_webhook({"Content-Type": "application/json"}, body)
    with pytest.raises(WebhookRefused, match="not JSON"):
        adapter.parse_webhook({"x-sku-bridge-secret": SETTINGS.bigcommerce_webhook_secret}, b"{")
