"""Magento 2 (Adobe Commerce / Open Source) over its REST API with an integration access token.

Magento-specific facts this module handles:

- Lists page with `searchCriteria[pageSize]` / `[currentPage]`, and a page past the end answers
  the last page again instead of an empty one, so paging stops on
  `page_size × current_page ≥ total_count`, never on an empty page.
- Configurable parents name their children only in `configurable_product_links` (child ids); a
  child does not point back. Children are often created before their parent, so the parents are
  read first (one filtered pass over `type_id = configurable`) to know every child's parent.
- `color` / `size` values are option ids; their labels come from the attribute options endpoint.
- There is no native barcode field; shops add a text attribute, usually `ean` or `gtin`.
- Stock lives in MSI source items (one per SKU and source), keyed by SKU: products that share a
  SKU share its stock. Without MSI (module disabled) quantities are unknown. SKU Bridge writes a
  variant's quantity to the `default` source, less what the SKU's other sources hold, so the
  total over sources is the quantity asked for.
- `POST /inventory/source-items` validates a batch as a whole: one bad item refuses all of it with
  a 400 (`message` plus `parameters` or `errors`), so a refused batch is sent again item by item.
- `POST /products/base-prices` saves the valid prices and answers the refused ones as
  `[{message, parameters}]`, `parameters` a list such as `["SKU", "TS-1"]` that names no row: the
  SKU among them tells which price it was. A price is per SKU, like stock.
- An `in` filter splits its value on commas, so a SKU holding a comma is matched with its own
  `eq` filter in the same filter group (filters of one group are OR-ed).
- Orders are made from carts in the storefront; an integration saves a whole order entity with
  `PUT /orders/create` (the order repository), `ext_order_id` holding the TikTok order id. Saved
  this way an order places no MSI reservation. `POST /orders/{id}/cancel` answers `true`, or
  `false` when Magento cannot cancel (already cancelled, invoiced, shipped, on hold).
- Magento has no rate limiter, but the hosts in front of it answer 429 (and 503): reads back off
  and retry, and every 429 pauses the store's rate limiter.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

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
    OrderLine,
    RateLimited,
    RateLimiter,
    RemoteServerError,
    StockLevel,
    StoreAdapter,
    StoreOrder,
    StoreVariant,
    VariantUpdate,
    decode_json,
    retry_after_seconds,
)

REST_PATH = "/rest/V1"
MAX_PAGE_SIZE = 1000
VARIANT_ATTRIBUTES = ("color", "size")  # in the order they are shown: "Black / M"
BARCODE_ATTRIBUTES = ("ean", "gtin", "barcode", "upc")
PARENT_TYPES = frozenset({"configurable", "grouped"})  # containers, never sold themselves
STATUS_ENABLED = 1
ROOT_CATEGORY_LEVEL = 1  # "Root Catalog" (0) and each store's root such as "Default Category" (1)
ID_BATCH_SIZE = 100  # ids or SKUs in one `in` filter: the URL stays short for every proxy
WRITE_BATCH_SIZE = 100  # source items or prices in one write
DEFAULT_SOURCE = "default"  # the MSI source every store has
SOURCE_IN_STOCK, SOURCE_OUT_OF_STOCK = 1, 0
ALL_STORE_VIEWS = 0  # prices at the global scope
DEFAULT_STORE_VIEW = 1  # where the orders SKU Bridge creates are placed
RATE_LIMIT_PAUSE = 1.0  # seconds the store's limiter pauses on a 429 that gave no Retry-After
ORDER_STATE = "processing"  # paid on TikTok Shop, to be shipped
CANCELED_STATE = "canceled"
PAYMENT_METHOD = "checkmo"  # an offline method: TikTok Shop took the payment
SHIPPING_METHOD = "freeshipping_freeshipping"  # TikTok Shop charged the shipping
HIDDEN_EMAIL_DOMAIN = "tiktok-shop.invalid"  # Magento needs an email; TikTok Shop often hides it
MISSING_NAME_PART = "-"  # Magento needs a first and a last name


class MagentoAdapter(StoreAdapter):
    platform = "magento"
    label = "Magento 2"
    credential_fields = (
        CredentialField(
            "access_token",
            "Integration access token",
            help="In the Magento admin: System › Extensions › Integrations › your integration "
            "› Integration Details › Access Token. The integration needs the Catalog, "
            "Stores and Inventory resources.",
        ),
    )
    base_url_example = "https://shop.example.com"

    def __init__(
        self,
        base_url: str,
        credentials: Mapping[str, str],
        *,
        page_size: int = 100,
        policy: CallPolicy = DEFAULT_POLICY,
        sleep: Callable[[float], None] = time.sleep,
        limiter: RateLimiter | None = None,
    ):
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"Page size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
        super().__init__(
            _store_root(base_url), credentials, policy=policy, sleep=sleep, limiter=limiter
        )
        self.page_size = page_size
        self.http.session.headers.update(
            {
                "Authorization": f"Bearer {self.credentials['access_token'].strip()}",
                "Accept": "application/json",
            }
        )

    # --- the contract ------------------------------------------------------------------------

    def test_connection(self) -> ConnectionCheck:
        """`GET /rest/V1/store/storeConfigs`: one cheap call that needs a valid token."""
        store = self.http.base_url
        try:
            configs = self._call("GET", "/store/storeConfigs")
        except AuthenticationFailed:
            return ConnectionCheck(
                False,
                "The store refused the access token. Check that the integration is active in "
                "the Magento admin and copy its Access Token again.",
            )
        except ConnectionFailed:
            return ConnectionCheck(
                False,
                f"Could not reach the store at {store}. Check the address and that the store "
                "is online.",
            )
        except AdapterError as error:
            if error.status == 404:
                return ConnectionCheck(
                    False, f"No Magento REST API answered at {store}{REST_PATH}. Check the address."
                )
            return ConnectionCheck(False, f"The store answered with an error: {error.message}")
        if not isinstance(configs, list) or not configs:
            return ConnectionCheck(False, f"{store} did not answer like a Magento 2 store.")
        views = len(configs)
        currency = configs[0].get("base_currency_code") or "?"
        return ConnectionCheck(
            True,
            f"Connected to Magento at {store}: {views} store view{'s' if views != 1 else ''}, "
            f"currency {currency}.",
        )

    def iter_catalog(self) -> Iterator[CatalogPage]:
        """Every product, parents included, in `GET /rest/V1/products` pages by entity id."""
        option_labels = {code: self.attribute_options(code) for code in VARIANT_ATTRIBUTES}
        category_names = self.category_names()
        quantities = self.source_quantities()
        parent_of = self.parents_by_child()
        seen: set[int] = set()
        for items, total in self._search("/products", sort_field="entity_id"):
            page = []
            for item in items:
                if item.get("id") in seen:  # a catalog edited while we page can shift rows
                    continue
                seen.add(item.get("id"))
                page.append(
                    self._variant(item, parent_of, option_labels, category_names, quantities)
                )
            yield CatalogPage(items=page, total=total)

    def stock_levels(self, remote_ids: Sequence[str]) -> dict[str, StockLevel]:
        """Price and status from the products, quantity summed over the SKU's MSI sources."""
        products = self.products_by_id(remote_ids)
        sellable_skus = [
            str(item.get("sku", "")) for item in products.values() if not _is_parent(item)
        ]
        quantities = _summed_by_sku(self.source_items(sellable_skus))
        return {
            remote_id: StockLevel(
                remote_id=remote_id,
                quantity=_quantity(item, quantities),
                price=_decimal(item.get("price")),
                enabled=int(item.get("status") or 0) == STATUS_ENABLED,
            )
            for remote_id, item in products.items()
        }

    def update_variants(self, updates: Sequence[VariantUpdate]) -> dict[str, str]:
        """Quantities to MSI source items and prices to base prices, both keyed by SKU, so the
        entity ids are looked up first. Variants sharing a SKU must be sent the same values."""
        latest = {update.remote_id: update for update in updates}
        products = self.products_by_id(list(latest))
        refused: dict[str, str] = {}
        ids_of_sku: dict[str, list[str]] = {}
        for remote_id, update in latest.items():
            reason = _update_refusal(remote_id, update, products.get(remote_id))
            if reason:
                refused[remote_id] = reason
            else:
                ids_of_sku.setdefault(str(products[remote_id]["sku"]), []).append(remote_id)
        values_of_sku: dict[str, tuple[int | None, Decimal | None]] = {}
        for sku, ids in ids_of_sku.items():
            values = _agreed_values([latest[remote_id] for remote_id in ids])
            if values is None:
                refused.update(dict.fromkeys(ids, _disagreement(sku, ids)))
            else:
                values_of_sku[sku] = values
        refused_skus = self._write_quantities(
            {sku: quantity for sku, (quantity, _) in values_of_sku.items() if quantity is not None}
        )
        prices = [
            {"price": float(price), "store_id": ALL_STORE_VIEWS, "sku": sku}
            for sku, (_, price) in values_of_sku.items()
            if price is not None
        ]
        for sku, reason in self.save_base_prices(prices).items():
            refused_skus[sku] = "; ".join(filter(None, (refused_skus.get(sku), reason)))
        for sku, reason in refused_skus.items():
            refused.update(dict.fromkeys(ids_of_sku[sku], reason))
        return refused

    def find_order(self, reference: str) -> StoreOrder | None:
        """`GET /rest/V1/orders` filtered on `ext_order_id`: the first order made for it."""
        filters = _filter_group("ext_order_id", [(reference, "eq")])
        items, _ = next(self._search("/orders", filters, sort_field="entity_id", page_size=1))
        return _store_order(items[0]) if items else None

    def create_order(self, order: NewOrder) -> StoreOrder:
        """`PUT /rest/V1/orders/create` with the whole order entity; sent once, never retried."""
        entity = self._call("PUT", "/orders/create", json={"entity": _order_entity(order)})
        if not isinstance(entity, dict) or "entity_id" not in entity:
            raise InvalidResponse("Magento answered the new order without its entity_id")
        return _store_order(entity)

    def cancel_order(self, remote_id: str) -> StoreOrder:
        """`POST /rest/V1/orders/{id}/cancel`, then the order read back: `false` for an order
        already cancelled is not an error, for one Magento cannot cancel it is."""
        order_id = _order_id(remote_id)
        self._write("POST", f"/orders/{order_id}/cancel")
        order = self.order(order_id)
        if not order.cancelled:
            raise AdapterError(
                f"Magento could not cancel order #{order.number} (status {order.status}): an "
                "order that is invoiced, shipped or on hold must be cancelled or refunded in "
                "the Magento admin."
            )
        return order

    # --- one method per endpoint -------------------------------------------------------------

    def products_by_id(self, remote_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """`GET /rest/V1/products` filtered `entity_id in (…)`, a batch of ids a call →
        {id: product}; ids the store does not have are left out."""
        ids = list(dict.fromkeys(str(i) for i in remote_ids if str(i).isdigit()))
        found: dict[str, dict[str, Any]] = {}
        for batch in _batches(ids, ID_BATCH_SIZE):
            filters = _any_of("entity_id", batch)
            for items, _ in self._search("/products", filters, page_size=len(batch)):
                found.update((str(item["id"]), item) for item in items)
        return found

    def source_items(self, skus: Sequence[str] | None = None) -> list[dict[str, Any]] | None:
        """`GET /rest/V1/inventory/source-items`, every one or those of `skus` (filtered
        `sku in (…)`, a batch of SKUs a call); None when the store runs without MSI."""
        try:
            if skus is None:
                return [
                    item for items, _ in self._search("/inventory/source-items") for item in items
                ]
            return [
                item
                for batch in _batches(list(dict.fromkeys(skus)), ID_BATCH_SIZE)
                for items, _ in self._search(
                    "/inventory/source-items", _any_of("sku", batch), page_size=MAX_PAGE_SIZE
                )
                for item in items
            ]
        except AdapterError as error:
            if error.status == 404:
                return None
            raise

    def save_source_items(
        self, source_items: Sequence[dict[str, Any]], *, batch_size: int = WRITE_BATCH_SIZE
    ) -> dict[str, str]:
        """`POST /rest/V1/inventory/source-items` `{"sourceItems": [...]}` (answers `[]`) →
        {sku: reason} for the items Magento refused. A batch refused with a 400 is sent again
        one item at a time, to save the good items and learn which ones are bad."""
        refused: dict[str, str] = {}
        for batch in _batches(list(source_items), batch_size):
            try:
                self._write("POST", "/inventory/source-items", {"sourceItems": batch})
            except AdapterError as error:
                if error.status != 400:
                    raise
                if len(batch) == 1:
                    refused[str(batch[0]["sku"])] = error.message
                else:
                    refused.update(self.save_source_items(batch, batch_size=1))
        return refused

    def save_base_prices(self, prices: Sequence[dict[str, Any]]) -> dict[str, str]:
        """`POST /rest/V1/products/base-prices` `{"prices": [{price, store_id, sku}]}` → {sku:
        reason} read from Magento's list of refused prices."""
        refused: dict[str, str] = {}
        for batch in _batches(list(prices), WRITE_BATCH_SIZE):
            answer = self._write("POST", "/products/base-prices", {"prices": batch})
            skus = {str(price["sku"]).casefold(): str(price["sku"]) for price in batch}
            for failure in _as_list(answer, "price update result"):
                reason = _filled(str(failure.get("message", "")), failure.get("parameters"))
                sku = next(
                    (
                        skus[str(value).casefold()]
                        for value in _parameter_values(failure.get("parameters"))
                        if str(value).casefold() in skus
                    ),
                    None,
                )
                if sku is None:
                    raise AdapterError(f"Magento refused a price update: {reason}")
                message = f"Magento refused the price: {reason}"
                refused[sku] = "; ".join(filter(None, (refused.get(sku), message)))
        return refused

    def order(self, remote_id: str) -> StoreOrder:
        """`GET /rest/V1/orders/{id}`."""
        entity = self._get(f"/orders/{_order_id(remote_id)}")
        if not isinstance(entity, dict) or "entity_id" not in entity:
            raise InvalidResponse("Magento answered an order without its entity_id")
        return _store_order(entity)

    def attribute_options(self, attribute_code: str) -> dict[str, str]:
        """`GET /rest/V1/products/attributes/{code}/options` → {option id: label}; {} when the
        store has no such attribute."""
        try:
            options = self._get(f"/products/attributes/{attribute_code}/options")
        except AdapterError as error:
            if error.status == 404:
                return {}
            raise
        return {
            str(option["value"]): str(option.get("label", "")).strip()
            for option in _as_list(options, "attribute options")
            if str(option.get("value", "")) != ""
        }

    def category_names(self) -> dict[str, str]:
        """`GET /rest/V1/categories/list` → {category id: name}, without the root categories."""
        return {
            str(category["id"]): str(category.get("name", ""))
            for items, _ in self._search("/categories/list", sort_field="entity_id")
            for category in items
            if int(category.get("level", ROOT_CATEGORY_LEVEL + 1)) > ROOT_CATEGORY_LEVEL
        }

    def source_quantities(self) -> dict[str, Decimal] | None:
        """Every SKU's quantity summed over its sources (SKUs case-folded); None without MSI."""
        return _summed_by_sku(self.source_items())

    def parents_by_child(self) -> dict[int, int]:
        """`GET /rest/V1/products` filtered to configurables → {child id: parent id}. A child
        used by several configurables keeps the lowest parent id."""
        filters = _filter_group("type_id", [("configurable", "eq")])
        parent_of: dict[int, int] = {}
        for items, _ in self._search("/products", filters, sort_field="entity_id"):
            for parent in items:
                links = (parent.get("extension_attributes") or {}).get(
                    "configurable_product_links"
                ) or []
                for child_id in links:
                    current = parent_of.get(int(child_id))
                    parent_of[int(child_id)] = min(current or parent["id"], parent["id"])
        return parent_of

    # --- mapping -----------------------------------------------------------------------------

    def _variant(
        self,
        item: dict[str, Any],
        parent_of: dict[int, int],
        option_labels: dict[str, dict[str, str]],
        category_names: dict[str, str],
        quantities: dict[str, Decimal] | None,
    ) -> StoreVariant:
        attributes = {
            a.get("attribute_code"): a.get("value") for a in item.get("custom_attributes") or []
        }
        is_parent = _is_parent(item)
        sku = str(item.get("sku", ""))
        labels = [
            option_labels.get(code, {}).get(str(attributes[code]), "")
            for code in VARIANT_ATTRIBUTES
            if attributes.get(code) not in (None, "")
        ]
        parent_id = parent_of.get(item["id"])
        barcode = next(
            (str(attributes[c]).strip() for c in BARCODE_ATTRIBUTES if attributes.get(c)), None
        )
        return StoreVariant(
            remote_id=str(item["id"]),
            sku=sku,
            name=str(item.get("name") or ""),
            variant="" if is_parent else " / ".join(label for label in labels if label),
            is_parent=is_parent,
            parent_remote_id=str(parent_id) if parent_id is not None else None,
            price=_decimal(item.get("price")),
            quantity=_quantity(item, quantities),
            barcode=barcode,
            categories=self._categories(item, attributes, category_names),
            enabled=int(item.get("status") or 0) == STATUS_ENABLED,
        )

    @staticmethod
    def _categories(
        item: dict[str, Any], attributes: dict[str, Any], category_names: dict[str, str]
    ) -> tuple[str, ...]:
        links = (item.get("extension_attributes") or {}).get("category_links")
        ids = (
            [str(link.get("category_id")) for link in links]
            if links is not None
            else [str(i) for i in attributes.get("category_ids") or []]
        )
        names = [category_names[i] for i in ids if i in category_names]
        return tuple(dict.fromkeys(names))

    # --- writing ------------------------------------------------------------------------------

    def _write_quantities(self, wanted: Mapping[str, int]) -> dict[str, str]:
        """Each SKU's quantity into its default source, less what its other sources hold →
        {sku: reason} for the SKUs not written."""
        if not wanted:
            return {}
        items = self.source_items(list(wanted))
        if items is None:
            reason = (
                "The store runs without Magento Inventory (MSI), so SKU Bridge cannot set its "
                "quantities; enable the Inventory modules in Magento."
            )
            return dict.fromkeys(wanted, reason)
        elsewhere: dict[str, dict[str, Decimal]] = {}
        for item in items:
            if item.get("source_code") != DEFAULT_SOURCE:
                sources = elsewhere.setdefault(str(item.get("sku", "")).casefold(), {})
                sources[str(item.get("source_code"))] = _decimal(item.get("quantity"), 0)
        refused: dict[str, str] = {}
        source_items = []
        for sku, quantity in wanted.items():
            sources = elsewhere.get(sku.casefold(), {})
            held_elsewhere = int(sum(sources.values(), Decimal(0)))
            in_default = quantity - held_elsewhere
            if in_default < 0:
                refused[sku] = (
                    f"Magento holds {held_elsewhere} units of {sku} in other sources "
                    f"({', '.join(sorted(sources))}), more than the {quantity} to set: lower "
                    "them in the Magento admin."
                )
                continue
            status = SOURCE_IN_STOCK if in_default > 0 else SOURCE_OUT_OF_STOCK
            source_items.append(
                {
                    "sku": sku,
                    "source_code": DEFAULT_SOURCE,
                    "quantity": in_default,
                    "status": status,
                }
            )
        refused.update(self.save_source_items(source_items))
        return refused

    # --- HTTP --------------------------------------------------------------------------------

    def _search(
        self,
        path: str,
        filters: Mapping[str, str] | None = None,
        *,
        sort_field: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[tuple[list[dict[str, Any]], int]]:
        """Page through a searchCriteria list, yielding (items, total_count) per page.

        Stops on `page_size × current_page ≥ total_count`: Magento answers a page past the end
        with the last page again, so an empty page never comes.
        """
        page_size = page_size or self.page_size
        current_page = 1
        while True:
            params = {
                **(filters or {}),
                "searchCriteria[pageSize]": str(page_size),
                "searchCriteria[currentPage]": str(current_page),
            }
            if sort_field:
                params["searchCriteria[sortOrders][0][field]"] = sort_field
                params["searchCriteria[sortOrders][0][direction]"] = "ASC"
            body = self._get(path, params)
            if not isinstance(body, dict) or not isinstance(body.get("items", []), list):
                raise InvalidResponse(f"Magento answered {path} without a list of items")
            try:
                total = int(body.get("total_count", 0))
            except (TypeError, ValueError):
                raise InvalidResponse(f"Magento answered {path} without a total_count") from None
            yield body.get("items") or [], total
            if page_size * current_page >= total:
                return
            current_page += 1

    def _get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """A read: safe to retry on 429, 5xx and connection failures."""
        return self.http.retrying(lambda: self._call("GET", path, params=params), sleep=self.sleep)

    def _write(self, method: str, path: str, body: Any = None) -> Any:
        """A write of absolute values (or a cancel, which changes nothing twice): retried too."""
        return self.http.retrying(lambda: self._call(method, path, json=body), sleep=self.sleep)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, REST_PATH + path, **kwargs)
        status = response.status_code
        if status < 400:
            try:
                return decode_json(response, "Magento", parse_float=Decimal)
            except ValueError:
                raise InvalidResponse(
                    f"{self.http.base_url} answered {path} with something that is not JSON; "
                    "is this the address of a Magento 2 store?",
                    status=status,
                ) from None
        message = _error_message(response)
        if status == 401:
            raise AuthenticationFailed(
                f"Magento refused the access token: {message}", status=status
            )
        if status == 429:
            retry_after = retry_after_seconds(response)
            self.http.pause(RATE_LIMIT_PAUSE if retry_after is None else retry_after)
            raise RateLimited(
                "Magento asked us to slow down", retry_after=retry_after, status=status
            )
        if status >= 500:
            raise RemoteServerError(f"Magento failed ({status}): {message}", status=status)
        raise AdapterError(f"Magento refused the request ({status}): {message}", status=status)


def _store_root(base_url: str) -> str:
    """Accept the store address with or without a trailing `/rest` or `/rest/V1`."""
    root = base_url.strip().rstrip("/")
    for suffix in (REST_PATH, "/rest"):
        if root.lower().endswith(suffix.lower()):
            return root[: -len(suffix)]
    return root


def _error_message(response: requests.Response) -> str:
    """Magento's `{"message": "... %name ... %1", "parameters": {...} | [...]}`, filled in; a
    validation failure's `errors: [{message, parameters}]` are added to it."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if not isinstance(body, dict) or not body.get("message"):
        return f"HTTP {response.status_code}"
    message = _filled(str(body["message"]), body.get("parameters"))
    errors = [
        _filled(str(error.get("message", "")), error.get("parameters"))
        for error in body.get("errors") or []
        if isinstance(error, dict)
    ]
    details = [error for error in errors if error and error not in message]
    return " ".join([message, *details])


_NAMED_PLACEHOLDER = re.compile(r"%([A-Za-z_]\w*)")


def _filled(message: str, parameters: Any) -> str:
    """Fill Magento's placeholders: `%name` from a dict, `%1`… from a list, and named ones from
    a list in order of appearance (base-prices answers `%fieldName` with `["SKU", "X"]`)."""
    if isinstance(parameters, dict):
        for name, value in parameters.items():
            message = message.replace(f"%{name}", str(value))
    elif isinstance(parameters, list):
        for index, value in reversed(list(enumerate(parameters, start=1))):
            message = message.replace(f"%{index}", str(value))
        values = iter(parameters)
        message = _NAMED_PLACEHOLDER.sub(lambda m: str(next(values, m.group(0))), message)
    return message


def _parameter_values(parameters: Any) -> list[Any]:
    if isinstance(parameters, dict):
        return list(parameters.values())
    return list(parameters) if isinstance(parameters, list) else []


Item = TypeVar("Item")


def _batches(items: Sequence[Item], size: int) -> Iterator[Sequence[Item]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _filter_group(
    field: str, conditions: Sequence[tuple[str, str]], group: int = 0
) -> dict[str, str]:
    """searchCriteria filters on one field, OR-ed in one filter group: [(value, condition)]."""
    params = {}
    for index, (value, condition) in enumerate(conditions):
        prefix = f"searchCriteria[filter_groups][{group}][filters][{index}]"
        params[f"{prefix}[field]"] = field
        params[f"{prefix}[value]"] = value
        params[f"{prefix}[condition_type]"] = condition
    return params


def _any_of(field: str, values: Sequence[str]) -> dict[str, str]:
    """`field in (values)`; a value holding a comma gets an `eq` of its own (`in` splits on
    commas)."""
    plain = [value for value in values if "," not in value]
    conditions = [(",".join(plain), "in")] if plain else []
    conditions += [(value, "eq") for value in values if "," in value]
    return _filter_group(field, conditions)


# --- mapping, module level -------------------------------------------------------------------


def _is_parent(item: Mapping[str, Any]) -> bool:
    return item.get("type_id") in PARENT_TYPES


def _summed_by_sku(source_items: list[dict[str, Any]] | None) -> dict[str, Decimal] | None:
    """Quantity per case-folded SKU over every source (MySQL compares SKUs ignoring case)."""
    if source_items is None:
        return None
    totals: dict[str, Decimal] = {}
    for item in source_items:
        sku = str(item.get("sku", "")).casefold()
        totals[sku] = totals.get(sku, Decimal(0)) + _decimal(item.get("quantity"), 0)
    return totals


def _quantity(item: Mapping[str, Any], quantities: Mapping[str, Decimal] | None) -> int | None:
    """A sellable product's units over every source; None for parents and without MSI."""
    if quantities is None or _is_parent(item):
        return None
    return int(quantities.get(str(item.get("sku", "")).casefold(), Decimal(0)))


def _update_refusal(
    remote_id: str, update: VariantUpdate, item: Mapping[str, Any] | None
) -> str | None:
    if item is None:
        return (
            f"Magento has no product with id {remote_id} any more; refresh the store catalog "
            "and link the TikTok SKU again."
        )
    if _is_parent(item):
        return (
            f"{item.get('sku')} is a {item.get('type_id')} product in Magento: its stock and "
            "price are its variants'. Link a variant instead."
        )
    if update.quantity is not None and update.quantity < 0:
        return f"Quantity {update.quantity} is negative; Magento needs 0 or more."
    if update.price is not None and update.price < 0:
        return f"Price {update.price} is negative; Magento needs 0 or more."
    return None


def _agreed_values(updates: Sequence[VariantUpdate]) -> tuple[int | None, Decimal | None] | None:
    """(quantity, price) of updates to products sharing a SKU, or None when they disagree."""
    quantities = {u.quantity for u in updates if u.quantity is not None}
    prices = {u.price for u in updates if u.price is not None}
    if len(quantities) > 1 or len(prices) > 1:
        return None
    return next(iter(quantities), None), next(iter(prices), None)


def _disagreement(sku: str, remote_ids: Sequence[str]) -> str:
    return (
        f"Products {', '.join(remote_ids)} share SKU {sku} in Magento, which keeps one stock and "
        "one price per SKU, and they were sent different values."
    )


def _order_id(remote_id: str) -> str:
    order_id = str(remote_id).strip()
    if not order_id.isdigit():
        raise AdapterError(f"{remote_id!r} is not a Magento order id (a number such as 42)")
    return order_id


def _store_order(entity: Mapping[str, Any]) -> StoreOrder:
    return StoreOrder(
        remote_id=str(entity["entity_id"]),
        number=str(entity.get("increment_id") or ""),
        status=str(entity.get("status") or entity.get("state") or ""),
        cancelled=entity.get("state") == CANCELED_STATE,
    )


def _order_entity(order: NewOrder) -> dict[str, Any]:
    """The order entity `PUT /orders/create` saves: a guest order, paid, in processing."""
    subtotal = _amount(sum((line.unit_price * line.quantity for line in order.lines), Decimal(0)))
    email = order.email or f"{order.reference}@{HIDDEN_EMAIL_DOMAIN}"
    firstname, lastname = _name_parts(order.shipping_address.name)
    items = [_order_item(line) for line in order.lines]
    comment = f"TikTok Shop order {order.reference}, created by SKU Bridge."
    return {
        "ext_order_id": order.reference,
        "state": ORDER_STATE,
        "status": ORDER_STATE,
        "store_id": DEFAULT_STORE_VIEW,
        "customer_email": email,
        "customer_firstname": firstname,
        "customer_lastname": lastname,
        "customer_is_guest": 1,
        "customer_note": order.note,
        "base_currency_code": order.currency,
        "global_currency_code": order.currency,
        "order_currency_code": order.currency,
        "store_currency_code": order.currency,
        "base_to_global_rate": 1,
        "base_to_order_rate": 1,
        "base_subtotal": subtotal,
        "subtotal": subtotal,
        "base_shipping_amount": 0,
        "shipping_amount": 0,
        "base_grand_total": subtotal,
        "grand_total": subtotal,
        "total_item_count": len(items),
        "total_qty_ordered": sum(line.quantity for line in order.lines),
        "shipping_description": "TikTok Shop",
        "items": items,
        "billing_address": _order_address(order.shipping_address, "billing", email),
        "payment": {
            "method": PAYMENT_METHOD,
            "amount_ordered": subtotal,
            "base_amount_ordered": subtotal,
            "additional_information": [comment],
        },
        "status_histories": [
            {
                "comment": " ".join(filter(None, (comment, order.note))),
                "is_customer_notified": 0,
                "is_visible_on_front": 0,
                "status": ORDER_STATE,
            }
        ],
        "extension_attributes": {
            "shipping_assignments": [
                {
                    "shipping": {
                        "address": _order_address(order.shipping_address, "shipping", email),
                        "method": SHIPPING_METHOD,
                    },
                    "items": items,
                }
            ]
        },
    }


def _order_item(line: OrderLine) -> dict[str, Any]:
    row_total = _amount(line.unit_price * line.quantity)
    price = _amount(line.unit_price)
    return {
        "sku": line.sku,
        "product_id": int(line.remote_id) if line.remote_id.isdigit() else None,
        "name": line.name,
        "product_type": "simple",
        "qty_ordered": line.quantity,
        "price": price,
        "base_price": price,
        "original_price": price,
        "base_original_price": price,
        "row_total": row_total,
        "base_row_total": row_total,
    }


def _order_address(address: OrderAddress, address_type: str, email: str) -> dict[str, Any]:
    firstname, lastname = _name_parts(address.name)
    return {
        "address_type": address_type,
        "firstname": firstname,
        "lastname": lastname,
        "street": list(address.lines) or [MISSING_NAME_PART],
        "city": address.city,
        "region": address.region,
        "postcode": address.postal_code,
        "country_id": address.country_code.upper(),
        "telephone": address.phone or MISSING_NAME_PART,
        "email": email,
    }


def _name_parts(name: str) -> tuple[str, str]:
    """Magento's firstname and lastname from one name: the last word is the last name."""
    words = name.split()
    if len(words) < 2:
        return (words[0] if words else MISSING_NAME_PART), MISSING_NAME_PART
    return " ".join(words[:-1]), words[-1]


def _amount(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.0001")))


def _decimal(value: Any, default: Decimal | int | None = None) -> Decimal | None:
    if value is None or value == "":
        return Decimal(default) if default is not None else None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return Decimal(default) if default is not None else None


def _as_list(value: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise InvalidResponse(f"Magento answered the {what} with something that is not a list")
    return [entry for entry in value if isinstance(entry, dict)]
