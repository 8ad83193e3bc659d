"""The emulated Shopify Admin GraphQL API over real loopback HTTP."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

import pytest
import requests
from flask import Flask, request

from tests.builders import serve_app, serve_sandbox
from webapp.sandbox.catalog import DemoCatalog
from webapp.sandbox.settings import SandboxSettings
from webapp.sandbox.shopify import (
    INVALID_TOKEN,
    ShopifyStore,
    create_shopify_sandbox,
    product_gid,
    sign_webhook,
    variant_gid,
)

SETTINGS = SandboxSettings(tiktok_skus=240, products=60, shopify_restore_rate=0)
GRAPHQL = "/admin/api/2025-01/graphql.json"
LOCATION = "gid://shopify/Location/71300000001"


@dataclass
class Shop:
    url: str
    app: Flask
    catalog: DemoCatalog
    token: str = SETTINGS.shopify_access_token

    @property
    def store(self) -> ShopifyStore:
        return self.app.extensions["shopify_store"]

    def post(self, query: str, variables=None, *, token: str | None = "default"):
        headers = {} if token is None else {"X-Shopify-Access-Token": token}
        if token == "default":
            headers["X-Shopify-Access-Token"] = self.token
        return requests.post(
            self.url + GRAPHQL, json={"query": query, "variables": variables}, headers=headers
        )

    def data(self, query: str, variables=None) -> dict:
        body = self.post(query, variables).json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def error(self, query: str, variables=None) -> dict:
        response = self.post(query, variables)
        assert response.status_code == 200
        [error] = response.json()["errors"]
        return error


@pytest.fixture(scope="module")
def shop():
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with serve_sandbox(create_shopify_sandbox, SETTINGS) as (url, app, catalog):
        yield Shop(url, app, catalog)


@pytest.fixture(autouse=True)
def _calm(shop):
    yield
    shop.app.extensions["sandbox_faults"].reset()


def sellable(catalog: DemoCatalog):
    return [p for p in catalog.store_products if p.type_id == "simple"]


def parent_with_children(catalog: DemoCatalog):
    return next(
        p for p in catalog.store_products if p.type_id == "configurable" and len(p.children_ids) > 2
    )


# --- auth and transport ----------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "shpat_wrong"])
def test_refuses_a_missing_or_wrong_token(shop, token):
    response = shop.post("{ shop { name } }", token=token)

    assert response.status_code == 401
    assert response.json() == {"errors": INVALID_TOKEN}


def test_unknown_paths_are_not_found(shop):
    headers = {"X-Shopify-Access-Token": shop.token}
    elsewhere = requests.post(f"{shop.url}/admin/products.json", headers=headers)
    bad_version = requests.post(f"{shop.url}/admin/api/latest/graphql.json", headers=headers)
    wrong_method = requests.get(shop.url + GRAPHQL, headers=headers)

    for response in (elsewhere, bad_version, wrong_method):
        assert response.status_code == 404
        assert response.json() == {"errors": "Not Found"}


def test_a_body_without_a_query_is_refused(shop):
    response = requests.post(
        shop.url + GRAPHQL, json={"variables": {}}, headers={"X-Shopify-Access-Token": shop.token}
    )

    assert response.status_code == 400
    assert "query" in response.json()["errors"]


def test_shop_and_the_cost_of_every_answer(shop):
    response = shop.post("query { shop { name currencyCode myshopifyDomain } }")
    body = response.json()

    assert response.status_code == 200
    assert response.headers["X-Shopify-API-Version"] == "2025-01"
    assert body["data"]["shop"] == {
        "name": "Demo Outfitters",
        "currencyCode": "USD",
        "myshopifyDomain": "demo-outfitters.myshopify.com",
    }
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == cost["actualQueryCost"] == 1
    assert set(cost["throttleStatus"]) == {"maximumAvailable", "currentlyAvailable", "restoreRate"}


# --- query errors ----------------------------------------------------------------------------


def test_undefined_fields_are_refused_before_anything_runs(shop):
    error = shop.error("query Names { shop { name nickname } }")

    assert error["message"] == "Field 'nickname' doesn't exist on type 'Shop'"
    assert error["path"] == ["query Names", "shop", "nickname"]
    assert error["locations"] == [{"line": 1, "column": 27}]
    assert error["extensions"] == {
        "code": "undefinedField",
        "typeName": "Shop",
        "fieldName": "nickname",
    }


def test_syntax_and_argument_errors(shop):
    parse = shop.error("{ shop { name }")
    no_first = shop.error("{ products { nodes { id } } }")
    too_many = shop.error("{ products(first: 251) { nodes { id } } }")
    missing = shop.error(
        'mutation { orderCancel(orderId: "gid://shopify/Order/1") { job { id } } }'
    )
    null_variable = shop.error("query($id: ID!) { product(id: $id) { id } }", {})
    undeclared = shop.error("{ product(id: $id) { id } }")
    no_selection = shop.error("{ shop }")
    bad_id = shop.error('{ product(id: "12345") { id } }')

    assert parse["message"].startswith("Parse error on end of file")
    assert no_first["message"] == "you must provide one of first or last"
    assert "cannot exceed 250" in too_many["message"]
    assert missing["extensions"]["code"] == "missingRequiredArguments"
    assert missing["message"].endswith("missing required arguments: reason, refund, restock")
    assert null_variable["message"] == "Variable $id of type ID! was provided invalid value"
    assert undeclared["extensions"]["code"] == "variableNotDefined"
    assert no_selection["extensions"]["code"] == "selectionMismatch"
    assert bad_id["message"] == "Invalid global id '12345'"


def test_aliases_fragments_and_directives(shop):
    child = sellable(shop.catalog)[0]
    data = shop.data(
        """
        query Pair($id: ID!, $withSku: Boolean!) {
          first: node(id: $id) { ...VariantBits }
          again: productVariant(id: $id) { id sku @include(if: $withSku) price @skip(if: true) }
        }
        fragment VariantBits on ProductVariant { id __typename product { id } }
        """,
        {"id": variant_gid(child), "withSku": False},
    )

    assert data["first"] == {
        "id": variant_gid(child),
        "__typename": "ProductVariant",
        "product": {"id": product_gid(child)},
    }
    assert data["again"] == {"id": variant_gid(child)}


# --- catalog ---------------------------------------------------------------------------------

PRODUCTS_PAGE = """
query Page($after: String) {
  products(first: 7, after: $after) {
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { id variants(first: 100) { nodes { id } } } }
  }
}"""


def test_products_page_through_every_variant_once(shop):
    product_ids, variant_ids, after, pages = [], [], None, 0
    while True:
        page = shop.data(PRODUCTS_PAGE, {"after": after})["products"]
        pages += 1
        assert page["pageInfo"]["hasPreviousPage"] == (after is not None)
        for edge in page["edges"]:
            product_ids.append(edge["node"]["id"])
            variant_ids += [v["id"] for v in edge["node"]["variants"]["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]

    assert len(product_ids) == len(set(product_ids)) == len(shop.store.products)
    assert sorted(variant_ids) == sorted(variant_gid(p) for p in sellable(shop.catalog))
    assert pages == -(-len(product_ids) // 7)
    assert shop.error('{ products(first: 2, after: "nonsense") { nodes { id } } }')["message"] == (
        "Invalid cursor for current pagination sort."
    )


def test_a_product_with_options_in_the_real_shape(shop):
    parent = parent_with_children(shop.catalog)
    children = [p for p in shop.catalog.store_products if p.parent_id == parent.id]
    product = shop.data(
        """query($id: ID!) { product(id: $id) {
            id title status productType tags hasOnlyDefaultVariant
            options { name values }
            collections(first: 10) { nodes { title } }
            variants(first: 100) { nodes {
              id sku title price barcode inventoryQuantity
              selectedOptions { name value } inventoryItem { id tracked }
            } }
        } }""",
        {"id": product_gid(children[0])},
    )["product"]

    assert product["title"] == parent.name and product["status"] == "ACTIVE"
    assert product["productType"] == parent.categories[0]
    assert product["tags"] == list(parent.tags)
    assert product["hasOnlyDefaultVariant"] is False
    assert [o["name"] for o in product["options"]] == ["Color", "Size"]
    assert parent.categories[0] in [c["title"] for c in product["collections"]["nodes"]]
    by_id = {v["id"]: v for v in product["variants"]["nodes"]}
    for child in children:
        variant = by_id[variant_gid(child)]
        assert variant["sku"] == child.sku
        assert variant["title"] == f"{child.color} / {child.size}"
        assert variant["selectedOptions"] == [
            {"name": "Color", "value": child.color},
            {"name": "Size", "value": child.size},
        ]
        assert Decimal(variant["price"]) == child.price and "." in variant["price"]
        assert variant["barcode"] == child.barcode
        assert variant["inventoryItem"]["tracked"] is True
        assert variant["inventoryItem"]["id"].startswith("gid://shopify/InventoryItem/")


def test_products_without_options_and_archived_old_listings(shop):
    standalone = [p for p in sellable(shop.catalog) if p.parent_id is None]
    old = [p for p in standalone if p.name.endswith("(old listing)")]
    assert old, "the demo catalog has duplicated old listings"
    query = """query($id: ID!) { productVariant(id: $id) {
        title selectedOptions { name value } inventoryItem { tracked }
        product { status hasOnlyDefaultVariant options { name values } }
    } }"""

    for product in standalone:
        variant = shop.data(query, {"id": variant_gid(product)})["productVariant"]
        assert variant["title"] == "Default Title"
        assert variant["selectedOptions"] == [{"name": "Title", "value": "Default Title"}]
        assert variant["product"]["hasOnlyDefaultVariant"] is True
        is_old = product in old
        assert variant["product"]["status"] == ("ARCHIVED" if is_old else "ACTIVE")
        assert variant["inventoryItem"]["tracked"] is not is_old


def test_product_variants_search_by_sku(shop):
    counts = Counter(p.sku for p in sellable(shop.catalog))
    duplicated = next(sku for sku, n in counts.items() if n > 1)
    query = "query($q: String!) { productVariants(first: 10, query: $q) { nodes { id sku } } }"

    def skus(search: str) -> list[str]:
        return [v["sku"] for v in shop.data(query, {"q": search})["productVariants"]["nodes"]]

    assert skus(f"sku:{duplicated}") == [duplicated, duplicated]
    assert skus(f'sku:"{duplicated.lower()}"') == [duplicated, duplicated]
    assert skus("sku:NO-SUCH-SKU") == []
    prefix = duplicated[:7]
    expected = sum(n for sku, n in counts.items() if sku.upper().startswith(prefix.upper()))
    assert len(skus(f"sku:{prefix}*")) == min(10, expected)


def test_nodes_answer_null_for_ids_the_shop_does_not_have(shop):
    child = sellable(shop.catalog)[1]
    item = f"gid://shopify/InventoryItem/{46_200_000_000_000 + child.id}"
    nodes = shop.data(
        """query($ids: [ID!]!) { nodes(ids: $ids) {
            id
            ... on ProductVariant { sku }
            ... on InventoryItem { variant { id } }
        } }""",
        {"ids": [variant_gid(child), "gid://shopify/ProductVariant/1", item]},
    )["nodes"]
    too_many = shop.error(
        "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
        {"ids": [variant_gid(child)] * 251},
    )

    assert nodes == [
        {"id": variant_gid(child), "sku": child.sku},
        None,
        {"id": item, "variant": {"id": variant_gid(child)}},
    ]
    assert "250" in too_many["message"]


# --- cost and throttling ---------------------------------------------------------------------


def test_requested_and_actual_cost(shop):
    body = shop.post(
        """{ products(first: 3) { nodes { id
              variants(first: 10) { nodes { id inventoryItem { id } } } } } }"""
    ).json()
    products = body["data"]["products"]["nodes"]
    nodes = shop.post(
        "query($ids: [ID!]!) { nodes(ids: $ids) { ... on ProductVariant { id product { id } } } }",
        {"ids": [variant_gid(p) for p in sellable(shop.catalog)[:4]]},
    ).json()
    too_costly = shop.error(
        "{ products(first: 100) { nodes { variants(first: 100) { nodes { id } } } } }"
    )

    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 2 + 3 * (1 + 2 + 10 * 2)
    assert cost["actualQueryCost"] == 2 + sum(
        1 + 2 + 2 * len(p["variants"]["nodes"]) for p in products
    )
    assert nodes["extensions"]["cost"]["requestedQueryCost"] == 4 * 2
    assert too_costly["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert too_costly["extensions"]["cost"] == 2 + 100 * (1 + 2 + 100)


def test_the_bucket_throttles_and_restores():
    settings = SandboxSettings(
        tiktok_skus=40, products=10, shopify_bucket_size=100, shopify_restore_rate=200
    )
    query = "{ products(first: 3) { nodes { variants(first: 10) { nodes { id } } } } }"  # 41
    with serve_sandbox(create_shopify_sandbox, settings) as (url, app, catalog):
        shop = Shop(url, app, catalog)
        served = shop.post(query).json()
        drained = requests.post(f"{url}/__sandbox__/shopify/bucket", json={"available": 0})
        throttled = shop.post(query)
        time.sleep(0.5)  # 200 points a second restore the bucket
        again = shop.post(query).json()

    assert served["extensions"]["cost"]["throttleStatus"]["maximumAvailable"] == 100.0
    assert drained.json()["currentlyAvailable"] == 0
    assert throttled.status_code == 200
    body = throttled.json()
    assert "data" not in body
    assert body["errors"] == [
        {
            "message": "Throttled",
            "extensions": {
                "code": "THROTTLED",
                "documentation": "https://shopify.dev/api/usage/rate-limits",
            },
        }
    ]
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 41 and cost["actualQueryCost"] is None
    assert cost["throttleStatus"]["currentlyAvailable"] < 41
    assert cost["throttleStatus"]["restoreRate"] == 200.0
    assert "data" in again


def test_fault_knobs(shop):
    control = f"{shop.url}/__sandbox__/faults"

    requests.post(control, json={"rate_limit_rate": 1.0})
    limited = shop.post("{ shop { name } }")
    requests.post(control, json={"rate_limit_rate": 0.0, "error_rate": 1.0})
    failed = shop.post("{ shop { name } }")
    requests.post(f"{shop.url}/__sandbox__/reset")
    served = shop.post("{ shop { name } }")
    stats = requests.get(f"{shop.url}/__sandbox__/stats").json()

    assert limited.status_code == 200
    assert limited.json()["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert limited.json()["extensions"]["cost"]["requestedQueryCost"] == 1
    assert failed.status_code == 200
    [error] = failed.json()["errors"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert error["message"].startswith(
        "Internal error. Looks like something went wrong on our end."
    )
    assert served.status_code == 200 and "data" in served.json()
    assert stats["requests"] == 1


# --- writes ----------------------------------------------------------------------------------

SET_QUANTITIES = """
mutation($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) {
    inventoryAdjustmentGroup { reason changes { name delta quantityAfterChange item { id } } }
    userErrors { field message code }
  }
}"""


def quantity_of(shop: Shop, gid: str) -> int:
    query = "query($id: ID!) { productVariant(id: $id) { inventoryQuantity } }"
    return shop.data(query, {"id": gid})["productVariant"]["inventoryQuantity"]


def item_of(product) -> str:
    return f"gid://shopify/InventoryItem/{46_200_000_000_000 + product.id}"


def test_inventory_set_quantities(shop):
    first, second = sellable(shop.catalog)[2:4]
    before = quantity_of(shop, variant_gid(first))

    def entry(item: str, quantity: int) -> dict:
        return {"inventoryItemId": item, "locationId": LOCATION, "quantity": quantity}

    def set_quantities(*entries: dict, ignore_compare: bool = True) -> dict:
        given = {"name": "available", "reason": "correction", "quantities": list(entries)}
        if ignore_compare:
            given["ignoreCompareQuantity"] = True
        return shop.post(SET_QUANTITIES, {"input": given}).json()

    done = set_quantities(entry(item_of(first), 41), entry(item_of(second), 7))
    refused = set_quantities(
        entry(item_of(first), 99),
        entry(item_of(second), -1),
        entry("gid://shopify/InventoryItem/1", 1),
    )
    compare_needed = set_quantities(entry(item_of(first), 5), ignore_compare=False)

    payload = done["data"]["inventorySetQuantities"]
    assert payload["userErrors"] == []
    assert payload["inventoryAdjustmentGroup"]["reason"] == "correction"
    assert payload["inventoryAdjustmentGroup"]["changes"][0] == {
        "name": "available",
        "delta": 41 - before,
        "quantityAfterChange": 41,
        "item": {"id": item_of(first)},
    }
    errors = refused["data"]["inventorySetQuantities"]["userErrors"]
    assert [(e["field"], e["code"]) for e in errors] == [
        (["input", "quantities", "1", "quantity"], "INVALID_QUANTITY_NEGATIVE"),
        (["input", "quantities", "2", "inventoryItemId"], "INVALID_INVENTORY_ITEM"),
    ]
    assert refused["data"]["inventorySetQuantities"]["inventoryAdjustmentGroup"] is None
    assert quantity_of(shop, variant_gid(first)) == 41, "a refused call changes nothing"
    assert quantity_of(shop, variant_gid(second)) == 7
    assert compare_needed["data"]["inventorySetQuantities"]["userErrors"][0]["code"] == (
        "COMPARE_QUANTITY_REQUIRED"
    )
    assert refused["extensions"]["cost"]["requestedQueryCost"] == 10


BULK_UPDATE = """
mutation($productId: ID!, $variants: [ProductVariantsBulkInput!]!, $partial: Boolean) {
  productVariantsBulkUpdate(productId: $productId, variants: $variants,
                            allowPartialUpdates: $partial) {
    productVariants { id price }
    userErrors { field message code }
  }
}"""


def test_product_variants_bulk_update(shop):
    parent = parent_with_children(shop.catalog)
    first, second, third = [p for p in shop.catalog.store_products if p.parent_id == parent.id][:3]
    other = next(p for p in sellable(shop.catalog) if p.parent_id not in (None, parent.id))

    def update(prices, partial=None):
        variants = [{"id": variant_gid(p), "price": price} for p, price in prices]
        variables = {"productId": product_gid(first), "variants": variants, "partial": partial}
        return shop.post(BULK_UPDATE, variables).json()

    def price_of(product) -> str:
        query = "query($id: ID!) { productVariant(id: $id) { price } }"
        return shop.data(query, {"id": variant_gid(product)})["productVariant"]["price"]

    atomic = update([(first, "11.00"), (second, "-1.00")])
    partial = update([(first, "12.50"), (second, "-1.00"), (other, "3.00")], partial=True)
    unknown = shop.post(
        BULK_UPDATE,
        {"productId": product_gid(first), "variants": [{"id": variant_gid(third), "cost": "1"}]},
    ).json()

    errors = atomic["data"]["productVariantsBulkUpdate"]["userErrors"]
    assert [(e["field"], e["code"]) for e in errors] == [
        (["variants", "1", "price"], "GREATER_THAN_OR_EQUAL_TO")
    ]
    assert atomic["data"]["productVariantsBulkUpdate"]["productVariants"] is None
    result = partial["data"]["productVariantsBulkUpdate"]
    assert result["productVariants"] == [{"id": variant_gid(first), "price": "12.50"}]
    assert [e["code"] for e in result["userErrors"]] == [
        "GREATER_THAN_OR_EQUAL_TO",
        "PRODUCT_VARIANT_DOES_NOT_EXIST",  # a variant of another product
    ]
    assert price_of(first) == "12.50"
    assert "Field is not defined on ProductVariantsBulkInput" in unknown["errors"][0]["message"]


CREATE_ORDER = """
mutation($order: OrderCreateOrderInput!, $options: OrderCreateOptionsInput) {
  orderCreate(order: $order, options: $options) {
    order { id name sourceName sourceIdentifier tags displayFinancialStatus cancelledAt
            totalPriceSet { shopMoney { amount currencyCode } }
            shippingAddress { name city provinceCode countryCodeV2 }
            lineItems(first: 5) { nodes { quantity sku variant { id } } } }
    userErrors { field message code }
  }
}"""
CANCEL_ORDER = """
mutation($id: ID!) {
  orderCancel(orderId: $id, reason: OTHER, refund: false, restock: true) {
    job { id done }
    orderCancelUserErrors { field message code }
  }
}"""


def test_orders_create_find_and_cancel(shop):
    product = next(p for p in sellable(shop.catalog) if p.parent_id and p.quantity >= 3)
    gid = variant_gid(product)
    before = quantity_of(shop, gid)
    order_input = {
        "currency": "USD",
        "financialStatus": "PAID",
        "sourceName": "tiktok",
        "sourceIdentifier": "576461413038785752",
        "tags": ["TikTok Shop"],
        "lineItems": [
            {
                "variantId": gid,
                "quantity": 2,
                "priceSet": {"shopMoney": {"amount": "10.50", "currencyCode": "USD"}},
            }
        ],
        "shippingAddress": {
            "firstName": "Jordan",
            "lastName": "Rivera",
            "address1": "1200 Sunset Blvd",
            "city": "Los Angeles",
            "provinceCode": "CA",
            "zip": "90026",
            "countryCode": "US",
        },
    }
    options = {"inventoryBehaviour": "DECREMENT_IGNORING_POLICY"}

    created = shop.data(CREATE_ORDER, {"order": order_input, "options": options})["orderCreate"]
    order = created["order"]
    found = shop.data(
        'query { orders(first: 1, query: "source_identifier:576461413038785752") '
        "{ nodes { id name } } }"
    )["orders"]["nodes"]
    stock_after_order = quantity_of(shop, gid)
    cancelled = shop.data(CANCEL_ORDER, {"id": order["id"]})["orderCancel"]
    again = shop.data(CANCEL_ORDER, {"id": order["id"]})["orderCancel"]
    listed = requests.get(f"{shop.url}/__sandbox__/shopify/orders").json()["orders"]

    assert created["userErrors"] == []
    assert order["name"].startswith("#") and order["sourceName"] == "tiktok"
    assert order["sourceIdentifier"] == "576461413038785752"
    assert order["displayFinancialStatus"] == "PAID" and order["cancelledAt"] is None
    assert order["totalPriceSet"]["shopMoney"] == {"amount": "21.00", "currencyCode": "USD"}
    assert order["shippingAddress"] == {
        "name": "Jordan Rivera",
        "city": "Los Angeles",
        "provinceCode": "CA",
        "countryCodeV2": "US",
    }
    assert order["lineItems"]["nodes"] == [
        {"quantity": 2, "sku": product.sku, "variant": {"id": gid}}
    ]
    assert found == [{"id": order["id"], "name": order["name"]}]
    assert stock_after_order == before - 2
    assert cancelled["orderCancelUserErrors"] == [] and cancelled["job"]["id"]
    assert quantity_of(shop, gid) == before, "restocked"
    assert again["job"] is None
    assert again["orderCancelUserErrors"][0]["code"] == "INVALID"
    summary = next(o for o in listed if o["id"] == order["id"])
    assert summary["sourceIdentifier"] == "576461413038785752" and summary["cancelled"]


def test_orders_that_shopify_refuses(shop):
    product = sellable(shop.catalog)[0]
    line = {"variantId": variant_gid(product), "quantity": 1}

    def refused(order_input, options=None):
        variables = {"order": order_input, "options": options}
        return shop.data(CREATE_ORDER, variables)["orderCreate"]["userErrors"]

    unknown_variant = refused({"lineItems": [{"variantId": "gid://shopify/ProductVariant/1"}]})
    reserved = refused({"sourceName": "web", "lineItems": [line]})
    no_lines = refused({"lineItems": []})
    out_of_stock = refused(
        {"lineItems": [{**line, "quantity": 10**6}]},
        {"inventoryBehaviour": "DECREMENT_OBEYING_POLICY"},
    )
    undefined = shop.post(CREATE_ORDER, {"order": {"lineItems": [line], "reference": "x"}}).json()

    assert unknown_variant[0]["field"] == ["order", "lineItems", "0", "variantId"]
    assert reserved[0]["field"] == ["order", "sourceName"]
    assert no_lines[0]["field"] == ["order", "lineItems"]
    assert out_of_stock[0]["field"] == ["order", "lineItems", "0", "quantity"]
    assert "Field is not defined on OrderCreateOrderInput" in undefined["errors"][0]["message"]


# --- control endpoints -----------------------------------------------------------------------


def test_a_merchant_edit_is_visible_through_the_api(shop):
    product = sellable(shop.catalog)[5]
    numeric = 44_100_000_000_000 + product.id

    edited = requests.post(
        f"{shop.url}/__sandbox__/shopify/variants",
        json={"id": numeric, "quantity": 321, "price": "17.25"},
    )
    unknown = requests.post(
        f"{shop.url}/__sandbox__/shopify/variants", json={"id": 1, "quantity": 1}
    )
    query = "query($id: ID!) { productVariant(id: $id) { price inventoryQuantity } }"

    assert edited.status_code == 200
    assert edited.json()["admin_graphql_api_id"] == variant_gid(product)
    assert shop.data(query, {"id": variant_gid(product)})["productVariant"] == {
        "price": "17.25",
        "inventoryQuantity": 321,
    }
    assert unknown.status_code == 400


def test_webhook_deliveries_are_signed_like_shopify_signs_them(shop):
    received = []
    receiver = Flask("receiver")

    @receiver.post("/hooks")
    def hooks():
        received.append((dict(request.headers), request.get_data()))
        return "", 200

    parent = parent_with_children(shop.catalog)
    children = [p for p in shop.catalog.store_products if p.parent_id == parent.id][:2]
    with serve_app(receiver) as receiver_url:

        def send(**options):
            received.clear()
            answer = requests.post(
                f"{shop.url}/__sandbox__/shopify/webhooks",
                json={"url": f"{receiver_url}/hooks", **options},
            ).json()
            return answer["deliveries"], list(received)

        product_deliveries, product_hooks = send(
            topic="products/update", variant_ids=[variant_gid(c) for c in children]
        )
        level_deliveries, level_hooks = send(
            topic="inventory_levels/update",
            variant_ids=[variant_gid(children[0])],
            deliver_twice=True,
        )
        _, wrong_hooks = send(
            topic="inventory_levels/update",
            variant_ids=[variant_gid(children[0])],
            wrong_signature=True,
        )
    refused = requests.post(
        f"{shop.url}/__sandbox__/shopify/webhooks", json={"url": "x", "topic": "orders/create"}
    )

    secret = SETTINGS.shopify_webhook_secret
    assert [d["status"] for d in product_deliveries] == [200]  # one product, one delivery
    [(headers, body)] = product_hooks
    assert headers["X-Shopify-Hmac-Sha256"] == sign_webhook(secret, body)
    assert headers["X-Shopify-Topic"] == "products/update"
    assert headers["X-Shopify-Webhook-Id"] == product_deliveries[0]["webhook_id"]
    payload = json.loads(body)
    assert payload["admin_graphql_api_id"] == product_gid(children[0])
    assert {variant_gid(c) for c in children} <= {
        v["admin_graphql_api_id"] for v in payload["variants"]
    }
    assert len(level_hooks) == 2
    assert level_hooks[0][0]["X-Shopify-Webhook-Id"] == level_hooks[1][0]["X-Shopify-Webhook-Id"]
    assert json.loads(level_hooks[0][1])["inventory_item_id"] == 46_200_000_000_000 + children[0].id
    assert len(level_deliveries) == 2
    [(wrong_headers, wrong_body)] = wrong_hooks
    assert wrong_headers["X-Shopify-Hmac-Sha256"] != sign_webhook(secret, wrong_body)
    assert refused.status_code == 400
