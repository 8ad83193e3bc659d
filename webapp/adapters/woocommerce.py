"""WooCommerce over its REST API v3 (`{site}/wp-json/wc/v3`) with a REST API key.

WooCommerce-specific facts this module handles:

- Auth is HTTP Basic with the consumer key as user name and the consumer secret as password.
  WooCommerce honours it only over HTTPS (over plain HTTP it wants OAuth 1.0a signatures, which
  this module does not make). A key it does not know leaves the call unauthenticated, answered
  401 `woocommerce_rest_cannot_view`; a known key with a wrong secret is 401
  `woocommerce_rest_authentication_error`. Errors are `{"code", "message", "data": {"status"}}`;
  a WordPress without WooCommerce answers 404 `rest_no_route`. The WordPress index
  (`/wp-json/`) is public and is asked without the key: WordPress's own application passwords
  would refuse a consumer key sent there.
- Lists page with `page` and `per_page` (at most 100); the `X-WP-Total` and `X-WP-TotalPages`
  headers say how many there are, and a page past the end is an empty list. Products are read
  in id order so that products added while paging come last. Id lists (`include`) are sent
  comma-separated: PHP keeps only the last of repeated query keys.
- A variable product's variations are separate objects, reachable under their parent
  (`/products/{parent}/variations`; the flat `/variations` list only exists since 10.3). A
  variation's remote id is therefore `"{parent id}:{variation id}"`; every other product keeps
  its plain id (the product export's ids for products; its variation ids lack the parent).
  Variable and grouped products are listed as parents; external (affiliate) products are sold
  elsewhere and skipped.
- Variations carry no name, categories or tags of their own in the sense a shop owner means:
  they take the parent's, and their label is their attribute options ("Black / M"; an empty
  option means "any" and is left out).
- The barcode is `global_unique_id` (the GTIN, UPC, EAN or ISBN field since 9.2); older shops
  keep it in a plugin's meta field (`_alg_ean`, `_wpm_gtin_code`, `hwp_product_gtin`,
  `hwp_var_gtin`, `_ts_gtin`).
- A quantity exists only where stock is managed (`manage_stock` true, or `"parent"` for a
  variation whose parent counts it). Enabled means published (a variation switched off in the
  admin is `private`), and for a variation its parent published too.
- The catalog price is the regular price, as the product export reads it; stock levels give
  `price`, what a buyer pays now (a running sale included). Writes set the regular price, so a
  sale price the merchant set keeps winning until it ends.
- Writes go through `POST /products/batch` and `POST /products/{parent}/variations/batch`
  `{"update": [...]}`, at most 100 objects a call; each object is answered, refused ones as
  `{"id", "error": {"code", "message"}}`. A quantity is only written together with
  `manage_stock: true` (WooCommerce drops it otherwise).
- Orders: `created_via` is forced to `rest-api`, the order list has no meta filter and `search`
  does not look at custom meta fields, but it matches order item names with every order storage
  (posts, and both generations of HPOS). So each order carries a shipping line named
  "TikTok Shop order {id}" that `search` finds, and the meta field `_tiktok_order_id` that
  confirms the exact match. `status: processing` with `set_paid` makes WooCommerce take the stock.
- WooCommerce itself has no API quota, but hosts and security plugins answer 429 (with or
  without Retry-After) and 503 under load (with Retry-After when they know when to come back).
- Webhooks: `X-WC-Webhook-Signature` is the base64 HMAC-SHA256 of the raw body keyed by the
  webhook's secret; `X-WC-Webhook-Topic` and `X-WC-Webhook-Delivery-ID` come with it. A
  product's payload is the product as `GET /products/{id}` shows it (a variation has
  `type: "variation"` and `parent_id`); a deleted product's payload is only its id. When a
  webhook is saved WooCommerce first sends an unsigned ping, the form body `webhook_id=N`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import requests
from requests.auth import HTTPBasicAuth

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

API_PATH = "/wp-json/wc/v3"
INDEX_PATH = "/wp-json/"
MAX_PER_PAGE = 100
MAX_BATCH = 100
PARENT_TYPES = frozenset({"variable", "grouped"})
SKIPPED_TYPES = frozenset({"external"})
PUBLISHED = "publish"
BARCODE_META_KEYS = ("_alg_ean", "_wpm_gtin_code", "hwp_product_gtin", "hwp_var_gtin", "_ts_gtin")
REFERENCE_META_KEY = "_tiktok_order_id"
TIKTOK_METHOD_ID = "tiktok_shop"
TIKTOK_TITLE = "TikTok Shop"
CANCELLED = "cancelled"
UNSAID_PAUSE_SECONDS = 2.0  # how long everyone holds off after a 429 that named no time
PRODUCT_TOPICS = frozenset({"product.created", "product.updated", "product.restored"})
DELETED_TOPIC = "product.deleted"
PING_BODY_PREFIX = b"webhook_id="
HTML_TAG = re.compile(r"<[^>]+>")


class WooCommerceAdapter(StoreAdapter):
    platform = "woocommerce"
    label = "WooCommerce"
    credential_fields = (
        CredentialField(
            "consumer_key",
            "Consumer key",
            help="In the WordPress admin: WooCommerce › Settings › Advanced › REST API › Add key. "
            "Choose a shop manager or administrator as the user and Read/Write permissions; the "
            "key (it starts with ck_) is shown once, right after Generate API key.",
        ),
        CredentialField(
            "consumer_secret",
            "Consumer secret",
            help="Shown beside the consumer key in WooCommerce › Settings › Advanced › REST API "
            "right after the key is generated (it starts with cs_). If it was not copied then, "
            "generate a new key.",
        ),
        CredentialField(
            "webhook_secret",
            "Webhook secret",
            help="Optional, for instant stock updates: WooCommerce › Settings › Advanced › "
            "Webhooks › Add webhook, topic Product updated, API version WP REST API v3, delivery "
            "URL from SKU Bridge; copy the Secret shown there.",
            required=False,
        ),
    )
    base_url_example = "https://shop.example.com"
    supports_webhooks = True
    webhook_setup = (
        "WooCommerce › Settings › Advanced › Webhooks › Add webhook: status Active, topic Product "
        "updated, delivery URL this URL, API version WP REST API v3. Copy its Secret into this "
        "store's Webhook secret."
    )

    def __init__(
        self,
        base_url: str,
        credentials: Mapping[str, str],
        *,
        page_size: int = MAX_PER_PAGE,
        policy: CallPolicy = DEFAULT_POLICY,
        sleep: Callable[[float], None] = time.sleep,
        limiter: RateLimiter | None = None,
    ):
        if not 1 <= page_size <= MAX_PER_PAGE:
            raise ValueError(f"Page size must be between 1 and {MAX_PER_PAGE}, got {page_size}")
        super().__init__(
            _site_root(base_url), credentials, policy=policy, sleep=sleep, limiter=limiter
        )
        self.page_size = page_size
        self.auth = HTTPBasicAuth(
            self.credentials["consumer_key"].strip(), self.credentials["consumer_secret"].strip()
        )
        self.webhook_secret = (self.credentials.get("webhook_secret") or "").strip()
        self.http.session.headers.update({"Accept": "application/json"})

    # --- the contract ------------------------------------------------------------------------

    def test_connection(self) -> ConnectionCheck:
        """`GET /wp-json/wc/v3/settings/general`: one cheap call that needs a valid key and
        names the store currency; then the public WordPress index for the site's name."""
        site = self.http.base_url
        try:
            settings = self.general_settings()
        except AuthenticationFailed as error:
            return ConnectionCheck(False, _refused_key_message(site, error))
        except ConnectionFailed:
            return ConnectionCheck(
                False,
                f"Could not reach the store at {site}. Check the address and that the store "
                "is online.",
            )
        except InvalidResponse:
            return ConnectionCheck(
                False, f"{site} did not answer like a WooCommerce store. Check the address."
            )
        except AdapterError as error:
            return ConnectionCheck(False, _failed_connection_message(site, error))
        currency = settings.get("woocommerce_currency") or "?"
        name = self.site_name()
        shop = f"WooCommerce shop “{name}”" if name else "WooCommerce"
        return ConnectionCheck(True, f"Connected to {shop} at {site}: currency {currency}.")

    def iter_catalog(self) -> Iterator[CatalogPage]:
        """Every product in `GET /products` pages by id, each variable product followed by its
        variations. `total` counts the entries read so far plus one for each product not read
        yet, so it is exact on the last page."""
        read = emitted = 0
        for products, product_total in self._pages("/products", {"orderby": "id", "order": "asc"}):
            items = [entry for product in products for entry in self._entries(product)]
            read += len(products)
            emitted += len(items)
            total = None if product_total is None else emitted + max(product_total - read, 0)
            yield CatalogPage(items=items, total=total)

    def stock_levels(self, remote_ids: Sequence[str]) -> dict[str, StockLevel]:
        """One `GET /products?include=` per 100 products (the simple ones asked for and the
        parents of the variations asked for), then one `GET /products/{parent}/variations?
        include=` per parent."""
        simple_ids, variations_by_parent = _group_ids(remote_ids)
        products = self.products_by_id(simple_ids | set(variations_by_parent))
        levels: dict[str, StockLevel] = {}
        for product_id in simple_ids:
            product = products.get(product_id)
            if product is not None and _is_sellable_product(product):
                levels[str(product_id)] = _stock_level(str(product_id), product)
        for parent_id, variation_ids in variations_by_parent.items():
            parent = products.get(parent_id)
            if parent is None:
                continue
            for variation in self.variations(parent_id, include=variation_ids):
                remote_id = variation_remote_id(parent_id, int(variation["id"]))
                levels[remote_id] = _stock_level(remote_id, variation, parent)
        return levels

    def update_variants(self, updates: Sequence[VariantUpdate]) -> dict[str, str]:
        """`POST /products/batch` for products and `POST /products/{parent}/variations/batch`
        for each parent's variations, 100 objects a call; absolute values, so retried."""
        refused: dict[str, str] = {}
        by_path: dict[str, list[tuple[str, int, VariantUpdate]]] = {}
        for update in updates:
            if update.quantity is None and update.price is None:
                continue
            try:
                parent_id, object_id = split_remote_id(update.remote_id)
            except ValueError as error:
                refused[update.remote_id] = str(error)
                continue
            path = (
                "/products/batch"
                if parent_id is None
                else f"/products/{parent_id}/variations/batch"
            )
            by_path.setdefault(path, []).append((update.remote_id, object_id, update))
        for path, entries in by_path.items():
            for start in range(0, len(entries), MAX_BATCH):
                refused.update(self._batch_update(path, entries[start : start + MAX_BATCH]))
        return refused

    def find_order(self, reference: str) -> StoreOrder | None:
        """The orders `search` finds for the reference (it matches the shipping line's name),
        then the exact match on `_tiktok_order_id`; the oldest when an order was created twice."""
        for order in self.orders_matching(reference):
            if _meta_value(order, REFERENCE_META_KEY) == reference:
                return _store_order(order)
        return None

    def create_order(self, order: NewOrder) -> StoreOrder:
        """`POST /orders`, sent once: a retry could create the order twice."""
        body = _order_body(order)
        created = self._json(self._send("POST", "/orders", json=body), "/orders")
        if not isinstance(created, dict) or "id" not in created:
            raise InvalidResponse("WooCommerce answered the new order without its id")
        return _store_order(created)

    def cancel_order(self, remote_id: str) -> StoreOrder:
        """`PUT /orders/{id} {"status": "cancelled"}`; WooCommerce accepts it again on a
        cancelled order, and puts the stock back the first time."""
        if not remote_id.isdigit():
            raise AdapterError(f"{remote_id!r} is not a WooCommerce order id")
        path = f"/orders/{remote_id}"
        order = self.http.retrying(
            lambda: self._json(self._send("PUT", path, json={"status": CANCELLED}), path),
            sleep=self.sleep,
        )
        if not isinstance(order, dict) or "id" not in order:
            raise InvalidResponse("WooCommerce answered the cancelled order without its id")
        return _store_order(order)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> StoreWebhook:
        """Check `X-WC-Webhook-Signature` in constant time, then read the product ids of a
        product topic; the unsigned ping sent when a webhook is saved reads as no change."""
        named = {key.lower(): value for key, value in headers.items()}
        signature = named.get("x-wc-webhook-signature", "").strip()
        delivery_id = named.get("x-wc-webhook-delivery-id") or None
        if not signature and body.startswith(PING_BODY_PREFIX):
            return StoreWebhook(remote_ids=())
        if not self.webhook_secret:
            raise WebhookRefused(
                "A WooCommerce webhook arrived, but this store connection has no webhook secret "
                "to check it with. Copy the webhook's Secret from WooCommerce › Settings › "
                "Advanced › Webhooks into the store connection."
            )
        expected = base64.b64encode(
            hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).digest()
        ).decode()
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise WebhookRefused(
                "The webhook signature does not match the webhook secret of this store "
                "connection; check that the secret is the one shown for the webhook in "
                "WooCommerce › Settings › Advanced › Webhooks."
            )
        topic = named.get("x-wc-webhook-topic", "")
        if topic not in PRODUCT_TOPICS and topic != DELETED_TOPIC:
            return StoreWebhook(remote_ids=(), delivery_id=delivery_id)
        try:
            payload = json.loads(body)
        except ValueError:
            raise WebhookRefused("The WooCommerce webhook body is not JSON") from None
        if not isinstance(payload, dict) or _int_or_none(payload.get("id")) is None:
            raise WebhookRefused("The WooCommerce webhook body names no product")
        return StoreWebhook(remote_ids=_changed_remote_ids(payload), delivery_id=delivery_id)

    # --- one method per endpoint -------------------------------------------------------------

    def general_settings(self) -> dict[str, Any]:
        """`GET /settings/general` → {setting id: value}."""
        settings = _as_list(self._read("/settings/general")[0], "general settings")
        return {str(setting.get("id")): setting.get("value") for setting in settings}

    def site_name(self) -> str | None:
        """The site title from the public WordPress index `GET /wp-json/`, asked without the
        key; None when the index does not say."""
        try:
            response = self.http.request("GET", INDEX_PATH)
            index = response.json() if response.status_code == 200 else None
        except (AdapterError, ValueError):
            return None
        name = str(index.get("name") or "").strip() if isinstance(index, dict) else ""
        return _clean(name) or None

    def orders_matching(self, search: str) -> list[dict[str, Any]]:
        """`GET /orders?search=…`: the first 100 orders whose item names, addresses or id
        contain `search`, oldest first."""
        params = {"search": search, "per_page": MAX_PER_PAGE, "orderby": "id", "order": "asc"}
        return _as_list(self._read("/orders", params)[0], "orders")

    def products_by_id(self, product_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """`GET /products?include=…` in calls of 100 ids → {id: product}; ids the store no
        longer has are missing."""
        ids = sorted(set(product_ids))
        found: dict[int, dict[str, Any]] = {}
        for start in range(0, len(ids), MAX_PER_PAGE):
            chunk = ids[start : start + MAX_PER_PAGE]
            params = {"include": _id_list(chunk), "per_page": MAX_PER_PAGE}
            for products, _ in self._pages("/products", params):
                found.update({int(product["id"]): product for product in products})
        return found

    def variations(
        self, parent_id: int, include: Iterable[int] | None = None
    ) -> list[dict[str, Any]]:
        """`GET /products/{parent}/variations`, every page; only `include` ids when given."""
        path = f"/products/{parent_id}/variations"
        wanted = sorted(set(include)) if include is not None else None
        chunks = (
            [wanted[i : i + MAX_PER_PAGE] for i in range(0, len(wanted), MAX_PER_PAGE)]
            if wanted is not None
            else [None]
        )
        found: list[dict[str, Any]] = []
        for chunk in chunks:
            params: dict[str, Any] = {"orderby": "id", "order": "asc"}
            if chunk is not None:
                params["include"] = _id_list(chunk)
            for variations, _ in self._pages(path, params):
                found.extend(variations)
        return found

    # --- mapping -----------------------------------------------------------------------------

    def _entries(self, product: dict[str, Any]) -> list[StoreVariant]:
        """A product as catalog entries: nothing for an external product, the parent and its
        variations for a variable one, one entry otherwise."""
        product_type = product.get("type")
        if product_type in SKIPPED_TYPES:
            return []
        if product_type not in PARENT_TYPES:
            return [_product_entry(product, is_parent=False)]
        entries = [_product_entry(product, is_parent=True)]
        if product_type == "variable":
            entries += [
                _variation_entry(variation, product)
                for variation in self.variations(int(product["id"]))
            ]
        return entries

    def _batch_update(
        self, path: str, entries: list[tuple[str, int, VariantUpdate]]
    ) -> dict[str, str]:
        body = {"update": [_update_object(object_id, update) for _, object_id, update in entries]}
        answer = self.http.retrying(
            lambda: self._json(self._send("POST", path, json=body), path), sleep=self.sleep
        )
        results = answer.get("update") if isinstance(answer, dict) else None
        if not isinstance(results, list):
            raise InvalidResponse(f"WooCommerce answered {path} without an update list")
        answered = {
            _int_or_none(result.get("id")): result for result in results if isinstance(result, dict)
        }
        refused: dict[str, str] = {}
        for remote_id, object_id, _ in entries:
            result = answered.get(object_id)
            if result is None:
                refused[remote_id] = "WooCommerce did not answer for this product"
            elif isinstance(result.get("error"), dict):
                refused[remote_id] = _refusal_reason(result["error"])
        return refused

    # --- HTTP --------------------------------------------------------------------------------

    def _pages(
        self, path: str, params: Mapping[str, Any]
    ) -> Iterator[tuple[list[dict[str, Any]], int | None]]:
        """Page through a list, yielding (items, X-WP-Total) per page; stops at X-WP-TotalPages,
        or on a short page when a proxy dropped the headers."""
        per_page = int(params.get("per_page", self.page_size))
        page = 1
        while True:
            body, response = self._read(path, {**params, "per_page": per_page, "page": page})
            items = _as_list(body, path)
            pages = _int_or_none(response.headers.get("X-WP-TotalPages"))
            yield items, _int_or_none(response.headers.get("X-WP-Total"))
            last = page >= pages if pages is not None else len(items) < per_page
            if last or not items:
                return
            page += 1

    def _read(
        self, path: str, params: Mapping[str, Any] | None = None
    ) -> tuple[Any, requests.Response]:
        """A read's JSON body and its answer (for the paging headers): safe to retry on 429,
        5xx, connection failures and bodies cut off on the way."""

        def attempt() -> tuple[Any, requests.Response]:
            response = self._send("GET", path, params=params)
            return self._json(response, path), response

        return self.http.retrying(attempt, sleep=self.sleep)

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        response = self.http.request(method, API_PATH + path, auth=self.auth, **kwargs)
        status = response.status_code
        if status < 400:
            return response
        code, message = _error_of(response)
        retry_after = retry_after_seconds(response)
        if status == 429 or (status == 503 and retry_after is not None):
            self.http.pause(retry_after if retry_after is not None else UNSAID_PAUSE_SECONDS)
            raise RateLimited(
                f"The store asked us to slow down (HTTP {status})",
                retry_after=retry_after,
                status=status,
                code=code,
            )
        if status == 401 or (status == 403 and code):
            raise AuthenticationFailed(
                f"WooCommerce refused the API key: {message}", status=status, code=code
            )
        if status >= 500:
            raise RemoteServerError(
                f"The store failed ({status}): {message}", status=status, code=code
            )
        raise AdapterError(
            f"WooCommerce refused the request ({status}): {message}", status=status, code=code
        )

    def _json(self, response: requests.Response, path: str) -> Any:
        try:
            return decode_json(response, "WooCommerce")
        except ValueError:
            raise InvalidResponse(
                f"{self.http.base_url} answered {API_PATH}{path} with something that is not "
                "JSON; is this the address of a WooCommerce store?",
                status=response.status_code,
            ) from None


# --- remote ids ----------------------------------------------------------------------------


def variation_remote_id(parent_id: int, variation_id: int) -> str:
    """The remote id of a variation: its parent's id and its own, `"741:745"`."""
    return f"{parent_id}:{variation_id}"


def split_remote_id(remote_id: str) -> tuple[int | None, int]:
    """`"741"` → (None, 741) for a product; `"741:745"` → (741, 745) for a variation."""
    parent, _, own = remote_id.strip().rpartition(":")
    if not own.isdigit() or (parent and not parent.isdigit()):
        raise ValueError(f"{remote_id!r} is not a WooCommerce product or variation id")
    return (int(parent) if parent else None), int(own)


def _group_ids(remote_ids: Iterable[str]) -> tuple[set[int], dict[int, set[int]]]:
    """Product ids and {parent id: variation ids}; ids that are not WooCommerce ids are dropped
    (the store cannot have them)."""
    simple_ids: set[int] = set()
    by_parent: dict[int, set[int]] = {}
    for remote_id in remote_ids:
        try:
            parent_id, object_id = split_remote_id(remote_id)
        except ValueError:
            continue
        if parent_id is None:
            simple_ids.add(object_id)
        else:
            by_parent.setdefault(parent_id, set()).add(object_id)
    return simple_ids, by_parent


def _changed_remote_ids(payload: dict[str, Any]) -> tuple[str, ...]:
    """A variation names its parent; a variable product stands for all of its variations."""
    product_id = int(payload["id"])
    parent_id = _int_or_none(payload.get("parent_id"))
    if payload.get("type") == "variation" and parent_id:
        return (variation_remote_id(parent_id, product_id),)
    if payload.get("type") == "variable":
        variation_ids = (_int_or_none(v) for v in payload.get("variations") or [])
        return tuple(variation_remote_id(product_id, v) for v in variation_ids if v)
    return (str(product_id),)


# --- catalog mapping -----------------------------------------------------------------------


def _product_entry(product: dict[str, Any], *, is_parent: bool) -> StoreVariant:
    return StoreVariant(
        remote_id=str(product["id"]),
        sku=str(product.get("sku") or ""),
        name=_clean(str(product.get("name") or "")),
        variant="",
        is_parent=is_parent,
        parent_remote_id=None,
        price=_decimal(product.get("regular_price")) or _decimal(product.get("price")),
        quantity=None if is_parent else _quantity(product),
        barcode=_barcode(product),
        categories=_names(product.get("categories")),
        tags=_names(product.get("tags")),
        enabled=product.get("status") == PUBLISHED,
    )


def _variation_entry(variation: dict[str, Any], parent: dict[str, Any]) -> StoreVariant:
    return StoreVariant(
        remote_id=variation_remote_id(int(parent["id"]), int(variation["id"])),
        sku=str(variation.get("sku") or ""),
        name=_clean(str(parent.get("name") or "")),
        variant=" / ".join(
            str(attribute.get("option")).strip()
            for attribute in variation.get("attributes") or []
            if isinstance(attribute, dict) and str(attribute.get("option") or "").strip()
        ),
        is_parent=False,
        parent_remote_id=str(parent["id"]),
        price=_decimal(variation.get("regular_price")) or _decimal(variation.get("price")),
        quantity=_quantity(variation),
        barcode=_barcode(variation),
        categories=_names(parent.get("categories")),
        tags=_names(parent.get("tags")),
        enabled=_enabled(variation, parent),
    )


def _stock_level(
    remote_id: str, product: dict[str, Any], parent: dict[str, Any] | None = None
) -> StockLevel:
    return StockLevel(
        remote_id=remote_id,
        quantity=_quantity(product),
        price=_decimal(product.get("price")),
        enabled=_enabled(product, parent),
    )


def _is_sellable_product(product: dict[str, Any]) -> bool:
    return product.get("type") not in PARENT_TYPES | SKIPPED_TYPES


def _enabled(product: dict[str, Any], parent: dict[str, Any] | None = None) -> bool:
    own = product.get("status") == PUBLISHED
    return own and (parent is None or parent.get("status") == PUBLISHED)


def _quantity(product: dict[str, Any]) -> int | None:
    if not product.get("manage_stock"):
        return None
    quantity = _decimal(product.get("stock_quantity"))
    return int(quantity) if quantity is not None else None


def _barcode(product: dict[str, Any]) -> str | None:
    native = str(product.get("global_unique_id") or "").strip()
    if native:
        return native
    return next(
        (
            value
            for key in BARCODE_META_KEYS
            if (value := str(_meta_value(product, key) or "").strip())
        ),
        None,
    )


def _names(terms: Any) -> tuple[str, ...]:
    if not isinstance(terms, list):
        return ()
    names = (_clean(str(term.get("name") or "")) for term in terms if isinstance(term, dict))
    return tuple(dict.fromkeys(name for name in names if name))


def _update_object(object_id: int, update: VariantUpdate) -> dict[str, Any]:
    changes: dict[str, Any] = {"id": object_id}
    if update.quantity is not None:
        changes.update(manage_stock=True, stock_quantity=int(update.quantity))
    if update.price is not None:
        changes["regular_price"] = format(update.price, "f")
    return changes


# --- orders ----------------------------------------------------------------------------------


def _order_body(order: NewOrder) -> dict[str, Any]:
    line_items = []
    for line in order.lines:
        try:
            parent_id, object_id = split_remote_id(line.remote_id)
        except ValueError as error:
            raise AdapterError(f"Order line {line.sku}: {error}") from None
        line_total = format(line.unit_price * line.quantity, "f")
        line_items.append(
            {
                "product_id": parent_id if parent_id is not None else object_id,
                "variation_id": object_id if parent_id is not None else 0,
                "quantity": line.quantity,
                "subtotal": line_total,
                "total": line_total,
            }
        )
    return {
        "status": "processing",
        "set_paid": True,
        "currency": order.currency,
        "payment_method": TIKTOK_METHOD_ID,
        "payment_method_title": TIKTOK_TITLE,
        "billing": _address(order.shipping_address, email=order.email),
        "shipping": _address(order.shipping_address),
        "line_items": line_items,
        "shipping_lines": [
            {
                "method_id": TIKTOK_METHOD_ID,
                "method_title": f"{TIKTOK_TITLE} order {order.reference}",
                "total": "0.00",
            }
        ],
        "customer_note": order.note,
        "meta_data": [{"key": REFERENCE_META_KEY, "value": order.reference}],
    }


def _address(address: OrderAddress, *, email: str = "") -> dict[str, str]:
    first_name, _, last_name = address.name.strip().partition(" ")
    lines = [line for line in address.lines if line.strip()]
    fields = {
        "first_name": first_name,
        "last_name": last_name.strip(),
        "address_1": lines[0] if lines else "",
        "address_2": ", ".join(lines[1:]),
        "city": address.city,
        "state": address.region,
        "postcode": address.postal_code,
        "country": address.country_code,
        "phone": address.phone,
    }
    if email:
        fields["email"] = email
    return fields


def _store_order(order: dict[str, Any]) -> StoreOrder:
    status = str(order.get("status") or "")
    return StoreOrder(
        remote_id=str(order["id"]),
        number=f"#{order.get('number') or order['id']}",
        status=status,
        cancelled=status == CANCELLED,
    )


# --- messages and parsing ------------------------------------------------------------------


def _refused_key_message(site: str, error: AdapterError) -> str:
    message = (
        f"{error.message.rstrip('.')}. Check the consumer key and secret under WooCommerce › "
        "Settings › Advanced › REST API: the key must exist, belong to a shop manager or "
        "administrator and have Read/Write permissions."
    )
    if site.startswith("http://"):
        message += " WooCommerce accepts keys only over HTTPS: use the store's https:// address."
    return message


def _failed_connection_message(site: str, error: AdapterError) -> str:
    if error.status == 404 and error.code == "rest_no_route":
        return (
            f"WordPress answered at {site} but has no WooCommerce REST API. Check that the "
            "WooCommerce plugin is installed and active."
        )
    if error.status == 404:
        return (
            f"No WordPress REST API answered at {site}{INDEX_PATH}. Check the address, and that "
            "Settings › Permalinks in WordPress is not set to Plain."
        )
    return f"The store answered with an error: {error.message}"


def _refusal_reason(error: dict[str, Any]) -> str:
    """Why a batch refused one object, in words; WooCommerce's own message and code kept."""
    code = str(error.get("code") or "error")
    message = _clean(str(error.get("message") or "refused"))
    if code.endswith("_invalid_id"):
        return (
            f"WooCommerce has no such product or variation any more ({message} {code}); "
            "refresh the store catalog and link the row again."
        )
    return f"WooCommerce refused it: {message} ({code})"


def _error_of(response: requests.Response) -> tuple[str | None, str]:
    """WordPress's `{"code", "message", "data"}`; hosts and firewalls often answer HTML."""
    try:
        body = response.json()
    except ValueError:
        return None, f"HTTP {response.status_code}"
    if not isinstance(body, dict) or not body.get("message"):
        return None, f"HTTP {response.status_code}"
    code = str(body["code"]) if body.get("code") else None
    return code, _clean(str(body["message"]))


def _site_root(base_url: str) -> str:
    """Accept the site address with or without a trailing `/wp-json` or `/wp-json/wc/v3`."""
    root = base_url.strip().rstrip("/")
    for suffix in (API_PATH, INDEX_PATH.rstrip("/")):
        if root.lower().endswith(suffix):
            return root[: -len(suffix)]
    return root


def _meta_value(record: dict[str, Any], key: str) -> Any:
    for meta in record.get("meta_data") or []:
        if isinstance(meta, dict) and meta.get("key") == key:
            return meta.get("value")
    return None


def _id_list(ids: Iterable[int]) -> str:
    return ",".join(str(i) for i in ids)


def _clean(text: str) -> str:
    """Text without the HTML tags and entities WordPress puts in names and messages."""
    return " ".join(html.unescape(HTML_TAG.sub(" ", text)).split())


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _as_list(value: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise InvalidResponse(f"WooCommerce answered the {what} with something that is not a list")
    return [entry for entry in value if isinstance(entry, dict)]
