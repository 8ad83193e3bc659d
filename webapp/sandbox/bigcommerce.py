"""Emulated BigCommerce REST API over the demo store catalog: the catalog (v3), store information
and orders (v2), all under `/stores/{store_hash}`, as on api.bigcommerce.com.

What it serves, in BigCommerce's own wire format:

- `GET  /v2/store` — store information (`id` is the store hash, `name`, `currency`, ...).
- `GET  /v3/catalog/products?include=variants,images&include_fields=&id:in=&sort=&direction=`
  `&page=&limit=` — `{data, meta: {pagination: {total, count, per_page, current_page,
  total_pages, links}}}`.
- `GET  /v3/catalog/variants?id:in=&product_id:in=&include_fields=&page=&limit=`.
- `PUT  /v3/catalog/variants` — a batch `[{id, inventory_level?, price?, purchasing_disabled?}]`.
- `GET  /v3/catalog/trees/categories?page=&limit=` — `{category_id, parent_id, tree_id, name, ...}`.
- `GET  /v2/orders?external_order_id=&status_id=&min_id=&max_id=&sort=&page=&limit=`,
  `POST /v2/orders`, `GET /v2/orders/{id}`, `PUT /v2/orders/{id}` (status, notes, external id).

Faithful details a client must cope with:

- Auth is an API account's access token in `X-Auth-Token`; a missing or wrong one is a 401
  `{"status": 401, "title": ..., "type": ...}` on every path, v2 included. A store hash other than
  the sandbox's answers 404.
- Configurable parents of the demo catalog become products with Color and Size options and their
  children the product's variants (`option_values [{option_display_name, label, ...}]`, a v2
  `sku_id`). Any other product has no options: BigCommerce still gives it exactly one variant, the
  base variant (`option_values: []`, `sku_id: null`), which mirrors the product's price and stock.
  Product ids are the demo ids; variant ids are a sequence of their own, so a product and a
  variant can share a number.
- A variant's `price` is null when it sells at its product's price; `calculated_price` always says
  what it sells for. Stock is counted per variant on products with options and per product
  otherwise (`inventory_tracking: variant | product`); a product's `inventory_level` is the sum
  of its variants'. Barcodes are in `gtin`; the demo tags are the product's `search_keywords`.
  Disabled demo products are `is_visible: false`.
- Lists page with `page` and `limit` (50 by default, at most 250); a page past the end is empty.
  Variant SKUs are served as the demo catalog has them, duplicates included (BigCommerce itself
  refuses a SKU already in use; the duplicates keep the linking screen's ambiguity visible).
- `PUT /v3/catalog/variants` takes at most 50 items (413 beyond). One invalid item refuses the
  whole batch: 422 `{"batch_errors": [...]}`, one entry per refused item, whose `errors` keys
  start with the item's index in the request (`"3.inventory_level"`); nothing is written.
- Orders v2: `external_order_id` is writable and filterable (`external_id` is read-only, for
  marketplaces BigCommerce itself connects). A list with nothing in it is a 204 without a body.
  v2 errors are `[{"status", "message"}]`. Status 11 is Awaiting Fulfillment, 5 Cancelled. An
  order takes its units from stock; cancelling it puts them back (and leaving Cancelled takes them
  again).
- Quota: `settings.bigcommerce_quota` requests per `settings.bigcommerce_window_ms` for the store.
  Every API answer carries `X-Rate-Limit-Requests-Left`, `-Requests-Quota`, `-Time-Window-Ms` and
  `-Time-Reset-Ms` (milliseconds until the window resets); past the quota the answer is a 429 with
  `Requests-Left: 0`. A quota of 0 turns the quota and its headers off.

Injected faults (`POST /__sandbox__/faults`): an error is a 500 in the v3 or v2 error shape, a
rate limit a 429 whose headers say the quota resets in one second (another app sharing the
store's quota used it up).

Control endpoints for tests and demos (no auth), under `/__sandbox__/bigcommerce/`:

- `POST variants/<id>` `{inventory_level?, price?, purchasing_disabled?}` — a merchant's edit in
  the admin; answers the variant as the API shows it.
- `POST products/<id>` `{is_visible?, availability?, inventory_tracking?, price?}` — likewise.
- `GET  orders` — `{"orders": [...]}`, every order created, each with its `products` lines and
  `shipping_addresses`.
- `POST orders/fail-next` `{count}` — the next `count` order creations are carried out but
  answered with a 500, as when the store's answer is lost.
- `POST webhooks` `{url, scope, product_id?, variant_id?, wrong_secret?, repeat?}` — one delivery
  of `scope` (store/product/inventory/updated, store/sku/inventory/updated,
  store/product/updated) to `url`, carrying the webhook secret in the custom header SKU Bridge
  registers its hooks with (a wrong one with `wrong_secret`); `repeat` delivers the same hash
  twice. Answers `{hash, payload, deliveries: [{status} | {error}]}`.
- `GET  quota` — `{quota, window_ms, left, reset_ms, refused}`.
- `POST reset` — the catalog as generated, no orders, a fresh quota window.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import math
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from email.utils import format_datetime
from typing import Any

import requests
from flask import Flask, Response, jsonify, request

from webapp.adapters.bigcommerce import WEBHOOK_SECRET_HEADER
from webapp.sandbox.catalog import DemoCatalog, StoreProduct
from webapp.sandbox.faults import CONTROL_PREFIX, FaultInjector
from webapp.sandbox.settings import SandboxSettings

STORE_PREFIX = "/stores/<store_hash>"
CONTROL = CONTROL_PREFIX + "bigcommerce/"
STATUS_CODES_DOC = "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes"
STORE_NAME = "Demo Outfitters"
STORE_CURRENCY = "USD"
DEFAULT_LIMIT, MAX_LIMIT = 50, 250
MAX_VARIANT_BATCH = 50
MAX_INVENTORY = 2_147_483_647
INJECTED_RESET_MS = 1000
FIRST_CATEGORY_ID = 23
CATEGORY_TREE_ID = 1
FIRST_ORDER_ID = 100
WEIGHT = 0.5
WEBHOOK_TIMEOUT = (3.05, 10.0)
PRODUCT_SORTS = ("id", "name", "sku", "price")
TRACKING_MODES = ("none", "product", "variant")
AVAILABILITIES = ("available", "disabled", "preorder")
ORDER_STATUSES = {
    0: "Incomplete",
    1: "Pending",
    2: "Shipped",
    3: "Partially Shipped",
    4: "Refunded",
    5: "Cancelled",
    6: "Declined",
    7: "Awaiting Payment",
    8: "Awaiting Pickup",
    9: "Awaiting Shipment",
    10: "Completed",
    11: "Awaiting Fulfillment",
    12: "Manual Verification Required",
    13: "Disputed",
    14: "Partially Refunded",
}
PENDING, CANCELLED = 1, 5
WEBHOOK_SCOPES = (
    "store/product/inventory/updated",
    "store/sku/inventory/updated",
    "store/product/updated",
)


class Refused(ValueError):
    """A request BigCommerce would refuse; `body` is already in the API's (v3 or v2) shape."""

    def __init__(self, status: int, body: Any):
        super().__init__(str(body))
        self.status = status
        self.body = body


def v3_error(status: int, title: str, errors: Mapping[str, str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"status": status, "title": title, "type": STATUS_CODES_DOC}
    if errors is not None:
        body["errors"] = dict(errors)
    return body


def v2_error(status: int, message: str) -> list[dict[str, Any]]:
    return [{"status": status, "message": message}]


def answer(body: Any, status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


def money(value: Decimal) -> str:
    """v2 prices: strings with four decimals."""
    return f"{value:.4f}"


def number(value: Decimal | None) -> float | None:
    """v3 prices: JSON numbers."""
    return float(value) if value is not None else None


def store_number(store_hash: str) -> int:
    """The store's numeric id (`store_id`), which BigCommerce keeps beside its hash."""
    return 1_000_000 + int(hashlib.sha1(store_hash.encode()).hexdigest()[:6], 16)


def iso_time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def rfc2822_time(timestamp: float) -> str:
    return format_datetime(datetime.fromtimestamp(timestamp, UTC))


# --- the store's state -------------------------------------------------------------------------


@dataclass
class Variant:
    id: int
    product_id: int
    sku: str
    sku_id: int | None  # the v2 SKU id; None for a base variant
    price: Decimal | None  # None: sold at the product's price (a base variant uses its product's)
    inventory_level: int
    gtin: str
    option_values: list[dict[str, Any]]
    purchasing_disabled: bool = False

    @property
    def is_base(self) -> bool:
        return not self.option_values


@dataclass
class Product:
    id: int
    name: str
    sku: str
    price: Decimal
    categories: list[int]
    gtin: str
    search_keywords: str
    is_visible: bool
    inventory_tracking: str
    created: int
    modified: int
    variant_ids: list[int] = field(default_factory=list)
    availability: str = "available"


@dataclass
class OrderLine:
    id: int
    product_id: int
    variant_id: int
    name: str
    sku: str
    quantity: int
    price_ex_tax: Decimal
    price_inc_tax: Decimal
    options: list[dict[str, Any]]


@dataclass
class Order:
    id: int
    status_id: int
    created: float
    modified: float
    customer_id: int
    billing_address: dict[str, Any]
    shipping_addresses: list[dict[str, Any]]
    lines: list[OrderLine]
    external_source: str | None
    external_order_id: str | None
    customer_message: str
    staff_notes: str
    payment_method: str


class RequestQuota:
    """The store's request quota: `quota` requests in each window of `window_ms`, the window
    starting with the first request after the previous one ended. A quota of 0 is no quota."""

    def __init__(self, quota: int, window_ms: int, clock: Callable[[], float] = time.monotonic):
        self.quota = quota
        self.window_ms = window_ms
        self.clock = clock
        self.lock = threading.Lock()
        self.reset()

    @property
    def enabled(self) -> bool:
        return self.quota > 0

    def reset(self) -> None:
        self.window_start: float | None = None
        self.used = 0
        self.refused = 0

    def take(self) -> bool:
        """Count one request; False when the quota is used up (the request is refused)."""
        with self.lock:
            now = self.clock()
            if self.window_start is None or (now - self.window_start) * 1000 >= self.window_ms:
                self.window_start, self.used = now, 0
            if self.used >= self.quota:
                self.refused += 1
                return False
            self.used += 1
            return True

    def status(self) -> tuple[int, int]:
        """(requests left, milliseconds until the window resets)."""
        with self.lock:
            if self.window_start is None:
                return self.quota, self.window_ms
            elapsed_ms = (self.clock() - self.window_start) * 1000
            if elapsed_ms >= self.window_ms:
                return self.quota, self.window_ms
            return max(0, self.quota - self.used), math.ceil(self.window_ms - elapsed_ms)

    def headers(self, left: int | None = None, reset_ms: int | None = None) -> dict[str, str]:
        current_left, current_reset = self.status()
        return {
            "X-Rate-Limit-Requests-Left": str(current_left if left is None else left),
            "X-Rate-Limit-Requests-Quota": str(self.quota),
            "X-Rate-Limit-Time-Window-Ms": str(self.window_ms),
            "X-Rate-Limit-Time-Reset-Ms": str(current_reset if reset_ms is None else reset_ms),
        }


class BigCommerceStore:
    """The emulated store: products and variants built from the demo catalog, categories, orders
    and the request quota. Every change goes through one lock."""

    def __init__(self, settings: SandboxSettings, catalog: DemoCatalog):
        self.settings = settings
        self.catalog = catalog
        self.lock = threading.RLock()
        self.quota = RequestQuota(settings.bigcommerce_quota, settings.bigcommerce_window_ms)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.categories = self._build_categories()
            self.products: dict[int, Product] = {}
            self.variants: dict[int, Variant] = {}
            self.variant_of_demo: dict[int, int] = {}  # demo StoreProduct id → variant id
            self._build_products()
            self.orders: dict[int, Order] = {}
            self.order_ids = itertools.count(FIRST_ORDER_ID)
            self.line_ids = itertools.count(1)
            self.failing_order_creations = 0
            self.quota.reset()

    # --- building from the demo catalog ----------------------------------------------------

    def _build_categories(self) -> list[dict[str, Any]]:
        names = self.catalog.categories or tuple(
            sorted({c for p in self.catalog.store_products for c in p.categories})
        )
        return [
            {
                "category_id": FIRST_CATEGORY_ID + index,
                "parent_id": 0,
                "tree_id": CATEGORY_TREE_ID,
                "name": name,
                "description": "",
                "views": 0,
                "sort_order": index,
                "page_title": "",
                "meta_keywords": [],
                "meta_description": "",
                "layout_file": "category.html",
                "image_url": "",
                "is_visible": True,
                "search_keywords": "",
                "default_product_sort": "use_store_settings",
                "url": {"path": f"/{_slug(name)}/", "is_customized": False},
            }
            for index, name in enumerate(names)
        ]

    def _build_products(self) -> None:
        category_ids = {c["name"]: c["category_id"] for c in self.categories}
        children: dict[int, list[StoreProduct]] = {}
        for item in self.catalog.store_products:
            if item.parent_id is not None:
                children.setdefault(item.parent_id, []).append(item)
        variant_ids = itertools.count(1)
        sku_ids = itertools.count(1)
        option_ids = itertools.count(1)
        value_ids = itertools.count(1)
        for item in self.catalog.store_products:
            if item.parent_id is not None:
                continue
            product = Product(
                id=item.id,
                name=item.name,
                sku=item.sku,
                price=item.price,
                categories=[category_ids[c] for c in item.categories if c in category_ids],
                gtin=item.barcode or "",
                search_keywords=",".join(item.tags),
                is_visible=item.status == 1,
                inventory_tracking="product",
                created=item.updated_at - 86_400,
                modified=item.updated_at,
            )
            self.products[product.id] = product
            kids = children.get(item.id, [])
            if not kids:  # no options: the base variant mirrors the product
                self._add_variant(
                    Variant(
                        id=next(variant_ids),
                        product_id=product.id,
                        sku=item.sku,
                        sku_id=None,
                        price=None,
                        inventory_level=item.quantity if item.type_id == "simple" else 0,
                        gtin=product.gtin,
                        option_values=[],
                    ),
                    item,
                )
                continue
            product.inventory_tracking = "variant"
            options = {"Color": next(option_ids), "Size": next(option_ids)}
            values: dict[tuple[str, str], int] = {}
            for child in kids:
                labels = (("Color", child.color or ""), ("Size", child.size or ""))
                self._add_variant(
                    Variant(
                        id=next(variant_ids),
                        product_id=product.id,
                        sku=child.sku,
                        sku_id=next(sku_ids),
                        price=None if child.price == product.price else child.price,
                        inventory_level=child.quantity,
                        gtin=child.barcode or "",
                        option_values=[
                            {
                                "id": values.setdefault((name, label), next(value_ids)),
                                "label": label,
                                "option_id": options[name],
                                "option_display_name": name,
                            }
                            for name, label in labels
                        ],
                    ),
                    child,
                )

    def _add_variant(self, variant: Variant, demo: StoreProduct) -> None:
        self.variants[variant.id] = variant
        self.products[variant.product_id].variant_ids.append(variant.id)
        self.variant_of_demo[demo.id] = variant.id

    # --- the wire shapes -------------------------------------------------------------------

    def variant_price(self, variant: Variant) -> Decimal | None:
        """The variant's own price: a base variant shows its product's, others None to mean it."""
        return self.products[variant.product_id].price if variant.is_base else variant.price

    def selling_price(self, variant: Variant) -> Decimal:
        own = self.variant_price(variant)
        return own if own is not None else self.products[variant.product_id].price

    def product_level(self, product: Product) -> int:
        return sum(self.variants[v].inventory_level for v in product.variant_ids)

    def variant_json(self, variant: Variant) -> dict[str, Any]:
        return {
            "id": variant.id,
            "product_id": variant.product_id,
            "sku": variant.sku,
            "sku_id": variant.sku_id,
            "price": number(self.variant_price(variant)),
            "calculated_price": number(self.selling_price(variant)),
            "sale_price": None,
            "retail_price": None,
            "map_price": None,
            "weight": None,
            "calculated_weight": WEIGHT,
            "width": None,
            "height": None,
            "depth": None,
            "is_free_shipping": False,
            "fixed_cost_shipping_price": None,
            "purchasing_disabled": variant.purchasing_disabled,
            "purchasing_disabled_message": "",
            "image_url": "",
            "cost_price": None,
            "upc": "",
            "mpn": "",
            "gtin": variant.gtin,
            "inventory_level": variant.inventory_level,
            "inventory_warning_level": 0,
            "bin_picking_number": "",
            "option_values": variant.option_values,
        }

    def product_json(self, product: Product, include: Iterable[str]) -> dict[str, Any]:
        base = self.variants[product.variant_ids[0]]
        body: dict[str, Any] = {
            "id": product.id,
            "name": product.name,
            "type": "physical",
            "sku": product.sku,
            "description": "",
            "weight": WEIGHT,
            "width": 0,
            "depth": 0,
            "height": 0,
            "price": number(product.price),
            "cost_price": 0,
            "retail_price": 0,
            "sale_price": 0,
            "map_price": 0,
            "tax_class_id": 0,
            "product_tax_code": "",
            "calculated_price": number(product.price),
            "categories": list(product.categories),
            "brand_id": 0,
            "option_set_id": None,
            "option_set_display": "right",
            "inventory_level": self.product_level(product),
            "inventory_warning_level": 0,
            "inventory_tracking": product.inventory_tracking,
            "reviews_rating_sum": 0,
            "reviews_count": 0,
            "total_sold": 0,
            "fixed_cost_shipping_price": 0,
            "is_free_shipping": False,
            "is_visible": product.is_visible,
            "is_featured": False,
            "related_products": [-1],
            "warranty": "",
            "bin_picking_number": "",
            "layout_file": "product.html",
            "upc": "",
            "mpn": "",
            "gtin": product.gtin,
            "search_keywords": product.search_keywords,
            "availability": product.availability,
            "availability_description": "",
            "sort_order": 0,
            "condition": "New",
            "is_condition_shown": False,
            "order_quantity_minimum": 0,
            "order_quantity_maximum": 0,
            "page_title": "",
            "meta_keywords": [],
            "meta_description": "",
            "date_created": iso_time(product.created),
            "date_modified": iso_time(product.modified),
            "view_count": 0,
            "custom_url": {"url": f"/{_slug(product.name)}/", "is_customized": False},
            "base_variant_id": base.id if base.is_base else None,
        }
        if "variants" in include:
            body["variants"] = [self.variant_json(self.variants[v]) for v in product.variant_ids]
        if "images" in include:
            body["images"] = []
        return body

    # --- catalog writes --------------------------------------------------------------------

    def variant_changes(self, item: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """The writable fields an update asks for, and a message per field it gets wrong."""
        changes: dict[str, Any] = {}
        errors: dict[str, str] = {}
        if "inventory_level" in item:
            level = item["inventory_level"]
            if not _is_whole(level) or not 0 <= level <= MAX_INVENTORY:
                errors["inventory_level"] = (
                    f"inventory_level must be a whole number from 0 to {MAX_INVENTORY}."
                )
            else:
                changes["inventory_level"] = level
        if "price" in item:
            price = _decimal(item["price"])
            if item["price"] is not None and (price is None or price < 0):
                errors["price"] = "price must be a number of at least 0, or null."
            else:
                changes["price"] = price
        if "purchasing_disabled" in item:
            if not isinstance(item["purchasing_disabled"], bool):
                errors["purchasing_disabled"] = "purchasing_disabled must be true or false."
            else:
                changes["purchasing_disabled"] = item["purchasing_disabled"]
        return changes, errors

    def apply_variant_changes(self, variant: Variant, changes: Mapping[str, Any]) -> None:
        product = self.products[variant.product_id]
        if "inventory_level" in changes:
            variant.inventory_level = changes["inventory_level"]
        if "price" in changes:
            if variant.is_base and changes["price"] is not None:
                product.price = changes["price"]
            elif not variant.is_base:
                variant.price = changes["price"]
        if "purchasing_disabled" in changes:
            variant.purchasing_disabled = changes["purchasing_disabled"]
        product.modified = int(time.time())

    def update_variant_batch(self, items: Any) -> list[Variant]:
        """Validate every item, then apply all of them, or refuse the whole batch."""
        if not isinstance(items, list):
            raise Refused(400, {**v3_error(400, "Input is invalid"), "detail": "Syntax error"})
        if len(items) > MAX_VARIANT_BATCH:
            raise Refused(
                413,
                {
                    "errors": {},
                    "status": 413,
                    "title": "The request payload is too large. The maximum items allowed in "
                    f"the array is {MAX_VARIANT_BATCH}",
                    "type": "/api-docs/getting-started/api-status-codes",
                },
            )
        with self.lock:
            accepted: list[tuple[Variant, dict[str, Any]]] = []
            refusals: list[dict[str, Any]] = []
            for index, item in enumerate(items):
                variant, refusal = self._batch_item(index, item)
                if refusal:
                    refusals.append(refusal)
                elif variant is not None:
                    accepted.append((variant, self.variant_changes(item)[0]))
            if refusals:
                raise Refused(422, {"batch_errors": refusals})
            for variant, changes in accepted:
                self.apply_variant_changes(variant, changes)
            return [variant for variant, _ in accepted]

    def _batch_item(self, index: int, item: Any) -> tuple[Variant | None, dict[str, Any] | None]:
        if not isinstance(item, dict) or not _is_whole(item.get("id")):
            return None, v3_error(
                422, "JSON data is missing or invalid", {f"{index}.id": "id is required."}
            )
        variant = self.variants.get(item["id"])
        if variant is None:
            return None, v3_error(
                422,
                "The variant was not found.",
                {f"{index}.id": f"Variant {item['id']} does not exist."},
            )
        _, errors = self.variant_changes(item)
        if errors:
            return None, v3_error(
                422,
                "JSON data is missing or invalid",
                {f"{index}.{name}": message for name, message in errors.items()},
            )
        return variant, None

    def update_product(self, product: Product, body: Mapping[str, Any]) -> None:
        """A merchant's edit of a product in the admin (the control endpoint)."""
        if "is_visible" in body:
            if not isinstance(body["is_visible"], bool):
                raise Refused(400, v3_error(400, "is_visible must be true or false."))
            product.is_visible = body["is_visible"]
        if "availability" in body:
            if body["availability"] not in AVAILABILITIES:
                raise Refused(400, v3_error(400, f"availability must be one of {AVAILABILITIES}."))
            product.availability = body["availability"]
        if "inventory_tracking" in body:
            if body["inventory_tracking"] not in TRACKING_MODES:
                raise Refused(
                    400, v3_error(400, f"inventory_tracking must be one of {TRACKING_MODES}.")
                )
            product.inventory_tracking = body["inventory_tracking"]
        if "price" in body:
            price = _decimal(body["price"])
            if price is None or price < 0:
                raise Refused(400, v3_error(400, "price must be a number of at least 0."))
            product.price = price
        product.modified = int(time.time())

    # --- orders ----------------------------------------------------------------------------

    def create_order(self, body: Any) -> Order:
        if not isinstance(body, dict):
            raise Refused(400, v2_error(400, "The request body must be a JSON object."))
        billing = body.get("billing_address")
        if not isinstance(billing, dict):
            raise Refused(400, v2_error(400, "The field 'billing_address' is required."))
        if len(str(billing.get("zip") or "").strip()) < 2:
            raise Refused(
                400, v2_error(400, "The field 'zip' must contain two or more characters.")
            )
        shipping = body.get("shipping_addresses") or []
        if not isinstance(shipping, list) or not all(isinstance(a, dict) for a in shipping):
            raise Refused(400, v2_error(400, "The field 'shipping_addresses' is invalid."))
        items = body.get("products")
        if not isinstance(items, list) or not items:
            raise Refused(400, v2_error(400, "The field 'products' is required."))
        status_id = body.get("status_id", PENDING)
        if status_id not in ORDER_STATUSES:
            raise Refused(400, v2_error(400, "The field 'status_id' is invalid."))
        now = time.time()
        with self.lock:
            lines = [self._order_line(item) for item in items]
            order = Order(
                id=next(self.order_ids),
                status_id=status_id,
                created=now,
                modified=now,
                customer_id=int(body.get("customer_id") or 0),
                billing_address={**billing, "form_fields": []},
                shipping_addresses=[dict(a) for a in shipping],
                lines=lines,
                external_source=_text_or_none(body.get("external_source")),
                external_order_id=_text_or_none(body.get("external_order_id")),
                customer_message=str(body.get("customer_message") or ""),
                staff_notes=str(body.get("staff_notes") or ""),
                payment_method=str(body.get("payment_method") or "Manual"),
            )
            self.orders[order.id] = order
            if status_id != CANCELLED:
                self._move_stock(order, -1)
            if self.failing_order_creations:
                self.failing_order_creations -= 1
                raise Refused(500, v2_error(500, "Internal Server Error"))
            return order

    def _order_line(self, item: Any) -> OrderLine:
        if not isinstance(item, dict) or not _is_whole(item.get("product_id")):
            raise Refused(400, v2_error(400, "Each product needs a 'product_id'."))
        product = self.products.get(item["product_id"])
        if product is None:
            raise Refused(400, v2_error(400, f"Product {item['product_id']} was not found."))
        variant_id = item.get("variant_id")
        if variant_id is None and len(product.variant_ids) == 1:
            variant_id = product.variant_ids[0]
        if variant_id not in product.variant_ids:
            raise Refused(
                400,
                v2_error(400, f"Variant {variant_id} is not a variant of product {product.id}."),
            )
        quantity = item.get("quantity")
        if not _is_whole(quantity) or quantity < 1:
            raise Refused(400, v2_error(400, "The field 'quantity' must be at least 1."))
        variant = self.variants[variant_id]
        selling = self.selling_price(variant)
        price_ex_tax = _decimal(item.get("price_ex_tax", selling))
        price_inc_tax = _decimal(item.get("price_inc_tax", price_ex_tax))
        if price_ex_tax is None or price_inc_tax is None or min(price_ex_tax, price_inc_tax) < 0:
            raise Refused(400, v2_error(400, "The product prices must be numbers of at least 0."))
        return OrderLine(
            id=next(self.line_ids),
            product_id=product.id,
            variant_id=variant.id,
            name=product.name,
            sku=variant.sku,
            quantity=quantity,
            price_ex_tax=price_ex_tax,
            price_inc_tax=price_inc_tax,
            options=[
                {
                    "display_name": value["option_display_name"],
                    "display_value": value["label"],
                    "value": str(value["id"]),
                    "product_option_id": value["option_id"],
                }
                for value in variant.option_values
            ],
        )

    def update_order(self, order: Order, body: Any) -> None:
        if not isinstance(body, dict):
            raise Refused(400, v2_error(400, "The request body must be a JSON object."))
        with self.lock:
            if "status_id" in body:
                status_id = body["status_id"]
                if status_id not in ORDER_STATUSES:
                    raise Refused(400, v2_error(400, "The field 'status_id' is invalid."))
                if (order.status_id == CANCELLED) != (status_id == CANCELLED):
                    self._move_stock(order, 1 if status_id == CANCELLED else -1)
                order.status_id = status_id
            for name in ("customer_message", "staff_notes"):
                if name in body:
                    setattr(order, name, str(body[name] or ""))
            if "external_order_id" in body:
                order.external_order_id = _text_or_none(body["external_order_id"])
            order.modified = time.time()

    def _move_stock(self, order: Order, sign: int) -> None:
        """Take an order's units from stock (sign -1) or put them back (+1)."""
        for line in order.lines:
            variant = self.variants.get(line.variant_id)
            if variant is None:
                continue
            if self.products[variant.product_id].inventory_tracking == "none":
                continue
            variant.inventory_level = max(0, variant.inventory_level + sign * line.quantity)

    def find_orders(self, args: Mapping[str, str]) -> list[Order]:
        orders = sorted(self.orders.values(), key=lambda o: o.id)
        wanted = args.get("external_order_id")
        if wanted is not None:
            orders = [o for o in orders if o.external_order_id == wanted]
        if "status_id" in args:
            orders = [o for o in orders if o.status_id == _int_arg(args, "status_id", v2=True)]
        if "min_id" in args:
            orders = [o for o in orders if o.id >= _int_arg(args, "min_id", v2=True)]
        if "max_id" in args:
            orders = [o for o in orders if o.id <= _int_arg(args, "max_id", v2=True)]
        field_name, _, direction = (args.get("sort") or "id:asc").partition(":")
        if field_name not in ("id", "date_created", "date_modified", "status_id"):
            raise Refused(400, v2_error(400, f"The sort field '{field_name}' is invalid."))
        keys = {"id": "id", "date_created": "created", "date_modified": "modified"}
        orders.sort(key=lambda o: getattr(o, keys.get(field_name, field_name)))
        if direction.lower() == "desc":
            orders.reverse()
        return orders

    def order_json(self, order: Order, api_root: str) -> dict[str, Any]:
        """An order as `GET /v2/orders/{id}` answers it; `api_root` ends in `/v2`."""
        subtotal_ex = sum((line.price_ex_tax * line.quantity for line in order.lines), Decimal(0))
        subtotal_inc = sum((line.price_inc_tax * line.quantity for line in order.lines), Decimal(0))
        zero = money(Decimal(0))
        resource = f"/orders/{order.id}"
        return {
            "id": order.id,
            "customer_id": order.customer_id,
            "date_created": rfc2822_time(order.created),
            "date_modified": rfc2822_time(order.modified),
            "date_shipped": "",
            "status_id": order.status_id,
            "status": ORDER_STATUSES[order.status_id],
            "custom_status": ORDER_STATUSES[order.status_id],
            "subtotal_ex_tax": money(subtotal_ex),
            "subtotal_inc_tax": money(subtotal_inc),
            "subtotal_tax": money(subtotal_inc - subtotal_ex),
            "base_shipping_cost": zero,
            "shipping_cost_ex_tax": zero,
            "shipping_cost_inc_tax": zero,
            "shipping_cost_tax": zero,
            "total_ex_tax": money(subtotal_ex),
            "total_inc_tax": money(subtotal_inc),
            "total_tax": money(subtotal_inc - subtotal_ex),
            "items_total": sum(line.quantity for line in order.lines),
            "items_shipped": 0,
            "payment_method": order.payment_method,
            "payment_provider_id": "",
            "payment_status": "",
            "refunded_amount": zero,
            "order_is_digital": False,
            "currency_code": STORE_CURRENCY,
            "currency_exchange_rate": "1.0000000000",
            "default_currency_code": STORE_CURRENCY,
            "store_default_currency_code": STORE_CURRENCY,
            "staff_notes": order.staff_notes,
            "customer_message": order.customer_message,
            "discount_amount": zero,
            "coupon_discount": zero,
            "shipping_address_count": len(order.shipping_addresses),
            "is_deleted": False,
            "billing_address": order.billing_address,
            "is_email_opt_in": False,
            "order_source": "external",
            "channel_id": 1,
            "external_source": order.external_source,
            "external_id": None,
            "external_merchant_id": None,
            "external_order_id": order.external_order_id,
            "customer_locale": "en",
            "products": {
                "url": f"{api_root}{resource}/products",
                "resource": f"{resource}/products",
            },
            "shipping_addresses": {
                "url": f"{api_root}{resource}/shipping_addresses",
                "resource": f"{resource}/shipping_addresses",
            },
            "coupons": {"url": f"{api_root}{resource}/coupons", "resource": f"{resource}/coupons"},
        }

    def order_lines_json(self, order: Order) -> list[dict[str, Any]]:
        return [
            {
                "id": line.id,
                "order_id": order.id,
                "product_id": line.product_id,
                "variant_id": line.variant_id,
                "name": line.name,
                "sku": line.sku,
                "quantity": line.quantity,
                "price_ex_tax": money(line.price_ex_tax),
                "price_inc_tax": money(line.price_inc_tax),
                "total_ex_tax": money(line.price_ex_tax * line.quantity),
                "total_inc_tax": money(line.price_inc_tax * line.quantity),
                "product_options": line.options,
            }
            for line in order.lines
        ]

    # --- webhooks --------------------------------------------------------------------------

    def webhook_payload(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The payload BigCommerce would send for `scope` about a product or variant; its `hash`
        is new for every payload."""
        scope = body.get("scope")
        if scope not in WEBHOOK_SCOPES:
            raise Refused(400, {"error": f"scope must be one of {WEBHOOK_SCOPES}"})
        with self.lock:
            variant = self.variants.get(_whole_or_zero(body.get("variant_id")))
            product_id = variant.product_id if variant else _whole_or_zero(body.get("product_id"))
            product = self.products.get(product_id)
            if product is None:
                raise Refused(400, {"error": "name an existing product_id or variant_id"})
            data = self._webhook_data(scope, product, variant)
        return {
            "scope": scope,
            "store_id": str(store_number(self.settings.bigcommerce_store_hash)),
            "data": data,
            "hash": hashlib.sha1(secrets.token_bytes(20)).hexdigest(),
            "created_at": int(time.time()),
            "producer": f"stores/{self.settings.bigcommerce_store_hash}",
        }

    def _webhook_data(
        self, scope: str, product: Product, variant: Variant | None
    ) -> dict[str, Any]:
        if scope == "store/product/updated":
            return {"type": "product", "id": product.id}
        if scope == "store/product/inventory/updated":
            inventory = {"product_id": product.id, "method": "absolute"}
            return {
                "type": "product",
                "id": product.id,
                "inventory": {**inventory, "value": self.product_level(product)},
            }
        if variant is None or variant.sku_id is None:
            raise Refused(
                400,
                {
                    "error": f"{scope} needs the variant_id of a variant with options; a base "
                    "variant's stock is reported by store/product/inventory/updated"
                },
            )
        return {
            "type": "sku",
            "id": variant.sku_id,
            "inventory": {
                "product_id": product.id,
                "method": "absolute",
                "value": variant.inventory_level,
                "variant_id": variant.id,
            },
        }


# --- request arguments -------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _whole_or_zero(value: Any) -> int:
    return value if _is_whole(value) else 0


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        return None
    return result if result.is_finite() else None


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _int_arg(args: Mapping[str, str], name: str, *, v2: bool = False) -> int:
    try:
        return int(args[name])
    except ValueError:
        message = f"The filter '{name}' must be a whole number."
        raise Refused(
            400 if v2 else 422,
            v2_error(400, message) if v2 else v3_error(422, message, {name: message}),
        ) from None


def _id_list(args: Mapping[str, str], name: str) -> set[int] | None:
    if name not in args:
        return None
    try:
        return {int(part) for part in args[name].split(",") if part.strip()}
    except ValueError:
        message = f"{name} must be a comma-separated list of ids."
        raise Refused(422, v3_error(422, "The filter is invalid.", {name: message})) from None


def _names(args: Mapping[str, str], name: str) -> list[str]:
    return [part.strip() for part in (args.get(name) or "").split(",") if part.strip()]


def _only_fields(body: dict[str, Any], fields: list[str], keep: Iterable[str]) -> dict[str, Any]:
    """`include_fields`: the id, the fields named and the sub-resources asked for."""
    if not fields:
        return body
    wanted = {"id", *fields, *keep}
    return {name: value for name, value in body.items() if name in wanted}


def page_args(args: Mapping[str, str], *, v2: bool = False) -> tuple[int, int]:
    """`limit` (50 by default, at most 250) and `page` (from 1)."""
    limit = _int_arg(args, "limit", v2=v2) if "limit" in args else DEFAULT_LIMIT
    page = _int_arg(args, "page", v2=v2) if "page" in args else 1
    return min(max(limit, 1), MAX_LIMIT), max(page, 1)


def paginate(items: list[Any], args: Mapping[str, str]) -> tuple[list[Any], dict[str, Any]]:
    """One page of `items` and the `meta` BigCommerce's v3 lists answer with."""
    limit, page = page_args(args)
    total = len(items)
    total_pages = math.ceil(total / limit)
    chunk = items[(page - 1) * limit : page * limit]
    links = {"current": f"?page={page}&limit={limit}"}
    if page > 1:
        links["previous"] = f"?page={page - 1}&limit={limit}"
    if page < total_pages:
        links["next"] = f"?page={page + 1}&limit={limit}"
    pagination = {
        "total": total,
        "count": len(chunk),
        "per_page": limit,
        "current_page": page,
        "total_pages": total_pages,
        "links": links,
    }
    return chunk, {"pagination": pagination}


# --- the app -----------------------------------------------------------------------------------


def create_bigcommerce_sandbox(settings: SandboxSettings, catalog: DemoCatalog) -> Flask:
    app = Flask(__name__)
    app.json.sort_keys = False  # keep BigCommerce's field order, readable in a browser
    store = BigCommerceStore(settings, catalog)
    app.extensions["bigcommerce_store"] = store

    faults = FaultInjector(seed=settings.seed)
    app.extensions["sandbox_faults"] = faults

    def is_v2() -> bool:
        return "/v2/" in request.path

    def injected_error() -> Response:
        if is_v2():
            return answer(v2_error(500, "Internal Server Error"), 500)
        return answer(v3_error(500, "Internal Server Error"), 500)

    def rate_limited(reset_ms: int) -> Response:
        response = answer(v3_error(429, "Too many requests"), 429)
        response.headers.update(store.quota.headers(left=0, reset_ms=reset_ms))
        return response

    faults.install(
        app,
        on_error=injected_error,
        on_rate_limit=lambda: rate_limited(INJECTED_RESET_MS),
    )

    @app.before_request
    def gateway() -> Response | None:
        """The API gateway: the store, the token, then the quota."""
        if request.path.startswith(CONTROL_PREFIX) or request.url_rule is None:
            return None
        if (request.view_args or {}).get("store_hash") != settings.bigcommerce_store_hash:
            return answer(v3_error(404, "The store was not found."), 404)
        token = request.headers.get("X-Auth-Token", "")
        if not hmac.compare_digest(token.encode(), settings.bigcommerce_access_token.encode()):
            return answer(
                v3_error(401, "No valid credentials were found in the X-Auth-Token header."),
                401,
            )
        if store.quota.enabled and not store.quota.take():
            return rate_limited(store.quota.status()[1])
        return None

    @app.after_request
    def quota_headers(response: Response) -> Response:
        if (
            store.quota.enabled
            and request.path.startswith("/stores/")
            and "X-Rate-Limit-Requests-Left" not in response.headers
        ):
            response.headers.update(store.quota.headers())
        return response

    @app.errorhandler(Refused)
    def refused(error: Refused) -> Response:
        return answer(error.body, error.status)

    @app.errorhandler(404)
    def no_route(_error: Exception) -> Response:
        return answer(v3_error(404, "The resource at that URL is not found."), 404)

    @app.errorhandler(405)
    def wrong_method(_error: Exception) -> Response:
        return answer(v3_error(405, "The method is not allowed for this resource."), 405)

    def json_body() -> Any:
        body = request.get_json(silent=True)
        if body is None:
            title = "Input is invalid"
            raise Refused(400, {**v3_error(400, title), "detail": "Syntax error"})
        return body

    def v2_root() -> str:
        return f"{request.host_url}stores/{settings.bigcommerce_store_hash}/v2"

    # --- v2: store information and orders --------------------------------------------------

    @app.get(f"{STORE_PREFIX}/v2/store")
    def store_information(store_hash: str) -> Response:
        return jsonify(
            {
                "id": store_hash,
                "domain": "demo-outfitters.example",
                "secure_url": "https://demo-outfitters.example",
                "control_panel_base_url": f"https://store-{store_hash}.mybigcommerce.com",
                "status": "live",
                "name": STORE_NAME,
                "first_name": "Demo",
                "last_name": "Owner",
                "address": STORE_NAME,
                "country": "United States",
                "country_code": "US",
                "phone": "",
                "admin_email": "owner@demo-outfitters.example",
                "order_email": "orders@demo-outfitters.example",
                "timezone": {
                    "name": "America/Chicago",
                    "raw_offset": -21600,
                    "dst_offset": -18000,
                    "dst_correction": True,
                },
                "language": "en",
                "currency": STORE_CURRENCY,
                "currency_symbol": "$",
                "decimal_separator": ".",
                "thousands_separator": ",",
                "decimal_places": 2,
                "currency_symbol_location": "left",
                "weight_units": "LBS",
                "dimension_units": "Inches",
                "plan_name": "Standard",
                "plan_level": "Standard",
                "plan_is_trial": False,
                "industry": "Apparel",
                "is_price_entered_with_tax": False,
                "store_id": store_number(store_hash),
                "default_channel_id": 1,
                "default_site_id": 1000,
                "features": {"stencil_enabled": True, "multi_storefront_enabled": False},
            }
        )

    @app.get(f"{STORE_PREFIX}/v2/orders")
    def list_orders(store_hash: str) -> Response:
        limit, page = page_args(request.args, v2=True)
        with store.lock:
            chunk = store.find_orders(request.args)[(page - 1) * limit : page * limit]
            if not chunk:
                return Response(status=204)  # v2 answers an empty list with no body at all
            return jsonify([store.order_json(order, v2_root()) for order in chunk])

    @app.post(f"{STORE_PREFIX}/v2/orders")
    def create_order(store_hash: str) -> Response:
        order = store.create_order(request.get_json(silent=True))
        return jsonify(store.order_json(order, v2_root()))

    def order_or_404(order_id: int) -> Order:
        order = store.orders.get(order_id)
        if order is None:
            raise Refused(404, v2_error(404, "The requested resource was not found."))
        return order

    @app.get(f"{STORE_PREFIX}/v2/orders/<int:order_id>")
    def get_order(store_hash: str, order_id: int) -> Response:
        with store.lock:
            return jsonify(store.order_json(order_or_404(order_id), v2_root()))

    @app.put(f"{STORE_PREFIX}/v2/orders/<int:order_id>")
    def update_order(store_hash: str, order_id: int) -> Response:
        with store.lock:
            order = order_or_404(order_id)
            store.update_order(order, request.get_json(silent=True))
            return jsonify(store.order_json(order, v2_root()))

    # --- v3: catalog -----------------------------------------------------------------------

    @app.get(f"{STORE_PREFIX}/v3/catalog/products")
    def products(store_hash: str) -> Response:
        args = request.args
        include = _names(args, "include")
        fields = _names(args, "include_fields")
        wanted_ids = _id_list(args, "id:in")
        sort = args.get("sort") or "id"
        if sort not in PRODUCT_SORTS:
            raise Refused(422, v3_error(422, "The sort is invalid.", {"sort": sort}))
        with store.lock:
            found = [p for p in store.products.values() if wanted_ids is None or p.id in wanted_ids]
            found.sort(
                key=lambda p: getattr(p, sort) if sort != "sku" else p.sku.casefold(),
                reverse=(args.get("direction") or "asc").lower() == "desc",
            )
            chunk, meta = paginate(found, args)
            data = [_only_fields(store.product_json(p, include), fields, include) for p in chunk]
        return jsonify({"data": data, "meta": meta})

    @app.get(f"{STORE_PREFIX}/v3/catalog/variants")
    def variants(store_hash: str) -> Response:
        args = request.args
        fields = _names(args, "include_fields")
        wanted_ids = _id_list(args, "id:in")
        wanted_products = _id_list(args, "product_id:in")
        with store.lock:
            found = [
                v
                for v in store.variants.values()
                if (wanted_ids is None or v.id in wanted_ids)
                and (wanted_products is None or v.product_id in wanted_products)
            ]
            chunk, meta = paginate(found, args)
            data = [_only_fields(store.variant_json(v), fields, ()) for v in chunk]
        return jsonify({"data": data, "meta": meta})

    @app.put(f"{STORE_PREFIX}/v3/catalog/variants")
    def update_variants(store_hash: str) -> Response:
        updated = store.update_variant_batch(json_body())
        with store.lock:
            data = [store.variant_json(variant) for variant in updated]
        return jsonify({"data": data, "meta": {}})

    @app.get(f"{STORE_PREFIX}/v3/catalog/trees/categories")
    def categories(store_hash: str) -> Response:
        chunk, meta = paginate(store.categories, request.args)
        return jsonify({"data": chunk, "meta": meta})

    # --- control endpoints -----------------------------------------------------------------

    @app.post(CONTROL + "variants/<int:variant_id>")
    def control_variant(variant_id: int) -> Response:
        with store.lock:
            variant = store.variants.get(variant_id)
            if variant is None:
                return answer({"error": f"no variant {variant_id}"}, 404)
            changes, errors = store.variant_changes(request.get_json(force=True) or {})
            if errors:
                return answer({"errors": errors}, 400)
            store.apply_variant_changes(variant, changes)
            return jsonify(store.variant_json(variant))

    @app.post(CONTROL + "products/<int:product_id>")
    def control_product(product_id: int) -> Response:
        with store.lock:
            product = store.products.get(product_id)
            if product is None:
                return answer({"error": f"no product {product_id}"}, 404)
            store.update_product(product, request.get_json(force=True) or {})
            return jsonify(store.product_json(product, ("variants",)))

    @app.get(CONTROL + "orders")
    def control_orders() -> Response:
        with store.lock:
            return jsonify(
                {
                    "orders": [
                        {
                            **store.order_json(order, v2_root()),
                            "products": store.order_lines_json(order),
                            "shipping_addresses": order.shipping_addresses,
                        }
                        for order in sorted(store.orders.values(), key=lambda o: o.id)
                    ]
                }
            )

    @app.post(CONTROL + "orders/fail-next")
    def control_fail_orders() -> Response:
        count = (request.get_json(force=True) or {}).get("count", 1)
        if not _is_whole(count) or count < 0:
            return answer({"error": "count must be a whole number of at least 0"}, 400)
        with store.lock:
            store.failing_order_creations = count
        return jsonify({"fail_next": count})

    @app.post(CONTROL + "webhooks")
    def control_webhook() -> Response:
        body = request.get_json(force=True) or {}
        url = body.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return answer({"error": "url must be an http(s) address"}, 400)
        payload = store.webhook_payload(body)
        secret = settings.bigcommerce_webhook_secret
        headers = {
            "Content-Type": "application/json",
            WEBHOOK_SECRET_HEADER: f"not-{secret}" if body.get("wrong_secret") else secret,
        }
        raw = json.dumps(payload).encode()
        deliveries = []
        for _ in range(2 if body.get("repeat") else 1):
            try:
                sent = requests.post(url, data=raw, headers=headers, timeout=WEBHOOK_TIMEOUT)
                deliveries.append({"status": sent.status_code})
            except requests.RequestException as error:
                deliveries.append({"error": str(error)})
        return jsonify({"hash": payload["hash"], "payload": payload, "deliveries": deliveries})

    @app.get(CONTROL + "quota")
    def control_quota() -> Response:
        left, reset_ms = store.quota.status()
        return jsonify(
            {
                "quota": store.quota.quota,
                "window_ms": store.quota.window_ms,
                "left": left,
                "reset_ms": reset_ms,
                "refused": store.quota.refused,
            }
        )

    @app.post(CONTROL + "reset")
    def control_reset() -> Response:
        store.reset()
        return jsonify({"products": len(store.products), "variants": len(store.variants)})

    return app
