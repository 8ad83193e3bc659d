"""The emulated WooCommerce REST API v3 over real loopback HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math

import pytest
import requests

from tests.builders import serve_sandbox, serve_webhook_receiver
from webapp.sandbox.settings import SandboxSettings
from webapp.sandbox.woocommerce import create_woocommerce_sandbox

SETTINGS = SandboxSettings(tiktok_skus=400, products=100)
KEYS = (SETTINGS.woocommerce_consumer_key, SETTINGS.woocommerce_consumer_secret)


@pytest.fixture(scope="module")
def served():
    with serve_sandbox(create_woocommerce_sandbox, SETTINGS) as served:
        yield served


@pytest.fixture(autouse=True)
def _calm(served):
    yield
    _, app, _ = served
    app.extensions["sandbox_faults"].reset()
    app.extensions["woocommerce_store"].throttle(0, None)


@pytest.fixture
def woo(served):
    """Calls to `/wp-json/wc/v3` with the REST API key; pass `auth=` to use another."""
    url, app, catalog = served

    class Client:
        base = url
        api = f"{url}/wp-json/wc/v3"
        store = app.extensions["woocommerce_store"]
        faults = app.extensions["sandbox_faults"]

        def __init__(self):
            self.catalog = catalog

        def get(self, path, params=None, auth=KEYS):
            return requests.get(f"{self.api}{path}", params=params, auth=auth)

        def send(self, method, path, json, auth=KEYS):
            return requests.request(method, f"{self.api}{path}", json=json, auth=auth)

        def control(self, path, json):
            return requests.post(f"{self.base}/__sandbox__/woocommerce/{path}", json=json)

    return Client()


def parent_and_child(woo):
    parent = next(p for p in woo.catalog.store_products if p.type_id == "configurable")
    child = next(p for p in woo.catalog.store_products if p.parent_id == parent.id)
    return parent, child


def meta(item, key):
    return next((m["value"] for m in item["meta_data"] if m["key"] == key), None)


# --- auth -------------------------------------------------------------------------------------


CANNOT_LIST = ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
CANNOT_VIEW = ("woocommerce_rest_cannot_view", "Sorry, you cannot view this resource.")
CANNOT_CREATE = (
    "woocommerce_rest_cannot_create",
    "Sorry, you are not allowed to create resources.",
)
CANNOT_EDIT = ("woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource.")
CANNOT_BATCH = (
    "woocommerce_rest_cannot_batch",
    "Sorry, you are not allowed to batch manipulate this resource.",
)


@pytest.mark.parametrize(
    "method, path, refusal",
    [
        ("GET", "/products", CANNOT_LIST),
        ("GET", "/products/1", CANNOT_VIEW),
        ("GET", "/settings/general", CANNOT_LIST),
        ("POST", "/orders", CANNOT_CREATE),
        ("PUT", "/orders/1", CANNOT_EDIT),
        ("POST", "/products/batch", CANNOT_BATCH),
    ],
)
@pytest.mark.parametrize("auth", [None, ("ck_unknown", "cs_whatever")])
def test_a_missing_or_unknown_key_leaves_the_call_unauthenticated(woo, method, path, refusal, auth):
    response = woo.send(method, path, json={}, auth=auth)

    code, message = refusal
    assert response.status_code == 401
    assert response.json() == {"code": code, "message": message, "data": {"status": 401}}


def test_a_wrong_secret_is_an_authentication_error(woo):
    response = woo.get("/products", auth=(KEYS[0], "cs_wrong"))

    assert response.status_code == 401
    assert response.json()["code"] == "woocommerce_rest_authentication_error"
    assert response.json()["message"] == "Consumer secret is invalid."
    assert response.headers["WWW-Authenticate"].startswith('Basic realm="WooCommerce API.')


def test_keys_in_the_query_string_are_accepted(woo):
    params = {"consumer_key": KEYS[0], "consumer_secret": KEYS[1], "per_page": 1}

    response = woo.get("/products", params=params, auth=None)

    assert response.status_code == 200 and len(response.json()) == 1


def test_the_wordpress_index_is_public(woo):
    index = requests.get(f"{woo.base}/wp-json/").json()

    assert index["name"] == "Demo Outfitters"
    assert "wc/v3" in index["namespaces"]


def test_unknown_routes(woo):
    rest = woo.get("/no/such/thing")
    page = requests.get(f"{woo.base}/shop/nothing-here")

    assert rest.status_code == 404
    assert rest.json() == {
        "code": "rest_no_route",
        "message": "No route was found matching the URL and request method.",
        "data": {"status": 404},
    }
    assert page.status_code == 404 and page.headers["Content-Type"].startswith("text/html")


def test_general_settings_name_the_currency(woo):
    settings = {s["id"]: s["value"] for s in woo.get("/settings/general").json()}

    assert settings["woocommerce_currency"] == "USD"
    assert settings["woocommerce_default_country"] == "US:TX"


# --- products ---------------------------------------------------------------------------------


def test_products_page_with_wordpress_headers(woo):
    top_level = sum(p.parent_id is None for p in woo.catalog.store_products)
    first = woo.get("/products")
    last_page = math.ceil(top_level / 30)
    last = woo.get("/products", {"per_page": 30, "page": last_page})
    beyond = woo.get("/products", {"per_page": 30, "page": last_page + 1})

    assert len(first.json()) == 10  # WordPress's default page size
    assert first.headers["X-WP-Total"] == str(top_level)
    assert first.headers["X-WP-TotalPages"] == str(math.ceil(top_level / 10))
    assert 'rel="next"' in first.headers["Link"] and "page=2" in first.headers["Link"]
    assert len(last.json()) == top_level - (last_page - 1) * 30
    assert 'rel="next"' not in last.headers["Link"]
    assert beyond.status_code == 200 and beyond.json() == []


@pytest.mark.parametrize("per_page", [0, 101])
def test_per_page_is_one_to_a_hundred(woo, per_page):
    response = woo.get("/products", {"per_page": per_page})

    assert response.status_code == 400
    assert response.json()["code"] == "rest_invalid_param"
    assert "per_page must be between 1 (inclusive) and 100 (inclusive)" in str(response.json())


def test_include_takes_a_comma_list_and_repeated_keys_keep_the_last(woo):
    ids = [p.id for p in woo.catalog.store_products if p.parent_id is None][:3]
    listed = woo.get(
        "/products", {"include": ",".join(map(str, ids)), "orderby": "id", "order": "asc"}
    )
    bracketed = woo.get("/products", [("include[]", i) for i in ids])
    repeated = woo.get("/products", [("include", i) for i in ids])

    assert [p["id"] for p in listed.json()] == ids
    assert sorted(p["id"] for p in bracketed.json()) == ids
    assert [p["id"] for p in repeated.json()] == ids[-1:]  # PHP keeps the last value


def test_products_in_the_real_shape(woo):
    parent, child = parent_and_child(woo)
    [variable] = woo.get("/products", {"include": parent.id}).json()
    variations = woo.get(f"/products/{parent.id}/variations", {"per_page": 100}).json()
    [variation] = [v for v in variations if v["id"] == child.id]

    assert variable["type"] == "variable" and variable["status"] == "publish"
    assert variable["variations"] == list(parent.children_ids)
    assert variable["regular_price"] == "" and variable["manage_stock"] is False
    assert [a["name"] for a in variable["attributes"]] == ["Color", "Size"]
    assert variable["categories"][0]["name"] == parent.categories[0]
    assert variation["parent_id"] == parent.id and variation["type"] == "variation"
    assert variation["sku"] == child.sku and variation["regular_price"] == str(child.price)
    assert variation["manage_stock"] is True and variation["stock_quantity"] == child.quantity
    assert [(a["name"], a["option"]) for a in variation["attributes"]] == [
        ("Color", child.color),
        ("Size", child.size),
    ]
    assert woo.get(f"/products/{child.id}").json()["parent_id"] == parent.id


def test_barcodes_in_the_native_field_or_in_plugin_meta(woo):
    children = [p for p in woo.catalog.store_products if p.parent_id and p.barcode]
    native = next(p for p in children if p.id % 5)
    in_meta = next(p for p in children if p.id % 5 == 0)

    native_item = woo.get(f"/products/{native.id}").json()
    meta_item = woo.get(f"/products/{in_meta.id}").json()

    assert native_item["global_unique_id"] == native.barcode
    assert meta_item["global_unique_id"] == "" and meta(meta_item, "_alg_ean") == in_meta.barcode


def test_unknown_product(woo):
    response = woo.get("/products/987654")

    assert response.status_code == 404
    assert response.json()["code"] == "woocommerce_rest_product_invalid_id"


# --- batch updates ----------------------------------------------------------------------------


def test_variation_batch_updates_and_refuses_one_by_one(woo):
    parent, child = parent_and_child(woo)
    body = {
        "update": [
            {"id": child.id, "manage_stock": True, "stock_quantity": 31, "regular_price": "21.00"},
            {"id": 999999, "stock_quantity": 1},
        ]
    }

    response = woo.send("POST", f"/products/{parent.id}/variations/batch", body)
    updated, refused = response.json()["update"]
    after = woo.get(f"/products/{child.id}").json()
    restore = {"id": child.id, "stock_quantity": child.quantity, "regular_price": str(child.price)}
    woo.send("PUT", f"/products/{parent.id}/variations/batch", {"update": [restore]})

    assert response.status_code == 200
    assert updated["id"] == child.id and updated["stock_quantity"] == 31
    assert refused == {
        "id": 999999,
        "error": {
            "code": "woocommerce_rest_product_variation_invalid_id",
            "message": "Invalid ID.",
            "data": {"status": 400},
        },
    }
    assert after["stock_quantity"] == 31 and after["price"] == "21.00"


def test_a_quantity_without_managed_stock_is_dropped(woo):
    simple = next(
        p for p in woo.catalog.store_products if p.type_id == "simple" and not p.parent_id
    )

    def update(**changes):
        body = {"update": [{"id": simple.id, **changes}]}
        return woo.send("POST", "/products/batch", body).json()["update"][0]

    unmanaged = update(manage_stock=False, stock_quantity=5)
    managed = update(manage_stock=True, stock_quantity=simple.quantity)

    assert unmanaged["manage_stock"] is False and unmanaged["stock_quantity"] is None
    assert managed["stock_quantity"] == simple.quantity


def test_a_batch_takes_at_most_a_hundred_objects(woo):
    response = woo.send("POST", "/products/batch", {"update": [{"id": i} for i in range(101)]})

    assert response.status_code == 413
    assert response.json()["code"] == "woocommerce_rest_request_entity_too_large"


# --- orders -------------------------------------------------------------------------------------


def order_body(child, reference, status="processing"):
    return {
        "status": status,
        "set_paid": True,
        "currency": "USD",
        "billing": {"first_name": "Ada", "last_name": "Byron", "country": "GB"},
        "shipping": {"first_name": "Ada", "last_name": "Byron", "country": "GB"},
        "line_items": [
            {
                "product_id": child.parent_id,
                "variation_id": child.id,
                "quantity": 3,
                "total": "30.00",
            }
        ],
        "shipping_lines": [
            {
                "method_id": "tiktok_shop",
                "method_title": f"TikTok Shop order {reference}",
                "total": "0.00",
            }
        ],
        "meta_data": [{"key": "_tiktok_order_id", "value": reference}],
    }


def stock_of(woo, post_id):
    return woo.get(f"/products/{post_id}").json()["stock_quantity"]


def test_orders_take_stock_and_give_it_back_once_when_cancelled(woo):
    _, child = parent_and_child(woo)
    before = stock_of(woo, child.id)

    created = woo.send("POST", "/orders", order_body(child, "5770001"))
    order = created.json()
    taken = stock_of(woo, child.id)
    cancel = woo.send("PUT", f"/orders/{order['id']}", {"status": "cancelled"})
    again = woo.send("PUT", f"/orders/{order['id']}", {"status": "cancelled"})

    assert created.status_code == 201
    assert created.headers["Location"].endswith(f"/wp-json/wc/v3/orders/{order['id']}")
    assert order["created_via"] == "rest-api" and order["status"] == "processing"
    assert order["date_paid"] and order["total"] == "30.00"
    assert order["line_items"][0]["product_id"] == child.parent_id
    assert taken == before - 3
    assert cancel.json()["status"] == again.json()["status"] == "cancelled"
    assert stock_of(woo, child.id) == before


def test_order_search_matches_item_names_not_meta(woo):
    _, child = parent_and_child(woo)
    order = woo.send("POST", "/orders", order_body(child, "5770002", status="pending")).json()
    body = order_body(child, "ignored", status="pending")
    body["shipping_lines"] = []
    body["meta_data"] = [{"key": "_tiktok_order_id", "value": "5770003"}]
    only_meta = woo.send("POST", "/orders", body).json()

    by_shipping_line = woo.get("/orders", {"search": "5770002"}).json()
    by_meta = woo.get("/orders", {"search": "5770003"}).json()
    by_name = woo.get("/orders", {"search": "byron"}).json()

    assert [o["id"] for o in by_shipping_line] == [order["id"]]
    assert by_meta == []  # WooCommerce's search does not look at custom meta fields
    assert {order["id"], only_meta["id"]} <= {o["id"] for o in by_name}
    assert meta(order, "_tiktok_order_id") == "5770002"


def test_order_errors(woo):
    _, child = parent_and_child(woo)
    no_product = order_body(child, "5770004")
    no_product["line_items"] = [{"quantity": 1}]
    unknown = order_body(child, "5770005")
    unknown["line_items"] = [{"product_id": 999999, "quantity": 1}]

    assert woo.send("POST", "/orders", no_product).json()["code"] == (
        "woocommerce_rest_required_product_reference"
    )
    assert (
        woo.send("POST", "/orders", unknown).json()["code"] == "woocommerce_rest_invalid_product_id"
    )
    assert woo.get("/orders/424242").status_code == 404
    assert woo.send("PUT", "/orders/424242", {"status": "cancelled"}).json()["code"] == (
        "woocommerce_rest_shop_order_invalid_id"
    )
    assert (
        woo.send("POST", "/orders", {**order_body(child, "x"), "status": "shipped"}).status_code
        == 400
    )


# --- control endpoints, faults and rate limits ----------------------------------------------


def test_a_merchant_edit_shows_in_the_api(woo):
    _, child = parent_and_child(woo)

    edited = woo.control(f"products/{child.id}", {"stock_quantity": 4, "sale_price": "5.00"})
    seen = woo.get(f"/products/{child.id}").json()
    woo.control(f"products/{child.id}", {"stock_quantity": child.quantity, "sale_price": ""})

    assert edited.status_code == 200
    assert seen["stock_quantity"] == 4 and seen["price"] == "5.00" and seen["on_sale"] is True
    assert woo.control(f"products/{child.id}", {"colour": "red"}).status_code == 400
    assert woo.control("products/987654", {"status": "draft"}).status_code == 404


def test_created_orders_are_listed(woo):
    _, child = parent_and_child(woo)
    order = woo.send("POST", "/orders", order_body(child, "5770006")).json()

    listed = requests.get(f"{woo.base}/__sandbox__/woocommerce/orders").json()

    assert order["id"] in {o["id"] for o in listed}


@pytest.mark.parametrize("retry_after, status", [(2, 429), (None, 429), (5, 503)])
def test_the_throttle_knob(woo, retry_after, status):
    woo.control("throttle", {"count": 2, "retry_after": retry_after, "status": status})

    answers = [woo.get("/products", {"per_page": 1}) for _ in range(3)]

    assert [a.status_code for a in answers] == [status, status, 200]
    assert answers[0].headers.get("Retry-After") == (str(retry_after) if retry_after else None)
    assert answers[0].headers["Content-Type"].startswith("text/html")
    assert woo.control("throttle", {"count": 1, "status": 418}).status_code == 400


def test_fault_knobs(woo):
    control = f"{woo.base}/__sandbox__/faults"

    requests.post(control, json={"rate_limit_rate": 1.0})
    limited = woo.get("/products", {"per_page": 1})
    requests.post(control, json={"rate_limit_rate": 0.0, "error_rate": 1.0})
    failed = woo.get("/products", {"per_page": 1})
    requests.post(f"{woo.base}/__sandbox__/reset")
    served = woo.get("/products", {"per_page": 1})

    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    assert failed.status_code == 500
    assert failed.json()["code"] == "internal_server_error"
    assert "critical error" in failed.json()["message"]
    assert served.status_code == 200


def test_the_hosts_per_second_limit():
    settings = SandboxSettings(tiktok_skus=48, products=12, rate_limit_per_second=3)
    with serve_sandbox(create_woocommerce_sandbox, settings) as (url, _, _):
        answers = [
            requests.get(f"{url}/wp-json/wc/v3/products", auth=KEYS).status_code for _ in range(5)
        ]

    assert answers[:3] == [200, 200, 200]
    assert 429 in answers[3:]


# --- webhook deliveries -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def receiver():
    with serve_webhook_receiver() as receiver:
        yield receiver


def test_a_delivery_is_signed_over_its_raw_body(woo, receiver):
    url, deliveries = receiver
    deliveries.clear()
    _, child = parent_and_child(woo)

    answer = woo.control(
        "webhooks/deliver", {"url": url, "topic": "product.updated", "id": child.id}
    )
    [(headers, body)] = deliveries

    expected = base64.b64encode(
        hmac.new(SETTINGS.woocommerce_webhook_secret.encode(), body, hashlib.sha256).digest()
    ).decode()
    assert answer.json()["statuses"] == [200]
    assert headers["X-Wc-Webhook-Signature"] == expected
    assert headers["X-Wc-Webhook-Topic"] == "product.updated"
    assert headers["X-Wc-Webhook-Resource"] == "product"
    assert headers["X-Wc-Webhook-Delivery-Id"] == answer.json()["delivery_id"]
    assert headers["User-Agent"].startswith("WooCommerce/")
    assert b'"type":"variation"' in body and f'"parent_id":{child.parent_id}'.encode() in body


def test_deliveries_twice_wrongly_signed_and_the_ping(woo, receiver):
    url, deliveries = receiver
    _, child = parent_and_child(woo)

    deliveries.clear()
    woo.control("webhooks/deliver", {"url": url, "id": child.id, "twice": True})
    twice = list(deliveries)
    deliveries.clear()
    woo.control("webhooks/deliver", {"url": url, "id": child.id, "bad_signature": True})
    [(bad_headers, bad_body)] = deliveries
    deliveries.clear()
    woo.control("webhooks/deliver", {"url": url, "ping": True})
    [(ping_headers, ping_body)] = deliveries

    assert len(twice) == 2
    assert twice[0][0]["X-Wc-Webhook-Delivery-Id"] == twice[1][0]["X-Wc-Webhook-Delivery-Id"]
    good = base64.b64encode(
        hmac.new(SETTINGS.woocommerce_webhook_secret.encode(), bad_body, hashlib.sha256).digest()
    ).decode()
    assert bad_headers["X-Wc-Webhook-Signature"] != good
    assert ping_body == b"webhook_id=1" and "X-Wc-Webhook-Signature" not in ping_headers
