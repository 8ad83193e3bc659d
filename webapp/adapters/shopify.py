"""Shopify over its Admin GraphQL API (version 2025-01) with a custom app's access token.

Shopify-specific facts this module handles:

- One endpoint, `POST {shop}/admin/api/2025-01/graphql.json`, header `X-Shopify-Access-Token`; a
  refused token is HTTP 401 `{"errors": "[API] Invalid API key or access token …"}`. Most other
  failures come back with HTTP 200 and a top-level `errors` list whose `extensions.code` says what
  happened (`THROTTLED`, `INTERNAL_SERVER_ERROR`, `ACCESS_DENIED`, `MAX_COST_EXCEEDED`, …); the
  refusals of a mutation's input come back in its `userErrors`, with the input path in `field`.
- Rate limits are a leaky bucket of query cost points per app and shop. Shopify prices a query
  before running it (objects 1, connections 2 + `first` × one node, mutations 10; at most 1000)
  and reports `extensions.cost.throttleStatus {maximumAvailable, currentlyAvailable,
  restoreRate}` on every answer. A throttled query did not run, so it is safe to send again after
  (requested − available) ÷ restoreRate seconds. Page sizes are chosen so a query costs at most
  half of the bucket the shop reported.
- Ids are global ids (`gid://shopify/ProductVariant/123`), kept as the remote ids. A product with
  several variants is listed as a parent; a product whose only variant is titled "Default Title"
  has no options and its variant is labelled "" (as the product export reads it). A variant's title
  is its option values joined with " / ".
- Stock is per inventory item and location. Quantities are read as `inventoryQuantity` (the sum
  over every location; None when the item does not track inventory) and written with
  `inventorySetQuantities` (absolute "available" quantities, ≤250 a call) at the shop's primary
  location (`location` without an id); stock held at other locations is left as it is.
- Prices are written with `productVariantsBulkUpdate`, one product a call. Both writes are
  absolute, so they are retried; a call that refuses some variants is sent again without them, as
  Shopify may have applied none of the call.
- Orders carry the TikTok order id in `sourceIdentifier` (searchable as `source_identifier:`) with
  `sourceName: "tiktok"`. `orderCreate` is sent again only after a throttle (a throttled call
  never ran); `orderCancel` answers a job and `orderCancelUserErrors`, so the order is read first
  and a cancelled one is left alone.
- Webhooks are signed with the app's client secret: `X-Shopify-Hmac-Sha256` is the base64
  HMAC-SHA256 of the raw body, `X-Shopify-Webhook-Id` names the delivery, `X-Shopify-Topic` says
  what changed. `inventory_levels/update` names an inventory item, mapped to its variant.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import requests

from webapp.adapters.base import (
    DEFAULT_POLICY,
    AdapterError,
    AuthenticationFailed,
    CallPolicy,
    CatalogPage,
    ConnectionCheck,
    ConnectionFailed,
    CredentialField,
    InvalidResponse,
    NewOrder,
    OrderAddress,
    RateLimited,
    RateLimiter,
    RemoteServerError,
    StockLevel,
    StoreAdapter,
    StoreOrder,
    StoreVariant,
    StoreWebhook,
    VariantUpdate,
    WebhookRefused,
    decode_json,
    retry_after_seconds,
)

API_VERSION = "2025-01"
GRAPHQL_PATH = f"/admin/api/{API_VERSION}/graphql.json"
MAX_PAGE_SIZE = 250  # `first`, `nodes(ids:)` and inventorySetQuantities quantities
MAX_QUERY_COST = 1000
DEFAULT_BUCKET_SIZE = 1000  # until the shop reports its own
COLLECTIONS_PER_PRODUCT = 10
MAX_THROTTLE_WAIT = 60.0  # seconds: the most a throttled call waits before it is sent again
MIN_THROTTLE_WAIT = 0.1
THROTTLE_ATTEMPTS = 4
DEFAULT_VARIANT_TITLE = "Default Title"
ENABLED_STATUS = "ACTIVE"  # DRAFT and ARCHIVED products are not for sale
ORDER_SOURCE_NAME = "tiktok"
ORDER_TAG = "TikTok Shop"
VARIANT_GID = re.compile(r"^gid://shopify/ProductVariant/\d+$")
ORDER_GID = re.compile(r"^gid://shopify/Order/\d+$")
PROVINCE_CODE = re.compile(r"^[A-Z0-9]{1,3}$")
SERVER_ERROR_CODES = frozenset({"INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE"})
AUTH_ERROR_CODES = frozenset({"ACCESS_DENIED", "UNAUTHORIZED", "FORBIDDEN"})

SHOP_QUERY = "query Shop { shop { name currencyCode myshopifyDomain } }"
VARIANT_FIELDS = "id sku title price barcode inventoryQuantity inventoryItem { id tracked }"
PRODUCTS_QUERY = f"""
query Catalog($first: Int!, $after: String, $variants: Int!, $collections: Int!) {{
  products(first: $first, after: $after, sortKey: ID) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{
      id title status tags productType
      category {{ name }}
      collections(first: $collections) {{ nodes {{ title }} }}
      variants(first: $variants) {{
        pageInfo {{ hasNextPage endCursor }}
        nodes {{ {VARIANT_FIELDS} }}
      }}
    }}
  }}
}}"""
MORE_VARIANTS_QUERY = f"""
query MoreVariants($id: ID!, $first: Int!, $after: String) {{
  product(id: $id) {{
    variants(first: $first, after: $after) {{
      pageInfo {{ hasNextPage endCursor }}
      nodes {{ {VARIANT_FIELDS} }}
    }}
  }}
}}"""
STOCK_QUERY = """
query StockLevels($ids: [ID!]!) {
  nodes(ids: $ids) {
    ... on ProductVariant {
      id price inventoryQuantity inventoryItem { tracked } product { status }
    }
  }
}"""
STOCK_NODE_COST = 3  # the variant, its inventory item, its product
TARGETS_QUERY = """
query VariantTargets($ids: [ID!]!) {
  nodes(ids: $ids) { ... on ProductVariant { id inventoryItem { id } product { id } } }
}"""
TARGET_NODE_COST = 3
ITEM_VARIANTS_QUERY = """
query ItemVariants($ids: [ID!]!) {
  nodes(ids: $ids) { ... on InventoryItem { id variant { id } } }
}"""
ITEM_NODE_COST = 2
LOCATION_QUERY = "query PrimaryLocation { location { id } }"
SET_QUANTITIES_MUTATION = """
mutation SetQuantities($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) { userErrors { field message code } }
}"""
SET_PRICES_MUTATION = """
mutation SetPrices($productId: ID!, $variants: [ProductVariantsBulkInput!]!) {
  productVariantsBulkUpdate(productId: $productId, variants: $variants) {
    userErrors { field message code }
  }
}"""
ORDER_FIELDS = "id name cancelledAt displayFulfillmentStatus"
FIND_ORDER_QUERY = f"""
query FindOrder($query: String!) {{
  orders(first: 1, query: $query) {{ nodes {{ {ORDER_FIELDS} }} }}
}}"""
ORDER_QUERY = f"query Order($id: ID!) {{ order(id: $id) {{ {ORDER_FIELDS} }} }}"
CREATE_ORDER_MUTATION = f"""
mutation CreateOrder($order: OrderCreateOrderInput!, $options: OrderCreateOptionsInput) {{
  orderCreate(order: $order, options: $options) {{
    order {{ {ORDER_FIELDS} }}
    userErrors {{ field message code }}
  }}
}}"""
CANCEL_ORDER_MUTATION = """
mutation CancelOrder($orderId: ID!) {
  orderCancel(orderId: $orderId, reason: OTHER, refund: false, restock: true,
              notifyCustomer: false, staffNote: "Cancelled on TikTok Shop") {
    job { id done }
    orderCancelUserErrors { field message code }
  }
}"""


@dataclass(frozen=True)
class _Target:
    """Where a variant's writes go: its inventory item and its product."""

    inventory_item: str
    product: str


class ShopifyAdapter(StoreAdapter):
    platform = "shopify"
    label = "Shopify"
    credential_fields = (
        CredentialField(
            "access_token",
            "Admin API access token",
            help="In the Shopify admin: Settings › Apps and sales channels › Develop apps › your "
            "app › API credentials › Admin API access token (it starts with shpat_). The app "
            "needs the read and write scopes for products, inventory and orders, and "
            "read_locations.",
        ),
        CredentialField(
            "client_secret",
            "API secret key (for webhooks)",
            help="On the same API credentials page: API secret key. Shopify signs the app's "
            "webhooks with it; without it SKU Bridge cannot accept webhooks and syncs on its "
            "schedule only.",
            required=False,
        ),
    )
    base_url_example = "https://your-shop.myshopify.com"
    supports_webhooks = True
    webhook_setup = (
        "Subscribe your app to the topics products/update and inventory_levels/update with this "
        "URL (format JSON), in the app's configuration or with the Admin API's "
        "webhookSubscriptionCreate. Shopify signs them with the app's API secret key."
    )

    def __init__(
        self,
        base_url: str,
        credentials: Mapping[str, str],
        *,
        variants_per_product: int = 100,
        policy: CallPolicy = DEFAULT_POLICY,
        sleep: Callable[[float], None] = time.sleep,
        limiter: RateLimiter | None = None,
    ):
        if not 1 <= variants_per_product <= MAX_PAGE_SIZE:
            raise ValueError(
                f"Variants per product must be between 1 and {MAX_PAGE_SIZE}, "
                f"got {variants_per_product}"
            )
        super().__init__(
            shop_root(base_url), credentials, policy=policy, sleep=sleep, limiter=limiter
        )
        self.http.session.headers.update(
            {
                "X-Shopify-Access-Token": self.credentials["access_token"].strip(),
                "Accept": "application/json",
            }
        )
        self.variants_per_product = variants_per_product
        self.bucket_size = DEFAULT_BUCKET_SIZE
        self.variant_of_item: dict[str, str] = {}  # inventory item gid -> variant gid
        self._location: str | None = None

    # --- the contract ------------------------------------------------------------------------

    def test_connection(self) -> ConnectionCheck:
        """`shop { name currencyCode }`: one query of cost 1 that needs a valid token."""
        shop = self.http.base_url
        try:
            data = self._execute(SHOP_QUERY)
        except AuthenticationFailed as error:
            return ConnectionCheck(
                False,
                f"{error.message}. In the Shopify admin open Settings › Apps and sales channels › "
                "Develop apps › your app › API credentials and copy the Admin API access token "
                "again.",
            )
        except ConnectionFailed:
            return ConnectionCheck(
                False,
                f"Could not reach the shop at {shop}. Check the address "
                f"({self.base_url_example}) and that the shop is online.",
            )
        except AdapterError as error:
            if error.status == 404 or isinstance(error, InvalidResponse):
                return ConnectionCheck(
                    False,
                    f"No Shopify Admin API answered at {shop}{GRAPHQL_PATH}. Use the shop's "
                    f"myshopify.com address, such as {self.base_url_example}.",
                )
            return ConnectionCheck(False, f"The shop answered with an error: {error.message}")
        details = data.get("shop") if isinstance(data, dict) else None
        if not isinstance(details, dict) or not details.get("name"):
            return ConnectionCheck(False, f"{shop} did not answer like a Shopify shop.")
        return ConnectionCheck(
            True,
            f"Connected to the Shopify shop “{details['name']}” "
            f"({details.get('myshopifyDomain') or shop}), currency "
            f"{details.get('currencyCode') or '?'}.",
        )

    def iter_catalog(self) -> Iterator[CatalogPage]:
        """`products(first:, after:)` with each product's variants, a few products a page."""
        after = None
        while True:

            def variables(after: str | None = after) -> dict[str, Any]:
                return {
                    "first": self._products_per_page(),
                    "after": after,
                    "variants": self.variants_per_product,
                    "collections": COLLECTIONS_PER_PRODUCT,
                }

            products = self._connection(self._query(PRODUCTS_QUERY, variables), "products")
            entries = []
            for product in products["nodes"]:
                entries += self._catalog_entries(product, self._all_variants(product))
            yield CatalogPage(items=entries, total=None)
            if not products["pageInfo"].get("hasNextPage"):
                return
            after = products["pageInfo"].get("endCursor")

    def stock_levels(self, remote_ids: Sequence[str]) -> dict[str, StockLevel]:
        """`nodes(ids:)` on the variants, as many a query as its cost allows (≤250)."""
        ids = list(dict.fromkeys(i for i in remote_ids if VARIANT_GID.match(i)))
        levels: dict[str, StockLevel] = {}
        for node in self._nodes(STOCK_QUERY, ids, STOCK_NODE_COST):
            tracked = (node.get("inventoryItem") or {}).get("tracked", True)
            quantity = node.get("inventoryQuantity")
            levels[node["id"]] = StockLevel(
                remote_id=node["id"],
                quantity=int(quantity) if tracked and quantity is not None else None,
                price=_decimal(node.get("price")),
                enabled=(node.get("product") or {}).get("status") == ENABLED_STATUS,
            )
        return levels

    def update_variants(self, updates: Sequence[VariantUpdate]) -> dict[str, str]:
        """Quantities with `inventorySetQuantities`, prices with `productVariantsBulkUpdate`."""
        refused: dict[str, str] = {}
        wanted: dict[str, VariantUpdate] = {}
        for update in updates:
            if VARIANT_GID.match(update.remote_id):
                wanted[update.remote_id] = update
            else:
                refused[update.remote_id] = (
                    "This is not a Shopify variant id; refresh the store catalog."
                )
        targets = self._targets(list(wanted))
        for remote_id in wanted:
            if remote_id not in targets:
                refused[remote_id] = "The store no longer has this variant."
        quantities = [
            (remote_id, update.quantity)
            for remote_id, update in wanted.items()
            if remote_id in targets and update.quantity is not None
        ]
        for remote_id, reason in self._set_quantities(quantities, targets).items():
            refused[remote_id] = reason
        prices: dict[str, list[tuple[str, Decimal]]] = {}
        for remote_id, update in wanted.items():
            if remote_id in targets and update.price is not None:
                prices.setdefault(targets[remote_id].product, []).append((remote_id, update.price))
        for product, variant_prices in prices.items():
            for remote_id, reason in self._set_prices(product, variant_prices).items():
                refused[remote_id] = "; ".join(filter(None, (refused.get(remote_id), reason)))
        return refused

    def find_order(self, reference: str) -> StoreOrder | None:
        """`orders(first: 1, query: "source_identifier:…")`."""
        data = self._query(FIND_ORDER_QUERY, {"query": f"source_identifier:{_quoted(reference)}"})
        nodes = self._connection(data, "orders")["nodes"]
        return _store_order(nodes[0]) if nodes else None

    def create_order(self, order: NewOrder) -> StoreOrder:
        """`orderCreate`, marked with the TikTok order id as its `sourceIdentifier`."""
        if not order.lines:
            raise AdapterError(f"Order {order.reference} has no lines to create in Shopify.")
        variables = {
            "order": _order_input(order),
            "options": {
                "inventoryBehaviour": "DECREMENT_IGNORING_POLICY",
                "sendReceipt": False,
                "sendFulfillmentReceipt": False,
            },
        }
        data = self._send_once(CREATE_ORDER_MUTATION, variables)
        payload = _payload(data, "orderCreate")
        errors = payload.get("userErrors") or []
        if errors or not isinstance(payload.get("order"), dict):
            raise AdapterError(
                f"Shopify refused order {order.reference}: {_messages(errors) or 'no order made'}"
            )
        return _store_order(payload["order"])

    def cancel_order(self, remote_id: str) -> StoreOrder:
        """`orderCancel` (reason OTHER, no refund, restock), after reading the order."""
        current = self._order(remote_id)
        if current.cancelled:
            return current
        data = self._query(CANCEL_ORDER_MUTATION, {"orderId": remote_id})
        errors = _payload(data, "orderCancel").get("orderCancelUserErrors") or []
        if errors:
            again = self._order(remote_id)  # a retried call may have cancelled it already
            if again.cancelled:
                return again
            raise AdapterError(
                f"Shopify refused to cancel order {current.number}: {_messages(errors)}"
            )
        return StoreOrder(
            remote_id=remote_id, number=current.number, status="cancelled", cancelled=True
        )

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> StoreWebhook:
        """Check `X-Shopify-Hmac-Sha256`, then read the variants a `products/*` delivery lists
        or the variant of an `inventory_levels/*` delivery's inventory item (one `nodes` query
        when this adapter has not seen that item yet)."""
        secret = (self.credentials.get("client_secret") or "").strip()
        if not secret:
            raise WebhookRefused(
                "Shopify webhooks cannot be checked: add the app's API secret key to the store "
                "connection."
            )
        signature = _header(headers, "X-Shopify-Hmac-Sha256")
        expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
        if not signature or not hmac.compare_digest(signature.encode(), expected):
            raise WebhookRefused("The Shopify webhook signature does not match the API secret key.")
        try:
            payload = json.loads(body)
        except ValueError:
            raise WebhookRefused("The Shopify webhook body is not JSON.") from None
        if not isinstance(payload, dict):
            raise WebhookRefused("The Shopify webhook body is not a JSON object.")
        topic = (_header(headers, "X-Shopify-Topic") or "").lower()
        delivery = _header(headers, "X-Shopify-Webhook-Id")
        if topic.startswith("products/"):
            ids = [_variant_gid(variant) for variant in payload.get("variants") or []]
            return StoreWebhook(tuple(i for i in ids if i), delivery_id=delivery)
        if topic.startswith("inventory_levels/") and payload.get("inventory_item_id"):
            item = f"gid://shopify/InventoryItem/{payload['inventory_item_id']}"
            variant = self._variants_of_items([item]).get(item)
            return StoreWebhook((variant,) if variant else (), delivery_id=delivery)
        return StoreWebhook((), delivery_id=delivery)

    # --- one method per remote call ----------------------------------------------------------

    def more_variants(self, product_id: str, after: str) -> Iterator[dict[str, Any]]:
        """`product(id:) { variants(after:) }`: the variants past the first page of a product."""
        while after:
            variables = {"id": product_id, "first": self.variants_per_product, "after": after}
            product = self._query(MORE_VARIANTS_QUERY, variables).get("product")
            if not isinstance(product, dict):
                return  # deleted while we were reading it
            variants = self._connection(product, "variants")
            yield from variants["nodes"]
            page = variants["pageInfo"]
            after = page.get("endCursor") if page.get("hasNextPage") else None

    def primary_location(self) -> str:
        """`location` without an id: the shop's primary location, where stock is written."""
        if self._location is None:
            location = self._query(LOCATION_QUERY).get("location")
            if not isinstance(location, dict) or not location.get("id"):
                raise AdapterError(
                    "The Shopify shop has no location to hold stock; add one under Settings › "
                    "Locations."
                )
            self._location = location["id"]
        return self._location

    def _targets(self, variant_ids: list[str]) -> dict[str, _Target]:
        """`nodes(ids:)`: each variant's inventory item and product."""
        targets = {}
        for node in self._nodes(TARGETS_QUERY, variant_ids, TARGET_NODE_COST):
            item = (node.get("inventoryItem") or {}).get("id")
            product = (node.get("product") or {}).get("id")
            if item and product:
                targets[node["id"]] = _Target(item, product)
                self.variant_of_item[item] = node["id"]
        return targets

    def _variants_of_items(self, item_ids: list[str]) -> dict[str, str]:
        """Inventory item gid → variant gid, from what the catalog read taught us or from
        `nodes(ids:)` on the inventory items."""
        unknown = [i for i in item_ids if i not in self.variant_of_item]
        for node in self._nodes(ITEM_VARIANTS_QUERY, unknown, ITEM_NODE_COST):
            variant = (node.get("variant") or {}).get("id")
            if variant:
                self.variant_of_item[node["id"]] = variant
        return {i: self.variant_of_item[i] for i in item_ids if i in self.variant_of_item}

    def _set_quantities(
        self, quantities: list[tuple[str, int]], targets: Mapping[str, _Target]
    ) -> dict[str, str]:
        """`inventorySetQuantities`, ≤250 absolute "available" quantities a call."""
        refused: dict[str, str] = {}
        if not quantities:
            return refused
        location = self.primary_location()

        def send(entries: list[tuple[str, int]]) -> list[dict[str, Any]]:
            variables = {
                "input": {
                    "name": "available",
                    "reason": "correction",
                    "ignoreCompareQuantity": True,
                    "quantities": [
                        {
                            "inventoryItemId": targets[remote_id].inventory_item,
                            "locationId": location,
                            "quantity": quantity,
                        }
                        for remote_id, quantity in entries
                    ],
                }
            }
            data = self._query(SET_QUANTITIES_MUTATION, variables)
            return _payload(data, "inventorySetQuantities").get("userErrors") or []

        for batch in _batches(quantities, MAX_PAGE_SIZE):
            refused |= _send_until_accepted(batch, send, "quantities", "stock")
        return refused

    def _set_prices(self, product: str, prices: list[tuple[str, Decimal]]) -> dict[str, str]:
        """`productVariantsBulkUpdate` on one product's variants."""

        def send(entries: list[tuple[str, Decimal]]) -> list[dict[str, Any]]:
            variants = [{"id": remote_id, "price": str(price)} for remote_id, price in entries]
            data = self._query(SET_PRICES_MUTATION, {"productId": product, "variants": variants})
            return _payload(data, "productVariantsBulkUpdate").get("userErrors") or []

        return _send_until_accepted(prices, send, "variants", "prices")

    def _order(self, remote_id: str) -> StoreOrder:
        if not ORDER_GID.match(remote_id):
            raise AdapterError(f"{remote_id} is not a Shopify order id.")
        order = self._query(ORDER_QUERY, {"id": remote_id}).get("order")
        if not isinstance(order, dict):
            raise AdapterError(
                f"The Shopify shop has no order {remote_id}; it may have been deleted."
            )
        return _store_order(order)

    # --- mapping -----------------------------------------------------------------------------

    def _all_variants(self, product: dict[str, Any]) -> list[dict[str, Any]]:
        variants = self._connection(product, "variants")
        nodes = list(variants["nodes"])
        if variants["pageInfo"].get("hasNextPage"):
            nodes += self.more_variants(product["id"], variants["pageInfo"].get("endCursor"))
        return nodes

    def _catalog_entries(
        self, product: dict[str, Any], variants: list[dict[str, Any]]
    ) -> list[StoreVariant]:
        name = str(product.get("title") or "")
        category = (product.get("category") or {}).get("name")
        collections = [
            c.get("title") for c in (product.get("collections") or {}).get("nodes") or []
        ]
        shared = dict(
            name=name,
            categories=_distinct([category, product.get("productType"), *collections]),
            tags=_distinct(product.get("tags") or []),
            enabled=product.get("status") == ENABLED_STATUS,
        )
        parent = product["id"] if len(variants) > 1 else None
        entries = []
        if parent:
            entries.append(
                StoreVariant(
                    remote_id=parent,
                    sku="",
                    variant="",
                    is_parent=True,
                    parent_remote_id=None,
                    price=None,
                    quantity=None,
                    barcode=None,
                    **shared,
                )
            )
        for variant in variants:
            item = variant.get("inventoryItem") or {}
            if item.get("id"):
                self.variant_of_item[item["id"]] = variant["id"]
            title = str(variant.get("title") or "")
            quantity = variant.get("inventoryQuantity")
            entries.append(
                StoreVariant(
                    remote_id=variant["id"],
                    sku=str(variant.get("sku") or ""),
                    variant="" if title == DEFAULT_VARIANT_TITLE else title,
                    is_parent=False,
                    parent_remote_id=parent,
                    price=_decimal(variant.get("price")),
                    quantity=int(quantity)
                    if item.get("tracked", True) and quantity is not None
                    else None,
                    barcode=_text_or_none(variant.get("barcode")),
                    **shared,
                )
            )
        return entries

    # --- cost budget -------------------------------------------------------------------------

    def _budget(self) -> int:
        """The most one query may cost: half the bucket, so a query never waits for a full one."""
        return min(MAX_QUERY_COST, self.bucket_size) // 2

    def _products_per_page(self) -> int:
        per_product = (
            1  # the product
            + 1  # its category
            + 2 + COLLECTIONS_PER_PRODUCT  # its collections connection
            + 2 + 2 * self.variants_per_product  # its variants, each with its inventory item
        )  # fmt: skip
        return max(1, min(MAX_PAGE_SIZE, (self._budget() - 2) // per_product))

    def _nodes_per_query(self, node_cost: int) -> int:
        return max(1, min(MAX_PAGE_SIZE, self._budget() // node_cost))

    # --- HTTP --------------------------------------------------------------------------------

    def _nodes(self, document: str, ids: list[str], node_cost: int) -> Iterator[dict[str, Any]]:
        """The non-null nodes `nodes(ids:)` answers for `ids` (ids the shop no longer has come
        back null), as many ids a query as the bucket allows. Each attempt sizes its batch
        again, so a retry after a throttle fits the bucket Shopify just reported."""
        start = 0
        while start < len(ids):
            sent: list[str] = []

            def batch(start: int = start, sent: list[str] = sent) -> dict[str, Any]:
                sent[:] = ids[start : start + self._nodes_per_query(node_cost)]
                return {"ids": list(sent)}

            nodes = self._query(document, batch).get("nodes")
            if not isinstance(nodes, list):
                raise InvalidResponse("Shopify answered nodes(ids:) without a list")
            yield from (node for node in nodes if isinstance(node, dict) and node.get("id"))
            start += len(sent)

    def _query(
        self,
        document: str,
        variables: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """A read, or an idempotent write: retried on throttles, server errors and lost
        connections, waiting as long as Shopify's bucket needs. `variables` may be a function
        called on each attempt, so page sizes follow the bucket Shopify last reported."""

        def attempt() -> dict[str, Any]:
            return self._execute(document, variables() if callable(variables) else variables)

        return self.http.retrying(attempt, sleep=self.sleep, max_backoff=MAX_THROTTLE_WAIT)

    def _send_once(self, document: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        """A write that must not run twice: sent again only when Shopify throttled it, as a
        throttled call never runs."""
        for attempt in range(1, THROTTLE_ATTEMPTS + 1):
            try:
                return self._execute(document, variables)
            except RateLimited as throttled:
                if attempt == THROTTLE_ATTEMPTS:
                    raise
                self.sleep(throttled.retry_after or MIN_THROTTLE_WAIT)
        raise AssertionError("unreachable")  # pragma: no cover

    def _execute(self, document: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One POST to the GraphQL endpoint; its `data`, or the failure as an AdapterError."""
        response = self.http.request(
            "POST", GRAPHQL_PATH, json={"query": document, "variables": dict(variables or {})}
        )
        body = self._json(response)
        cost = (body.get("extensions") or {}).get("cost") if isinstance(body, dict) else None
        if isinstance(cost, dict):
            self._note_bucket(cost)
        if response.status_code >= 400:
            raise self._http_error(response, body)
        errors = body.get("errors")
        if errors:
            raise self._graphql_error(errors, cost)
        data = body.get("data")
        if not isinstance(data, dict):
            raise InvalidResponse("Shopify answered without data", status=response.status_code)
        return data

    def _json(self, response: requests.Response) -> dict[str, Any]:
        try:
            body = decode_json(response, "Shopify", parse_float=Decimal)
        except ValueError:
            body = None
        if isinstance(body, dict):
            return body
        if response.status_code >= 400:
            return {}
        raise InvalidResponse(
            f"{self.http.base_url} answered {GRAPHQL_PATH} with something that is not Shopify's "
            "JSON; is this the address of a Shopify shop?",
            status=response.status_code,
        )

    def _note_bucket(self, cost: Mapping[str, Any]) -> None:
        maximum = (cost.get("throttleStatus") or {}).get("maximumAvailable")
        if isinstance(maximum, int | float | Decimal) and maximum > 0:
            self.bucket_size = int(maximum)

    def _http_error(self, response: requests.Response, body: Mapping[str, Any]) -> AdapterError:
        status = response.status_code
        message = _messages(body.get("errors")) or f"HTTP {status}"
        if status in (401, 403):
            return AuthenticationFailed(
                f"Shopify refused the access token: {message}", status=status
            )
        if status == 429:
            wait = retry_after_seconds(response) or 1.0
            self.http.pause(wait)
            return RateLimited("Shopify asked us to slow down", retry_after=wait, status=status)
        if status >= 500:
            return RemoteServerError(f"Shopify failed ({status}): {message}", status=status)
        if status == 404:
            return AdapterError(f"No Shopify shop answered here ({message})", status=status)
        return AdapterError(f"Shopify refused the request ({status}): {message}", status=status)

    def _graphql_error(self, errors: Any, cost: Mapping[str, Any] | None) -> AdapterError:
        listed = errors if isinstance(errors, list) else [{"message": str(errors)}]
        codes = {
            str((e.get("extensions") or {}).get("code") or "")
            for e in listed
            if isinstance(e, dict)
        }
        message = _messages(listed)
        if "THROTTLED" in codes:
            wait = _throttle_wait(cost)
            self.http.pause(wait)
            return RateLimited(
                f"Shopify throttled the query: {message}", retry_after=wait, code="THROTTLED"
            )
        if codes & SERVER_ERROR_CODES:
            return RemoteServerError(
                f"Shopify failed: {message}", code=min(codes & SERVER_ERROR_CODES)
            )
        if codes & AUTH_ERROR_CODES:
            return AuthenticationFailed(
                f"Shopify refused the app access: {message}", code=min(codes & AUTH_ERROR_CODES)
            )
        code = next(iter(sorted(c for c in codes if c)), None)
        return AdapterError(f"Shopify refused the query: {message}", code=code)

    @staticmethod
    def _connection(data: Mapping[str, Any], name: str) -> dict[str, Any]:
        connection = data.get(name)
        if (
            not isinstance(connection, dict)
            or not isinstance(connection.get("nodes"), list)
            or not isinstance(connection.get("pageInfo", {}), dict)
        ):
            raise InvalidResponse(f"Shopify answered {name} without a list of nodes")
        connection.setdefault("pageInfo", {})
        return connection


def shop_root(base_url: str) -> str:
    """The shop's address from what an owner pastes: `https://shop.myshopify.com`, with or without
    `/admin…`, or the admin's `https://admin.shopify.com/store/<shop>`."""
    root = base_url.strip().rstrip("/")
    parts = urlsplit(root)
    if parts.hostname == "admin.shopify.com":
        match = re.match(r"^/store/([A-Za-z0-9][A-Za-z0-9-]*)", parts.path)
        if match:
            return f"https://{match.group(1)}.myshopify.com"
    index = root.lower().find("/admin")
    return root[:index] if index > len("https://") else root


def _throttle_wait(cost: Mapping[str, Any] | None) -> float:
    """(requested − available) ÷ restoreRate seconds, from the throttled answer's cost."""
    if not cost:
        return 1.0
    status = cost.get("throttleStatus") or {}
    try:
        requested = float(cost.get("requestedQueryCost") or 0)
        available = float(status.get("currentlyAvailable") or 0)
        rate = float(status.get("restoreRate") or 0)
    except (TypeError, ValueError):
        return 1.0
    if rate <= 0:
        return 1.0
    return min(MAX_THROTTLE_WAIT, max(MIN_THROTTLE_WAIT, (requested - available) / rate))


def _send_until_accepted(
    entries: list[tuple[str, Any]],
    send: Callable[[list[tuple[str, Any]]], list[dict[str, Any]]],
    list_field: str,
    what: str,
) -> dict[str, str]:
    """Send `entries` (remote id, value); the ones a `userErrors` entry names by index
    (`[…, list_field, "3", …]`) are refused and the rest sent again, since the call may have
    applied none of them. An error naming no entry refuses the whole call."""
    refused: dict[str, str] = {}
    pending = entries
    while pending:
        errors = send(pending)
        if not errors:
            break
        named: dict[str, str] = {}
        for error in errors:
            index = _input_index(error.get("field"), list_field)
            if index is None or index >= len(pending):
                raise AdapterError(f"Shopify refused the {what} update: {_messages(errors)}")
            named[pending[index][0]] = str(error.get("message") or "refused")
        refused |= named
        pending = [entry for entry in pending if entry[0] not in named]
    return refused


def _input_index(path: Any, list_field: str) -> int | None:
    if not isinstance(path, list) or list_field not in path:
        return None
    position = path.index(list_field) + 1
    if position < len(path) and str(path[position]).isdigit():
        return int(path[position])
    return None


def _order_input(order: NewOrder) -> dict[str, Any]:
    given: dict[str, Any] = {
        "currency": order.currency,
        "financialStatus": "PAID",  # TikTok Shop collected the payment
        "sourceName": ORDER_SOURCE_NAME,
        "sourceIdentifier": order.reference,
        "tags": [ORDER_TAG],
        "lineItems": [
            {
                "variantId": line.remote_id,
                "quantity": line.quantity,
                "priceSet": {
                    "shopMoney": {"amount": str(line.unit_price), "currencyCode": order.currency}
                },
            }
            for line in order.lines
        ],
        "shippingAddress": _mailing_address(order.shipping_address),
        "note": order.note or f"TikTok Shop order {order.reference}",
    }
    if order.email:
        given["email"] = order.email
    return given


def _mailing_address(address: OrderAddress) -> dict[str, Any]:
    """Shopify's MailingAddressInput: the name split in first and last, the region as a
    province code when it is one (CA, NSW) and as a name otherwise."""
    first, _, last = address.name.strip().rpartition(" ")
    region = address.region.strip()
    mailing = {
        "firstName": first or None,
        "lastName": last or address.name.strip(),
        "address1": address.lines[0] if address.lines else "",
        "address2": ", ".join(address.lines[1:]) or None,
        "city": address.city,
        "zip": address.postal_code,
        "countryCode": address.country_code.upper(),
        "phone": address.phone or None,
    }
    if PROVINCE_CODE.match(region):
        mailing["provinceCode"] = region
    elif region:
        mailing["province"] = region
    return {key: value for key, value in mailing.items() if value is not None}


def _store_order(order: Mapping[str, Any]) -> StoreOrder:
    cancelled = bool(order.get("cancelledAt"))
    status = "cancelled" if cancelled else str(order.get("displayFulfillmentStatus") or "").lower()
    return StoreOrder(
        remote_id=str(order["id"]),
        number=str(order.get("name") or order["id"]),
        status=status,
        cancelled=cancelled,
    )


def _payload(data: Mapping[str, Any], mutation: str) -> dict[str, Any]:
    payload = data.get(mutation)
    if not isinstance(payload, dict):
        raise InvalidResponse(f"Shopify answered {mutation} without a payload")
    return payload


def _messages(errors: Any) -> str:
    """Shopify's messages from an `errors` (a string, a list of {message}, or a dict of field →
    messages) or a `userErrors` list, with the input field each one names."""
    if not errors:
        return ""
    if isinstance(errors, str):
        return errors
    if isinstance(errors, dict):
        return "; ".join(f"{key}: {value}" for key, value in errors.items())
    messages = []
    for error in errors:
        if not isinstance(error, dict):
            messages.append(str(error))
            continue
        path = error.get("field")
        where = ".".join(str(part) for part in path) if isinstance(path, list) and path else ""
        text = str(error.get("message") or "")
        messages.append(f"{where}: {text}" if where else text)
    return "; ".join(messages)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        wanted = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == wanted), None)
    return value


def _variant_gid(variant: Any) -> str | None:
    if not isinstance(variant, dict):
        return None
    if variant.get("admin_graphql_api_id"):
        return str(variant["admin_graphql_api_id"])
    return f"gid://shopify/ProductVariant/{variant['id']}" if variant.get("id") else None


def _quoted(value: str) -> str:
    """A search-syntax value in double quotes, so spaces and colons stay part of it."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _text_or_none(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _distinct(values: Sequence[Any]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(str(v).strip() for v in values if v and str(v).strip()))


def _batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
