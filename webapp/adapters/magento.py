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
  SKU share its stock. Without MSI (module disabled) quantities are unknown.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import requests

from webapp.adapters.base import (
    DEFAULT_TIMEOUT,
    AdapterError,
    AuthenticationFailed,
    CatalogPage,
    ConnectionCheck,
    ConnectionFailed,
    CredentialField,
    InvalidResponse,
    RateLimited,
    RemoteServerError,
    StoreAdapter,
    StoreVariant,
    retry_after_seconds,
    with_retries,
)

REST_PATH = "/rest/V1"
MAX_PAGE_SIZE = 1000
VARIANT_ATTRIBUTES = ("color", "size")  # in the order they are shown: "Black / M"
BARCODE_ATTRIBUTES = ("ean", "gtin", "barcode", "upc")
PARENT_TYPES = frozenset({"configurable", "grouped"})  # containers, never sold themselves
STATUS_ENABLED = 1
ROOT_CATEGORY_LEVEL = 1  # "Root Catalog" (0) and each store's root such as "Default Category" (1)


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
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"Page size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
        super().__init__(_store_root(base_url), credentials, timeout=timeout, sleep=sleep)
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

    # --- one method per endpoint -------------------------------------------------------------

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
        """`GET /rest/V1/inventory/source-items` → quantity per SKU summed over every source;
        None when the store runs without MSI."""
        totals: dict[str, Decimal] = {}
        try:
            for items, _ in self._search("/inventory/source-items"):
                for item in items:
                    sku = str(item.get("sku", ""))
                    totals[sku] = totals.get(sku, Decimal(0)) + _decimal(item.get("quantity"), 0)
        except AdapterError as error:
            if error.status == 404:
                return None
            raise
        return totals

    def parents_by_child(self) -> dict[int, int]:
        """`GET /rest/V1/products` filtered to configurables → {child id: parent id}. A child
        used by several configurables keeps the lowest parent id."""
        filters = {
            "searchCriteria[filter_groups][0][filters][0][field]": "type_id",
            "searchCriteria[filter_groups][0][filters][0][value]": "configurable",
            "searchCriteria[filter_groups][0][filters][0][condition_type]": "eq",
        }
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
        is_parent = item.get("type_id") in PARENT_TYPES
        sku = str(item.get("sku", ""))
        labels = [
            option_labels.get(code, {}).get(str(attributes[code]), "")
            for code in VARIANT_ATTRIBUTES
            if attributes.get(code) not in (None, "")
        ]
        parent_id = parent_of.get(item["id"])
        quantity = None
        if quantities is not None and not is_parent:
            quantity = int(quantities.get(sku, Decimal(0)))
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
            quantity=quantity,
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

    # --- HTTP --------------------------------------------------------------------------------

    def _search(
        self,
        path: str,
        filters: Mapping[str, str] | None = None,
        *,
        sort_field: str | None = None,
    ) -> Iterator[tuple[list[dict[str, Any]], int]]:
        """Page through a searchCriteria list, yielding (items, total_count) per page.

        Stops on `page_size × current_page ≥ total_count`: Magento answers a page past the end
        with the last page again, so an empty page never comes.
        """
        current_page = 1
        while True:
            params = {
                **(filters or {}),
                "searchCriteria[pageSize]": str(self.page_size),
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
            if self.page_size * current_page >= total:
                return
            current_page += 1

    def _get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """A read: safe to retry on 429, 5xx and connection failures."""
        return with_retries(lambda: self._call("GET", path, params=params), sleep=self.sleep)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, REST_PATH + path, **kwargs)
        status = response.status_code
        if status < 400:
            try:
                return response.json(parse_float=Decimal)
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
            raise RateLimited(
                "Magento asked us to slow down",
                retry_after=retry_after_seconds(response),
                status=status,
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
    """Magento's `{"message": "... %name ... %1", "parameters": {...} | [...]}`, filled in."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if not isinstance(body, dict) or not body.get("message"):
        return f"HTTP {response.status_code}"
    message = str(body["message"])
    parameters = body.get("parameters")
    if isinstance(parameters, dict):
        for name, value in parameters.items():
            message = message.replace(f"%{name}", str(value))
    elif isinstance(parameters, list):
        for index, value in reversed(list(enumerate(parameters, start=1))):
            message = message.replace(f"%{index}", str(value))
    return message


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
