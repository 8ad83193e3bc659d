"""Emulated WooCommerce REST API v3 (`/wp-json/wc/v3/...`) over the demo store catalog.

What it serves, in WooCommerce's own wire format:

- `GET  /wp-json/` — the public WordPress index (site name, namespaces).
- `GET  /wp-json/wc/v3/settings/general` — the store address and currency settings.
- `GET  /wp-json/wc/v3/products` — products; `include`, `status`, `type`, `sku`, `search`,
  `orderby` (date, id, include, title, modified), `order`, `page`, `per_page`.
- `GET  /wp-json/wc/v3/products/{id}` — one product or variation (what a webhook carries).
- `GET  /wp-json/wc/v3/products/{parent}/variations` — a variable product's variations, with
  the same list parameters.
- `POST|PUT|PATCH /wp-json/wc/v3/products/batch` and `.../products/{parent}/variations/batch`
  `{"update": [...]}` — each object answered in turn, refused ones as `{"id", "error"}`.
- `GET|POST /wp-json/wc/v3/orders` (list with `search`, `status`, …; create) and
  `GET|PUT|POST|PATCH /wp-json/wc/v3/orders/{id}`.

Faithful details a client must cope with:

- Auth is the REST API key: HTTP Basic (consumer key as user, secret as password) or the
  `consumer_key` / `consumer_secret` query parameters, which win when both are given. The
  sandbox accepts Basic over plain HTTP because it stands for an HTTPS store. A key it does not
  know leaves the call unauthenticated, so the route's permission check answers 401 (`…cannot
  view` / `create` / `edit` / `batch`); a known key with a wrong secret is 401
  `woocommerce_rest_authentication_error` "Consumer secret is invalid." with a
  `WWW-Authenticate` header. Unknown paths under `/wp-json` are 404 `rest_no_route`; other paths
  are the theme's HTML 404 page.
- Lists answer `X-WP-Total`, `X-WP-TotalPages` and a `Link` header; `per_page` is 1 to 100
  (10 by default), and a page past the end is `[]`. Repeated query keys keep the last value, as
  PHP does, so id lists must be comma-separated (or `include[]=`).
- The catalog is the Magento sandbox's: configurable parents become variable products whose
  simple children are their variations (ids kept: products and variations share WordPress's one
  id space), every other product is simple. Disabled products are drafts (a disabled variation
  is private). Barcodes are in `global_unique_id`, except every fifth product, which keeps it in
  the `_alg_ean` meta field the way shops did before WooCommerce 9.2. Duplicated SKUs are served
  as they are: WooCommerce refuses a duplicate SKU on save, but direct imports leave them.
- A variable product has no regular price of its own; its `price` is its cheapest published
  variation's. A variation's `price` is its sale price while it has one.
- Orders created with status processing, on-hold or completed take the stock of the items whose
  stock is managed (it may go below zero, as over REST); cancelling gives it back once.
  `created_via` is always `rest-api`. `search` matches order item names (line items and
  shipping lines), the billing and shipping address and the order id.
- WooCommerce has no API quota; the host in front of it has: `settings.rate_limit_per_second`
  requests a second (0: no limit) before HTTP 429 with `Retry-After`.

Injected faults: an error is WordPress's HTTP 500 "critical error" JSON, a rate limit the host's
HTML 429 page with `Retry-After: 1`.

Control endpoints (not part of WooCommerce), under `/__sandbox__/woocommerce/`:

- `POST products/{id}` `{"stock_quantity", "regular_price", "sale_price", "status",
  "manage_stock"}` (any of them) — edit a product or variation as a merchant would in the
  admin; answers it as the API shows it.
- `GET orders` — the orders created, as the API shows them.
- `POST throttle` `{"count": N, "retry_after": seconds or null, "status": 429}` — answer the
  next N API calls 429 (or 503, a host under load), with that Retry-After or (null) without
  one, as many hosts do.
- `POST webhooks/deliver` `{"url", "topic": "product.updated", "id", "bad_signature": false,
  "twice": false}` — send one webhook delivery of that product or variation to `url`, signed
  with `settings.woocommerce_webhook_secret` (wrongly with `bad_signature`; twice with the same
  delivery id with `twice`); `{"url", "ping": true}` sends the unsigned ping of a new webhook.
  Answers `{"delivery_id", "topic", "statuses": [HTTP status per delivery]}`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

import requests
from flask import Flask, Response, jsonify, request

from webapp.sandbox.catalog import DemoCatalog, StoreProduct
from webapp.sandbox.faults import CONTROL_PREFIX, FaultInjector
from webapp.sandbox.settings import SandboxSettings

API = "/wp-json/wc/v3"
CONTROL = CONTROL_PREFIX + "woocommerce"
SITE_NAME = "Demo Outfitters"
WC_VERSION = "9.4.2"
WP_VERSION = "6.7.1"
DEFAULT_PER_PAGE = 10
MAX_PER_PAGE = 100
BATCH_LIMIT = 100
RETRY_AFTER_SECONDS = 1
WEBHOOK_ID = 1
BARCODE_META_EVERY = 5  # every fifth product keeps its barcode in a plugin's meta field
BARCODE_META_KEY = "_alg_ean"
FIRST_CATEGORY_ID = 16  # 15 is WooCommerce's "Uncategorized"
FIRST_TAG_ID = 40
ATTRIBUTES = ((1, "Color", "pa_color"), (2, "Size", "pa_size"))
PRODUCT_STATUSES = ("publish", "draft", "pending", "private", "future")
ORDER_STATUSES = (
    "pending",
    "processing",
    "on-hold",
    "completed",
    "cancelled",
    "refunded",
    "failed",
    "checkout-draft",
)
STOCK_TAKING_STATUSES = frozenset({"processing", "on-hold", "completed"})
ADDRESS_FIELDS = (
    "first_name",
    "last_name",
    "company",
    "address_1",
    "address_2",
    "city",
    "state",
    "postcode",
    "country",
    "phone",
)
PERMISSION_ERRORS = {
    "list": ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources."),
    "view": ("woocommerce_rest_cannot_view", "Sorry, you cannot view this resource."),
    "create": ("woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources."),
    "edit": ("woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource."),
    "batch": (
        "woocommerce_rest_cannot_batch",
        "Sorry, you are not allowed to batch manipulate this resource.",
    ),
}
BASIC_REALM = (
    'Basic realm="WooCommerce API. Use a consumer key in the username field and a consumer '
    'secret in the password field."'
)
CRITICAL_ERROR = (
    "<p>There has been a critical error on this website.</p><p><a "
    'href="https://wordpress.org/documentation/article/faq-troubleshooting/">Learn more about '
    "troubleshooting WordPress.</a></p>"
)
HOST_PAGES = {
    429: "<html><head><title>429 Too Many Requests</title></head><body><h1>Too Many Requests"
    "</h1><p>You have sent too many requests in a given amount of time.</p></body></html>",
    503: "<html><head><title>503 Service Unavailable</title></head><body><h1>Service "
    "Unavailable</h1><p>The server is temporarily busy, try again later.</p></body></html>",
}
NOT_FOUND_PAGE = (
    "<!doctype html><html><head><title>Page not found – Demo Outfitters</title></head>"
    "<body><h1>Oops! That page can’t be found.</h1></body></html>"
)


class RestError(Exception):
    """A WordPress `WP_Error` answered as `{"code", "message", "data": {"status", …}}`."""

    def __init__(self, status: int, code: str, message: str, **data: Any):
        super().__init__(message)
        self.status, self.code, self.message, self.data = status, code, message, data

    def response(self) -> Response:
        return wp_error(self.status, self.code, self.message, **self.data)


def wp_error(status: int, code: str, message: str, **data: Any) -> Response:
    response = jsonify({"code": code, "message": message, "data": {"status": status, **data}})
    response.status_code = status
    return response


def wc_time(timestamp: int) -> str:
    """WooCommerce dates: ISO 8601 without a zone (the site runs on UTC here)."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def money(value: Decimal | None) -> str:
    return "" if value is None else str(value)


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@dataclass
class WooProduct:
    """One product post: a simple or variable product, or a variation (`parent_id` set)."""

    id: int
    name: str
    type: str  # simple | variable | variation
    status: str
    sku: str
    barcode: str
    regular_price: Decimal | None
    manage_stock: bool
    stock_quantity: int | None
    categories: list[dict[str, Any]]
    tags: list[dict[str, Any]]
    created: int
    modified: int
    parent_id: int = 0
    options: tuple[tuple[int, str], ...] = ()  # (attribute id, option), "Black" / "M"
    variation_ids: list[int] = field(default_factory=list)
    sale_price: Decimal | None = None

    @property
    def price(self) -> Decimal | None:
        return self.sale_price if self.sale_price is not None else self.regular_price

    @property
    def barcode_in_meta(self) -> bool:
        return self.id % BARCODE_META_EVERY == 0

    def stock_status(self) -> str:
        if self.manage_stock and self.stock_quantity is not None:
            return "instock" if self.stock_quantity > 0 else "outofstock"
        return "instock"


class WooCommerceStore:
    """The emulated store's state: product posts, orders and the host's rate limit."""

    def __init__(self, settings: SandboxSettings, catalog: DemoCatalog):
        self.settings = settings
        names = catalog.categories or tuple(
            sorted({c for p in catalog.store_products for c in p.categories})
        )
        self.categories = {
            name: {"id": FIRST_CATEGORY_ID + i, "name": name, "slug": slugify(name)}
            for i, name in enumerate(names)
        }
        tag_names = sorted({t for p in catalog.store_products for t in p.tags})
        self.tags = {
            name: {"id": FIRST_TAG_ID + i, "name": name, "slug": slugify(name)}
            for i, name in enumerate(tag_names)
        }
        self.posts: dict[int, WooProduct] = {}
        for product in catalog.store_products:
            self.posts[product.id] = self._post(product)
        for post in self.posts.values():
            if post.parent_id:
                self.posts[post.parent_id].variation_ids.append(post.id)
        self.orders: dict[int, dict[str, Any]] = {}
        self.stock_taken: set[int] = set()
        self.next_order_id = max(self.posts, default=0) + 1000
        self.throttled_calls = 0
        self.throttle_retry_after: int | None = None
        self.throttle_status = 429
        self.recent_calls: deque[float] = deque()
        self.lock = threading.RLock()

    def _post(self, product: StoreProduct) -> WooProduct:
        is_parent = product.type_id == "configurable"
        is_variation = product.parent_id is not None
        disabled = "private" if is_variation else "draft"
        options = tuple(
            (attribute_id, value)
            for (attribute_id, _, _), value in zip(
                ATTRIBUTES, (product.color, product.size), strict=True
            )
            if value
        )
        return WooProduct(
            id=product.id,
            name=product.name,
            type="variable" if is_parent else "variation" if is_variation else "simple",
            status="publish" if product.status == 1 else disabled,
            sku=product.sku,
            barcode=product.barcode or "",
            regular_price=None if is_parent else product.price,
            manage_stock=not is_parent,
            stock_quantity=None if is_parent else product.quantity,
            categories=[] if is_variation else [self.categories[c] for c in product.categories],
            tags=[] if is_variation else [self.tags[t] for t in product.tags],
            created=product.updated_at - 86_400,
            modified=product.updated_at,
            parent_id=product.parent_id or 0,
            options=options,
        )

    # --- products --------------------------------------------------------------------------

    def top_level(self) -> list[WooProduct]:
        return [post for post in self.posts.values() if not post.parent_id]

    def variations_of(self, parent_id: int) -> list[WooProduct]:
        parent = self.posts.get(parent_id)
        if parent is None or parent.type != "variable":
            return []
        return [self.posts[i] for i in parent.variation_ids if i in self.posts]

    def edit(self, post: WooProduct, changes: dict[str, Any]) -> None:
        """Apply a product update the way WooCommerce's REST controllers do: the quantity only
        sticks while stock is managed."""
        with self.lock:
            if "status" in changes:
                status = str(changes["status"])
                post.status = status if status in PRODUCT_STATUSES else "draft"
            if "manage_stock" in changes and post.type != "variable":
                post.manage_stock = bool(changes["manage_stock"])
            if post.manage_stock:
                if changes.get("stock_quantity") is not None:
                    post.stock_quantity = stock_amount(changes["stock_quantity"])
            else:
                post.stock_quantity = None
            if "regular_price" in changes and post.type != "variable":
                post.regular_price = price_or_none(changes["regular_price"])
            if "sale_price" in changes and post.type != "variable":
                post.sale_price = price_or_none(changes["sale_price"])
            post.modified = int(time.time())

    def product_json(self, post: WooProduct, site: str) -> dict[str, Any]:
        if post.parent_id:
            return self.variation_json(post, site)
        variations = self.variations_of(post.id)
        price = post.price
        if post.type == "variable":
            prices = [v.price for v in variations if v.status == "publish" and v.price is not None]
            price = min(prices) if prices else None
        return {
            "id": post.id,
            "name": post.name,
            "slug": slugify(post.name),
            "permalink": f"{site}/product/{slugify(post.name)}/",
            **self._dates(post),
            "type": post.type,
            "status": post.status,
            "featured": False,
            "catalog_visibility": "visible",
            "description": "",
            "short_description": "",
            "sku": post.sku,
            "global_unique_id": "" if post.barcode_in_meta else post.barcode,
            "price": money(price),
            "regular_price": money(post.regular_price),
            "sale_price": money(post.sale_price),
            "on_sale": post.sale_price is not None,
            "purchasable": post.status == "publish" and price is not None,
            "total_sales": 0,
            "virtual": False,
            "downloadable": False,
            "tax_status": "taxable",
            "tax_class": "",
            "manage_stock": post.manage_stock,
            "stock_quantity": post.stock_quantity,
            "stock_status": post.stock_status(),
            "backorders": "no",
            "backorders_allowed": False,
            "backordered": False,
            "weight": "" if post.type == "variable" else "0.5",
            "categories": post.categories,
            "tags": post.tags,
            "images": [],
            "attributes": self._product_attributes(post, variations),
            "default_attributes": [],
            "variations": [v.id for v in variations],
            "grouped_products": [],
            "menu_order": 0,
            "meta_data": self._meta(post),
        }

    def variation_json(self, post: WooProduct, site: str) -> dict[str, Any]:
        parent = self.posts[post.parent_id]
        slugs = {attribute_id: slug for attribute_id, _, slug in ATTRIBUTES}
        query = urlencode({f"attribute_{slugs[i]}": slugify(option) for i, option in post.options})
        return {
            "id": post.id,
            "type": "variation",
            "parent_id": parent.id,
            "name": f"{parent.name} - {', '.join(option for _, option in post.options)}",
            **self._dates(post),
            "description": "",
            "permalink": f"{site}/product/{slugify(parent.name)}/?{query}",
            "sku": post.sku,
            "global_unique_id": "" if post.barcode_in_meta else post.barcode,
            "price": money(post.price),
            "regular_price": money(post.regular_price),
            "sale_price": money(post.sale_price),
            "on_sale": post.sale_price is not None,
            "status": post.status,
            "purchasable": post.status == "publish" and post.price is not None,
            "virtual": False,
            "downloadable": False,
            "tax_status": "taxable",
            "tax_class": "",
            "manage_stock": post.manage_stock,
            "stock_quantity": post.stock_quantity,
            "stock_status": post.stock_status(),
            "backorders": "no",
            "backorders_allowed": False,
            "backordered": False,
            "weight": "0.5",
            "image": None,
            "attributes": [
                {"id": attribute_id, "name": name, "slug": slug, "option": option}
                for (attribute_id, name, slug) in ATTRIBUTES
                for option_id, option in post.options
                if option_id == attribute_id
            ],
            "menu_order": 0,
            "meta_data": self._meta(post),
        }

    @staticmethod
    def _dates(post: WooProduct) -> dict[str, str]:
        return {
            "date_created": wc_time(post.created),
            "date_created_gmt": wc_time(post.created),
            "date_modified": wc_time(post.modified),
            "date_modified_gmt": wc_time(post.modified),
        }

    @staticmethod
    def _meta(post: WooProduct) -> list[dict[str, Any]]:
        if post.barcode and post.barcode_in_meta:
            return [{"id": post.id * 10, "key": BARCODE_META_KEY, "value": post.barcode}]
        return []

    def _product_attributes(
        self, post: WooProduct, variations: list[WooProduct]
    ) -> list[dict[str, Any]]:
        sources = variations if post.type == "variable" else [post]
        attributes = []
        for position, (attribute_id, name, slug) in enumerate(ATTRIBUTES):
            options = list(
                dict.fromkeys(o for v in sources for i, o in v.options if i == attribute_id)
            )
            if options:
                attributes.append(
                    {
                        "id": attribute_id,
                        "name": name,
                        "slug": slug,
                        "position": position,
                        "visible": True,
                        "variation": post.type == "variable",
                        "options": options,
                    }
                )
        return attributes

    # --- orders ----------------------------------------------------------------------------

    def create_order(self, body: dict[str, Any], site: str) -> dict[str, Any]:
        status = str(body.get("status") or "pending")
        if status not in ORDER_STATUSES:
            raise invalid_param("status", f"status is not one of {', '.join(ORDER_STATUSES)}.")
        with self.lock:
            order_id = self.next_order_id
            self.next_order_id += 1
            items = iter(range(order_id * 10, order_id * 10 + 10_000))
            line_items = [
                self._line_item(line, next(items)) for line in body.get("line_items") or []
            ]
            shipping_lines = [
                {
                    "id": next(items),
                    "method_title": str(line.get("method_title") or ""),
                    "method_id": str(line.get("method_id") or ""),
                    "instance_id": "",
                    "total": str(price_or_none(line.get("total")) or Decimal("0.00")),
                    "total_tax": "0.00",
                    "taxes": [],
                    "meta_data": [],
                }
                for line in body.get("shipping_lines") or []
                if isinstance(line, dict)
            ]
            now = int(time.time())
            total = sum(
                (Decimal(line["total"]) for line in [*line_items, *shipping_lines]), Decimal(0)
            )
            paid = bool(body.get("set_paid"))
            order = {
                "id": order_id,
                "parent_id": 0,
                "status": status,
                "currency": str(body.get("currency") or "USD"),
                "version": WC_VERSION,
                "prices_include_tax": False,
                "date_created": wc_time(now),
                "date_modified": wc_time(now),
                "discount_total": "0.00",
                "discount_tax": "0.00",
                "shipping_total": str(
                    sum((Decimal(s["total"]) for s in shipping_lines), Decimal("0.00"))
                ),
                "shipping_tax": "0.00",
                "cart_tax": "0.00",
                "total": f"{total:.2f}",
                "total_tax": "0.00",
                "customer_id": 0,
                "order_key": f"wc_order_{secrets.token_hex(6)}",
                "billing": address(body.get("billing"), with_email=True),
                "shipping": address(body.get("shipping")),
                "payment_method": str(body.get("payment_method") or ""),
                "payment_method_title": str(body.get("payment_method_title") or ""),
                "transaction_id": str(body.get("transaction_id") or ""),
                "customer_ip_address": "",
                "customer_user_agent": "",
                "created_via": "rest-api",
                "customer_note": str(body.get("customer_note") or ""),
                "date_completed": None,
                "date_paid": wc_time(now) if paid else None,
                "cart_hash": "",
                "number": str(order_id),
                "meta_data": [
                    {"id": next(items), "key": str(meta["key"]), "value": meta.get("value")}
                    for meta in body.get("meta_data") or []
                    if isinstance(meta, dict) and meta.get("key")
                ],
                "line_items": line_items,
                "tax_lines": [],
                "shipping_lines": shipping_lines,
                "fee_lines": [],
                "coupon_lines": [],
                "refunds": [],
                "payment_url": f"{site}/checkout/order-pay/{order_id}/",
                "is_editable": status in ("pending", "on-hold"),
                "needs_payment": not paid and status == "pending",
                "needs_processing": True,
            }
            self.orders[order_id] = order
            self._move_stock(order)
            return order

    def _line_item(self, line: Any, item_id: int) -> dict[str, Any]:
        if not isinstance(line, dict):
            raise invalid_param("line_items", "line_items[0] is not of type object.")
        variation_id = stock_amount(line.get("variation_id") or 0)
        product_id = stock_amount(line.get("product_id") or 0)
        if not (variation_id or product_id):
            raise RestError(
                400, "woocommerce_rest_required_product_reference", "Product ID or SKU is required."
            )
        post = self.posts.get(variation_id or product_id)
        if post is None or post.type == "variable" or (variation_id and not post.parent_id):
            raise RestError(
                400, "woocommerce_rest_invalid_product_id", "Product ID provided does not exist."
            )
        quantity = stock_amount(line.get("quantity") or 1)
        default_total = (post.price or Decimal(0)) * quantity
        subtotal = price_or_none(line.get("subtotal")) or default_total
        total = price_or_none(line.get("total")) or subtotal
        parent = self.posts.get(post.parent_id)
        return {
            "id": item_id,
            "name": f"{parent.name} - {', '.join(o for _, o in post.options)}"
            if parent
            else post.name,
            "product_id": parent.id if parent else post.id,
            "variation_id": post.id if parent else 0,
            "quantity": quantity,
            "tax_class": "",
            "subtotal": f"{subtotal:.2f}",
            "subtotal_tax": "0.00",
            "total": f"{total:.2f}",
            "total_tax": "0.00",
            "taxes": [],
            "meta_data": [],
            "sku": post.sku,
            "price": float(total / quantity) if quantity else 0,
            "image": {"id": 0, "src": ""},
            "parent_name": parent.name if parent else None,
        }

    def update_order(self, order: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            if "status" in body:
                status = str(body["status"])
                if status not in ORDER_STATUSES:
                    raise invalid_param(
                        "status", f"status is not one of {', '.join(ORDER_STATUSES)}."
                    )
                order["status"] = status
                if status == "completed" and not order["date_completed"]:
                    order["date_completed"] = wc_time(int(time.time()))
            if "customer_note" in body:
                order["customer_note"] = str(body["customer_note"] or "")
            order["date_modified"] = wc_time(int(time.time()))
            self._move_stock(order)
            return order

    def _move_stock(self, order: dict[str, Any]) -> None:
        """Take the stock when an order reaches a paid status, give it back when it is
        cancelled: each at most once, like wc_maybe_reduce/increase_stock_levels."""
        taken = order["id"] in self.stock_taken
        if order["status"] in STOCK_TAKING_STATUSES and not taken:
            sign = -1
            self.stock_taken.add(order["id"])
        elif order["status"] == "cancelled" and taken:
            sign = 1
            self.stock_taken.discard(order["id"])
        else:
            return
        for line in order["line_items"]:
            post = self.posts.get(line["variation_id"] or line["product_id"])
            if post is not None and post.manage_stock and post.stock_quantity is not None:
                post.stock_quantity += sign * line["quantity"]
                post.modified = int(time.time())

    def search_orders(self, term: str) -> list[dict[str, Any]]:
        needle = term.casefold()

        def matches(order: dict[str, Any]) -> bool:
            names = [item["name"] for item in order["line_items"]]
            names += [item["method_title"] for item in order["shipping_lines"]]
            addresses = [
                " ".join(str(v) for v in order[kind].values()) for kind in ("billing", "shipping")
            ]
            return str(order["id"]) == term or any(
                needle in text.casefold() for text in [*names, *addresses]
            )

        return [order for order in self.orders.values() if matches(order)]

    # --- the host's rate limit -------------------------------------------------------------

    def throttle(self, count: int, retry_after: int | None, status: int = 429) -> None:
        if status not in HOST_PAGES:
            raise ValueError(f"status must be one of {sorted(HOST_PAGES)}")
        with self.lock:
            self.throttled_calls = max(count, 0)
            self.throttle_retry_after = retry_after
            self.throttle_status = status

    def refusal(self) -> Response | None:
        """The host's refusal when the throttle knob or the per-second limit says so, else
        None."""
        with self.lock:
            if self.throttled_calls > 0:
                self.throttled_calls -= 1
                return host_refusal(self.throttle_retry_after, self.throttle_status)
            limit = self.settings.rate_limit_per_second
            if limit <= 0:
                return None
            now = time.monotonic()
            while self.recent_calls and now - self.recent_calls[0] >= 1.0:
                self.recent_calls.popleft()
            if len(self.recent_calls) >= limit:
                return host_refusal(RETRY_AFTER_SECONDS)
            self.recent_calls.append(now)
            return None


# --- request parsing -------------------------------------------------------------------------


def stock_amount(value: Any) -> int:
    """wc_stock_amount: a number, or 0."""
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return 0


def price_or_none(value: Any) -> Decimal | None:
    if value is None or str(value).strip() == "":
        return None
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        return None


def address(posted: Any, *, with_email: bool = False) -> dict[str, str]:
    posted = posted if isinstance(posted, dict) else {}
    fields = {name: str(posted.get(name) or "") for name in ADDRESS_FIELDS}
    if with_email:
        fields["email"] = str(posted.get("email") or "")
    return fields


def invalid_param(name: str, reason: str) -> RestError:
    return RestError(
        400, "rest_invalid_param", f"Invalid parameter(s): {name}", params={name: reason}
    )


def last_arg(name: str) -> str | None:
    """PHP keeps the last of repeated query keys."""
    values = request.args.getlist(name)
    return values[-1] if values else None


def int_arg(name: str, default: int, low: int, high: int | None = None) -> int:
    raw = last_arg(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid_param(name, f"{name} is not of type integer.") from None
    if value < low or (high is not None and value > high):
        reason = (
            f"{name} must be between {low} (inclusive) and {high} (inclusive)"
            if high is not None
            else f"{name} must be greater than or equal to {low}"
        )
        raise invalid_param(name, reason)
    return value


def id_list_arg(name: str) -> list[int] | None:
    """`include=1,2,3` or `include[]=1&include[]=2`, read like wp_parse_id_list."""
    raw = last_arg(name)
    parts = request.args.getlist(f"{name}[]") or (re.split(r"[,\s]+", raw) if raw else [])
    if not parts:
        return None
    ids = [int(part) for part in parts if part.strip().isdigit() and int(part) > 0]
    return list(dict.fromkeys(ids))


def sorted_posts(posts: list[WooProduct], include: list[int] | None) -> list[WooProduct]:
    orderby = last_arg("orderby") or "date"
    descending = (last_arg("order") or "desc").lower() == "desc"
    if orderby == "include":
        position = {post_id: i for i, post_id in enumerate(include or [])}
        return sorted(posts, key=lambda p: position.get(p.id, len(position)))
    keys: dict[str, Callable[[WooProduct], Any]] = {
        "date": lambda p: (p.created, p.id),
        "modified": lambda p: (p.modified, p.id),
        "id": lambda p: p.id,
        "title": lambda p: (p.name.casefold(), p.id),
    }
    if orderby not in keys:
        raise invalid_param("orderby", f"orderby is not one of {', '.join(keys)}, include.")
    return sorted(posts, key=keys[orderby], reverse=descending)


def filtered_posts(posts: Iterable[WooProduct]) -> list[WooProduct]:
    include = id_list_arg("include")
    status = last_arg("status") or "any"
    statuses = None if status == "any" else set(status.split(","))
    product_type = last_arg("type")
    skus = {s.strip().casefold() for s in (last_arg("sku") or "").split(",") if s.strip()}
    search = (last_arg("search") or "").casefold()
    selected = [
        post
        for post in posts
        if (include is None or post.id in include)
        and (statuses is None or post.status in statuses)
        and (not product_type or post.type == product_type)
        and (not skus or post.sku.casefold() in skus)
        and (not search or search in post.name.casefold())
    ]
    return sorted_posts(selected, include)


def paged(items: list[Any]) -> tuple[list[Any], dict[str, str]]:
    """One page of `items` with WordPress's X-WP-Total, X-WP-TotalPages and Link headers."""
    per_page = int_arg("per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
    page = int_arg("page", 1, 1)
    total = len(items)
    pages = math.ceil(total / per_page)
    headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
    query = {key: last_arg(key) for key in request.args}
    links = []
    if page > 1:
        links.append((min(page - 1, max(pages, 1)), "prev"))
    if pages > page:
        links.append((page + 1, "next"))
    if links:
        headers["Link"] = ", ".join(
            f'<{request.base_url}?{urlencode({**query, "page": number})}>; rel="{rel}"'
            for number, rel in links
        )
    return items[(page - 1) * per_page : page * per_page], headers


def list_response(items: list[Any]) -> Response:
    page, headers = paged(items)
    response = jsonify(page)
    response.headers.update(headers)
    return response


def host_refusal(retry_after: int | None, status: int = 429) -> Response:
    """The HTML page a host or firewall answers when it will not pass a call on."""
    response = Response(HOST_PAGES[status], status=status, mimetype="text/html")
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def webhook_signature(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


# --- the app ---------------------------------------------------------------------------------


def create_woocommerce_sandbox(settings: SandboxSettings, catalog: DemoCatalog) -> Flask:
    app = Flask(__name__)
    app.json.sort_keys = False  # keep WooCommerce's field order, readable in a browser
    store = WooCommerceStore(settings, catalog)
    app.extensions["woocommerce_store"] = store

    faults = FaultInjector(seed=settings.seed)
    app.extensions["sandbox_faults"] = faults

    def rate_limited() -> Response:
        return host_refusal(RETRY_AFTER_SECONDS)

    faults.install(
        app,
        on_error=lambda: wp_error(
            500, "internal_server_error", CRITICAL_ERROR, additional_errors=[]
        ),
        on_rate_limit=rate_limited,
    )

    @app.before_request
    def host_rate_limit() -> Response | None:
        if request.path.startswith(CONTROL_PREFIX):
            return None
        return store.refusal()

    def site() -> str:
        return request.host_url.rstrip("/")

    def credentials() -> tuple[str, str] | None:
        key, secret = last_arg("consumer_key"), last_arg("consumer_secret")
        if key and secret:
            return key, secret
        auth = request.authorization
        if auth is not None and auth.type == "basic" and auth.username and auth.password:
            return auth.username, auth.password
        return None

    def refused(action: str) -> Response | None:
        presented = credentials()
        if presented is not None and presented[0] == settings.woocommerce_consumer_key:
            if hmac.compare_digest(presented[1], settings.woocommerce_consumer_secret):
                return None
            response = wp_error(
                401, "woocommerce_rest_authentication_error", "Consumer secret is invalid."
            )
            response.headers["WWW-Authenticate"] = BASIC_REALM
            return response
        code, message = PERMISSION_ERRORS[action]
        return wp_error(401, code, message)

    def api(rule: str, action: str, methods: tuple[str, ...] = ("GET",)):
        """Register a `/wp-json/wc/v3` route behind the REST API key."""

        def decorator(view: Callable[..., Response]) -> Callable[..., Response]:
            def guarded(**kwargs: Any) -> Response:
                refusal = refused(action)
                if refusal is not None:
                    return refusal
                try:
                    return view(**kwargs)
                except RestError as error:
                    return error.response()

            app.add_url_rule(
                API + rule, endpoint=view.__name__, view_func=guarded, methods=list(methods)
            )
            return view

        return decorator

    def json_body() -> dict[str, Any]:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise RestError(400, "rest_invalid_json", "Invalid JSON body passed.")
        return body

    @app.get("/wp-json/")
    def wordpress_index() -> Response:
        return jsonify(
            {
                "name": SITE_NAME,
                "description": "Everyday apparel, made to last",
                "url": site(),
                "home": site(),
                "gmt_offset": "0",
                "timezone_string": "UTC",
                "namespaces": ["oembed/1.0", "wc/store/v1", "wc/v3", "wp/v2"],
                "authentication": {},
                "routes": {
                    f"/wc/v3{path}": {"namespace": "wc/v3", "methods": methods}
                    for path, methods in (
                        ("/settings/general", ["GET"]),
                        ("/products", ["GET"]),
                        ("/products/batch", ["POST", "PUT", "PATCH"]),
                        ("/products/(?P<product_id>[\\d]+)/variations", ["GET"]),
                        ("/products/(?P<product_id>[\\d]+)/variations/batch", ["POST", "PUT"]),
                        ("/orders", ["GET", "POST"]),
                        ("/orders/(?P<id>[\\d]+)", ["GET", "POST", "PUT", "PATCH"]),
                    )
                },
            }
        )

    @api("/settings/general", "list")
    def general_settings() -> Response:
        def setting(id_: str, label: str, value: str, type_: str = "text") -> dict[str, Any]:
            return {
                "id": id_,
                "label": label,
                "description": "",
                "type": type_,
                "default": "",
                "tip": "",
                "value": value,
            }

        currency = setting("woocommerce_currency", "Currency", "USD", "select")
        currency["options"] = {
            "GBP": "Pound sterling (£)",
            "USD": "United States (US) dollar ($)",
            "EUR": "Euro (€)",
        }
        return jsonify(
            [
                setting("woocommerce_store_address", "Address line 1", "1200 Commerce St"),
                setting("woocommerce_store_address_2", "Address line 2", ""),
                setting("woocommerce_store_city", "City", "Dallas"),
                setting("woocommerce_default_country", "Country / State", "US:TX", "select"),
                setting("woocommerce_store_postcode", "Postcode / ZIP", "75201"),
                currency,
                setting("woocommerce_currency_pos", "Currency position", "left", "select"),
                setting("woocommerce_price_thousand_sep", "Thousand separator", ","),
                setting("woocommerce_price_decimal_sep", "Decimal separator", "."),
                setting("woocommerce_price_num_decimals", "Number of decimals", "2", "number"),
            ]
        )

    @api("/products", "list")
    def products() -> Response:
        with store.lock:
            posts = filtered_posts(store.top_level())
            page, headers = paged(posts)
            body = [store.product_json(post, site()) for post in page]
        response = jsonify(body)
        response.headers.update(headers)
        return response

    @api("/products/<int:product_id>", "view")
    def product(product_id: int) -> Response:
        with store.lock:
            post = store.posts.get(product_id)
            if post is None:
                raise RestError(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
            return jsonify(store.product_json(post, site()))

    @api("/products/<int:product_id>/variations", "list")
    def variations(product_id: int) -> Response:
        with store.lock:
            posts = filtered_posts(store.variations_of(product_id))
            page, headers = paged(posts)
            body = [store.variation_json(post, site()) for post in page]
        response = jsonify(body)
        response.headers.update(headers)
        return response

    def batch(find: Callable[[int], WooProduct | None], invalid_code: str) -> Response:
        body = json_body()
        for unsupported in ("create", "delete"):
            if body.get(unsupported):
                raise invalid_param(unsupported, "The sandbox emulates batch updates only.")
        updates = body.get("update") or []
        if not isinstance(updates, list):
            raise invalid_param("update", "update is not of type array.")
        if len(updates) > BATCH_LIMIT:
            raise RestError(
                413,
                "woocommerce_rest_request_entity_too_large",
                f"Unable to accept more than {BATCH_LIMIT} items for this request.",
            )
        answered = []
        for changes in updates:
            changes = changes if isinstance(changes, dict) else {}
            post_id = stock_amount(changes.get("id"))
            post = find(post_id)
            if post is None:
                answered.append(
                    {
                        "id": changes.get("id", 0),
                        "error": {
                            "code": invalid_code,
                            "message": "Invalid ID.",
                            "data": {"status": 400},
                        },
                    }
                )
                continue
            store.edit(post, changes)
            answered.append(store.product_json(post, site()))
        return jsonify({"update": answered})

    @api("/products/batch", "batch", ("POST", "PUT", "PATCH"))
    def products_batch() -> Response:
        def find(post_id: int) -> WooProduct | None:
            post = store.posts.get(post_id)
            return post if post is not None and not post.parent_id else None

        return batch(find, "woocommerce_rest_product_invalid_id")

    @api("/products/<int:product_id>/variations/batch", "batch", ("POST", "PUT", "PATCH"))
    def variations_batch(product_id: int) -> Response:
        def find(post_id: int) -> WooProduct | None:
            post = store.posts.get(post_id)
            return post if post is not None and post.parent_id == product_id else None

        return batch(find, "woocommerce_rest_product_variation_invalid_id")

    @api("/orders", "list")
    def orders() -> Response:
        with store.lock:
            found = list(store.orders.values())
            if last_arg("search"):
                found = store.search_orders(last_arg("search") or "")
            status = last_arg("status") or "any"
            if status != "any":
                found = [o for o in found if o["status"] in status.split(",")]
            include = id_list_arg("include")
            if include is not None:
                found = [o for o in found if o["id"] in include]
            orderby = last_arg("orderby") or "date"
            if orderby not in ("date", "id", "include", "modified"):
                raise invalid_param("orderby", "orderby is not one of date, id, include, modified.")
            descending = (last_arg("order") or "desc").lower() == "desc"
            found.sort(key=lambda o: o["id"], reverse=descending)
            return list_response(found)

    @api("/orders", "create", ("POST",))
    def create_order() -> Response:
        order = store.create_order(json_body(), site())
        response = jsonify(order)
        response.status_code = 201
        response.headers["Location"] = f"{site()}{API}/orders/{order['id']}"
        return response

    @api("/orders/<int:order_id>", "view")
    def order(order_id: int) -> Response:
        with store.lock:
            found = store.orders.get(order_id)
            if found is None:
                raise RestError(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
            return jsonify(found)

    @api("/orders/<int:order_id>", "edit", ("PUT", "POST", "PATCH"))
    def update_order(order_id: int) -> Response:
        found = store.orders.get(order_id)
        if found is None:
            raise RestError(400, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
        return jsonify(store.update_order(found, json_body()))

    # --- control endpoints -----------------------------------------------------------------

    @app.post(f"{CONTROL}/products/<int:post_id>")
    def edit_product(post_id: int) -> Response:
        post = store.posts.get(post_id)
        if post is None:
            return Response(f"No product or variation {post_id}", status=404)
        changes = request.get_json(force=True) or {}
        allowed = {"stock_quantity", "regular_price", "sale_price", "status", "manage_stock"}
        unknown = set(changes) - allowed
        if unknown:
            return Response(f"Unknown fields: {', '.join(sorted(unknown))}", status=400)
        store.edit(post, changes)
        with store.lock:
            return jsonify(store.product_json(post, site()))

    @app.get(f"{CONTROL}/orders")
    def created_orders() -> Response:
        with store.lock:
            return jsonify(list(store.orders.values()))

    @app.post(f"{CONTROL}/throttle")
    def throttle() -> Response:
        knobs = request.get_json(force=True) or {}
        retry_after = knobs.get("retry_after")
        try:
            store.throttle(
                int(knobs.get("count", 0)),
                None if retry_after is None else int(retry_after),
                int(knobs.get("status", 429)),
            )
        except (TypeError, ValueError) as error:
            return Response(str(error), status=400)
        return jsonify(
            {
                "count": store.throttled_calls,
                "retry_after": store.throttle_retry_after,
                "status": store.throttle_status,
            }
        )

    @app.post(f"{CONTROL}/webhooks/deliver")
    def deliver_webhook() -> Response:
        asked = request.get_json(force=True) or {}
        url = asked.get("url")
        if not url:
            return Response("Give the url to deliver to", status=400)
        if asked.get("ping"):
            body = f"webhook_id={WEBHOOK_ID}".encode()
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            topic, delivery_id = None, None
        else:
            topic = str(asked.get("topic") or "product.updated")
            resource, _, event = topic.partition(".")
            if resource != "product" or event not in ("created", "updated", "restored", "deleted"):
                return Response(f"Unsupported topic {topic!r}", status=400)
            post_id = stock_amount(asked.get("id"))
            with store.lock:
                post = store.posts.get(post_id)
                if post is None and event != "deleted":
                    return Response(f"No product or variation {post_id}", status=404)
                payload = (
                    {"id": post_id} if event == "deleted" else store.product_json(post, site())
                )
            body = json.dumps(payload, separators=(",", ":")).encode()
            secret = settings.woocommerce_webhook_secret
            if asked.get("bad_signature"):
                secret += "-not-the-secret"
            delivery_id = secrets.token_hex(16)
            headers = {
                "Content-Type": "application/json",
                "X-WC-Webhook-Source": f"{site()}/",
                "X-WC-Webhook-Topic": topic,
                "X-WC-Webhook-Resource": resource,
                "X-WC-Webhook-Event": event,
                "X-WC-Webhook-Signature": webhook_signature(body, secret),
                "X-WC-Webhook-ID": str(WEBHOOK_ID),
                "X-WC-Webhook-Delivery-ID": delivery_id,
            }
        headers["User-Agent"] = f"WooCommerce/{WC_VERSION} Hookshot (WordPress/{WP_VERSION})"
        statuses = []
        for _ in range(2 if asked.get("twice") else 1):
            try:
                statuses.append(
                    requests.post(url, data=body, headers=headers, timeout=10).status_code
                )
            except requests.RequestException:
                statuses.append(0)
        return jsonify({"delivery_id": delivery_id, "topic": topic, "statuses": statuses})

    @app.errorhandler(404)
    @app.errorhandler(405)
    def no_route(_error: Exception) -> Response:
        if request.path.startswith("/wp-json"):
            return wp_error(
                404, "rest_no_route", "No route was found matching the URL and request method."
            )
        return Response(NOT_FOUND_PAGE, status=404, mimetype="text/html")

    return app
