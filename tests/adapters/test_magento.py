"""MagentoAdapter against the Magento sandbox over real loopback HTTP."""

from __future__ import annotations

import itertools
import logging
import socket
from collections import Counter
from decimal import Decimal
from types import SimpleNamespace

import pytest
import requests

from tests.builders import serve_sandbox
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
)
from webapp.adapters.magento import MagentoAdapter
from webapp.adapters.registry import store_adapter_class
from webapp.sandbox.magento import create_magento_sandbox
from webapp.sandbox.settings import SandboxSettings


@pytest.fixture
def faults(sandbox):
    return sandbox.apps["magento"].extensions["sandbox_faults"]


@pytest.fixture(scope="module")
def own_sandbox():
    """A Magento sandbox of this module's own: these tests change its stock, prices and orders."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    settings = SandboxSettings(tiktok_skus=400, products=100)
    with serve_sandbox(create_magento_sandbox, settings) as (url, app, catalog):
        yield SimpleNamespace(
            url=url,
            settings=settings,
            catalog=catalog,
            store=app.extensions["magento_store"],
            faults=app.extensions["sandbox_faults"],
        )


@pytest.fixture
def store(own_sandbox):
    """The module's own sandbox with the demo catalog's stock and prices, no orders, no faults."""
    requests.post(f"{own_sandbox.url}/__sandbox__/magento/reset", timeout=5).raise_for_status()
    own_sandbox.faults.reset()
    yield own_sandbox
    own_sandbox.faults.reset()


def make_adapter(sandbox, *, token=None, page_size=100, sleep=None, url=None, limiter=None):
    return MagentoAdapter(
        url or sandbox.url("magento"),
        {"access_token": token or sandbox.settings.magento_token},
        page_size=page_size,
        policy=CallPolicy(timeout=(1.0, 5.0)),
        sleep=sleep or FakeSleep(),
        limiter=limiter,
    )


def own_adapter(store, **kwargs):
    return make_adapter(store, url=store.url, **kwargs)


def simple_products(catalog):
    """Simple products whose SKU no other product shares, in catalog order."""
    counts = Counter(p.sku.casefold() for p in catalog.store_products)
    return [
        p for p in catalog.store_products if p.type_id == "simple" and counts[p.sku.casefold()] == 1
    ]


def sku_totals(store):
    totals = Counter()
    for item in store.store.source_item_list():
        totals[item["sku"].casefold()] += item["quantity"]
    return totals


def split_sku_product(store):
    """A product whose SKU's stock is split over the default and a second source."""
    split = {
        sku.casefold()
        for (sku, source), item in store.store.source_items.items()
        if source != "default" and item["quantity"] > 0
    }
    return next(p for p in simple_products(store.catalog) if p.sku.casefold() in split)


def new_order(products, reference="576461413038785752"):
    return NewOrder(
        reference=reference,
        currency="USD",
        lines=tuple(
            OrderLine(
                remote_id=str(p.id),
                sku=p.sku,
                name=p.name,
                quantity=n,
                unit_price=p.price,
            )
            for n, p in enumerate(products, start=1)
        ),
        shipping_address=OrderAddress(
            name="Jane Q Doe",
            phone="(+1)512-555-1111",
            lines=("123 Oak Ave", "Apt 4"),
            city="Austin",
            region="Texas",
            postal_code="78701",
            country_code="US",
        ),
        note="Gift wrap",
    )


def control_orders(store):
    response = requests.get(f"{store.url}/__sandbox__/magento/orders", timeout=5)
    return response.json()["orders"]


def catalog_entries(adapter, max_pages=1000):
    """Every entry, with a page cap so an adapter that loops forever fails instead of hanging."""
    pages = list(itertools.islice(adapter.iter_catalog(), max_pages))
    assert len(pages) < max_pages, "iter_catalog did not stop"
    return [entry for page in pages for entry in page.items]


def test_registry_finds_the_adapter():
    assert store_adapter_class("magento") is MagentoAdapter
    assert MagentoAdapter.platform == "magento"
    assert [f.name for f in MagentoAdapter.credential_fields] == ["access_token"]


def test_constructor_validates():
    with pytest.raises(ValueError, match="Integration access token"):
        MagentoAdapter("https://shop.example.com", {})
    with pytest.raises(ValueError, match="Page size"):
        MagentoAdapter("https://shop.example.com", {"access_token": "t"}, page_size=0)
    adapter = MagentoAdapter("https://shop.example.com/rest/V1/", {"access_token": "t"})
    assert adapter.http.base_url == "https://shop.example.com"


def test_connection_ok(sandbox):
    check = make_adapter(sandbox).test_connection()

    assert check.ok
    assert "USD" in check.message


def test_connection_with_a_refused_token(sandbox):
    check = make_adapter(sandbox, token="not-the-token").test_connection()

    assert not check.ok
    assert "refused the access token" in check.message


def test_connection_to_a_port_nobody_listens_on(sandbox):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed when the block ends: nothing listens there
    check = make_adapter(sandbox, url=f"http://127.0.0.1:{port}").test_connection()

    assert not check.ok
    assert "Could not reach the store" in check.message


def test_connection_to_something_that_is_not_magento(sandbox):
    check = make_adapter(sandbox, url=f"{sandbox.url('magento')}/elsewhere").test_connection()

    assert not check.ok
    assert "No Magento REST API" in check.message


def test_catalog_lists_every_store_product_exactly_once(sandbox):
    entries = catalog_entries(make_adapter(sandbox))
    products = sandbox.catalog.store_products

    assert Counter(e.remote_id for e in entries) == Counter(str(p.id) for p in products)
    assert Counter(e.sku for e in entries) == Counter(p.sku for p in products)
    duplicated = [sku for sku, n in Counter(e.sku for e in entries).items() if n > 1]
    assert duplicated, "the demo catalog has duplicated SKUs; both entries must come back"


def test_catalog_entries_carry_parents_variants_and_details(sandbox):
    entries = {e.remote_id: e for e in catalog_entries(make_adapter(sandbox))}

    for product in sandbox.catalog.store_products:
        entry = entries[str(product.id)]
        assert entry.is_parent == (product.type_id == "configurable")
        assert entry.parent_remote_id == (str(product.parent_id) if product.parent_id else None)
        assert entry.name == product.name
        assert entry.price == product.price and isinstance(entry.price, Decimal)
        assert entry.barcode == product.barcode
        assert entry.categories == product.categories
        assert entry.enabled == (product.status == 1)
        if entry.is_parent:
            assert entry.variant == "" and entry.quantity is None
        else:
            assert entry.variant == f"{product.color} / {product.size}"


def test_catalog_quantities_are_summed_over_msi_sources(sandbox):
    entries = catalog_entries(make_adapter(sandbox))
    stock_per_sku = Counter()
    for product in sandbox.catalog.store_products:
        if product.type_id == "simple":
            stock_per_sku[product.sku] += product.quantity
    sku_count = Counter(p.sku for p in sandbox.catalog.store_products)
    by_id = {str(p.id): p for p in sandbox.catalog.store_products}
    store = sandbox.apps["magento"].extensions["magento_store"]
    split = {sku for sku, source in store.source_items if source != "default"}

    assert split, "some SKUs are stocked in two sources"
    for entry in entries:
        if entry.is_parent:
            continue
        product = by_id[entry.remote_id]
        if sku_count[product.sku] == 1:
            assert entry.quantity == product.quantity
        else:  # MSI keys stock by SKU: products sharing a SKU share its stock
            assert entry.quantity == stock_per_sku[product.sku]


@pytest.mark.parametrize("page_size", [2, 7, 100, 484, 1000])
def test_paging_quirk_causes_no_duplicates_and_no_endless_loop(sandbox, faults, page_size):
    total = len(sandbox.catalog.store_products)
    pages = list(itertools.islice(make_adapter(sandbox, page_size=page_size).iter_catalog(), 2000))

    ids = [e.remote_id for page in pages for e in page.items]
    assert len(ids) == len(set(ids)) == total
    assert len(pages) == -(-total // page_size)
    assert all(page.total == total for page in pages)


def test_catalog_reads_each_list_once(sandbox, faults):
    faults.reset()
    catalog_entries(make_adapter(sandbox, page_size=100))

    total = len(sandbox.catalog.store_products)
    parents = sum(p.type_id == "configurable" for p in sandbox.catalog.store_products)
    source_items = len(sandbox.apps["magento"].extensions["magento_store"].source_items)
    expected = (
        2  # option lists
        + 1  # categories
        + -(-source_items // 100)
        + -(-parents // 100)
        + -(-total // 100)
    )
    assert faults.stats["requests"] == expected


@pytest.mark.parametrize("knob, status", [("rate_limit_rate", 429), ("error_rate", 503)])
def test_retries_after_an_injected_fault_and_succeeds(sandbox, faults, knob, status):
    faults.configure(**{knob: 1.0})
    sleep = FakeSleep(on_sleep=faults.reset)  # the fault clears while the adapter waits

    entries = catalog_entries(make_adapter(sandbox, sleep=sleep))

    assert len(entries) == len(sandbox.catalog.store_products)
    assert len(sleep.delays) == 1
    if status == 429:
        assert sleep.delays == [1.0]  # the sandbox's Retry-After


def test_gives_up_after_repeated_faults(sandbox, faults):
    faults.configure(error_rate=1.0)
    sleep = FakeSleep()

    with pytest.raises(RemoteServerError, match="Magento failed"):
        catalog_entries(make_adapter(sandbox, sleep=sleep))
    assert len(sleep.delays) == 3  # four attempts


def test_a_refused_token_raises_without_retrying(sandbox):
    sleep = FakeSleep()
    adapter = make_adapter(sandbox, token="revoked", sleep=sleep)

    with pytest.raises(AuthenticationFailed) as refused:
        catalog_entries(adapter)
    assert refused.value.status == 401
    assert "Magento_Catalog::" in str(refused.value)  # the placeholder is filled in
    assert sleep.delays == []


# --- stock levels ------------------------------------------------------------------------------


def test_stock_levels_read_in_batches_of_ids_and_skus(store):
    products = [p for p in store.catalog.store_products if p.type_id == "simple"]
    parent = next(p for p in store.catalog.store_products if p.type_id == "configurable")
    ids = [str(p.id) for p in products] + [str(parent.id), "9999999", "not-an-id"]
    totals = sku_totals(store)
    store.faults.reset()

    levels = own_adapter(store).stock_levels(ids)

    skus = list(dict.fromkeys(p.sku for p in products))
    expected_calls = -(-(len(products) + 1) // 100) + -(-len(skus) // 100)
    assert store.faults.stats["requests"] == expected_calls
    assert set(levels) == {str(p.id) for p in products} | {str(parent.id)}  # unknown ids left out
    for product in products:
        level = levels[str(product.id)]
        assert level.quantity == totals[product.sku.casefold()]  # summed over sources
        assert level.price == product.price and isinstance(level.price, Decimal)
        assert level.enabled
    assert levels[str(parent.id)].quantity is None  # a configurable holds no stock of its own


def test_stock_levels_of_nothing_make_no_call(store):
    store.faults.reset()

    assert own_adapter(store).stock_levels([]) == {}
    assert store.faults.stats["requests"] == 0


def test_stock_levels_see_a_merchants_edit(store):
    product = simple_products(store.catalog)[0]
    requests.post(
        f"{store.url}/__sandbox__/magento/products/{product.id}",
        json={"quantity": 5, "price": "12.34", "status": 2},
        timeout=5,
    ).raise_for_status()

    level = own_adapter(store).stock_levels([str(product.id)])[str(product.id)]

    assert (level.quantity, level.price, level.enabled) == (5, Decimal("12.34"), False)


# --- updates -----------------------------------------------------------------------------------


def test_update_variants_writes_quantities_and_prices_that_read_back(store):
    first, second, third = simple_products(store.catalog)[:3]
    split = split_sku_product(store)
    east = store.store.source_items[(split.sku, "east_warehouse")]["quantity"]
    adapter = own_adapter(store)

    refused = adapter.update_variants(
        [
            VariantUpdate(str(first.id), quantity=7, price=Decimal("21.50")),
            VariantUpdate(str(second.id), quantity=0),
            VariantUpdate(str(third.id), price=Decimal("9.99")),
            VariantUpdate(str(split.id), quantity=east + 4),
        ]
    )
    levels = adapter.stock_levels([str(p.id) for p in (first, second, third, split)])

    assert refused == {}
    assert (levels[str(first.id)].quantity, levels[str(first.id)].price) == (7, Decimal("21.5"))
    assert levels[str(second.id)].quantity == 0
    assert store.store.source_items[(second.sku, "default")]["status"] == 0  # out of stock
    assert levels[str(third.id)].quantity == sku_totals(store)[third.sku.casefold()]
    assert levels[str(third.id)].price == Decimal("9.99")
    assert levels[str(split.id)].quantity == east + 4  # the total over sources is what was asked
    assert store.store.source_items[(split.sku, "default")]["quantity"] == 4
    assert store.store.source_items[(split.sku, "east_warehouse")]["quantity"] == east


def test_update_variants_refuses_one_by_one_and_writes_the_rest(store):
    good = simple_products(store.catalog)[0]
    parent = next(p for p in store.catalog.store_products if p.type_id == "configurable")
    split = split_sku_product(store)
    east = store.store.source_items[(split.sku, "east_warehouse")]["quantity"]
    adapter = own_adapter(store)

    refused = adapter.update_variants(
        [
            VariantUpdate(str(good.id), quantity=3, price=Decimal("30")),
            VariantUpdate(str(parent.id), price=Decimal("30")),
            VariantUpdate(str(split.id), quantity=east - 1),
            VariantUpdate("9999999", quantity=1),
        ]
    )

    assert set(refused) == {str(parent.id), str(split.id), "9999999"}
    assert "configurable product" in refused[str(parent.id)]
    assert "Link a variant instead" in refused[str(parent.id)]
    elsewhere = f"{east} units of {split.sku} in other sources (east_warehouse)"
    assert elsewhere in refused[str(split.id)]
    assert "refresh the store catalog" in refused["9999999"]
    level = adapter.stock_levels([str(good.id)])[str(good.id)]
    assert (level.quantity, level.price) == (3, Decimal("30"))


def test_products_sharing_a_sku_are_written_once_or_refused_together(store):
    counts = Counter(p.sku for p in store.catalog.store_products)
    one, other = [p for p in store.catalog.store_products if counts[p.sku] == 2][:2]
    adapter = own_adapter(store)

    agreeing = adapter.update_variants(
        [VariantUpdate(str(one.id), quantity=9), VariantUpdate(str(other.id), quantity=9)]
    )
    disagreeing = adapter.update_variants(
        [VariantUpdate(str(one.id), quantity=1), VariantUpdate(str(other.id), quantity=2)]
    )

    assert agreeing == {}
    assert set(disagreeing) == {str(one.id), str(other.id)}
    assert "share SKU" in disagreeing[str(one.id)]
    assert sku_totals(store)[one.sku.casefold()] == 9


def test_a_refused_batch_of_source_items_is_sent_again_item_by_item(store):
    goods = simple_products(store.catalog)[:3]
    items = [{"sku": p.sku, "source_code": "default", "quantity": 11, "status": 1} for p in goods]
    items.insert(1, {"sku": "NO-SUCH-SKU", "source_code": "default", "quantity": 1, "status": 1})
    store.faults.reset()

    refused = own_adapter(store).save_source_items(items)

    assert refused == {
        "NO-SUCH-SKU": "Magento refused the request (400): Following products with requested "
        "skus were not found: NO-SUCH-SKU"
    }
    assert store.faults.stats["requests"] == 1 + len(items)
    assert all(store.store.source_items[(p.sku, "default")]["quantity"] == 11 for p in goods)


def test_base_prices_refused_by_magento_come_back_by_sku(store):
    good = simple_products(store.catalog)[0]
    parent = next(p for p in store.catalog.store_products if p.type_id == "configurable")

    refused = own_adapter(store).save_base_prices(
        [
            {"price": 5.5, "store_id": 0, "sku": good.sku},
            {"price": 5.5, "store_id": 0, "sku": "NO-SUCH-SKU"},
            {"price": 5.5, "store_id": 0, "sku": parent.sku},
        ]
    )

    assert refused == {
        "NO-SUCH-SKU": "Magento refused the price: Invalid attribute SKU = NO-SUCH-SKU.",
        parent.sku: f"Magento refused the price: Invalid attribute SKU = {parent.sku}.",
    }
    assert store.store.products_with_sku(good.sku)[0]["price"] == 5.5


# --- orders ------------------------------------------------------------------------------------


def test_create_find_and_cancel_an_order_twice(store):
    products = simple_products(store.catalog)[:2]
    adapter = own_adapter(store)
    order = new_order(products)

    assert adapter.find_order(order.reference) is None
    created = adapter.create_order(order)
    found = adapter.find_order(order.reference)
    cancelled = adapter.cancel_order(created.remote_id)
    cancelled_again = adapter.cancel_order(created.remote_id)

    assert created.number == "000000001" and created.status == "processing"
    assert not created.cancelled
    assert found == created
    assert cancelled.cancelled and cancelled.status == "canceled"
    assert cancelled_again == cancelled
    assert adapter.find_order("some-other-order") is None


def test_the_order_saved_in_magento(store):
    products = simple_products(store.catalog)[:2]
    quantities_before = sku_totals(store)

    own_adapter(store).create_order(new_order(products))

    [saved] = control_orders(store)
    assert saved["ext_order_id"] == "576461413038785752"
    assert (saved["state"], saved["status"]) == ("processing", "processing")
    assert [(i["sku"], i["product_id"], i["qty_ordered"], i["price"]) for i in saved["items"]] == [
        (p.sku, p.id, n, float(p.price)) for n, p in enumerate(products, start=1)
    ]
    assert saved["grand_total"] == float(products[0].price + 2 * products[1].price)
    assert saved["customer_email"] == "576461413038785752@tiktok-shop.invalid"
    assert saved["payment"]["method"] == "checkmo"
    billing = saved["billing_address"]
    [assignment] = saved["extension_attributes"]["shipping_assignments"]
    shipping = assignment["shipping"]["address"]
    assert (billing["address_type"], shipping["address_type"]) == ("billing", "shipping")
    assert (shipping["firstname"], shipping["lastname"]) == ("Jane Q", "Doe")
    assert shipping["street"] == ["123 Oak Ave", "Apt 4"]
    assert (shipping["postcode"], shipping["country_id"]) == ("78701", "US")
    assert "Gift wrap" in saved["status_histories"][0]["comment"]
    assert sku_totals(store) == quantities_before  # no MSI reservation from a saved order


def test_an_order_magento_cannot_cancel_is_an_error(store):
    headers = {"Authorization": f"Bearer {store.settings.magento_token}"}
    shipped = own_adapter(store).create_order(new_order(simple_products(store.catalog)[:1]))
    store.store.orders[0].update(state="complete", status="complete")  # shipped and invoiced

    with pytest.raises(AdapterError, match="could not cancel order #000000001"):
        own_adapter(store).cancel_order(shipped.remote_id)
    with pytest.raises(AdapterError) as missing:
        own_adapter(store).cancel_order("4242")
    assert missing.value.status == 404
    assert requests.get(f"{store.url}/rest/V1/orders/1", headers=headers).json()["state"] == (
        "complete"
    )


# --- rate limits and server errors -------------------------------------------------------------


def test_a_rate_limited_store_pauses_the_limiter_and_the_read_succeeds(store):
    ids = [str(p.id) for p in simple_products(store.catalog)[:5]]
    limiter = RecordingLimiter()
    sleep = FakeSleep(on_sleep=store.faults.reset)  # the limit clears while the adapter waits
    store.faults.configure(rate_limit_rate=1.0)

    levels = own_adapter(store, sleep=sleep, limiter=limiter).stock_levels(ids)

    assert set(levels) == set(ids)
    assert limiter.pauses == [1.0]  # the sandbox's Retry-After
    assert sleep.delays == [1.0]
    assert limiter.acquired == 3  # the limited call, its retry, the source items


def test_server_errors_are_retried_on_reads(store):
    adapter = own_adapter(store, sleep=FakeSleep(on_sleep=store.faults.reset))
    store.faults.configure(error_rate=1.0)

    assert adapter.find_order("576461413038785752") is None
    assert adapter.sleep.delays == [0.5]


def test_create_order_is_never_retried(store):
    sleep = FakeSleep(on_sleep=store.faults.reset)
    store.faults.configure(error_rate=1.0)

    with pytest.raises(RemoteServerError):
        own_adapter(store, sleep=sleep).create_order(new_order(simple_products(store.catalog)[:1]))
    assert sleep.delays == []
    assert store.faults.stats["requests"] == 1
    assert control_orders(store) == []
