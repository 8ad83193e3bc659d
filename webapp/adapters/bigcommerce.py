"""BigCommerce over its REST API: the catalog on v3, store information and orders on v2, with a
store-level API account's access token.

BigCommerce-specific facts this module handles:

- Every call goes to `https://api.bigcommerce.com/stores/{store_hash}/v3/...` (or `/v2/...`) with
  the access token in `X-Auth-Token`. The store hash is the part after `/stores/` in the API path
  the admin shows when the API account is created; a pasted API path is accepted for it.
- Products own variants, and what is sold is a variant: variant ids are the remote ids. Every
  product has at least one variant; a product without options has exactly one, its base variant
  (no `option_values`), listed with `variant=""`. A product with several variants is also listed
  as a parent under `product-{id}`, never a link target; variant ids and product ids are separate
  sequences, hence the prefix.
- A variant's `price` is null when it sells at its product's price; `calculated_price` (sale price
  and price rules applied) is what it sells for, and is the price reported here.
- Stock is counted where the product's `inventory_tracking` says: per `variant`, per `product`
  (the base variant carries the product's level) or not at all (`none`: quantity unknown). A
  product is sellable when `is_visible` and its `availability` is not `disabled`; a variant when,
  also, its `purchasing_disabled` is false.
- Categories are ids on the product, named by `GET /v3/catalog/trees/categories`. BigCommerce has
  no product tags: the comma-separated `search_keywords` stand in for them. Barcodes are `gtin` or
  `upc`, on the variant (a base variant falls back to its product's).
- Lists page with `page` and `limit` (at most 250); `meta.pagination.total_pages` says when to
  stop. Filters take lists as `id:in=1,2,3`.
- `PUT /v3/catalog/variants` takes at most 50 variants. One bad item fails the whole batch with a
  422 `{"batch_errors": [{status, title, errors}]}`; the `errors` keys are read as naming the
  refused item by its index in the request (`"3.inventory_level"`; the public reference only
  says `errors` is an object). Those items are reported and the rest is sent again; a 422 that
  names no item fails the call.
- Orders live on v2: `external_order_id` carries the TikTok order id and `GET /v2/orders` filters
  on it (`external_id` is read-only); `external_source` says "TikTok Shop". An order is sent once:
  a 5xx or a lost answer may hide a created order, which `find_order` then finds. An empty v2
  list is a 204 without a body. Status 11 is Awaiting Fulfillment, 5 Cancelled. v2 errors are
  `[{"status", "message"}]`, v3 errors `{"status", "title", "type", "errors"?}`.
- The store's request quota is shared by every app: each answer carries
  `X-Rate-Limit-Requests-Left` and `X-Rate-Limit-Time-Reset-Ms`. When none are left, or on a 429,
  the store's limiter pauses for the reset time.
- Webhooks carry no signature. SKU Bridge's hooks are registered with a custom header,
  `X-SKU-Bridge-Secret`, holding the store's webhook secret; deliveries without it are refused.
  Product events name a product, so its variant ids are looked up (one call).
"""

from __future__ import annotations

import hmac
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

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
)

API_HOST = "https://api.bigcommerce.com"
MAX_PAGE_SIZE = 250
MAX_IDS_PER_CALL = 250  # ids in one `id:in` filter, read in one page of 250
MAX_VARIANT_BATCH = 50
PARENT_PREFIX = "product-"
STORE_HASH = re.compile(r"[a-z0-9]+")
WEBHOOK_SECRET_HEADER = "X-SKU-Bridge-Secret"
EXTERNAL_SOURCE = "TikTok Shop"
AWAITING_FULFILLMENT, CANCELLED = 11, 5
UNTRACKED = "none"
PRODUCT_FIELDS = (
    "id,name,sku,price,calculated_price,inventory_level,inventory_tracking,is_visible,"
    "availability,categories,upc,gtin,search_keywords"
)
STOCK_PRODUCT_FIELDS = "id,price,inventory_tracking,is_visible,availability"
STOCK_VARIANT_FIELDS = "id,product_id,price,calculated_price,inventory_level,purchasing_disabled"


class BigCommerceAdapter(StoreAdapter):
    platform = "bigcommerce"
    label = "BigCommerce"
    credential_fields = (
        CredentialField(
            "store_hash",
            "Store hash",
            secret=False,
            help="In the BigCommerce admin: Settings › API › Store-level API accounts › Create "
            "API account. The API path shown there reads https://api.bigcommerce.com/stores/"
            "<store hash>/v3/; copy the part after /stores/ (or paste the whole path).",
        ),
        CredentialField(
            "access_token",
            "Access token",
            help="Shown once when the store-level API account is created (also in the file the "
            "admin downloads then). Give the account Products: modify, Orders: modify and "
            "Information & settings: read-only.",
        ),
        CredentialField(
            "webhook_secret",
            "Webhook secret",
            help="Not found in the BigCommerce admin: you choose it, a long random text. "
            "BigCommerce does not sign webhooks, so SKU Bridge's webhooks are created with it "
            "as their X-SKU-Bridge-Secret header, and deliveries without it are refused. "
            "Optional: without it, stock follows on the sync schedule.",
            required=False,
        ),
    )
    base_url_example = API_HOST
    supports_webhooks = True
    webhook_setup = (
        "Create webhooks (POST /v3/hooks) for the scopes store/sku/inventory/updated, "
        "store/product/inventory/updated and store/product/updated with this URL as destination "
        "and the header X-SKU-Bridge-Secret set to this store's Webhook secret."
    )

    def __init__(
        self,
        base_url: str,
        credentials: Mapping[str, str],
        *,
        page_size: int = MAX_PAGE_SIZE,
        policy: CallPolicy = DEFAULT_POLICY,
        sleep: Callable[[float], None] = time.sleep,
        limiter: RateLimiter | None = None,
    ):
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"Page size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
        store_hash = _store_hash(credentials.get("store_hash") or "")
        super().__init__(
            f"{_api_root(base_url)}/stores/{store_hash}",
            credentials,
            policy=policy,
            sleep=sleep,
            limiter=limiter,
        )
        if not STORE_HASH.fullmatch(store_hash):
            raise ValueError(
                f"The store hash {store_hash!r} is not one: it is the short code after /stores/ "
                "in the API path, such as abc123xyz."
            )
        self.store_hash = store_hash
        self.api_root = _api_root(base_url)
        self.page_size = page_size
        self.http.session.headers.update(
            {
                "X-Auth-Token": self.credentials["access_token"].strip(),
                "Accept": "application/json",
            }
        )

    # --- the contract ------------------------------------------------------------------------

    def test_connection(self) -> ConnectionCheck:
        """`GET /v2/store`: one cheap call that needs a valid token for this store hash."""
        api = self.api_root
        try:
            store = self._call("GET", "/v2/store")
        except AuthenticationFailed as error:
            if error.status == 403:
                return ConnectionCheck(
                    False,
                    "The API account may not read the store information. In the BigCommerce "
                    "admin give it Information & settings: read-only (and Products: modify, "
                    "Orders: modify), then copy its new access token.",
                )
            return ConnectionCheck(
                False,
                "BigCommerce refused the access token. Check that the store-level API account "
                "still exists in Settings › API › Store-level API accounts, and copy its access "
                "token again.",
            )
        except ConnectionFailed:
            return ConnectionCheck(
                False,
                f"Could not reach BigCommerce at {api}. Check the address (normally "
                f"{API_HOST}) and that this server can reach the internet.",
            )
        except InvalidResponse:
            return ConnectionCheck(
                False,
                f"{api} did not answer like the BigCommerce API. The address should be "
                f"{API_HOST}, not your storefront's address.",
            )
        except AdapterError as error:
            if error.status == 404:
                return ConnectionCheck(
                    False,
                    f"BigCommerce has no store with the hash {self.store_hash}. Copy the store "
                    "hash again from the API path of the API account (the part after /stores/).",
                )
            return ConnectionCheck(False, f"BigCommerce answered with an error: {error.message}")
        if not isinstance(store, dict) or not store.get("name"):
            return ConnectionCheck(False, f"{api} did not answer like a BigCommerce store.")
        return ConnectionCheck(
            True,
            f"Connected to the BigCommerce store {store['name']} ({self.store_hash}), "
            f"currency {store.get('currency') or '?'}.",
        )

    def iter_catalog(self) -> Iterator[CatalogPage]:
        """Every product with its variants, parents included, in `GET /v3/catalog/products`
        pages by product id. The total is unknown up front: BigCommerce counts products, not
        catalog entries."""
        category_names = self.category_names()
        params = {
            "include": "variants",
            "include_fields": PRODUCT_FIELDS,
            "sort": "id",
            "direction": "asc",
        }
        seen: set[int] = set()
        for products in self._pages("/v3/catalog/products", params):
            page = []
            for product in products:
                if product.get("id") in seen:  # a catalog edited while we page can shift rows
                    continue
                seen.add(product.get("id"))
                page.extend(_product_entries(product, category_names))
            yield CatalogPage(items=page, total=None)

    def stock_levels(self, remote_ids: Sequence[str]) -> dict[str, StockLevel]:
        """The variants by `id:in`, then their products (tracking, visibility) by `id:in`:
        two calls for up to 250 variants. Parents and ids the store no longer has are left out."""
        variants = self.variants_by_id(_variant_ids(remote_ids))
        products = self.products_by_id({v["product_id"] for v in variants.values()})
        levels = {}
        for variant_id, variant in variants.items():
            product = products.get(variant["product_id"])
            if product is not None:
                levels[str(variant_id)] = _stock_level(variant, product)
        return levels

    def update_variants(self, updates: Sequence[VariantUpdate]) -> dict[str, str]:
        """`PUT /v3/catalog/variants` in batches of 50; refused variants are reported, the rest
        of their batch is sent again."""
        refused: dict[str, str] = {}
        items = []
        for update in updates:
            if _variant_id(update.remote_id) is None:
                refused[update.remote_id] = (
                    "Not a BigCommerce variant: a product with several variants cannot take "
                    "stock or a price itself."
                )
                continue
            item = _variant_item(update)
            if len(item) > 1:
                items.append(item)
        for start in range(0, len(items), MAX_VARIANT_BATCH):
            refused.update(self._put_variants(items[start : start + MAX_VARIANT_BATCH]))
        return refused

    def find_order(self, reference: str) -> StoreOrder | None:
        """`GET /v2/orders?external_order_id=`: the oldest order carrying this TikTok order id."""
        orders = self._get("/v2/orders", {"external_order_id": reference, "sort": "id:asc"})
        for order in _as_list(orders or [], "orders"):
            if str(order.get("external_order_id") or "") == reference:
                return _store_order(order)
        return None

    def create_order(self, order: NewOrder) -> StoreOrder:
        """`POST /v2/orders`, sent once: the variants' products are read first (a retried read),
        then the order goes out and is never sent again by this method."""
        variants = self.variants_by_id(_variant_ids(line.remote_id for line in order.lines))
        products = []
        for line in order.lines:
            variant_id = _variant_id(line.remote_id)
            variant = variants.get(variant_id) if variant_id is not None else None
            if variant is None:
                raise AdapterError(
                    f"{line.sku or line.name} (variant {line.remote_id}) is no longer in the "
                    "BigCommerce catalog. Refresh the store catalog and link the item again."
                )
            products.append(
                {
                    "product_id": variant["product_id"],
                    "variant_id": variant["id"],
                    "quantity": line.quantity,
                    "price_inc_tax": float(line.unit_price),
                    "price_ex_tax": float(line.unit_price),
                }
            )
        address = _address(order.shipping_address, order.email)
        created = self._call(
            "POST",
            "/v2/orders",
            json={
                "status_id": AWAITING_FULFILLMENT,
                "customer_id": 0,
                "billing_address": address,
                "shipping_addresses": [address],
                "products": products,
                "external_source": EXTERNAL_SOURCE,
                "external_order_id": order.reference,
                "customer_message": order.note,
                "staff_notes": f"{EXTERNAL_SOURCE} order {order.reference}",
            },
        )
        return _store_order(_as_object(created, "the new order"))

    def cancel_order(self, remote_id: str) -> StoreOrder:
        """`GET /v2/orders/{id}`, then, unless it is cancelled already, `PUT` status 5
        (Cancelled): an absolute value, so the write is retried like a read."""
        path = f"/v2/orders/{remote_id}"
        current = _store_order(_as_object(self._get(path), "the order"))
        if current.cancelled:
            return current
        updated = self._write("PUT", path, {"status_id": CANCELLED})
        return _store_order(_as_object(updated, "the cancelled order"))

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> StoreWebhook:
        """Check the secret header, then read which variants a delivery is about. The `hash`
        identifies the delivery."""
        secret = self.credentials.get("webhook_secret", "").strip()
        given = next(
            (v for k, v in headers.items() if k.lower() == WEBHOOK_SECRET_HEADER.lower()), ""
        )
        if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
            raise WebhookRefused(
                "The delivery does not carry this store's webhook secret in "
                f"{WEBHOOK_SECRET_HEADER}."
            )
        try:
            payload = json.loads(body)
        except ValueError:
            raise WebhookRefused("The delivery is not JSON.") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
            raise WebhookRefused("The delivery is not a BigCommerce webhook.")
        return StoreWebhook(
            remote_ids=self._webhook_variants(str(payload.get("scope") or ""), payload["data"]),
            delivery_id=str(payload["hash"]) if payload.get("hash") else None,
        )

    # --- one method per endpoint -------------------------------------------------------------

    def category_names(self) -> dict[int, str]:
        """`GET /v3/catalog/trees/categories` → {category id: name}, over every tree."""
        return {
            int(category["category_id"]): str(category.get("name") or "")
            for categories in self._pages("/v3/catalog/trees/categories", {})
            for category in categories
            if category.get("category_id") is not None
        }

    def variants_by_id(self, variant_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """`GET /v3/catalog/variants?id:in=`, 250 ids a call; ids the store lacks are absent."""
        return self._by_id("/v3/catalog/variants", variant_ids, STOCK_VARIANT_FIELDS)

    def products_by_id(self, product_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """`GET /v3/catalog/products?id:in=`, 250 ids a call, without their variants."""
        return self._by_id("/v3/catalog/products", product_ids, STOCK_PRODUCT_FIELDS)

    def variant_ids_of_product(self, product_id: int) -> list[str]:
        """`GET /v3/catalog/variants?product_id:in=` → the ids of one product's variants."""
        params = {"product_id:in": str(product_id), "include_fields": "id"}
        return [
            str(variant["id"])
            for variants in self._pages("/v3/catalog/variants", params)
            for variant in variants
        ]

    # --- writes ------------------------------------------------------------------------------

    def _put_variants(self, batch: list[dict[str, Any]]) -> dict[str, str]:
        """Send one batch until BigCommerce takes what is left of it."""
        refused: dict[str, str] = {}
        while batch:
            try:
                self._write("PUT", "/v3/catalog/variants", batch)
                return refused
            except BatchRefused as error:
                reasons = _batch_refusals(error.batch_errors, len(batch))
                if not reasons:
                    raise AdapterError(
                        f"BigCommerce refused the variant update: {error.message}", status=422
                    ) from None
                for index, reason in reasons.items():
                    refused[str(batch[index]["id"])] = reason
                batch = [item for index, item in enumerate(batch) if index not in reasons]
        return refused

    def _webhook_variants(self, scope: str, data: Mapping[str, Any]) -> tuple[str, ...]:
        if scope.startswith("store/sku/"):
            details = data.get("inventory") or data.get("sku") or {}
            variant_id = details.get("variant_id") if isinstance(details, dict) else None
            return (str(variant_id),) if variant_id is not None else ()
        if scope.startswith("store/product/") and isinstance(data.get("id"), int):
            return tuple(self.variant_ids_of_product(data["id"]))
        return ()

    # --- HTTP --------------------------------------------------------------------------------

    def _by_id(self, path: str, ids: Iterable[int], fields: str) -> dict[int, dict[str, Any]]:
        wanted = sorted(set(ids))
        found: dict[int, dict[str, Any]] = {}
        for start in range(0, len(wanted), MAX_IDS_PER_CALL):
            params = {
                "id:in": ",".join(map(str, wanted[start : start + MAX_IDS_PER_CALL])),
                "include_fields": fields,
                "limit": str(MAX_IDS_PER_CALL),
            }
            for item in _data(self._get(path, params), path):
                if isinstance(item.get("id"), int):
                    found[item["id"]] = item
        return found

    def _pages(self, path: str, params: Mapping[str, str]) -> Iterator[list[dict[str, Any]]]:
        """A v3 list page by page, until `meta.pagination.total_pages`."""
        page = 1
        while True:
            body = self._get(path, {**params, "limit": str(self.page_size), "page": str(page)})
            items = _data(body, path)
            yield items
            pagination = (body.get("meta") or {}).get("pagination") or {}
            try:
                total_pages = int(pagination.get("total_pages", 0))
            except (TypeError, ValueError):
                raise InvalidResponse(f"BigCommerce answered {path} without page numbers") from None
            if not items or page >= total_pages:
                return
            page += 1

    def _write(self, method: str, path: str, body: Any) -> Any:
        """A write of absolute values: safe to retry like a read."""
        return self.http.retrying(lambda: self._call(method, path, json=body), sleep=self.sleep)

    def _get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """A read: safe to retry on 429, 5xx and connection failures."""
        return self.http.retrying(lambda: self._call("GET", path, params=params), sleep=self.sleep)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        self._mind_quota(response)
        status = response.status_code
        if status == 204:
            return None
        if status < 400:
            return self._json(response, path)
        body = _json_or_none(response)
        message = _error_message(body, status)
        if status == 429:
            raise RateLimited(
                "BigCommerce's request quota for this store is used up",
                retry_after=_reset_seconds(response),
                status=status,
            )
        if status >= 500:
            raise RemoteServerError(f"BigCommerce failed ({status}): {message}", status=status)
        if body is None:
            raise InvalidResponse(
                f"{self.http.base_url} answered {path} with HTTP {status} and no BigCommerce "
                "error; is this the BigCommerce API?",
                status=status,
            )
        if status in (401, 403):
            raise AuthenticationFailed(
                f"BigCommerce refused the access token: {message}", status=status
            )
        if status == 422 and isinstance(body, dict) and isinstance(body.get("batch_errors"), list):
            raise BatchRefused(message, body["batch_errors"])
        raise AdapterError(f"BigCommerce refused the request ({status}): {message}", status=status)

    def _json(self, response: requests.Response, path: str) -> Any:
        try:
            return decode_json(response, "BigCommerce", parse_float=Decimal)
        except ValueError:
            raise InvalidResponse(
                f"{self.http.base_url} answered {path} with something that is not JSON; is this "
                "the BigCommerce API?",
                status=response.status_code,
            ) from None

    def _mind_quota(self, response: requests.Response) -> None:
        """Pause the store's limiter until the quota resets once none is left (before the 429
        that would follow) or on a 429."""
        left = response.headers.get("X-Rate-Limit-Requests-Left", "").strip()
        if response.status_code == 429 or left == "0":
            self.http.pause(_reset_seconds(response))


class BatchRefused(AdapterError):
    """A batch write refused as a whole (422), with BigCommerce's `batch_errors`."""

    def __init__(self, message: str, batch_errors: list[Any]):
        super().__init__(message, status=422)
        self.batch_errors = batch_errors


# --- mapping -----------------------------------------------------------------------------------


def _product_entries(
    product: Mapping[str, Any], category_names: Mapping[int, str]
) -> list[StoreVariant]:
    """A product's catalog entries: its parent when it has several variants, then each variant."""
    variants = [v for v in product.get("variants") or [] if isinstance(v, dict)]
    name = str(product.get("name") or "")
    ids = product.get("categories") or []
    categories = tuple(dict.fromkeys(category_names[i] for i in ids if i in category_names))
    tags = _distinct(str(product.get("search_keywords") or "").split(","))
    enabled = _product_enabled(product)
    parent_id = f"{PARENT_PREFIX}{product['id']}" if len(variants) > 1 else None
    entries = []
    if parent_id:
        entries.append(
            StoreVariant(
                remote_id=parent_id,
                sku=str(product.get("sku") or ""),
                name=name,
                variant="",
                is_parent=True,
                parent_remote_id=None,
                price=_first_price(product.get("calculated_price"), product.get("price")),
                quantity=None,
                barcode=_barcode(product),
                categories=categories,
                tags=tags,
                enabled=enabled,
            )
        )
    for variant in variants:
        options = variant.get("option_values") or []
        entries.append(
            StoreVariant(
                remote_id=str(variant["id"]),
                sku=str(variant.get("sku") or ""),
                name=name,
                variant=" / ".join(str(o.get("label") or "") for o in options if o.get("label")),
                is_parent=False,
                parent_remote_id=parent_id,
                price=_selling_price(variant, product),
                quantity=_quantity(variant, product),
                barcode=_barcode(variant) or (None if options else _barcode(product)),
                categories=categories,
                tags=tags,
                enabled=enabled and not variant.get("purchasing_disabled"),
            )
        )
    return entries


def _stock_level(variant: Mapping[str, Any], product: Mapping[str, Any]) -> StockLevel:
    return StockLevel(
        remote_id=str(variant["id"]),
        quantity=_quantity(variant, product),
        price=_selling_price(variant, product),
        enabled=_product_enabled(product) and not variant.get("purchasing_disabled"),
    )


def _distinct(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(value.strip() for value in values if value.strip()))


def _product_enabled(product: Mapping[str, Any]) -> bool:
    return bool(product.get("is_visible", True)) and product.get("availability") != "disabled"


def _selling_price(variant: Mapping[str, Any], product: Mapping[str, Any]) -> Decimal | None:
    """What the variant sells for: `calculated_price`, else its own price, else the product's."""
    return _first_price(variant.get("calculated_price"), variant.get("price"), product.get("price"))


def _first_price(*values: Any) -> Decimal | None:
    return next((p for p in map(_decimal, values) if p is not None), None)


def _quantity(variant: Mapping[str, Any], product: Mapping[str, Any]) -> int | None:
    if product.get("inventory_tracking") == UNTRACKED or variant.get("inventory_level") is None:
        return None
    return int(variant["inventory_level"])


def _barcode(item: Mapping[str, Any]) -> str | None:
    return next(
        (str(item[k]).strip() for k in ("gtin", "upc") if str(item.get(k) or "").strip()), None
    )


def _variant_item(update: VariantUpdate) -> dict[str, Any]:
    item: dict[str, Any] = {"id": int(update.remote_id)}
    if update.quantity is not None:
        item["inventory_level"] = update.quantity
    if update.price is not None:
        item["price"] = float(update.price)
    return item


def _batch_refusals(batch_errors: list[Any], size: int) -> dict[int, str]:
    """{index in the batch: reason} from `batch_errors` whose `errors` keys start with the
    refused item's index (`"3.inventory_level"`)."""
    reasons: dict[int, list[str]] = {}
    for entry in batch_errors:
        errors = entry.get("errors") if isinstance(entry, dict) else None
        for key, message in (errors or {}).items():
            index, _, _ = str(key).partition(".")
            if index.isdigit() and int(index) < size:
                reasons.setdefault(int(index), []).append(str(message))
    return {
        index: "BigCommerce refused it: " + " ".join(messages)
        for index, messages in reasons.items()
    }


def _address(address: OrderAddress, email: str) -> dict[str, Any]:
    first, _, last = address.name.strip().rpartition(" ")
    lines = [line for line in address.lines if line.strip()]
    return {
        "first_name": first or last,
        "last_name": last if first else "",
        "street_1": lines[0] if lines else "",
        "street_2": ", ".join(lines[1:]),
        "city": address.city,
        "state": address.region,
        "zip": address.postal_code,
        "country_iso2": address.country_code,
        "phone": address.phone,
        "email": email,
    }


def _store_order(order: Mapping[str, Any]) -> StoreOrder:
    if order.get("id") is None:
        raise InvalidResponse("BigCommerce answered an order without an id")
    return StoreOrder(
        remote_id=str(order["id"]),
        number=str(order["id"]),
        status=str(order.get("status") or order.get("custom_status") or ""),
        cancelled=order.get("status_id") == CANCELLED,
    )


# --- small helpers -----------------------------------------------------------------------------


def _api_root(base_url: str) -> str:
    """The API host, from an empty field (the real host), the host, or a pasted API path."""
    root = base_url.strip().rstrip("/") or API_HOST
    return re.sub(r"/stores/[^/]+(/v[23])?$", "", root)


def _store_hash(value: str) -> str:
    """The store hash, also from a pasted API path (`.../stores/abc123/v3/`) or `stores/abc123`."""
    text = value.strip().strip("/")
    found = re.search(r"(?:^|/)stores/([^/]+)", text)
    return (found.group(1) if found else text).lower()


def _variant_id(remote_id: str) -> int | None:
    return int(remote_id) if remote_id.strip().isdigit() else None


def _variant_ids(remote_ids: Iterable[str]) -> set[int]:
    return {i for i in (_variant_id(r) for r in remote_ids) if i is not None}


def _reset_seconds(response: requests.Response) -> float | None:
    value = response.headers.get("X-Rate-Limit-Time-Reset-Ms")
    try:
        return max(int(value), 0) / 1000 if value is not None else None
    except ValueError:
        return None


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error_message(body: Any, status: int) -> str:
    """v3 `{"title", "detail"?, "errors"?}` or v2 `[{"message"}]`, as one line."""
    if isinstance(body, dict):
        parts = [str(body.get("title") or "")]
        if body.get("detail"):
            parts.append(str(body["detail"]))
        errors = body.get("errors")
        if isinstance(errors, dict):
            parts.extend(f"{key}: {value}" for key, value in errors.items())
        for entry in body.get("batch_errors") or []:
            if isinstance(entry, dict):
                parts.append(str(entry.get("title") or ""))
        return "; ".join(part for part in parts if part) or f"HTTP {status}"
    if isinstance(body, list):
        messages = [str(e.get("message")) for e in body if isinstance(e, dict) and e.get("message")]
        return "; ".join(messages) or f"HTTP {status}"
    return f"HTTP {status}"


def _data(body: Any, path: str) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise InvalidResponse(f"BigCommerce answered {path} without a list of data")
    return [item for item in body["data"] if isinstance(item, dict)]


def _as_list(value: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise InvalidResponse(f"BigCommerce answered the {what} with something that is not a list")
    return [entry for entry in value if isinstance(entry, dict)]


def _as_object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidResponse(f"BigCommerce answered {what} with something that is not an object")
    return value


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None
