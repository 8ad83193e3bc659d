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

Injected faults: an error is HTTP 503 `{"message": ...}`, a rate limit is HTTP 429 with
`Retry-After` (real Magento has no rate limiter of its own; the 429 stands for the proxy or WAF
in front of it).
"""

from __future__ import annotations

import math
import re
import threading
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


class InputRefused(ValueError):
    """Input Magento would refuse (a bad searchCriteria or body); becomes a 400."""

    def __init__(self, message: str, parameters: dict[str, str] | list[str]):
        super().__init__(message)
        self.message = message
        self.parameters = parameters


def magento_time(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _number(value: Decimal | int | float) -> int | float:
    """Magento prints whole floats without a fraction (`100`, not `100.0`)."""
    number = float(value)
    return int(number) if number.is_integer() else number


class MagentoStore:
    """The emulated store's state: products in wire shape, options, categories, MSI source items."""

    def __init__(self, catalog: DemoCatalog):
        self.color_options = {
            label: str(FIRST_COLOR_OPTION_ID + i) for i, (_, label) in enumerate(COLOURS)
        }
        self.size_options = {label: str(FIRST_SIZE_OPTION_ID + i) for i, label in enumerate(SIZES)}
        self.categories = self._build_categories(catalog)
        category_ids = {item["name"]: item["id"] for item in self.categories}
        self.products = [self._product(p, category_ids) for p in catalog.store_products]
        self.source_items = self._build_source_items(catalog.store_products)
        self.lock = threading.Lock()

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

    def save_source_items(self, source_items: list[dict[str, Any]]) -> None:
        """Validate every item first, then apply all of them (Magento saves them in one go)."""
        known_skus = {p["sku"] for p in self.products}
        parsed = []
        for item in source_items:
            sku, source_code = item.get("sku"), item.get("source_code")
            if not isinstance(sku, str) or not isinstance(source_code, str) or not source_code:
                raise InputRefused('"%field" is expected.', {"field": "sku, source_code"})
            if sku not in known_skus:
                raise InputRefused('Product with SKU "%sku" does not exist.', {"sku": sku})
            try:
                quantity = float(item.get("quantity", 0))
            except (TypeError, ValueError):
                raise InputRefused('"%field" should be numeric.', {"field": "quantity"}) from None
            status = int(item.get("status", 1 if quantity > 0 else 0))
            parsed.append((sku, source_code, _number(quantity), status))
        with self.lock:
            for sku, source_code, quantity, status in parsed:
                self.source_items[(sku, source_code)] = {
                    "sku": sku,
                    "source_code": source_code,
                    "quantity": quantity,
                    "status": status,
                }

    def source_item_list(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(item) for item in self.source_items.values()]


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
        wanted = [w.strip() for w in expected.split(",")]
        hit = any(_compare(v, w) == 0 for v in values for w in wanted)
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


def search(
    records: list[dict[str, Any]],
    criteria: dict[str, Any],
    field_value: Callable[[dict[str, Any], str], Any],
    default_sort: str | None,
) -> dict[str, Any]:
    """Filter, sort and page `records` the way a Magento repository's getList does."""
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

    matched = [
        record
        for record in records
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


# --- the app ---------------------------------------------------------------------------------


def _error(status: int, message: str, parameters: Any = None) -> Response:
    body: dict[str, Any] = {"message": message}
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
                    return _error(400, error.message, error.parameters)

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
        return jsonify(search(store.products, criteria, product_field, "id"))

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
        return jsonify(search(store.source_item_list(), criteria, plain_field, None))

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

    @app.errorhandler(404)
    def no_route(_error_: Exception) -> Response:
        return _error(404, "Request does not match any route.")

    @app.errorhandler(405)
    def wrong_method(_error_: Exception) -> Response:
        return _error(404, "Request does not match any route.")

    return app
