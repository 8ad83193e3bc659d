"""The emulated Magento 2 REST API over real loopback HTTP."""

from __future__ import annotations

import logging
import math
from collections import Counter
from types import SimpleNamespace

import pytest
import requests

from tests.builders import serve_sandbox
from webapp.sandbox.magento import create_magento_sandbox, magento_time
from webapp.sandbox.settings import SandboxSettings


class Client:
    """GET/POST/PUT helpers with the integration token; pass `token=` to use another."""

    def __init__(self, base, token):
        self.base = base
        self.token = token

    def headers(self, token):
        token = self.token if token is ... else token
        return {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, path, params=None, token=...):
        return requests.get(
            f"{self.base}/rest/V1{path}", params=params, headers=self.headers(token), timeout=5
        )

    def post(self, path, json=None, token=...):
        return requests.post(
            f"{self.base}/rest/V1{path}", json=json, headers=self.headers(token), timeout=5
        )

    def put(self, path, json, token=...):
        return requests.put(
            f"{self.base}/rest/V1{path}", json=json, headers=self.headers(token), timeout=5
        )

    def control(self, path, json=None):
        """POST to a control endpoint (no token)."""
        return requests.post(f"{self.base}/__sandbox__/magento/{path}", json=json, timeout=5)

    def created_orders(self):
        return requests.get(f"{self.base}/__sandbox__/magento/orders", timeout=5).json()["orders"]


@pytest.fixture
def magento(sandbox):
    return Client(sandbox.url("magento"), sandbox.settings.magento_token)


@pytest.fixture(scope="module")
def own_sandbox():
    """A Magento sandbox of this module's own, for the tests that change prices and orders."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    settings = SandboxSettings(tiktok_skus=400, products=100)
    with serve_sandbox(create_magento_sandbox, settings) as (url, app, catalog):
        yield SimpleNamespace(url=url, settings=settings, catalog=catalog)


@pytest.fixture
def store(own_sandbox):
    """A client of the module's own sandbox, reset to the demo catalog with no orders."""
    client = Client(own_sandbox.url, own_sandbox.settings.magento_token)
    client.control("reset").raise_for_status()
    client.catalog = own_sandbox.catalog
    return client


def criteria(*filter_groups, page_size=None, current_page=None, sort=None):
    """searchCriteria query arguments: each group is a list of (field, value, condition_type)."""
    params = {}
    for g, group in enumerate(filter_groups):
        for f, (field, value, condition) in enumerate(group):
            prefix = f"searchCriteria[filter_groups][{g}][filters][{f}]"
            params[f"{prefix}[field]"] = field
            params[f"{prefix}[value]"] = value
            params[f"{prefix}[condition_type]"] = condition
    if page_size is not None:
        params["searchCriteria[pageSize]"] = page_size
    if current_page is not None:
        params["searchCriteria[currentPage]"] = current_page
    if sort:
        params["searchCriteria[sortOrders][0][field]"] = sort[0]
        params["searchCriteria[sortOrders][0][direction]"] = sort[1]
    return params


def custom(item, code):
    return next(
        (a["value"] for a in item["custom_attributes"] if a["attribute_code"] == code), None
    )


@pytest.mark.parametrize(
    "path, resource",
    [
        ("/products", "Magento_Catalog::products"),
        ("/store/storeConfigs", "Magento_Backend::store"),
        ("/categories/list", "Magento_Catalog::categories"),
        ("/inventory/source-items", "Magento_InventoryApi::source"),
        ("/orders", "Magento_Sales::actions_view"),
    ],
)
@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_refuses_missing_or_wrong_token(magento, path, resource, token):
    response = magento.get(path, token=token)

    assert response.status_code == 401
    assert response.json() == {
        "message": "The consumer isn't authorized to access %resources.",
        "parameters": {"resources": resource},
    }


def test_store_configs(magento):
    response = magento.get("/store/storeConfigs")

    assert response.status_code == 200
    [default] = response.json()
    assert default["code"] == "default"
    assert default["base_currency_code"] == "USD"


def test_lists_need_a_search_criteria(magento):
    refused = magento.get("/products")
    bare = magento.get("/products?searchCriteria=")

    assert refused.status_code == 400
    assert refused.json()["parameters"] == {"fieldName": "searchCriteria"}
    assert bare.status_code == 200 and bare.json()["total_count"] > 0


def test_store_code_prefix_and_unknown_route(sandbox, magento):
    headers = {"Authorization": f"Bearer {sandbox.settings.magento_token}"}
    in_store = requests.get(
        f"{magento.base}/rest/default/V1/products", params=criteria(page_size=1), headers=headers
    )
    unknown = magento.get("/no/such/thing")

    assert in_store.status_code == 200 and len(in_store.json()["items"]) == 1
    assert unknown.status_code == 404
    assert unknown.json() == {"message": "Request does not match any route."}


def test_product_in_the_real_shape(sandbox, magento):
    parent = next(p for p in sandbox.catalog.store_products if p.type_id == "configurable")
    child = next(p for p in sandbox.catalog.store_products if p.parent_id == parent.id)
    body = magento.get("/products", criteria([("sku", parent.sku, "eq")])).json()
    [parent_item] = body["items"]
    [child_item] = magento.get("/products", criteria([("sku", child.sku, "eq")])).json()["items"]

    assert body["total_count"] == 1
    assert set(parent_item) >= {
        "id", "sku", "name", "attribute_set_id", "price", "status", "visibility", "type_id",
        "created_at", "updated_at", "extension_attributes", "custom_attributes",
    }  # fmt: skip
    links = parent_item["extension_attributes"]["configurable_product_links"]
    assert links == list(parent.children_ids)
    assert parent_item["type_id"] == "configurable" and parent_item["visibility"] == 4
    assert child_item["visibility"] == 1 and child_item["weight"] == 0.5
    assert child_item["extension_attributes"]["website_ids"] == [1]
    assert custom(child_item, "ean") == child.barcode
    assert custom(child_item, "color").isdigit()  # an option id, as Magento stores selects
    assert child_item["price"] == float(child.price)
    assert child_item["updated_at"].count(":") == 2 and "T" not in child_item["updated_at"]


def test_option_lists_label_the_option_ids(sandbox, magento):
    child = next(p for p in sandbox.catalog.store_products if p.color and p.size)
    [item] = [
        i
        for i in magento.get("/products", criteria([("sku", child.sku, "eq")])).json()["items"]
        if i["id"] == child.id
    ]
    colors = magento.get("/products/attributes/color/options").json()
    sizes = magento.get("/products/attributes/size/options").json()
    missing = magento.get("/products/attributes/no_such_code/options")

    assert colors[0] == {"label": " ", "value": ""}  # Magento's blank option comes first
    assert {o["value"]: o["label"] for o in colors}[custom(item, "color")] == child.color
    assert {o["value"]: o["label"] for o in sizes}[custom(item, "size")] == child.size
    assert missing.status_code == 404
    assert missing.json()["parameters"] == ["no_such_code"]


def test_paging_past_the_end_returns_the_last_page_again(sandbox, magento):
    total = len(sandbox.catalog.store_products)
    last = math.ceil(total / 100)
    last_page = magento.get("/products", criteria(page_size=100, current_page=last)).json()
    beyond = magento.get("/products", criteria(page_size=100, current_page=last + 5)).json()

    assert beyond["total_count"] == last_page["total_count"] == total
    assert [i["id"] for i in beyond["items"]] == [i["id"] for i in last_page["items"]]
    assert len(last_page["items"]) == total - (last - 1) * 100
    assert beyond["search_criteria"]["current_page"] == last + 5  # echoed as asked


def test_pages_cover_every_product_once(sandbox, magento):
    ids = []
    page = 1
    while True:
        body = magento.get("/products", criteria(page_size=75, current_page=page)).json()
        ids += [item["id"] for item in body["items"]]
        if 75 * page >= body["total_count"]:
            break
        page += 1

    assert sorted(ids) == sorted(p.id for p in sandbox.catalog.store_products)
    assert len(ids) == len(set(ids))


def test_duplicate_skus_are_both_served(sandbox, magento):
    counts = Counter(p.sku for p in sandbox.catalog.store_products)
    duplicated = next(sku for sku, n in counts.items() if n > 1)

    body = magento.get("/products", criteria([("sku", duplicated, "eq")])).json()

    assert body["total_count"] == 2
    assert len({item["id"] for item in body["items"]}) == 2


def test_filters(sandbox, magento):
    products = sandbox.catalog.store_products
    simple = next(p for p in products if p.type_id == "simple" and p.sku.isupper())
    two = [p.sku for p in products if p.type_id == "simple"][:2]
    cutoff = sorted(p.updated_at for p in products)[len(products) // 2]

    def total(*groups, **kwargs):
        return magento.get("/products", criteria(*groups, **kwargs)).json()["total_count"]

    configurables = sum(p.type_id == "configurable" for p in products)
    assert total([("type_id", "configurable", "eq")]) == configurables
    assert total([("sku", simple.sku.lower(), "eq")]) >= 1  # MySQL collation ignores case
    assert total([("sku", ",".join(two), "in")]) >= 2
    assert total([("sku", simple.sku[:7] + "%", "like")]) == sum(
        p.sku.upper().startswith(simple.sku[:7].upper()) for p in products
    )
    assert total([("updated_at", magento_time(cutoff), "gteq")]) == sum(
        p.updated_at >= cutoff for p in products
    )
    # Filters in one group are OR-ed, groups are AND-ed.
    assert total([("type_id", "configurable", "eq"), ("type_id", "simple", "eq")]) == len(products)
    assert total([("type_id", "configurable", "eq")], [("type_id", "simple", "eq")]) == 0
    assert magento.get("/products", criteria([("sku", "x", "bogus")])).status_code == 400


def test_sort_orders(magento):
    ascending = magento.get("/products", criteria(page_size=5, sort=("sku", "ASC"))).json()
    descending = magento.get("/products", criteria(page_size=5, sort=("entity_id", "DESC"))).json()

    skus = [i["sku"].casefold() for i in ascending["items"]]
    ids = [i["id"] for i in descending["items"]]
    assert skus == sorted(skus)
    assert ids == sorted(ids, reverse=True)
    assert ascending["search_criteria"]["sort_orders"] == [{"field": "sku", "direction": "ASC"}]


def test_categories_list(sandbox, magento):
    body = magento.get("/categories/list", criteria(page_size=100, current_page=1)).json()
    names = {item["name"] for item in body["items"]}

    assert set(sandbox.catalog.categories) <= names
    assert {"id", "parent_id", "name"} <= set(body["items"][0])
    assert body["total_count"] == len(body["items"])


def test_source_items_page_like_products_and_match_the_catalog(sandbox, magento):
    totals = Counter()
    page = 1
    while True:
        body = magento.get("/inventory/source-items", criteria(page_size=100, current_page=page))
        body = body.json()
        for item in body["items"]:
            assert set(item) == {"sku", "source_code", "quantity", "status"}
            totals[item["sku"]] += item["quantity"]
        if 100 * page >= body["total_count"]:
            break
        page += 1
    beyond = magento.get("/inventory/source-items", criteria(page_size=100, current_page=page + 3))

    expected = Counter()
    for product in sandbox.catalog.store_products:
        if product.type_id == "simple":
            expected[product.sku] += product.quantity
    assert totals == expected
    assert beyond.json()["items"] == body["items"]


def test_saving_source_items_sets_quantities(sandbox, magento):
    sku = next(p.sku for p in sandbox.catalog.store_products if p.type_id == "simple")
    only_sku = criteria([("sku", sku, "eq")], [("source_code", "default", "eq")])
    before = magento.get("/inventory/source-items", only_sku).json()["items"][0]

    saved = magento.post(
        "/inventory/source-items",
        {"sourceItems": [{"sku": sku, "source_code": "default", "quantity": 77, "status": 1}]},
    )
    after = magento.get("/inventory/source-items", only_sku).json()["items"][0]
    unknown = magento.post(
        "/inventory/source-items",
        {"sourceItems": [{"sku": "NO-SUCH-SKU", "source_code": "default", "quantity": 1}]},
    )
    magento.post("/inventory/source-items", {"sourceItems": [before]})

    assert saved.status_code == 200 and saved.json() == []
    assert after["quantity"] == 77
    assert unknown.status_code == 400
    assert magento.post("/inventory/source-items", {"items": []}).status_code == 400


def test_source_items_are_validated_like_msi(sandbox, magento):
    sku = next(p.sku for p in sandbox.catalog.store_products if p.type_id == "simple")
    good = {"sku": sku, "source_code": "default", "quantity": 1234, "status": 1}

    def save(*items):
        return magento.post("/inventory/source-items", {"sourceItems": list(items)})

    without_sku = save({"source_code": "default", "quantity": 1, "status": 1})
    without_status = save({"sku": sku, "source_code": "default", "quantity": 1})
    unknown_sku = save(good, {**good, "sku": "NO-SUCH-SKU"})
    unknown_source = save({**good, "source_code": "moon_base"})
    nothing = save()

    assert without_sku.status_code == 400
    assert without_sku.json() == {
        "message": 'Validation Failed: "sku" can not be empty.',
        "errors": [{"message": '"%field" can not be empty.', "parameters": {"field": "sku"}}],
    }
    assert without_status.json()["errors"] == [
        {"message": '"%field" should be numeric.', "parameters": {"field": "status"}}
    ]
    assert unknown_sku.status_code == 400
    assert unknown_sku.json() == {
        "message": "Following products with requested skus were not found: %1",
        "parameters": ["NO-SUCH-SKU"],
    }
    assert unknown_source.json() == {"message": "Could not save Source Item"}
    assert nothing.json() == {"message": "Input data is empty"}
    stock = magento.get("/inventory/source-items", criteria([("sku", sku, "eq")])).json()
    assert 1234 not in [item["quantity"] for item in stock["items"]]  # a refused batch saves none


def test_base_prices_save_the_valid_ones_and_answer_the_refused(store):
    counts = Counter(p.sku for p in store.catalog.store_products)
    shared = next(sku for sku, n in counts.items() if n == 2)
    parent = next(p for p in store.catalog.store_products if p.type_id == "configurable")

    saved = store.post(
        "/products/base-prices", {"prices": [{"price": 7.25, "store_id": 0, "sku": shared}]}
    )
    refused = store.post(
        "/products/base-prices",
        {
            "prices": [
                {"sku": "not_existing_sku", "price": -9999, "store_id": 9999},
                {"sku": parent.sku, "price": 10, "store_id": 0},
            ]
        },
    )
    shared_items = store.get("/products", criteria([("sku", shared, "eq")])).json()["items"]

    assert saved.status_code == 200 and saved.json() == []
    assert [item["price"] for item in shared_items] == [7.25, 7.25]  # every product of the SKU
    assert refused.status_code == 200
    assert refused.json() == [
        {
            "message": "Invalid attribute %fieldName = %fieldValue.",
            "parameters": ["SKU", "not_existing_sku"],
        },
        {
            "message": "Invalid attribute %fieldName = %fieldValue.",
            "parameters": ["Price", "-9999"],
        },
        {
            "message": "Requested store is not found. Row ID: SKU = not_existing_sku, "
            "Store ID: 9999.",
            "parameters": ["not_existing_sku", "9999"],
        },
        {
            "message": "Invalid attribute %fieldName = %fieldValue.",
            "parameters": ["SKU", parent.sku],
        },
    ]
    assert store.post("/products/base-prices", {"items": []}).status_code == 400


ORDER = {
    "ext_order_id": "576461413038785752",
    "state": "processing",
    "status": "processing",
    "customer_email": "buyer@example.com",
    "base_grand_total": 19.99,
    "grand_total": 19.99,
    "items": [{"sku": "TS-0001-BLK-M", "product_id": 2, "qty_ordered": 1, "price": 19.99}],
    "billing_address": {"address_type": "billing", "firstname": "Jane", "lastname": "Doe"},
    "payment": {"method": "checkmo"},
    "extension_attributes": {
        "shipping_assignments": [{"shipping": {"method": "freeshipping_freeshipping"}}]
    },
}


def test_orders_are_saved_found_and_cancelled_once(store):
    first = store.put("/orders/create", {"entity": ORDER})
    second = store.put("/orders/create", {"entity": {**ORDER, "ext_order_id": "2"}})
    by_reference = store.get("/orders", criteria([("ext_order_id", ORDER["ext_order_id"], "eq")]))
    one = store.get("/orders/1")
    cancelled = store.post("/orders/1/cancel")
    again = store.post("/orders/1/cancel")

    assert first.status_code == 200
    created = first.json()
    assert (created["entity_id"], created["increment_id"]) == (1, "000000001")
    assert second.json()["increment_id"] == "000000002"
    assert created["ext_order_id"] == ORDER["ext_order_id"]
    assert created["items"][0]["sku"] == "TS-0001-BLK-M" and created["items"][0]["item_id"]
    assert created["extension_attributes"] == ORDER["extension_attributes"]
    assert by_reference.json()["total_count"] == 1
    assert by_reference.json()["items"][0]["entity_id"] == 1
    assert one.json()["state"] == "processing"
    assert cancelled.json() is True and again.json() is False
    assert store.get("/orders/1").json()["status"] == "canceled"
    assert [o["entity_id"] for o in store.created_orders()] == [1, 2]


def test_order_refusals(store):
    missing = store.get("/orders/99")
    cancel_missing = store.post("/orders/99/cancel")
    no_entity = store.put("/orders/create", {"order": ORDER})
    no_items = store.put("/orders/create", {"entity": {**ORDER, "items": []}})
    no_token = store.put("/orders/create", {"entity": ORDER}, token=None)

    not_found = {
        "message": "The entity that was requested doesn't exist. Verify the entity and try again."
    }
    assert missing.status_code == cancel_missing.status_code == 404
    assert missing.json() == cancel_missing.json() == not_found
    assert no_entity.status_code == 400
    assert no_entity.json()["parameters"] == {"fieldName": "entity"}
    assert no_items.json()["parameters"] == {"fieldName": "items"}
    assert no_token.status_code == 401
    assert no_token.json()["parameters"] == {"resources": "Magento_Sales::create"}
    assert store.created_orders() == []


def test_a_merchants_edit_and_the_reset(store):
    product = next(p for p in store.catalog.store_products if p.type_id == "simple")

    edited = store.control(f"products/{product.id}", {"quantity": 3, "price": "15.5", "status": 2})
    after = store.get("/products", criteria([("entity_id", str(product.id), "eq")])).json()
    default = store.get(
        "/inventory/source-items",
        criteria([("sku", product.sku, "eq")], [("source_code", "default", "eq")]),
    ).json()["items"][0]
    unknown = store.control("products/9999999", {"price": 1})
    store.control("reset")
    restored = store.get("/products", criteria([("entity_id", str(product.id), "eq")])).json()

    assert edited.json()["price"] == 15.5 and edited.json()["status"] == 2
    assert (after["items"][0]["price"], after["items"][0]["status"]) == (15.5, 2)
    assert default["quantity"] == 3 and default["status"] == 1
    assert unknown.status_code == 404
    assert restored["items"][0]["price"] == float(product.price)
    assert restored["items"][0]["status"] == 1


def test_fault_knobs(sandbox, magento):
    control = f"{magento.base}/__sandbox__/faults"

    requests.post(control, json={"rate_limit_rate": 1.0})
    limited = magento.get("/products", criteria(page_size=1))
    requests.post(control, json={"rate_limit_rate": 0.0, "error_rate": 1.0})
    failed = magento.get("/products", criteria(page_size=1))
    requests.post(f"{magento.base}/__sandbox__/reset")
    served = magento.get("/products", criteria(page_size=1))
    stats = requests.get(f"{magento.base}/__sandbox__/stats").json()

    assert limited.status_code == 429 and limited.headers["Retry-After"].isdigit()
    assert "message" in limited.json()
    assert failed.status_code == 503 and "message" in failed.json()
    assert served.status_code == 200
    assert stats["requests"] == 1  # reset cleared the counters; only `served` counted since
    assert sandbox.apps["magento"].extensions["sandbox_faults"].knobs.error_rate == 0
