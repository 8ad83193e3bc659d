"""MagentoAdapter against the Magento sandbox over real loopback HTTP."""

from __future__ import annotations

import itertools
import socket
from collections import Counter
from decimal import Decimal

import pytest

from webapp.adapters.base import AuthenticationFailed, RemoteServerError
from webapp.adapters.magento import MagentoAdapter
from webapp.adapters.registry import store_adapter_class


class FakeSleep:
    """Records the delays the adapter asks for instead of sleeping; can run a hook on each."""

    def __init__(self, on_sleep=None):
        self.delays: list[float] = []
        self.on_sleep = on_sleep

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.on_sleep:
            self.on_sleep()


@pytest.fixture
def faults(sandbox):
    return sandbox.apps["magento"].extensions["sandbox_faults"]


def make_adapter(sandbox, *, token=None, page_size=100, sleep=None, url=None):
    return MagentoAdapter(
        url or sandbox.url("magento"),
        {"access_token": token or sandbox.settings.magento_token},
        page_size=page_size,
        timeout=(1.0, 5.0),
        sleep=sleep or FakeSleep(),
    )


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
