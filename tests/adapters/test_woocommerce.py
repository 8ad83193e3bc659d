"""WooCommerceAdapter against the WooCommerce sandbox over real loopback HTTP."""

from __future__ import annotations

import itertools
import math
import socket
import time
from collections import Counter
from decimal import Decimal

import pytest
import requests
from flask import Flask, jsonify

from tests.builders import serve_app, serve_sandbox, serve_webhook_receiver
from tests.fakes import FakeSleep, RecordingLimiter
from webapp.adapters.base import (
    AuthenticationFailed,
    CallPolicy,
    NewOrder,
    OrderAddress,
    OrderLine,
    RateLimited,
    RemoteServerError,
    VariantUpdate,
    WebhookRefused,
)
from webapp.adapters.woocommerce import (
    UNSAID_PAUSE_SECONDS,
    WooCommerceAdapter,
    split_remote_id,
    variation_remote_id,
)
from webapp.sandbox.settings import SandboxSettings
from webapp.sandbox.woocommerce import create_woocommerce_sandbox

SETTINGS = SandboxSettings(tiktok_skus=400, products=100)


class Sandbox:
    def __init__(self, url, app, catalog):
        self.url, self.app, self.catalog = url, app, catalog
        self.store = app.extensions["woocommerce_store"]
        self.faults = app.extensions["sandbox_faults"]

    def control(self, path, json):
        response = requests.post(f"{self.url}/__sandbox__/woocommerce/{path}", json=json)
        assert response.status_code == 200, response.text
        return response.json()

    def edit(self, post_id, **changes):
        return self.control(f"products/{post_id}", changes)


@pytest.fixture(scope="module")
def woo():
    with serve_sandbox(create_woocommerce_sandbox, SETTINGS) as (url, app, catalog):
        yield Sandbox(url, app, catalog)


@pytest.fixture(autouse=True)
def _calm(woo):
    yield
    woo.faults.reset()
    woo.store.throttle(0, None)


def make_adapter(woo, *, key=None, secret=None, url=None, sleep=None, limiter=None, **options):
    credentials = {
        "consumer_key": key or SETTINGS.woocommerce_consumer_key,
        "consumer_secret": secret or SETTINGS.woocommerce_consumer_secret,
        "webhook_secret": options.pop("webhook_secret", SETTINGS.woocommerce_webhook_secret),
    }
    return WooCommerceAdapter(
        url or woo.url,
        credentials,
        policy=CallPolicy(timeout=(1.0, 5.0)),
        sleep=sleep or FakeSleep(),
        limiter=limiter,
        **options,
    )


def catalog_entries(adapter, max_pages=1000):
    """Every entry, with a page cap so an adapter that loops forever fails instead of hanging."""
    pages = list(itertools.islice(adapter.iter_catalog(), max_pages))
    assert len(pages) < max_pages, "iter_catalog did not stop"
    return [entry for page in pages for entry in page.items]


def expected_remote_id(product) -> str:
    if product.parent_id:
        return variation_remote_id(product.parent_id, product.id)
    return str(product.id)


def sellable(woo):
    return [p for p in woo.catalog.store_products if p.type_id == "simple"]


# --- the adapter's declaration ------------------------------------------------------------------


def test_declares_its_platform_and_credentials():
    assert WooCommerceAdapter.platform == "woocommerce"
    assert WooCommerceAdapter.supports_webhooks
    fields = WooCommerceAdapter.credential_fields
    assert [(f.name, f.required) for f in fields] == [
        ("consumer_key", True),
        ("consumer_secret", True),
        ("webhook_secret", False),  # only webhooks need it
    ]
    assert all("WooCommerce › Settings › Advanced" in f.help for f in fields)


def test_constructor_validates():
    with pytest.raises(ValueError, match="Consumer key, Consumer secret"):
        WooCommerceAdapter("https://shop.example.com", {})
    with pytest.raises(ValueError, match="Page size"):
        WooCommerceAdapter(
            "https://shop.example.com", {"consumer_key": "k", "consumer_secret": "s"}, page_size=101
        )
    adapter = WooCommerceAdapter(
        "https://shop.example.com/wp-json/wc/v3/", {"consumer_key": "k", "consumer_secret": "s"}
    )
    assert adapter.http.base_url == "https://shop.example.com"


def test_remote_ids_carry_the_parent_of_a_variation():
    assert split_remote_id("741") == (None, 741)
    assert split_remote_id(variation_remote_id(741, 745)) == (741, 745)
    for wrong in ("", "abc", "1:x", "x:1", "1:2:3"):
        with pytest.raises(ValueError, match="not a WooCommerce product or variation id"):
            split_remote_id(wrong)


# --- test_connection ------------------------------------------------------------------------


def test_connection_ok(woo):
    check = make_adapter(woo).test_connection()

    assert check.ok
    assert "“Demo Outfitters”" in check.message and "currency USD" in check.message


def test_connection_with_a_key_the_store_does_not_know(woo):
    check = make_adapter(woo, key="ck_unknown").test_connection()

    assert not check.ok
    assert "Sorry, you cannot list resources" in check.message
    assert "WooCommerce › Settings › Advanced › REST API" in check.message
    assert "https://" in check.message  # the sandbox is plain HTTP, where WooCommerce wants TLS


def test_connection_with_a_wrong_secret(woo):
    check = make_adapter(woo, secret="cs_wrong").test_connection()

    assert not check.ok
    assert "Consumer secret is invalid" in check.message


def test_connection_to_a_port_nobody_listens_on(woo):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed when the block ends: nothing listens there
    check = make_adapter(woo, url=f"http://127.0.0.1:{port}").test_connection()

    assert not check.ok
    assert "Could not reach the store" in check.message


def test_connection_to_something_that_is_not_wordpress(woo):
    check = make_adapter(woo, url=f"{woo.url}/elsewhere").test_connection()

    assert not check.ok
    assert "No WordPress REST API answered" in check.message


def test_connection_to_a_wordpress_without_woocommerce(woo):
    blog = Flask("plain_wordpress")

    @blog.route("/wp-json/<path:route>")
    def no_route(route):
        body = {
            "code": "rest_no_route",
            "message": "No route was found matching the URL and request method.",
            "data": {"status": 404},
        }
        return jsonify(body), 404

    with serve_app(blog) as url:
        check = make_adapter(woo, url=url).test_connection()

    assert not check.ok
    assert "has no WooCommerce REST API" in check.message


# --- catalog ----------------------------------------------------------------------------------


def test_catalog_lists_every_store_product_exactly_once(woo):
    entries = catalog_entries(make_adapter(woo))
    products = woo.catalog.store_products

    assert Counter(e.remote_id for e in entries) == Counter(map(expected_remote_id, products))
    assert Counter(e.sku for e in entries) == Counter(p.sku for p in products)
    duplicated = [sku for sku, n in Counter(e.sku for e in entries).items() if n > 1]
    assert duplicated, "the demo catalog has duplicated SKUs; both entries must come back"


def test_catalog_entries_carry_parents_variants_and_details(woo):
    entries = {e.remote_id: e for e in catalog_entries(make_adapter(woo))}
    by_id = {p.id: p for p in woo.catalog.store_products}

    for product in woo.catalog.store_products:
        entry = entries[expected_remote_id(product)]
        parent = by_id.get(product.parent_id)
        assert entry.is_parent == (product.type_id == "configurable")
        assert entry.parent_remote_id == (str(parent.id) if parent else None)
        assert entry.name == (parent.name if parent else product.name)
        assert entry.price == product.price and isinstance(entry.price, Decimal)
        assert entry.barcode == product.barcode
        assert entry.categories == product.categories
        assert entry.tags == product.tags
        assert entry.enabled
        if entry.is_parent:
            assert entry.variant == "" and entry.quantity is None
        elif parent:
            assert entry.variant == f"{product.color} / {product.size}"
            assert entry.quantity == product.quantity
        else:
            assert entry.variant == "" and entry.quantity == product.quantity
    in_meta = [p for p in sellable(woo) if p.id % 5 == 0 and p.barcode]
    assert in_meta, "some barcodes live in a plugin's meta field, as in older shops"


@pytest.mark.parametrize("page_size", [7, 100])
def test_pages_of_products_each_with_their_variations(woo, page_size):
    woo.faults.reset()
    pages = list(itertools.islice(make_adapter(woo, page_size=page_size).iter_catalog(), 500))

    products = woo.catalog.store_products
    top_level = sum(p.parent_id is None for p in products)
    parents = sum(p.type_id == "configurable" for p in products)
    assert len(pages) == math.ceil(top_level / page_size)
    assert pages[-1].total == len(products)  # exact once every product was read
    assert all(
        page.total >= sum(len(p.items) for p in pages[: i + 1]) for i, page in enumerate(pages)
    )
    assert woo.faults.stats["requests"] == len(pages) + parents


def test_disabled_products_and_variations(woo):
    parent = next(p for p in woo.catalog.store_products if p.type_id == "configurable")
    variation = next(p for p in woo.catalog.store_products if p.parent_id == parent.id)
    other_parent = next(
        p for p in woo.catalog.store_products if p.type_id == "configurable" and p is not parent
    )
    sibling = next(p for p in woo.catalog.store_products if p.parent_id == other_parent.id)
    simple = next(p for p in sellable(woo) if p.parent_id is None)
    try:
        woo.edit(variation.id, status="private")  # "Enabled" unticked on the variation
        woo.edit(other_parent.id, status="draft")
        woo.edit(simple.id, status="draft")
        entries = {e.remote_id: e for e in catalog_entries(make_adapter(woo))}
    finally:
        for post in (variation, other_parent, simple):
            woo.edit(post.id, status="publish")

    assert not entries[expected_remote_id(variation)].enabled
    assert not entries[str(other_parent.id)].enabled
    assert not entries[expected_remote_id(sibling)].enabled  # its parent is a draft
    assert not entries[str(simple.id)].enabled
    assert entries[str(parent.id)].enabled


# --- stock levels -----------------------------------------------------------------------------


def test_stock_levels_in_as_few_calls_as_the_api_allows(woo):
    products = woo.catalog.store_products
    simple_ids = [str(p.id) for p in products if p.type_id == "simple" and not p.parent_id]
    one_per_parent = {}
    for product in products:
        if product.parent_id:
            one_per_parent.setdefault(product.parent_id, expected_remote_id(product))
    two_more = [expected_remote_id(p) for p in products if p.parent_id][1:3]
    missing = ["999999", variation_remote_id(999998, 999999), "not-an-id"]
    asked = simple_ids + list(one_per_parent.values()) + two_more + missing
    woo.faults.reset()

    levels = make_adapter(woo).stock_levels(asked)

    assert set(levels) == set(simple_ids) | set(one_per_parent.values()) | set(two_more)
    product_calls = math.ceil((len(simple_ids) + len(one_per_parent) + 1) / 100)
    assert woo.faults.stats["requests"] == product_calls + len(one_per_parent)
    by_remote_id = {expected_remote_id(p): p for p in products}
    for remote_id, level in levels.items():
        product = by_remote_id[remote_id]
        assert level.quantity == product.quantity
        assert level.price == product.price
        assert level.enabled


def test_stock_levels_show_what_the_merchant_changed(woo):
    variation = next(p for p in woo.catalog.store_products if p.parent_id)
    remote_id = expected_remote_id(variation)
    try:
        woo.edit(variation.id, stock_quantity=123, sale_price="9.50", status="private")
        level = make_adapter(woo).stock_levels([remote_id])[remote_id]
    finally:
        woo.edit(variation.id, stock_quantity=variation.quantity, sale_price="", status="publish")

    assert level.quantity == 123
    assert level.price == Decimal("9.50")  # the sale price is what a buyer pays now
    assert not level.enabled


def test_stock_levels_of_nothing_make_no_call(woo):
    woo.faults.reset()

    assert make_adapter(woo).stock_levels([]) == {}
    assert woo.faults.stats["requests"] == 0


# --- writing stock and prices -----------------------------------------------------------------


def test_update_variants_batches_per_parent_and_reports_the_refused_one(woo):
    products = woo.catalog.store_products
    parents = [p for p in products if p.type_id == "configurable"][10:12]
    variations = [p for p in products if p.parent_id in {parent.id for parent in parents}]
    simple = [p for p in products if p.type_id == "simple" and not p.parent_id][-1]
    updates = [
        VariantUpdate(expected_remote_id(p), quantity=40 + i, price=Decimal("11.25"))
        for i, p in enumerate([*variations, simple])
    ]
    refused_variation = variation_remote_id(parents[0].id, 999999)
    updates += [VariantUpdate(refused_variation, quantity=1), VariantUpdate("junk", quantity=1)]
    adapter = make_adapter(woo)
    woo.faults.reset()

    refused = adapter.update_variants(updates)

    assert set(refused) == {refused_variation, "junk"}
    assert "no such product or variation" in refused[refused_variation]
    assert "Invalid ID." in refused[refused_variation]  # WooCommerce's own words are kept
    assert woo.faults.stats["requests"] == 1 + len(parents)  # products batch + one per parent
    levels = adapter.stock_levels([u.remote_id for u in updates])
    for update in updates[:-2]:
        assert levels[update.remote_id].quantity == update.quantity
        assert levels[update.remote_id].price == Decimal("11.25")


def test_update_variants_writes_only_what_is_given(woo):
    variation = [p for p in woo.catalog.store_products if p.parent_id][20]
    remote_id = expected_remote_id(variation)
    adapter = make_adapter(woo)

    adapter.update_variants([VariantUpdate(remote_id, quantity=77)])
    after_quantity = adapter.stock_levels([remote_id])[remote_id]
    adapter.update_variants([VariantUpdate(remote_id, price=Decimal("15.00"))])
    after_price = adapter.stock_levels([remote_id])[remote_id]

    assert (after_quantity.quantity, after_quantity.price) == (77, variation.price)
    assert (after_price.quantity, after_price.price) == (77, Decimal("15.00"))


def test_update_variants_sends_at_most_100_objects_a_call(woo):
    updates = [VariantUpdate(str(900_000 + i), quantity=1) for i in range(150)]
    woo.faults.reset()

    refused = make_adapter(woo).update_variants(updates)

    assert set(refused) == {u.remote_id for u in updates}
    assert woo.faults.stats["requests"] == 2


# --- orders -------------------------------------------------------------------------------------


def new_order(woo, reference, quantity=2):
    variation = [p for p in woo.catalog.store_products if p.parent_id][30]
    address = OrderAddress(
        name="Jamie Lee Rivera",
        phone="+1 512 555 0100",
        lines=("500 Congress Ave", "Suite 210"),
        city="Austin",
        region="TX",
        postal_code="78701",
        country_code="US",
    )
    line = OrderLine(
        remote_id=expected_remote_id(variation),
        sku=variation.sku,
        name=variation.name,
        quantity=quantity,
        unit_price=Decimal("12.50"),
    )
    return variation, NewOrder(
        reference=reference,
        currency="USD",
        lines=(line,),
        shipping_address=address,
        note="Gift wrap, please",
    )


def test_create_find_and_cancel_an_order_twice(woo):
    variation, order = new_order(woo, "576900000000000001")
    remote_id = expected_remote_id(variation)
    adapter = make_adapter(woo)
    before = adapter.stock_levels([remote_id])[remote_id].quantity

    created = adapter.create_order(order)
    found = adapter.find_order(order.reference)
    taken = adapter.stock_levels([remote_id])[remote_id].quantity
    cancelled = adapter.cancel_order(created.remote_id)
    cancelled_again = adapter.cancel_order(created.remote_id)
    restored = adapter.stock_levels([remote_id])[remote_id].quantity

    assert created.status == "processing" and not created.cancelled
    assert created.number == f"#{created.remote_id}"
    assert found == created
    assert taken == before - 2 and restored == before  # given back once, not twice
    assert cancelled.cancelled and cancelled_again.cancelled
    stored = woo.store.orders[int(created.remote_id)]
    assert {"key": "_tiktok_order_id", "value": order.reference}.items() <= stored["meta_data"][
        0
    ].items()
    assert stored["shipping"]["first_name"] == "Jamie" and stored["shipping"]["last_name"] == (
        "Lee Rivera"
    )
    assert stored["shipping"]["address_2"] == "Suite 210"
    assert stored["line_items"][0]["variation_id"] == variation.id
    assert stored["line_items"][0]["total"] == "25.00"
    assert stored["customer_note"] == "Gift wrap, please"


def test_find_order_wants_the_exact_reference(woo):
    _, order = new_order(woo, "576900000000000777")
    adapter = make_adapter(woo)
    adapter.create_order(order)

    assert adapter.find_order("576900000000000") is None  # search matches parts; the meta does not
    assert adapter.find_order("576900000000099999") is None
    assert adapter.find_order(order.reference) is not None


def test_create_order_is_never_retried(woo):
    _, order = new_order(woo, "576900000000000002")
    sleep = FakeSleep()
    orders_before = len(woo.store.orders)
    woo.faults.reset()
    woo.faults.configure(error_rate=1.0)

    with pytest.raises(RemoteServerError, match="critical error"):
        make_adapter(woo, sleep=sleep).create_order(order)

    assert sleep.delays == []
    assert woo.faults.stats["requests"] == 1
    assert len(woo.store.orders) == orders_before


def test_create_order_when_the_host_says_slow_down(woo):
    _, order = new_order(woo, "576900000000000003")
    limiter, sleep = RecordingLimiter(), FakeSleep()
    woo.store.throttle(1, 4)

    with pytest.raises(RateLimited) as limited:
        make_adapter(woo, sleep=sleep, limiter=limiter).create_order(order)

    assert limited.value.retry_after == 4.0
    assert limiter.pauses == [4.0] and sleep.delays == []


def test_cancelling_an_order_the_store_does_not_have(woo):
    with pytest.raises(Exception, match="Invalid ID"):
        make_adapter(woo).cancel_order("424242")


# --- retries and rate limits ---------------------------------------------------------------


def test_reads_are_retried_after_a_server_error(woo):
    woo.faults.configure(error_rate=1.0)
    sleep = FakeSleep(on_sleep=woo.faults.reset)  # the fault clears while the adapter waits

    entries = catalog_entries(make_adapter(woo, sleep=sleep))

    assert len(entries) == len(woo.catalog.store_products)
    assert len(sleep.delays) == 1


def test_gives_up_after_repeated_server_errors(woo):
    woo.faults.configure(error_rate=1.0)
    sleep = FakeSleep()

    with pytest.raises(RemoteServerError, match=r"The store failed \(500\)"):
        make_adapter(woo, sleep=sleep).stock_levels(["9"])
    assert len(sleep.delays) == 3  # four attempts


@pytest.mark.parametrize(
    "retry_after, pauses, delays",
    [(3, [3.0, 3.0], [3.0, 3.0]), (None, [UNSAID_PAUSE_SECONDS] * 2, [0.5, 1.0])],
)
def test_a_429_pauses_the_limiter_and_the_read_is_sent_again(woo, retry_after, pauses, delays):
    variation = next(p for p in woo.catalog.store_products if p.parent_id)
    remote_id = expected_remote_id(variation)
    limiter, sleep = RecordingLimiter(), FakeSleep()
    woo.store.throttle(2, retry_after)

    levels = make_adapter(woo, sleep=sleep, limiter=limiter).stock_levels([remote_id])

    assert remote_id in levels
    assert limiter.pauses == pauses
    assert sleep.delays == delays


@pytest.mark.parametrize(
    "retry_after, error, pauses, delays",
    [(2, RateLimited, [2.0], [2.0]), (None, RemoteServerError, [], [0.5])],
)
def test_a_busy_host_is_waited_for_as_long_as_it_says(woo, retry_after, error, pauses, delays):
    simple = next(p for p in sellable(woo) if not p.parent_id)
    limiter, sleep = RecordingLimiter(), FakeSleep()
    woo.store.throttle(1, retry_after, status=503)
    adapter = make_adapter(woo, sleep=sleep, limiter=limiter)

    assert str(simple.id) in adapter.stock_levels([str(simple.id)])  # sent again, served
    assert limiter.pauses == pauses and sleep.delays == delays
    woo.store.throttle(1, retry_after, status=503)
    with pytest.raises(error):
        adapter.create_order(new_order(woo, "576900000000000004")[1])


def test_a_refused_key_raises_without_retrying(woo):
    sleep = FakeSleep()

    with pytest.raises(AuthenticationFailed) as refused:
        catalog_entries(make_adapter(woo, secret="cs_revoked", sleep=sleep))
    assert refused.value.status == 401
    assert refused.value.code == "woocommerce_rest_authentication_error"
    assert sleep.delays == []


def test_backs_off_under_the_hosts_per_second_limit():
    settings = SandboxSettings(tiktok_skus=48, products=12, rate_limit_per_second=4)
    with serve_sandbox(create_woocommerce_sandbox, settings) as (url, app, catalog):
        limiter = RecordingLimiter()
        adapter = make_adapter(Sandbox(url, app, catalog), sleep=time.sleep, limiter=limiter)

        entries = catalog_entries(adapter)

        assert len(entries) == len(catalog.store_products)
        assert limiter.pauses and set(limiter.pauses) == {1.0}  # the host's Retry-After


# --- webhooks -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def receiver():
    with serve_webhook_receiver() as receiver:
        yield receiver


def deliver(woo, receiver, **asked):
    url, deliveries = receiver
    deliveries.clear()
    answer = woo.control("webhooks/deliver", {"url": url, **asked})
    assert set(answer["statuses"]) == {200}
    return answer, list(deliveries)


def test_a_variation_update_names_the_variation_under_its_parent(woo, receiver):
    variation = next(p for p in woo.catalog.store_products if p.parent_id)
    answer, [(headers, body)] = deliver(woo, receiver, topic="product.updated", id=variation.id)

    webhook = make_adapter(woo).parse_webhook(headers, body)

    assert webhook.remote_ids == (expected_remote_id(variation),)
    assert webhook.delivery_id == answer["delivery_id"]


def test_product_webhooks_name_simple_products_and_every_variation_of_a_parent(woo, receiver):
    parent = next(p for p in woo.catalog.store_products if p.type_id == "configurable")
    simple = next(p for p in sellable(woo) if not p.parent_id)
    adapter = make_adapter(woo)

    _, [(parent_headers, parent_body)] = deliver(woo, receiver, id=parent.id)
    _, [(simple_headers, simple_body)] = deliver(
        woo, receiver, topic="product.created", id=simple.id
    )
    _, [(gone_headers, gone_body)] = deliver(woo, receiver, topic="product.deleted", id=simple.id)

    assert adapter.parse_webhook(parent_headers, parent_body).remote_ids == tuple(
        variation_remote_id(parent.id, child) for child in parent.children_ids
    )
    assert adapter.parse_webhook(simple_headers, simple_body).remote_ids == (str(simple.id),)
    assert adapter.parse_webhook(gone_headers, gone_body).remote_ids == (str(simple.id),)


def test_a_webhook_signed_with_another_secret_is_refused(woo, receiver):
    variation = next(p for p in woo.catalog.store_products if p.parent_id)
    _, [(headers, body)] = deliver(woo, receiver, id=variation.id, bad_signature=True)

    with pytest.raises(WebhookRefused, match="signature does not match"):
        make_adapter(woo).parse_webhook(headers, body)
    with pytest.raises(WebhookRefused, match="no webhook secret"):
        make_adapter(woo, webhook_secret="").parse_webhook(headers, body)


def test_a_webhook_delivered_twice_carries_one_delivery_id(woo, receiver):
    variation = next(p for p in woo.catalog.store_products if p.parent_id)
    _, deliveries = deliver(woo, receiver, id=variation.id, twice=True)
    adapter = make_adapter(woo)

    first, second = (adapter.parse_webhook(headers, body) for headers, body in deliveries)

    assert first == second and first.delivery_id


def test_the_ping_of_a_new_webhook_is_not_an_error(woo, receiver):
    _, [(headers, body)] = deliver(woo, receiver, ping=True)

    webhook = make_adapter(woo).parse_webhook(headers, body)

    assert webhook.remote_ids == () and webhook.delivery_id is None
    assert body.startswith(b"webhook_id=")
