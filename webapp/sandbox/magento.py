"""Emulated Magento 2 REST API (`/rest/V1/...`, also `/rest/<store_code>/V1/...`) over the demo
store catalog.

What it serves, in Magento's own wire format:

- `GET  /rest/V1/store/storeConfigs` — the store views (SKU Bridge's connection test).
- `GET  /rest/V1/products?searchCriteria[...]` — `{items, search_criteria, total_count}`.
- `GET  /rest/V1/products/{sku}` — one product (the first one, when a SKU is duplicated).
- `GET  /rest/V1/products/attributes/{attribute_code}/options` — `[{label, value}]`.
- `GET  /rest/V1/categories/list?searchCriteria[...]` — the category tree as a flat list.
- `GET  /rest/V1/inventory/source-items?searchCriteria[...]` — MSI stock per SKU and source.
- `POST /rest/V1/inventory/source-items` `{"sourceItems": [...]}` — set quantities (answers `[]`).
- `POST /rest/V1/products/base-prices` `{"prices": [{price, store_id, sku}]}` — set prices; answers
  the refused ones, `[{message, parameters}]`.
- `GET  /rest/V1/orders?searchCriteria[...]`, `GET /rest/V1/orders/{id}` — orders.
- `PUT  /rest/V1/orders/create` `{"entity": {...}}` — save an order (the order repository).
- `POST /rest/V1/orders/{id}/cancel` — `true`, or `false` when the order cannot be cancelled.

Faithful details a client must cope with:

- Auth is an integration access token, `Authorization: Bearer <token>`; anything else is a 401
  `{"message": "The consumer isn't authorized to access %resources.", "parameters": {...}}`.
- Lists need a `searchCriteria` (400 without one) and page with `searchCriteria[pageSize]` /
  `[currentPage]` (camelCase or snake_case keys, as Magento's input processor accepts both). A
  `currentPage` past the end answers the *last* page again, never an empty one (Magento's
  collections clamp the page; magento/magento2#8099, #26986), so clients must stop on
  `page_size × current_page ≥ total_count`.
- Filters: filters inside one `filter_groups[i]` are OR-ed, groups are AND-ed. Conditions eq, neq,
  like, nlike, in, nin, gt, gteq, lt, lteq, null, notnull. Text compares ignore case, as MySQL's
  default collation does, so `sku eq "ts-0001-blk-m"` finds `TS-0001-BLK-M`.
- `color` and `size` are select attributes: products carry option ids (`"49"`), the labels come
  from the options endpoint, whose first entry is Magento's blank option (`" "` / `""`). The
  barcode is a custom text attribute `ean` (Magento has no native barcode field).
- Duplicated SKUs: Magento's `catalog_product_entity.sku` index is not unique, so imports and
  direct database writes can leave two products with the same SKU. The sandbox serves both
  products verbatim in the list. MSI keys stock by SKU and source, so products that share a SKU
  share its source items: each reports the SKU's total stock.
- Configurable parents list their children in `extension_attributes.configurable_product_links`
  (child ids) and carry no source items; children of a configurable are "Not Visible
  Individually" (visibility 1), everything else is visible in catalog and search (4).
- Saving source items validates the whole batch first and refuses all of it for one bad item:
  a 400 `{"message": "Validation Failed: ...", "errors": [{message, parameters}]}` for a missing
  field, `{"message": "Following products with requested skus were not found: %1",
  "parameters": [...]}` for SKUs no product has, `Could not save Source Item` for an unknown
  source.
- Base prices save what is valid and answer each refusal as `{message, parameters}` with a list
  of parameters (`"Invalid attribute %fieldName = %fieldValue."`, `["SKU", "X"]`): unknown SKUs,
  SKUs of products that have no price of their own (configurable), negative prices, unknown
  store ids. A price is set on every product sharing the SKU.
- Orders saved with `PUT /orders/create` get an `entity_id` and an `increment_id` ("000000001"),
  keep what was sent (`ext_order_id`, items, addresses, payment, shipping assignments) and place
  no MSI reservation, so quantities do not change. Cancelling works from the states new,
  pending_payment and processing; it answers `false` from any other (canceled, complete, closed,
  holded), and 404 for an unknown order.

Injected faults: an error is HTTP 503 `{"message": ...}`, a rate limit is HTTP 429 with
`Retry-After` (real Magento has no rate limiter of its own; the 429 stands for the proxy or WAF
in front of it).

Control endpoints for tests and the demo (no auth, no faults): `POST /__sandbox__/magento/products/
<id>` `{quantity?, price?, status?}` changes a product as a merchant would in the admin (the
quantity goes to the SKU's `default` source) and answers `{id, sku, price, status, quantity}`,
the quantity summed over sources; `GET /__sandbox__/magento/orders` lists the orders created,
`{"orders": [...]}`; `POST /__sandbox__/magento/reset` puts back the demo catalog's products,
stock and prices and forgets the orders.
"""

from __future__ import annotations

import copy
import functools
import math
import re
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from flask import Flask, Response, jsonify, request

from webapp.sandbox.catalog import COLOURS, SIZES, DemoCatalog, StoreProduct
from webapp.sandbox.faults import FaultInjector
from webapp.sandbox.settings import SandboxSettings

REST_PREFIXES = ("/rest/V1", "/rest/<store_code>/V1")
UNAUTHORIZED = "The consumer isn't authorized to access %resources."
RETRY_AFTER_SECONDS = 1

# Option ids as a fresh Luma install numbers them: colours first, then sizes.
FIRST_COLOR_OPTION_ID = 49
FIRST_SIZE_OPTION_ID = 166
ROOT_CATEGORY_ID = 1
DEFAULT_CATEGORY_ID = 2
SECOND_SOURCE_CODE = "east_warehouse"
ATTRIBUTE_SET_DEFAULT = 4
VISIBILITY_NOT_VISIBLE = 1
VISIBILITY_CATALOG_SEARCH = 4
SOURCE_CODES = ("default", SECOND_SOURCE_CODE)
SOURCE_STATUSES = (0, 1)
PRICED_TYPES = frozenset({"simple", "virtual", "downloadable"})  # base prices refuse the rest
STORE_IDS = (0, 1)  # "All Store Views" and the default store view
CANCELLABLE_STATES = frozenset({"new", "pending_payment", "processing"})
INVALID_ATTRIBUTE = "Invalid attribute %fieldName = %fieldValue."
NO_SUCH_ENTITY = "The entity that was requested doesn't exist. Verify the entity and try again."
REQUIRED_FIELD = '"%fieldName" is required. Enter and try again.'


class InputRefused(ValueError):
    """Input Magento would refuse (a bad searchCriteria or body); becomes a 400 (or `status`).
    `errors` are a validation failure's `[{message, parameters}]`."""

    def __init__(
        self,
        message: str,
        parameters: dict[str, str] | list[str] | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        status: int = 400,
    ):
        super().__init__(message)
        self.message = message
        self.parameters = parameters
        self.errors = errors
        self.status = status


def validation_failed(message: str, field: str) -> InputRefused:
    """MSI's ValidationException: the first error filled in the message, all of them listed."""
    return InputRefused(
        f"Validation Failed: {message.replace('%field', field)}",
        errors=[{"message": message, "parameters": {"field": field}}],
    )


def magento_time(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _number(value: Decimal | int | float) -> int | float:
    """Magento prints whole floats without a fraction (`100`, not `100.0`)."""
    number = float(value)
    return int(number) if number.is_integer() else number


class MagentoStore:
    """The emulated store's state: products in wire shape, options, categories, MSI source items,
    orders."""

    def __init__(self, catalog: DemoCatalog, clock: Callable[[], float] = time.time):
        self.catalog = catalog
        self.clock = clock
        self.color_options = {
            label: str(FIRST_COLOR_OPTION_ID + i) for i, (_, label) in enumerate(COLOURS)
        }
        self.size_options = {label: str(FIRST_SIZE_OPTION_ID + i) for i, label in enumerate(SIZES)}
        self.categories = self._build_categories(catalog)
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """The demo catalog's products, stock and prices again, and no orders."""
        category_ids = {item["name"]: item["id"] for item in self.categories}
        with self.lock:
            self.products = [self._product(p, category_ids) for p in self.catalog.store_products]
            # What a database's indexes would give: products by id and by SKU (any case).
            self.product_of_id = {p["id"]: p for p in self.products}
            self.products_of_sku: dict[str, list[dict[str, Any]]] = {}
            for product in self.products:
                self.products_of_sku.setdefault(product["sku"].casefold(), []).append(product)
            self.source_items = self._build_source_items(self.catalog.store_products)
            self.orders: list[dict[str, Any]] = []

    @staticmethod
    def _build_categories(catalog: DemoCatalog) -> list[dict[str, Any]]:
        names = catalog.categories or tuple(
            sorted({c for p in catalog.store_products for c in p.categories})
        )
        created = magento_time(
            catalog.store_products[0].updated_at if catalog.store_products else 0
        )
        leaf_ids = [DEFAULT_CATEGORY_ID + 1 + i for i in range(len(names))]

        def category(id_: int, parent: int, name: str, level: int, path: str, children: list[int]):
            return {
                "id": id_,
                "parent_id": parent,
                "name": name,
                "is_active": True,
                "position": 1 if level < 2 else id_ - DEFAULT_CATEGORY_ID,
                "level": level,
                "children": ",".join(map(str, children)),
                "created_at": created,
                "updated_at": created,
                "path": path,
                "include_in_menu": True,
                "custom_attributes": [],
            }

        return [
            category(ROOT_CATEGORY_ID, 0, "Root Catalog", 0, "1", [DEFAULT_CATEGORY_ID]),
            category(DEFAULT_CATEGORY_ID, ROOT_CATEGORY_ID, "Default Category", 1, "1/2", leaf_ids),
            *(
                category(id_, DEFAULT_CATEGORY_ID, name, 2, f"1/2/{id_}", [])
                for id_, name in zip(leaf_ids, names, strict=True)
            ),
        ]

    def _product(self, product: StoreProduct, category_ids: dict[str, int]) -> dict[str, Any]:
        links = [str(category_ids[name]) for name in product.categories if name in category_ids]
        custom = [
            {"attribute_code": "url_key", "value": re.sub(r"[^a-z0-9]+", "-", product.sku.lower())},
            {"attribute_code": "tax_class_id", "value": "2"},
            {"attribute_code": "category_ids", "value": links},
            {"attribute_code": "options_container", "value": "container2"},
        ]
        if product.color:
            custom.append({"attribute_code": "color", "value": self.color_options[product.color]})
        if product.size:
            custom.append({"attribute_code": "size", "value": self.size_options[product.size]})
        if product.barcode:
            custom.append({"attribute_code": "ean", "value": product.barcode})
        extension: dict[str, Any] = {
            "website_ids": [1],
            "category_links": [{"position": 0, "category_id": c} for c in links],
        }
        if product.type_id == "configurable":
            extension["configurable_product_options"] = [
                {
                    "id": product.id * 10 + position,
                    "attribute_id": attribute_id,
                    "label": label,
                    "position": position,
                    "values": [{"value_index": int(v)} for v in options.values()],
                    "product_id": product.id,
                }
                for position, (attribute_id, label, options) in enumerate(
                    (("93", "Color", self.color_options), ("144", "Size", self.size_options))
                )
            ]
            extension["configurable_product_links"] = list(product.children_ids)
        item: dict[str, Any] = {
            "id": product.id,
            "sku": product.sku,
            "name": product.name,
            "attribute_set_id": ATTRIBUTE_SET_DEFAULT,
            "price": _number(product.price),
            "status": product.status,
            "visibility": VISIBILITY_NOT_VISIBLE
            if product.parent_id
            else VISIBILITY_CATALOG_SEARCH,
            "type_id": product.type_id,
            "created_at": magento_time(product.updated_at - 86_400),
            "updated_at": magento_time(product.updated_at),
        }
        if product.type_id != "configurable":  # a configurable's weight lives on its children
            item["weight"] = 0.5
        item.update(
            {
                "extension_attributes": extension,
                "product_links": [],
                "options": [],
                "media_gallery_entries": [],
                "tier_prices": [],
                "custom_attributes": custom,
            }
        )
        return item

    @staticmethod
    def _build_source_items(products: Iterable[StoreProduct]) -> dict[tuple[str, str], dict]:
        """Stock per (SKU, source). Every fourth SKU is split over a second warehouse."""
        totals: dict[str, int] = {}
        for product in products:
            if product.type_id != "configurable":
                totals[product.sku] = totals.get(product.sku, 0) + product.quantity
        items: dict[tuple[str, str], dict] = {}
        for index, (sku, total) in enumerate(totals.items()):
            east = total // 3 if index % 4 == 3 else None
            split = [("default", total - (east or 0))]
            if east is not None:
                split.append((SECOND_SOURCE_CODE, east))
            for source_code, quantity in split:
                items[(sku, source_code)] = {
                    "sku": sku,
                    "source_code": source_code,
                    "quantity": quantity,
                    "status": 1 if quantity > 0 else 0,
                }
        return items

    def save_source_items(self, source_items: list[Any]) -> None:
        """Validate every item first, then apply all of them (Magento saves them in one go)."""
        if not source_items:
            raise InputRefused("Input data is empty")
        parsed = [_source_item(item) for item in source_items]
        known = {
            sku.casefold(): self.products_of_sku[sku.casefold()][0]["sku"]
            for sku, *_ in parsed
            if sku.casefold() in self.products_of_sku
        }
        missing = [sku for sku, *_ in parsed if sku.casefold() not in known]
        if missing:
            raise InputRefused(
                "Following products with requested skus were not found: %1", [", ".join(missing)]
            )
        if any(source_code not in SOURCE_CODES for _, source_code, *_ in parsed):
            raise InputRefused("Could not save Source Item")
        with self.lock:
            for sku, source_code, quantity, status in parsed:
                self.source_items[(known[sku.casefold()], source_code)] = {
                    "sku": known[sku.casefold()],
                    "source_code": source_code,
                    "quantity": quantity,
                    "status": status,
                }

    def sku_quantity(self, sku: str) -> int | float:
        with self.lock:
            return _number(
                sum(item["quantity"] for (s, _), item in self.source_items.items() if s == sku)
            )

    def products_with_sku(self, sku: str) -> list[dict[str, Any]]:
        return list(self.products_of_sku.get(str(sku).casefold(), []))

    def find_products(self, field: str, values: list[str]) -> list[dict[str, Any]] | None:
        """Products whose id or SKU may equal one of `values` (a `search` lookup)."""
        field = FIELD_ALIASES.get(field, field)
        if field == "id":
            ids = (_whole_number(value) for value in values)
            return [self.product_of_id[i] for i in dict.fromkeys(ids) if i in self.product_of_id]
        if field == "sku":
            keys = dict.fromkeys(value.casefold() for value in values)
            return [p for key in keys for p in self.products_of_sku.get(key, [])]
        return None

    def find_source_items(self, field: str, values: list[str]) -> list[dict[str, Any]] | None:
        """Copies of the source items of SKUs that may equal one of `values` (a `search`
        lookup)."""
        if field != "sku":
            return None
        skus = dict.fromkeys(
            product["sku"]
            for value in values
            for product in self.products_of_sku.get(value.casefold(), [])
        )
        with self.lock:
            return [
                dict(self.source_items[(sku, code)])
                for sku in skus
                for code in SOURCE_CODES
                if (sku, code) in self.source_items
            ]

    def save_base_prices(self, prices: list[Any]) -> list[dict[str, Any]]:
        """Save the valid prices; answer a failure per refused field, as BasePriceStorage does."""
        failures: list[dict[str, Any]] = []
        valid = []
        for price in prices:
            price = price if isinstance(price, dict) else {}
            refusals = _price_refusals(price, self.products_with_sku(price.get("sku") or ""))
            failures += refusals
            if not refusals:
                valid.append(price)
        now = magento_time(int(self.clock()))
        with self.lock:
            for price in valid:
                for product in self.products_with_sku(price["sku"]):
                    product["price"] = _number(Decimal(str(price["price"])))
                    product["updated_at"] = now
        return failures

    def set_product(
        self, product_id: int, *, quantity: Any = None, price: Any = None, status: Any = None
    ) -> dict[str, Any]:
        """A merchant's edit in the admin: quantity into the SKU's default source."""
        product = self.product_by_id(product_id)
        now = magento_time(int(self.clock()))
        with self.lock:
            if price is not None:
                product["price"] = _number(Decimal(str(price)))
            if status is not None:
                product["status"] = int(status)
            product["updated_at"] = now
        if quantity is not None:
            self.save_source_items(
                [
                    {
                        "sku": product["sku"],
                        "source_code": "default",
                        "quantity": quantity,
                        "status": 1 if float(quantity) > 0 else 0,
                    }
                ]
            )
        return {
            "id": product["id"],
            "sku": product["sku"],
            "price": product["price"],
            "status": product["status"],
            "quantity": self.sku_quantity(product["sku"]),
        }

    def product_by_id(self, product_id: int) -> dict[str, Any]:
        if product_id in self.product_of_id:
            return self.product_of_id[product_id]
        raise InputRefused(
            "The product that was requested doesn't exist. Verify the product and try again.",
            status=404,
        )

    # --- orders ---

    def create_order(self, entity: Any) -> dict[str, Any]:
        """Save a new order entity: ids, increment id and timestamps added to what was sent."""
        if not isinstance(entity, dict):
            raise InputRefused(REQUIRED_FIELD, {"fieldName": "entity"})
        items = entity.get("items")
        if not isinstance(items, list) or not items:
            raise InputRefused(REQUIRED_FIELD, {"fieldName": "items"})
        if not entity.get("customer_email"):
            raise InputRefused(REQUIRED_FIELD, {"fieldName": "customer_email"})
        for field in ("billing_address", "payment"):
            if not isinstance(entity.get(field), dict) or not entity[field]:
                raise InputRefused(REQUIRED_FIELD, {"fieldName": field})
        now = magento_time(int(self.clock()))
        with self.lock:
            order_id = len(self.orders) + 1
            order = {
                **entity,
                "entity_id": order_id,
                "increment_id": f"{order_id:09d}",
                "state": entity.get("state") or "new",
                "status": entity.get("status") or "pending",
                "created_at": now,
                "updated_at": now,
                "items": [
                    {**item, "item_id": order_id * 100 + n, "order_id": order_id}
                    for n, item in enumerate(items, start=1)
                    if isinstance(item, dict)
                ],
                "billing_address": {
                    **entity["billing_address"],
                    "entity_id": order_id * 10 + 1,
                    "parent_id": order_id,
                },
            }
            self.orders.append(order)
            return copy.deepcopy(order)

    def order(self, order_id: int) -> dict[str, Any]:
        with self.lock:
            for order in self.orders:
                if order["entity_id"] == order_id:
                    return copy.deepcopy(order)
        raise InputRefused(NO_SUCH_ENTITY, status=404)

    def cancel_order(self, order_id: int) -> bool:
        self.order(order_id)
        with self.lock:
            order = next(o for o in self.orders if o["entity_id"] == order_id)
            if order["state"] not in CANCELLABLE_STATES:
                return False
            order.update(
                state="canceled", status="canceled", updated_at=magento_time(int(self.clock()))
            )
            return True

    def order_list(self) -> list[dict[str, Any]]:
        with self.lock:
            return [copy.deepcopy(order) for order in self.orders]

    def source_item_list(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(item) for item in self.source_items.values()]


def _source_item(item: Any) -> tuple[str, str, int | float, int]:
    """One source item checked the way MSI's validators check it."""
    item = item if isinstance(item, dict) else {}
    sku, source_code = item.get("sku"), item.get("source_code")
    if not isinstance(sku, str) or not sku.strip():
        raise validation_failed('"%field" can not be empty.', "sku")
    if sku != sku.strip():
        raise validation_failed('"%field" can not contain leading or trailing spaces.', "sku")
    if not isinstance(source_code, str) or not source_code.strip():
        raise validation_failed('"%field" can not be empty.', "source_code")
    numbers = []
    for field in ("quantity", "status"):
        try:
            numbers.append(float(item[field]))
        except (KeyError, TypeError, ValueError):
            raise validation_failed('"%field" should be numeric.', field) from None
    quantity, status = numbers
    if status not in SOURCE_STATUSES:
        raise validation_failed('"%field" should a known status.', "status")
    return sku, source_code, _number(quantity), int(status)


def _price_refusals(price: dict[str, Any], products: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sku = price.get("sku") or ""
    failures = []
    if not products or any(p["type_id"] not in PRICED_TYPES for p in products):
        failures.append({"message": INVALID_ATTRIBUTE, "parameters": ["SKU", str(sku)]})
    value = price.get("price")
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        failures.append({"message": INVALID_ATTRIBUTE, "parameters": ["Price", str(value)]})
    if price.get("store_id") not in STORE_IDS:
        store_id = price.get("store_id")
        failures.append(
            {
                "message": f"Requested store is not found. Row ID: SKU = {sku}, Store ID: "
                f"{store_id}.",
                "parameters": [str(sku), str(store_id)],
            }
        )
    return failures


# --- searchCriteria ----------------------------------------------------------------------------

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
_BRACKETS = re.compile(r"\[([^\]]*)\]")


def _snake(key: str) -> str:
    return _CAMEL.sub("_", key).lower()


def parse_search_criteria(args: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Turn `searchCriteria[filter_groups][0][filters][0][field]=sku`-style query arguments into
    nested dicts with snake_case keys (Magento accepts `filterGroups` and `filter_groups` alike).

    Like Magento, a list call without any searchCriteria (not even a bare `?searchCriteria=`) is
    refused."""
    args = list(args)
    if not any(key == "searchCriteria" or key.startswith("searchCriteria[") for key, _ in args):
        raise InputRefused(
            '"%fieldName" is required. Enter and try again.', {"fieldName": "searchCriteria"}
        )
    tree: dict[str, Any] = {}
    for key, value in args:
        if not key.startswith("searchCriteria["):
            continue
        parts = [_snake(part) for part in _BRACKETS.findall(key[len("searchCriteria") :])]
        if not parts:
            continue
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[parts[-1]] = value
    return tree


def _indexed(node: Any) -> list[Any]:
    if not isinstance(node, dict):
        return []
    return [node[k] for k in sorted(node, key=lambda k: int(k) if k.isdigit() else 0)]


def _int_param(criteria: dict[str, Any], name: str) -> int | None:
    if name not in criteria:
        return None
    try:
        return int(criteria[name])
    except (TypeError, ValueError):
        raise InputRefused(
            'The "%value" value\'s type is invalid. The "int" type was expected. Verify and try '
            "again.",
            {"value": str(criteria[name])},
        ) from None


def _like_pattern(value: str) -> re.Pattern[str]:
    escaped = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in value)
    return re.compile(f"^{escaped}$", re.IGNORECASE | re.DOTALL)


def _comparable(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        return text.casefold()


def _compare(left: Any, right: str) -> int:
    a, b = _comparable(left), _comparable(right)
    if type(a) is not type(b) and not (isinstance(a, int | float) and isinstance(b, int | float)):
        a, b = str(left).casefold(), right.casefold()
    return (a > b) - (a < b)


@functools.lru_cache(maxsize=64)
def _comparable_set(expected: str) -> frozenset[Any]:
    """The values of an `in` list as `_compare` sees them: equal under `_compare` is equal here
    (a number and a text that is not a number never compare equal)."""
    return frozenset(_comparable(w.strip()) for w in expected.split(","))


def _matches(value: Any, condition: str, expected: str) -> bool:
    if condition == "null":
        return value is None or value == ""
    if condition == "notnull":
        return value is not None and value != ""
    if value is None:
        return condition in ("neq", "nin", "nlike")
    values = value if isinstance(value, list) else [value]
    if condition in ("eq", "neq"):
        hit = any(_compare(v, expected) == 0 for v in values)
        return hit if condition == "eq" else not hit
    if condition in ("in", "nin"):
        wanted = _comparable_set(expected)
        hit = any(_comparable(v) in wanted for v in values)
        return hit if condition == "in" else not hit
    if condition in ("like", "nlike"):
        pattern = _like_pattern(expected)
        hit = any(pattern.match(str(v)) for v in values)
        return hit if condition == "like" else not hit
    order = _compare(values[0], expected)
    return {"gt": order > 0, "gteq": order >= 0, "lt": order < 0, "lteq": order <= 0}[condition]


CONDITIONS = {
    "eq",
    "neq",
    "like",
    "nlike",
    "in",
    "nin",
    "gt",
    "gteq",
    "lt",
    "lteq",
    "null",
    "notnull",
}


Lookup = Callable[[str, list[str]], list[dict[str, Any]] | None]


def search(
    records: list[dict[str, Any]] | Callable[[], list[dict[str, Any]]],
    criteria: dict[str, Any],
    field_value: Callable[[dict[str, Any], str], Any],
    default_sort: str | None,
    lookup: Lookup | None = None,
) -> dict[str, Any]:
    """Filter, sort and page `records` (or what calling it gives) the way a Magento
    repository's getList does. `lookup(field, values)` plays the database's index: for a
    filter group of one `eq` or `in`, it gives every record that may match (None: no index
    on that field), and only those are filtered."""
    groups = []
    for group in _indexed(criteria.get("filter_groups")):
        filters = []
        for raw in _indexed(group.get("filters") if isinstance(group, dict) else None):
            if not isinstance(raw, dict) or not raw.get("field"):
                continue
            condition = (raw.get("condition_type") or "eq").lower()
            if condition not in CONDITIONS:
                raise InputRefused(
                    'Invalid condition type "%1" provided.', [raw.get("condition_type", "")]
                )
            filters.append(
                {"field": raw["field"], "value": raw.get("value", ""), "condition_type": condition}
            )
        if filters:
            groups.append(filters)
    sort_orders = [
        {"field": raw["field"], "direction": (raw.get("direction") or "ASC").upper()}
        for raw in _indexed(criteria.get("sort_orders"))
        if isinstance(raw, dict) and raw.get("field")
    ]
    page_size = _int_param(criteria, "page_size")
    current_page = _int_param(criteria, "current_page")

    candidates = _indexed_candidates(groups, lookup)
    if candidates is None:
        candidates = records() if callable(records) else records
    matched = [
        record
        for record in candidates
        if all(
            any(
                _matches(field_value(record, f["field"]), f["condition_type"], f["value"])
                for f in group
            )
            for group in groups
        )
    ]
    default_order = [{"field": default_sort, "direction": "ASC"}] if default_sort else []
    for order in reversed(sort_orders or default_order):
        matched.sort(
            key=lambda r, field=order["field"]: _sort_key(field_value(r, field)),
            reverse=order["direction"] == "DESC",
        )
    total = len(matched)
    if page_size and page_size > 0:
        last_page = max(1, math.ceil(total / page_size))
        page = min(max(current_page or 1, 1), last_page)  # Magento clamps: past the end = last page
        matched = matched[(page - 1) * page_size : page * page_size]

    echo: dict[str, Any] = {
        "filter_groups": [{"filters": group} for group in groups],
    }
    if sort_orders:
        echo["sort_orders"] = sort_orders
    if page_size is not None:
        echo["page_size"] = page_size
    if current_page is not None:
        echo["current_page"] = current_page
    return {"items": matched, "search_criteria": echo, "total_count": total}


def _indexed_candidates(
    groups: list[list[dict[str, Any]]], lookup: Lookup | None
) -> list[dict[str, Any]] | None:
    if lookup is None:
        return None
    for group in groups:
        if len(group) == 1 and group[0]["condition_type"] in ("eq", "in"):
            value = str(group[0]["value"])
            values = value.split(",") if group[0]["condition_type"] == "in" else [value]
            found = lookup(group[0]["field"], [v.strip() for v in values])
            if found is not None:
                return found
    return None


def _whole_number(value: str) -> int | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None or value == "":
        return (0, 0)
    comparable = _comparable(value[0] if isinstance(value, list) and value else value)
    return (1, comparable) if isinstance(comparable, int | float) else (2, comparable)


FIELD_ALIASES = {"entity_id": "id"}


def product_field(product: dict[str, Any], field: str) -> Any:
    field = FIELD_ALIASES.get(field, field)
    if field in product and field not in ("extension_attributes", "custom_attributes"):
        return product[field]
    if field == "category_id":
        return [link["category_id"] for link in product["extension_attributes"]["category_links"]]
    if field == "website_id":
        return product["extension_attributes"]["website_ids"]
    for attribute in product["custom_attributes"]:
        if attribute["attribute_code"] == field:
            return attribute["value"]
    return None


def plain_field(record: dict[str, Any], field: str) -> Any:
    return record.get(FIELD_ALIASES.get(field, field))


def order_field(order: dict[str, Any], field: str) -> Any:
    return order.get(field)


# --- the app ---------------------------------------------------------------------------------


def _error(
    status: int, message: str, parameters: Any = None, errors: list[dict] | None = None
) -> Response:
    body: dict[str, Any] = {"message": message}
    if errors is not None:
        body["errors"] = errors
    if parameters is not None:
        body["parameters"] = parameters
    response = jsonify(body)
    response.status_code = status
    return response


def create_magento_sandbox(settings: SandboxSettings, catalog: DemoCatalog) -> Flask:
    app = Flask(__name__)
    app.json.sort_keys = False  # keep Magento's field order, readable in a browser
    store = MagentoStore(catalog)
    app.extensions["magento_store"] = store

    faults = FaultInjector(seed=settings.seed)
    app.extensions["sandbox_faults"] = faults

    def rate_limited() -> Response:
        response = _error(429, "Too many requests. Please try again later.")
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    faults.install(
        app,
        on_error=lambda: _error(503, "Service temporarily unavailable. Please try again later."),
        on_rate_limit=rate_limited,
    )

    def route(path: str, resource: str, methods: tuple[str, ...] = ("GET",)):
        """Register a REST route under `/rest/V1` and `/rest/<store_code>/V1`, behind the token."""

        def decorator(view: Callable[..., Response]) -> Callable[..., Response]:
            def guarded(**kwargs: Any) -> Response:
                kwargs.pop("store_code", None)
                if request.headers.get("Authorization", "") != f"Bearer {settings.magento_token}":
                    return _error(401, UNAUTHORIZED, {"resources": resource})
                try:
                    return view(**kwargs)
                except InputRefused as error:
                    return _error(error.status, error.message, error.parameters, error.errors)

            for prefix in REST_PREFIXES:
                app.add_url_rule(
                    prefix + path,
                    endpoint=f"{view.__name__}{'_store' if '<' in prefix else ''}",
                    view_func=guarded,
                    methods=list(methods),
                )
            return view

        return decorator

    @route("/store/storeConfigs", "Magento_Backend::store")
    def store_configs() -> Response:
        base = request.host_url
        return jsonify(
            [
                {
                    "id": 1,
                    "code": "default",
                    "website_id": 1,
                    "locale": "en_US",
                    "base_currency_code": "USD",
                    "default_display_currency_code": "USD",
                    "timezone": "America/Chicago",
                    "weight_unit": "lbs",
                    "base_url": base,
                    "base_link_url": base,
                    "base_static_url": f"{base}static/",
                    "base_media_url": f"{base}media/",
                    "secure_base_url": base,
                    "secure_base_link_url": base,
                    "secure_base_static_url": f"{base}static/",
                    "secure_base_media_url": f"{base}media/",
                }
            ]
        )

    @route("/products", "Magento_Catalog::products")
    def products() -> Response:
        criteria = parse_search_criteria(request.args.items(multi=True))
        return jsonify(
            search(store.products, criteria, product_field, "id", lookup=store.find_products)
        )

    @route("/products/<path:sku>", "Magento_Catalog::products")
    def product(sku: str) -> Response:
        for item in store.products:
            if item["sku"].casefold() == sku.casefold():
                return jsonify(item)
        return _error(
            404, "The product that was requested doesn't exist. Verify the product and try again."
        )

    @route(
        "/products/attributes/<attribute_code>/options", "Magento_Catalog::attributes_attributes"
    )
    def attribute_options(attribute_code: str) -> Response:
        options = {"color": store.color_options, "size": store.size_options}.get(attribute_code)
        if options is None:
            return _error(
                404,
                'The attribute with a "%1" attributeCode doesn\'t exist. Verify the attribute and '
                "try again.",
                [attribute_code],
            )
        blank = {"label": " ", "value": ""}
        return jsonify([blank, *({"label": k, "value": v} for k, v in options.items())])

    @route("/categories/list", "Magento_Catalog::categories")
    def categories() -> Response:
        criteria = parse_search_criteria(request.args.items(multi=True))
        return jsonify(search(store.categories, criteria, plain_field, "id"))

    @route("/inventory/source-items", "Magento_InventoryApi::source")
    def source_items() -> Response:
        criteria = parse_search_criteria(request.args.items(multi=True))
        return jsonify(
            search(
                store.source_item_list, criteria, plain_field, None, lookup=store.find_source_items
            )
        )

    @route("/inventory/source-items", "Magento_InventoryApi::source_item_save", methods=("POST",))
    def save_source_items() -> Response:
        body = request.get_json(silent=True)
        items = body.get("sourceItems") if isinstance(body, dict) else None
        if not isinstance(items, list):
            return _error(
                400, '"%fieldName" is required. Enter and try again.', {"fieldName": "sourceItems"}
            )
        store.save_source_items(items)
        return jsonify([])

    @route("/products/base-prices", "Magento_Catalog::catalog", methods=("POST",))
    def save_base_prices() -> Response:
        body = request.get_json(silent=True)
        prices = body.get("prices") if isinstance(body, dict) else None
        if not isinstance(prices, list):
            return _error(400, REQUIRED_FIELD, {"fieldName": "prices"})
        return jsonify(store.save_base_prices(prices))

    @route("/orders", "Magento_Sales::actions_view")
    def orders() -> Response:
        criteria = parse_search_criteria(request.args.items(multi=True))
        return jsonify(search(store.order_list(), criteria, order_field, "entity_id"))

    @route("/orders/<int:order_id>", "Magento_Sales::actions_view")
    def order(order_id: int) -> Response:
        return jsonify(store.order(order_id))

    @route("/orders/create", "Magento_Sales::create", methods=("PUT",))
    def create_order() -> Response:
        body = request.get_json(silent=True)
        return jsonify(store.create_order(body.get("entity") if isinstance(body, dict) else None))

    @route("/orders/<int:order_id>/cancel", "Magento_Sales::cancel", methods=("POST",))
    def cancel_order(order_id: int) -> Response:
        return jsonify(store.cancel_order(order_id))

    control = "/__sandbox__/magento/"

    @app.post(control + "products/<int:product_id>")
    def control_set_product(product_id: int) -> Response:
        """A merchant's edit: {quantity?, price?, status?}."""
        changes = request.get_json(silent=True) or {}
        try:
            return jsonify(
                store.set_product(
                    product_id,
                    quantity=changes.get("quantity"),
                    price=changes.get("price"),
                    status=changes.get("status"),
                )
            )
        except InputRefused as error:
            return _error(error.status, error.message, error.parameters, error.errors)

    @app.get(control + "orders")
    def control_orders() -> Response:
        return jsonify({"orders": store.order_list()})

    @app.post(control + "reset")
    def control_reset() -> Response:
        store.reset()
        return jsonify({"reset": True})

    @app.errorhandler(404)
    def no_route(_error_: Exception) -> Response:
        return _error(404, "Request does not match any route.")

    @app.errorhandler(405)
    def wrong_method(_error_: Exception) -> Response:
        return _error(404, "Request does not match any route.")

    return app
