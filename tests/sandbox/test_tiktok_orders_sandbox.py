"""The emulated TikTok Shop API's writes (inventory, prices, product status), orders and webhook
deliveries over real HTTP, signed by the test's own reading of the algorithm, and webhooks
received by a real loopback server and checked with the test's own HMAC."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
import requests
from flask import Flask, request

from tests.builders import serve_app
from tests.sandbox.test_tiktok_sandbox import Api, assert_refused, mint_grant

ORDERS_SEARCH = "/order/202309/orders/search"
ORDERS = "/order/202309/orders"


def inventory_path(product_id: str) -> str:
    return f"/product/202309/products/{product_id}/inventory/update"


def prices_path(product_id: str) -> str:
    return f"/product/202309/products/{product_id}/prices/update"


@pytest.fixture
def tiktok_url(sandbox):
    return sandbox.url("tiktok")


@pytest.fixture
def api(sandbox, tiktok_url):
    return Api(tiktok_url, sandbox.settings, mint_grant(tiktok_url)["access_token"])


@pytest.fixture
def us_shop(sandbox):
    return sandbox.catalog.shops[0]


def control(base_url: str, path: str, body: dict | None = None) -> requests.Response:
    return requests.post(f"{base_url}/__sandbox__/tiktok/{path}", json=body or {}, timeout=5)


def create_order(base_url: str, **options) -> dict:
    response = control(base_url, "orders", options)
    assert response.status_code == 201, response.text
    return response.json()


def detail(api: Api, shop, product_id: str) -> dict:
    query = {"shop_cipher": shop.cipher}
    return api.call("GET", f"/product/202309/products/{product_id}", query).json()["data"]


def split_stock_product(shop):
    return next(
        product
        for product in shop.products
        if any(len(sku.inventory) == 2 for sku in product.skus)
        and any(len(sku.inventory) == 1 for sku in product.skus)
    )


# --- inventory -------------------------------------------------------------------------------


def test_inventory_errors_are_per_sku_inside_a_success_envelope(api, us_shop, sandbox):
    product = split_stock_product(us_shop)
    split = next(sku for sku in product.skus if len(sku.inventory) == 2)
    single = next(sku for sku in product.skus if len(sku.inventory) == 1)
    uk_warehouse = sandbox.catalog.shops[1].warehouses[0].id
    body = {
        "skus": [
            {"id": single.id, "inventory": [{"quantity": 13}]},  # its only warehouse, implied
            {"id": split.id, "inventory": [{"warehouse_id": uk_warehouse, "quantity": 1}]},
            {"id": "42", "inventory": [{"warehouse_id": single.inventory[0][0], "quantity": 1}]},
        ]
    }

    payload = api.call("POST", inventory_path(product.id), {"shop_cipher": us_shop.cipher}, body)

    data = payload.json()["data"]
    assert payload.status_code == 200 and payload.json()["code"] == 0
    warehouse_refusal, unknown = data["errors"]
    assert unknown == {"code": 12019022, "message": "sku ID is invalid", "detail": {"sku_id": "42"}}
    assert warehouse_refusal["detail"]["sku_id"] == split.id
    [extra] = warehouse_refusal["detail"]["extra_errors"]
    assert extra["warehouse_id"] == uk_warehouse and extra["code"] == 12052241
    skus = {sku["id"]: sku for sku in detail(api, us_shop, product.id)["skus"]}
    assert skus[single.id]["inventory"] == [
        {"warehouse_id": single.inventory[0][0], "quantity": 13}
    ]
    assert [(i["warehouse_id"], i["quantity"]) for i in skus[split.id]["inventory"]] == list(
        split.inventory
    )


@pytest.mark.parametrize(
    ("listed", "code"),
    [
        ("first only", 12052244),
        ("no warehouse id", 12052240),
        ("negative", 12052240),
        ("too many", 12052240),
        ("not a number", 12052240),
    ],
)
def test_each_warehouse_of_a_sku_is_checked(api, us_shop, listed, code):
    product = split_stock_product(us_shop)
    split = next(sku for sku in product.skus if len(sku.inventory) == 2)
    (first, _), (second, _) = split.inventory
    inventory = {
        "first only": [{"warehouse_id": first, "quantity": 1}],
        "no warehouse id": [{"quantity": 1}, {"warehouse_id": second, "quantity": 1}],
        "negative": [
            {"warehouse_id": first, "quantity": -1},
            {"warehouse_id": second, "quantity": 1},
        ],
        "too many": [
            {"warehouse_id": first, "quantity": 100_000},
            {"warehouse_id": second, "quantity": 1},
        ],
        "not a number": [
            {"warehouse_id": first, "quantity": "5"},
            {"warehouse_id": second, "quantity": 1},
        ],
    }[listed]

    response = api.call(
        "POST",
        inventory_path(product.id),
        {"shop_cipher": us_shop.cipher},
        {"skus": [{"id": split.id, "inventory": inventory}]},
    )

    [error] = response.json()["data"]["errors"]
    assert error["code"] == code and error["detail"]["sku_id"] == split.id


def test_whole_inventory_calls_refused(api, us_shop, sandbox):
    query = {"shop_cipher": us_shop.cipher}
    product = us_shop.products[0]
    other_shop_product = sandbox.catalog.shops[1].products[0]
    sku = {"id": product.skus[0].id, "inventory": [{"quantity": 1}]}

    assert_refused(api.call("POST", inventory_path("1"), query, {"skus": [sku]}), 12019150)
    assert_refused(
        api.call("POST", inventory_path(other_shop_product.id), query, {"skus": [sku]}), 12019150
    )
    assert_refused(api.call("POST", inventory_path(product.id), query, {"skus": []}), 36009004)
    assert_refused(
        api.call("POST", inventory_path(product.id), query, {"skus": [{"id": sku["id"]}]}),
        36009004,
    )


def test_a_write_shows_in_search_as_the_newest_product(api, us_shop):
    product = us_shop.products[-1]
    sku = product.skus[0]
    inventory = [{"warehouse_id": w, "quantity": 77} for w, _ in sku.inventory]
    before = int(time.time())

    api.call(
        "POST",
        inventory_path(product.id),
        {"shop_cipher": us_shop.cipher},
        {"skus": [{"id": sku.id, "inventory": inventory}]},
    )

    newest = api.search(us_shop.cipher, page_size=1).json()["data"]["products"][0]
    assert newest["id"] == product.id and newest["update_time"] >= before
    assert newest["skus"][0]["inventory"] == inventory
    recent = api.search(us_shop.cipher, update_time_ge=before).json()["data"]
    assert [p["id"] for p in recent["products"]] == [product.id]


def test_calls_are_counted_per_endpoint_and_reset_forgets_writes(api, us_shop, tiktok_url):
    product = us_shop.products[0]
    sku = product.skus[0]
    inventory = [{"warehouse_id": w, "quantity": 5} for w, _ in sku.inventory]
    for _ in range(2):
        api.call(
            "POST",
            inventory_path(product.id),
            {"shop_cipher": us_shop.cipher},
            {"skus": [{"id": sku.id, "inventory": inventory}]},
        )

    stats = requests.get(f"{tiktok_url}/__sandbox__/stats", timeout=5).json()
    assert stats["POST /product/202309/products/{product_id}/inventory/update"] == 2

    control(tiktok_url, "reset")
    restored = detail(api, us_shop, product.id)
    assert [(i["warehouse_id"], i["quantity"]) for i in restored["skus"][0]["inventory"]] == list(
        sku.inventory
    )
    assert restored["update_time"] == product.update_time


# --- prices and product status ---------------------------------------------------------------


def test_prices_are_all_or_nothing(api, us_shop):
    product = next(p for p in us_shop.products if len(p.skus) >= 2)
    first, second = product.skus[:2]
    query = {"shop_cipher": us_shop.cipher}

    def update(*skus: dict) -> requests.Response:
        return api.call("POST", prices_path(product.id), query, {"skus": list(skus)})

    def price(sku_id: str, amount: str, currency: str = "USD") -> dict:
        return {"id": sku_id, "price": {"amount": amount, "currency": currency}}

    assert_refused(update(price(first.id, "5.00"), price("42", "5.00")), 12019022)
    for wrong in ("0", "7600.01", "1.999", "abc"):
        assert_refused(update(price(first.id, wrong)), 12052073)
    assert_refused(update(price(first.id, "5.00", "GBP")), 12052073)
    assert detail(api, us_shop, product.id)["skus"][0]["price"]["sale_price"] == str(first.price)

    accepted = update(price(first.id, "5.5"), price(second.id, "7600"))

    assert accepted.json() | {"request_id": None} == {
        "code": 0,
        "message": "Success",
        "data": {},
        "request_id": None,
    }
    skus = detail(api, us_shop, product.id)["skus"]
    assert [sku["price"]["sale_price"] for sku in skus[:2]] == ["5.50", "7600.00"]


def test_uk_prices_are_in_pounds(api, sandbox):
    uk = sandbox.catalog.shops[1]
    product = uk.products[0]
    body = {"skus": [{"id": product.skus[0].id, "price": {"amount": "12.00", "currency": "GBP"}}]}

    response = api.call("POST", prices_path(product.id), {"shop_cipher": uk.cipher}, body)

    assert response.json()["code"] == 0
    price = detail(api, uk, product.id)["skus"][0]["price"]
    assert price == {"currency": "GBP", "sale_price": "12.00", "tax_exclusive_price": "10.00"}


def test_activate_and_deactivate(api, us_shop):
    query = {"shop_cipher": us_shop.cipher}
    live = [p.id for p in us_shop.products if p.status == "ACTIVATE"]

    def change(action: str, ids: list[str]) -> requests.Response:
        return api.call("POST", f"/product/202309/products/{action}", query, {"product_ids": ids})

    assert_refused(change("deactivate", live[:21]), 12019120)
    assert_refused(change("deactivate", []), 36009004)
    response = change("deactivate", [*live[:3], "42"])

    assert response.json()["data"] == {
        "errors": [
            {
                "code": 12019150,
                "message": "The product ID does not exist.",
                "detail": {"product_id": "42"},
            }
        ]
    }
    assert detail(api, us_shop, live[0])["status"] == "SELLER_DEACTIVATED"
    assert change("activate", live[:3]).json()["data"] == {}
    assert detail(api, us_shop, live[0])["status"] == "ACTIVATE"


# --- orders ----------------------------------------------------------------------------------


def search_orders(api: Api, shop, page_size: int = 100, page_token: str = "", query=None, **body):
    params = {"shop_cipher": shop.cipher, "page_size": str(page_size), **(query or {})}
    if page_token:
        params["page_token"] = page_token
    return api.call("POST", ORDERS_SEARCH, params, body)


def test_an_order_has_one_line_item_per_unit(tiktok_url, us_shop):
    product = next(p for p in us_shop.products if len(p.skus) >= 2)
    first, second = product.skus[:2]

    order = create_order(
        tiktok_url, items=[{"sku_id": first.id, "quantity": 3}, {"sku_id": second.id}]
    )

    lines = order["line_items"]
    assert [line["sku_id"] for line in lines] == [first.id] * 3 + [second.id]
    assert len({line["id"] for line in lines}) == 4 and len(order["id"]) == 18
    assert lines[0]["sale_price"] == str(first.price) and lines[0]["currency"] == "USD"
    assert lines[0]["sku_name"] == ", ".join(value for _, value in first.sales_attributes)
    assert lines[0]["display_status"] == "AWAITING_SHIPMENT"
    assert order["payment"]["sub_total"] == str(first.price * 3 + second.price)
    assert order["recipient_address"]["region_code"] == "US"
    levels = [d["address_level"] for d in order["recipient_address"]["district_info"]]
    assert levels == ["L0", "L1", "L2", "L3"]


def test_an_unpaid_order_hides_the_address(tiktok_url, us_shop):
    sku_id = us_shop.products[0].skus[0].id

    unpaid = create_order(tiktok_url, items=[{"sku_id": sku_id}], status="UNPAID")

    assert "recipient_address" not in unpaid and "paid_time" not in unpaid
    paid = control(tiktok_url, f"orders/{unpaid['id']}/status", {"status": "AWAITING_SHIPMENT"})
    assert paid.json()["recipient_address"]["name"] == "Jordan Rivera"
    assert paid.json()["update_time"] > unpaid["update_time"]


def test_order_control_refusals(tiktok_url, us_shop, sandbox):
    sku_id = us_shop.products[0].skus[0].id
    uk_sku = sandbox.catalog.shops[1].products[0].skus[0].id

    assert control(tiktok_url, "orders", {"items": []}).status_code == 400
    assert control(tiktok_url, "orders", {"items": [{"sku_id": uk_sku}]}).status_code == 400
    refused = control(tiktok_url, "orders", {"items": [{"sku_id": sku_id}], "status": "LOST"})
    assert refused.status_code == 400 and "AWAITING_SHIPMENT" in refused.json()["error"]
    assert (
        control(tiktok_url, "orders", {"items": [{"sku_id": sku_id, "quantity": 0}]}).status_code
        == 400
    )
    assert control(tiktok_url, "orders", {"shop_id": "1", "items": []}).status_code == 404
    assert control(tiktok_url, "orders/1/status", {"status": "CANCELLED"}).status_code == 404


def test_orders_search_filters_sorts_and_pages(api, tiktok_url, us_shop, sandbox):
    sku_id = us_shop.products[0].skus[0].id
    now = int(time.time())
    ids = [
        create_order(tiktok_url, items=[{"sku_id": sku_id}], create_time=now - age)["id"]
        for age in (400, 300, 200, 100)
    ]
    uk = sandbox.catalog.shops[1]
    create_order(tiktok_url, shop_id=uk.id, items=[{"sku_id": uk.products[0].skus[0].id}])
    control(tiktok_url, f"orders/{ids[0]}/status", {"status": "CANCELLED"})

    newest_first = search_orders(api, us_shop).json()["data"]
    assert [o["id"] for o in newest_first["orders"]] == ids[::-1]
    by_update = search_orders(api, us_shop, query={"sort_field": "update_time"}).json()["data"]
    assert by_update["orders"][0]["id"] == ids[0]  # cancelled just now
    oldest_first = search_orders(api, us_shop, query={"sort_order": "ASC"}).json()["data"]
    assert [o["id"] for o in oldest_first["orders"]] == ids

    window = search_orders(api, us_shop, update_time_ge=now - 300, update_time_lt=now - 100)
    assert [o["id"] for o in window.json()["data"]["orders"]] == ids[1:3][::-1]
    cancelled = search_orders(api, us_shop, order_status="CANCELLED").json()["data"]
    assert [o["id"] for o in cancelled["orders"]] == [ids[0]]
    assert cancelled["orders"][0]["cancel_reason"]

    first = search_orders(api, us_shop, page_size=3).json()["data"]
    second = search_orders(api, us_shop, page_size=3, page_token=first["next_page_token"])
    assert first["total_count"] == 4 and len(first["orders"]) == 3
    assert [o["id"] for o in second.json()["data"]["orders"]] == [ids[0]]
    assert second.json()["data"]["next_page_token"] == ""
    assert_refused(
        search_orders(
            api, us_shop, page_size=3, page_token=first["next_page_token"], order_status="UNPAID"
        ),
        36009004,
    )


def test_orders_search_refusals(api, us_shop):
    assert_refused(search_orders(api, us_shop, page_size=0), 12019109)
    assert_refused(search_orders(api, us_shop, order_status="LOST"), 36009004)
    assert_refused(search_orders(api, us_shop, update_time_ge="yesterday"), 36009004)
    assert_refused(search_orders(api, us_shop, query={"sort_field": "total"}), 36009004)


def test_get_orders_by_ids(api, tiktok_url, us_shop):
    sku_id = us_shop.products[0].skus[0].id
    first, second = (create_order(tiktok_url, items=[{"sku_id": sku_id}]) for _ in range(2))
    query = {"shop_cipher": us_shop.cipher}

    response = api.call("GET", ORDERS, {**query, "ids": f"{second['id']},42,{first['id']}"})

    assert [o["id"] for o in response.json()["data"]["orders"]] == [second["id"], first["id"]]
    assert response.json()["data"]["orders"][0] == second
    assert_refused(
        api.call("GET", ORDERS, {**query, "ids": ",".join(map(str, range(51)))}), 36009004
    )
    assert_refused(api.call("GET", ORDERS, query), 36009004)


# --- webhooks --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def receiver():
    """A webhook receiver on a loopback port: yields (url, deliveries) where each delivery is
    (Authorization header, raw body)."""
    deliveries: list[tuple[str | None, bytes]] = []
    app = Flask("webhook_receiver")

    @app.post("/hooks/tiktok")
    def receive():
        deliveries.append((request.headers.get("Authorization"), request.get_data()))
        return "", 200

    with serve_app(app) as url:
        yield f"{url}/hooks/tiktok", deliveries


@pytest.fixture
def inbox(receiver):
    url, deliveries = receiver
    deliveries.clear()
    return url, deliveries


def signature_of(settings, body: bytes, secret: str | None = None) -> str:
    key = (secret or settings.app_secret).encode()
    return hmac.new(key, settings.app_key.encode() + body, hashlib.sha256).hexdigest()


def test_a_notification_is_signed_and_redelivered_unchanged(sandbox, tiktok_url, inbox, us_shop):
    url, deliveries = inbox
    data = {"product_id": us_shop.products[0].id, "status": "PLATFORM_DEACTIVATED"}

    answer = control(
        tiktok_url, "webhooks/deliver", {"url": url, "type": 5, "data": data, "repeat": 2}
    ).json()

    assert [d["status"] for d in answer["deliveries"]] == [200, 200]
    assert deliveries[0] == deliveries[1]
    authorization, body = deliveries[0]
    assert authorization == signature_of(sandbox.settings, body) == answer["authorization"]
    payload = json.loads(body)
    assert list(payload) == ["type", "tts_notification_id", "shop_id", "timestamp", "data"]
    assert payload["type"] == 5 and payload["shop_id"] == us_shop.id and payload["data"] == data


def test_a_wrongly_signed_notification(sandbox, tiktok_url, inbox):
    url, deliveries = inbox

    control(tiktok_url, "webhooks/deliver", {"url": url, "type": 6, "bad_signature": True})

    [(authorization, body)] = deliveries
    assert authorization != signature_of(sandbox.settings, body)


def test_without_a_url_a_notification_is_only_signed(sandbox, tiktok_url):
    answer = control(tiktok_url, "webhooks/deliver", {"type": 7, "data": {"message": "soon"}})

    assert answer.json()["deliveries"] == []
    body = answer.json()["body"].encode()
    assert answer.json()["authorization"] == signature_of(sandbox.settings, body)
    assert control(tiktok_url, "webhooks/deliver", {"type": "1"}).status_code == 400


def test_order_changes_reach_the_registered_url(sandbox, tiktok_url, inbox, us_shop):
    url, deliveries = inbox
    assert control(tiktok_url, "webhooks", {"url": url}).json() == {"url": url}

    order = create_order(tiktok_url, items=[{"sku_id": us_shop.products[0].skus[0].id}])
    cancelled = control(tiktok_url, f"orders/{order['id']}/status", {"status": "CANCELLED"}).json()

    events = [json.loads(body) for _, body in deliveries]
    assert [(e["type"], e["data"]["order_status"]) for e in events] == [
        (1, "AWAITING_SHIPMENT"),
        (1, "CANCELLED"),
    ]
    assert events[1]["data"] == {
        "order_id": order["id"],
        "order_status": "CANCELLED",
        "is_on_hold_order": False,
        "update_time": cancelled["update_time"],
    }
    assert all(auth == signature_of(sandbox.settings, body) for auth, body in deliveries)
    log = requests.get(f"{tiktok_url}/__sandbox__/tiktok/webhooks", timeout=5).json()
    assert log["url"] == url and [d["status"] for d in log["deliveries"]] == [200, 200]

    control(tiktok_url, "webhooks", {"url": None})
    create_order(tiktok_url, items=[{"sku_id": us_shop.products[0].skus[0].id}])
    assert len(deliveries) == 2


def test_an_unreachable_url_is_logged_not_raised(tiktok_url, us_shop):
    control(tiktok_url, "webhooks", {"url": "http://127.0.0.1:9/hooks"})

    create_order(tiktok_url, items=[{"sku_id": us_shop.products[0].skus[0].id}])

    [delivery] = requests.get(f"{tiktok_url}/__sandbox__/tiktok/webhooks", timeout=5).json()[
        "deliveries"
    ]
    assert "error" in delivery and delivery["type"] == 1
