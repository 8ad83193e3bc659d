"""The emulated BigCommerce API over real loopback HTTP."""

from __future__ import annotations

import logging
import math
import time

import pytest
import requests
from flask import Flask, request
from werkzeug.datastructures import Headers

from tests.builders import serve_app, serve_sandbox
from webapp.adapters.bigcommerce import WEBHOOK_SECRET_HEADER
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
def store(served):
    return served[1].extensions["bigcommerce_store"]


@pytest.fixture
def catalog(served):
    return served[2]


class Client:
    """Calls to one store's API with its access token; `token=` to use another."""

    def __init__(self, base: str, settings: SandboxSettings):
        self.base = base
        self.api = f"{base}/stores/{settings.bigcommerce_store_hash}"
        self.token = settings.bigcommerce_access_token

    def call(self, method, path, *, token=None, **kwargs):
        headers = {"Accept": "application/json"}
        if token is not False:
            headers["X-Auth-Token"] = token or self.token
        return requests.request(method, f"{self.api}{path}", headers=headers, **kwargs)

    def get(self, path, params=None, **kwargs):
        return self.call("GET", path, params=params, **kwargs)

    def control(self, method, path, json=None):
        return requests.request(method, f"{self.base}/__sandbox__/bigcommerce/{path}", json=json)

    def faults(self, **knobs):
        return requests.post(f"{self.base}/__sandbox__/faults", json=knobs)


@pytest.fixture
def bc(served):
    return Client(served[0], SETTINGS)


def all_products(bc, **params):
    products, page = [], 1
    while True:
        body = bc.get("/v3/catalog/products", {**params, "page": page}).json()
        products += body["data"]
        if page >= body["meta"]["pagination"]["total_pages"]:
            return products
        page += 1


def new_order(variant, *, reference="TT-1001", quantity=2, **extra):
    address = {
        "first_name": "Jordan",
        "last_name": "Rivera",
        "street_1": "1200 Sunset Blvd",
        "city": "Los Angeles",
        "state": "California",
        "zip": "90026",
        "country_iso2": "US",
    }
    return {
        "status_id": 11,
        "billing_address": address,
        "shipping_addresses": [address],
        "products": [
            {
                "product_id": variant["product_id"],
                "variant_id": variant["id"],
                "quantity": quantity,
                "price_inc_tax": 10.5,
                "price_ex_tax": 10.5,
            }
        ],
        "external_source": "TikTok Shop",
        "external_order_id": reference,
        **extra,
    }


def a_variant(bc, store, *, with_options=True):
    variant = next(v for v in store.variants.values() if (not v.is_base) == with_options)
    return bc.get("/v3/catalog/variants", {"id:in": variant.id}).json()["data"][0]


# --- the gateway -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v2/store", "/v3/catalog/products", "/v2/orders"])
@pytest.mark.parametrize("token", [False, "not-the-token"])
def test_refuses_a_missing_or_wrong_token(bc, path, token):
    response = bc.get(path, token=token)

    assert response.status_code == 401
    body = response.json()
    assert body["status"] == 401 and body["title"] and body["type"].startswith("https://")


def test_another_store_hash_is_not_found(bc):
    response = requests.get(
        f"{bc.base}/stores/otherhash/v2/store", headers={"X-Auth-Token": bc.token}
    )

    assert response.status_code == 404
    assert response.json()["status"] == 404


def test_unknown_path_answers_a_v3_not_found(bc):
    response = bc.get("/v3/no/such/thing")

    assert response.status_code == 404
    assert set(response.json()) == {"status", "title", "type"}


def test_store_information(bc):
    body = bc.get("/v2/store").json()

    assert body["id"] == SETTINGS.bigcommerce_store_hash
    assert body["name"] == "Demo Outfitters"
    assert body["currency"] == "USD"
    assert isinstance(body["store_id"], int)


# --- catalog -----------------------------------------------------------------------------------


def test_products_page_by_page(bc, store):
    first = bc.get("/v3/catalog/products", {"limit": 7}).json()
    ids = [p["id"] for p in all_products(bc, limit=7)]
    beyond = bc.get("/v3/catalog/products", {"limit": 7, "page": 1000}).json()

    total = len(store.products)
    assert sorted(ids) == sorted(store.products) and len(ids) == len(set(ids))
    assert ids == sorted(ids)  # by id unless asked otherwise
    assert first["meta"]["pagination"] == {
        "total": total,
        "count": 7,
        "per_page": 7,
        "current_page": 1,
        "total_pages": math.ceil(total / 7),
        "links": {"current": "?page=1&limit=7", "next": "?page=2&limit=7"},
    }
    assert beyond["data"] == [] and beyond["meta"]["pagination"]["total"] == total


def test_limit_defaults_to_50_and_stops_at_250(bc):
    default = bc.get("/v3/catalog/variants").json()["meta"]["pagination"]
    capped = bc.get("/v3/catalog/variants", {"limit": 1000}).json()["meta"]["pagination"]

    assert default["per_page"] == 50
    assert capped["per_page"] == 250 and capped["count"] == 250


def test_a_configurable_parent_is_a_product_with_options(bc, store, catalog):
    parent = next(
        p
        for p in catalog.store_products
        if p.type_id == "configurable"
        and len([c for c in catalog.store_products if c.parent_id == p.id]) > 1
    )
    children = [c for c in catalog.store_products if c.parent_id == parent.id]
    [product] = bc.get("/v3/catalog/products", {"id:in": parent.id, "include": "variants"}).json()[
        "data"
    ]

    assert product["sku"] == parent.sku and product["name"] == parent.name
    assert product["inventory_tracking"] == "variant"
    assert product["inventory_level"] == sum(c.quantity for c in children)
    assert [v["sku"] for v in product["variants"]] == [c.sku for c in children]
    for variant, child in zip(product["variants"], children, strict=True):
        assert variant["id"] == store.variant_of_demo[child.id]
        assert variant["product_id"] == parent.id and isinstance(variant["sku_id"], int)
        assert [(o["option_display_name"], o["label"]) for o in variant["option_values"]] == [
            ("Color", child.color),
            ("Size", child.size),
        ]
        assert variant["price"] == (None if child.price == parent.price else float(child.price))
        assert variant["calculated_price"] == float(child.price)
        assert variant["gtin"] == child.barcode
        assert variant["inventory_level"] == child.quantity


def test_a_product_without_options_has_one_base_variant(bc, catalog):
    simple = next(
        p for p in catalog.store_products if p.type_id == "simple" and p.parent_id is None
    )
    [product] = bc.get("/v3/catalog/products", {"id:in": simple.id, "include": "variants"}).json()[
        "data"
    ]
    [base] = product["variants"]

    assert product["inventory_tracking"] == "product"
    assert product["base_variant_id"] == base["id"]
    assert base["option_values"] == [] and base["sku_id"] is None
    assert base["sku"] == product["sku"] == simple.sku
    assert base["price"] == product["price"] == float(simple.price)
    assert base["inventory_level"] == product["inventory_level"] == simple.quantity
    assert product["gtin"] == base["gtin"] == simple.barcode
    assert product["search_keywords"] == ",".join(simple.tags)


def test_include_fields_keeps_the_id_and_the_sub_resources(bc):
    [product] = bc.get(
        "/v3/catalog/products",
        {"limit": 1, "include": "variants,images", "include_fields": "name,sku"},
    ).json()["data"]

    assert set(product) == {"id", "name", "sku", "variants", "images"}
    assert product["images"] == []


def test_variants_filtered_by_ids_and_by_products(bc, store):
    ids = sorted(store.variants)[:3]
    product_id = store.variants[ids[0]].product_id

    by_id = bc.get("/v3/catalog/variants", {"id:in": ",".join(map(str, ids))}).json()["data"]
    by_product = bc.get("/v3/catalog/variants", {"product_id:in": product_id}).json()["data"]
    refused = bc.get("/v3/catalog/variants", {"id:in": "1,x"})

    assert [v["id"] for v in by_id] == ids
    assert [v["id"] for v in by_product] == store.products[product_id].variant_ids
    assert refused.status_code == 422


def test_categories_come_from_the_category_tree(bc, catalog):
    body = bc.get("/v3/catalog/trees/categories", {"limit": 250}).json()

    assert [c["name"] for c in body["data"]] == list(catalog.categories)
    assert {"category_id", "parent_id", "tree_id", "name"} <= set(body["data"][0])


def test_variant_batch_update(bc, store):
    a, b = sorted(store.variants)[:2]
    updated = bc.call(
        "PUT",
        "/v3/catalog/variants",
        json=[{"id": a, "inventory_level": 7, "price": 12.5}, {"id": b, "inventory_level": 0}],
    )

    assert updated.status_code == 200
    assert [(v["id"], v["inventory_level"]) for v in updated.json()["data"]] == [(a, 7), (b, 0)]
    assert updated.json()["data"][0]["calculated_price"] == 12.5
    assert store.variants[a].inventory_level == 7


def test_one_bad_item_refuses_the_whole_batch(bc, store):
    a = sorted(store.variants)[0]
    before = store.variants[a].inventory_level
    response = bc.call(
        "PUT",
        "/v3/catalog/variants",
        json=[
            {"id": a, "inventory_level": before + 5},
            {"id": 999_999, "inventory_level": 1},
            {"id": a, "inventory_level": -1},
        ],
    )

    assert response.status_code == 422
    errors = [entry["errors"] for entry in response.json()["batch_errors"]]
    assert [list(e) for e in errors] == [["1.id"], ["2.inventory_level"]]
    assert all(entry["status"] == 422 for entry in response.json()["batch_errors"])
    assert store.variants[a].inventory_level == before  # nothing was written


def test_batch_limits(bc, store):
    ids = sorted(store.variants)[:51]
    too_many = bc.call(
        "PUT", "/v3/catalog/variants", json=[{"id": i, "inventory_level": 1} for i in ids]
    )
    not_a_list = bc.call("PUT", "/v3/catalog/variants", json={"id": ids[0]})

    assert too_many.status_code == 413 and "50" in too_many.json()["title"]
    assert not_a_list.status_code == 400


# --- orders ------------------------------------------------------------------------------------


def test_orders_are_created_found_by_external_order_id_and_cancelled(bc, store):
    variant = a_variant(bc, store)
    stock = variant["inventory_level"]

    created = bc.call("POST", "/v2/orders", json=new_order(variant, reference="TT-42"))
    order = created.json()
    found = bc.get("/v2/orders", {"external_order_id": "TT-42"})
    nothing = bc.get("/v2/orders", {"external_order_id": "TT-0"})
    taken = store.variants[variant["id"]].inventory_level
    cancelled = bc.call("PUT", f"/v2/orders/{order['id']}", json={"status_id": 5})
    again = bc.call("PUT", f"/v2/orders/{order['id']}", json={"status_id": 5})

    assert created.status_code == 200
    assert order["status_id"] == 11 and order["status"] == "Awaiting Fulfillment"
    assert order["external_order_id"] == "TT-42" and order["external_id"] is None
    assert order["external_source"] == "TikTok Shop"
    assert order["total_inc_tax"] == "21.0000" and order["items_total"] == 2
    assert order["products"]["resource"] == f"/orders/{order['id']}/products"
    assert [o["id"] for o in found.json()] == [order["id"]]
    assert nothing.status_code == 204 and nothing.content == b""
    assert taken == max(0, stock - 2)
    assert cancelled.json()["status"] == "Cancelled" and again.json()["status_id"] == 5
    assert store.variants[variant["id"]].inventory_level == taken + 2  # put back once


def test_order_errors_in_the_v2_shape(bc, store):
    variant = a_variant(bc, store)
    missing = bc.get("/v2/orders/424242")
    no_billing = bc.call("POST", "/v2/orders", json={"products": [{"product_id": 1}]})
    wrong_variant = new_order(variant)
    wrong_variant["products"][0]["variant_id"] = 999_999
    refused = bc.call("POST", "/v2/orders", json=wrong_variant)

    assert missing.status_code == 404
    assert missing.json() == [{"status": 404, "message": "The requested resource was not found."}]
    assert no_billing.status_code == 400 and "billing_address" in no_billing.json()[0]["message"]
    assert refused.status_code == 400 and "999999" in refused.json()[0]["message"]
    assert store.orders == {}


def test_an_order_for_a_product_without_options_needs_no_variant_id(bc, store):
    base = a_variant(bc, store, with_options=False)
    body = new_order(base)
    del body["products"][0]["variant_id"]

    created = bc.call("POST", "/v2/orders", json=body)

    assert created.status_code == 200
    [line] = bc.control("GET", "orders").json()["orders"][0]["products"]
    assert line["variant_id"] == base["id"] and line["sku"] == base["sku"]


def test_a_failed_answer_can_hide_a_created_order(bc, store):
    variant = a_variant(bc, store)
    bc.control("POST", "orders/fail-next", {"count": 1})

    failed = bc.call("POST", "/v2/orders", json=new_order(variant, reference="TT-LOST"))
    listed = bc.control("GET", "orders").json()["orders"]

    assert failed.status_code == 500 and failed.json()[0]["status"] == 500
    assert [o["external_order_id"] for o in listed] == ["TT-LOST"]
    assert listed[0]["products"][0]["variant_id"] == variant["id"]


# --- quota and faults --------------------------------------------------------------------------


def test_every_answer_carries_the_quota_and_a_429_follows_the_last_request():
    settings = SandboxSettings(
        tiktok_skus=40, products=10, bigcommerce_quota=3, bigcommerce_window_ms=400
    )
    with serve_sandbox(create_bigcommerce_sandbox, settings) as (url, app, _):
        bc = Client(url, settings)
        answers = [bc.get("/v2/store") for _ in range(4)]
        quota = bc.control("GET", "quota").json()
        time.sleep(0.45)
        after_reset = bc.get("/v2/store")

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-Rate-Limit-Requests-Left"] for a in answers] == ["2", "1", "0", "0"]
    assert all(a.headers["X-Rate-Limit-Requests-Quota"] == "3" for a in answers)
    assert all(a.headers["X-Rate-Limit-Time-Window-Ms"] == "400" for a in answers)
    assert 0 < int(answers[3].headers["X-Rate-Limit-Time-Reset-Ms"]) <= 400
    assert answers[3].json()["status"] == 429
    assert quota["refused"] == 1 and quota["left"] == 0
    assert after_reset.status_code == 200
    assert after_reset.headers["X-Rate-Limit-Requests-Left"] == "2"


def test_a_quota_of_zero_is_no_quota():
    settings = SandboxSettings(tiktok_skus=40, products=10, bigcommerce_quota=0)
    with serve_sandbox(create_bigcommerce_sandbox, settings) as (url, _, _):
        answers = [Client(url, settings).get("/v2/store") for _ in range(5)]

    assert all(a.status_code == 200 for a in answers)
    assert "X-Rate-Limit-Requests-Left" not in answers[0].headers


def test_injected_faults_in_the_platform_shapes(bc):
    bc.faults(error_rate=1.0)
    v3 = bc.get("/v3/catalog/products")
    v2 = bc.get("/v2/orders")
    bc.faults(error_rate=0.0, rate_limit_rate=1.0)
    limited = bc.get("/v3/catalog/products")

    assert v3.status_code == 500 and v3.json()["status"] == 500
    assert v2.status_code == 500 and v2.json()[0]["status"] == 500
    assert limited.status_code == 429
    assert limited.headers["X-Rate-Limit-Requests-Left"] == "0"
    assert limited.headers["X-Rate-Limit-Time-Reset-Ms"] == "1000"


# --- control endpoints -------------------------------------------------------------------------


def test_a_merchants_edits_show_in_the_api(bc, store):
    variant = a_variant(bc, store)
    product_id = variant["product_id"]

    edited = bc.control(
        "POST",
        f"variants/{variant['id']}",
        {"inventory_level": 3, "price": 99.5, "purchasing_disabled": True},
    )
    bc.control(
        "POST", f"products/{product_id}", {"is_visible": False, "inventory_tracking": "none"}
    )
    [seen] = bc.get("/v3/catalog/variants", {"id:in": variant["id"]}).json()["data"]
    [product] = bc.get("/v3/catalog/products", {"id:in": product_id}).json()["data"]
    refused = bc.control("POST", f"variants/{variant['id']}", {"inventory_level": -4})
    unknown = bc.control("POST", "variants/999999", {"inventory_level": 1})

    assert edited.status_code == 200
    assert (seen["inventory_level"], seen["price"], seen["purchasing_disabled"]) == (3, 99.5, True)
    assert product["is_visible"] is False and product["inventory_tracking"] == "none"
    assert refused.status_code == 400 and "inventory_level" in refused.json()["errors"]
    assert unknown.status_code == 404


@pytest.fixture
def receiver():
    """A webhook endpoint of our own on loopback: it keeps every delivery it gets."""
    app = Flask("receiver")
    deliveries = []

    @app.post("/hooks")
    def hook():
        deliveries.append((Headers(request.headers), request.get_json()))
        return "", 200

    with serve_app(app) as url:
        yield f"{url}/hooks", deliveries


def test_webhook_deliveries(bc, store, receiver):
    url, deliveries = receiver
    variant = a_variant(bc, store)

    sent = bc.control(
        "POST",
        "webhooks",
        {"url": url, "scope": "store/sku/inventory/updated", "variant_id": variant["id"]},
    ).json()
    twice = bc.control(
        "POST",
        "webhooks",
        {
            "url": url,
            "scope": "store/product/inventory/updated",
            "product_id": variant["product_id"],
            "repeat": True,
            "wrong_secret": True,
        },
    ).json()

    (headers, payload), *repeated = deliveries
    assert sent["deliveries"] == [{"status": 200}]
    assert headers[WEBHOOK_SECRET_HEADER] == SETTINGS.bigcommerce_webhook_secret
    assert payload["scope"] == "store/sku/inventory/updated" and payload["hash"] == sent["hash"]
    assert payload["producer"] == f"stores/{SETTINGS.bigcommerce_store_hash}"
    assert payload["data"]["type"] == "sku"
    assert payload["data"]["id"] == store.variants[variant["id"]].sku_id
    assert payload["data"]["inventory"] == {
        "product_id": variant["product_id"],
        "method": "absolute",
        "value": variant["inventory_level"],
        "variant_id": variant["id"],
    }
    assert len(repeated) == 2 and twice["deliveries"] == [{"status": 200}] * 2
    assert repeated[0][1] == repeated[1][1] and repeated[0][1]["hash"] == twice["hash"]
    assert repeated[0][1]["data"]["id"] == variant["product_id"]
    assert repeated[0][0][WEBHOOK_SECRET_HEADER] != SETTINGS.bigcommerce_webhook_secret


def test_a_base_variant_has_no_sku_webhook(bc, store, receiver):
    url, deliveries = receiver
    base = a_variant(bc, store, with_options=False)

    refused = bc.control(
        "POST",
        "webhooks",
        {"url": url, "scope": "store/sku/inventory/updated", "variant_id": base["id"]},
    )

    assert refused.status_code == 400 and deliveries == []
