"""Emulated TikTok Shop Open API (version 202309 paths) over the demo catalog's shops.

All shops of the catalog belong to one demo seller, "Demo Outfitters". What it serves:

- `GET  /oauth/authorize?service_id=&state=` — the seller's consent page (stands for
  services.tiktokshop.com/open/authorize). *Authorize* redirects to `settings.redirect_uri` with
  `code`, `state`, `locale=en`, `shop_region`; *Cancel* with `error=access_denied&state=`.
- `GET  /api/v2/token/get?app_key&app_secret&auth_code&grant_type=authorized_code` and
  `GET  /api/v2/token/refresh?app_key&app_secret&refresh_token&grant_type=refresh_token`
  (stand for auth.tiktok-shops.com): `*_expire_in` are absolute unix timestamps.
- `GET  /authorization/202309/shops` — the seller's shops `{cipher, code, id, name, region,
  seller_type}`.
- `POST /product/202309/products/search?page_size=&page_token=` — body filters `status`,
  `seller_skus`, `update_time_ge`, `update_time_le`; `{products, next_page_token, total_count}`.
- `GET  /product/202309/products/{product_id}` — one product; SKUs add `sales_attributes`,
  `identifier_code` (when the catalog has one) and `combined_skus`.
- `POST /product/202309/products/{product_id}/inventory/update` `{"skus": [{id, inventory:
  [{warehouse_id, quantity}]}]}` — absolute stock; answers `{}` or `{"errors": [...]}`.
- `POST /product/202309/products/{product_id}/prices/update` `{"skus": [{id, price: {amount,
  currency}}]}` — answers `{}`.
- `POST /product/202309/products/activate` and `/deactivate` `{"product_ids": [...]}` — answer `{}`
  or `{"errors": [...]}`.
- `POST /order/202309/orders/search?page_size=&page_token=&sort_field=&sort_order=` — body filters
  `order_status`, `create_time_ge` / `_lt`, `update_time_ge` / `_lt`; `{orders, next_page_token,
  total_count}`.
- `GET  /order/202309/orders?ids=a,b` — those orders in full, `{orders}`.

Faithful details a client must cope with:

- Every call but the token endpoints and the consent page is signed: the query parameters except
  `sign` and `access_token`, sorted by key, concatenated as key+value, prefixed by the path, the
  raw body appended (not for GET or multipart), wrapped in the app secret on both sides,
  HMAC-SHA256 keyed by the app secret, lower-case hex. The gateway checks, in this order: app_key,
  sign present, timestamp (5 minutes behind to 30 seconds ahead), sign, `x-tts-access-token`,
  `shop_cipher` (required everywhere but `/authorization/*`, where it is refused), rate limit.
- Codes and messages follow partner.tiktokshop.com/docv2/page/common-errors: `36009004` is
  overloaded (bad app_key, missing sign, bad timestamp, invalid access token, unexpected
  identifier), so clients must read the message too. `105002` expired access token, `106001` bad
  sign, `106013` missing shop_cipher, `36004004` invalid auth code (also used here for a bad
  refresh token), `36009002` rate limited (HTTP 429), `36009003` internal error (HTTP 500),
  `36009009` unknown path (HTTP 404). Endpoint errors: `12019109` page size, `12019027` more than
  10 seller_skus, `12019119` update time window, `12019113` status, `12052180` past the search cap,
  `12019150` unknown product. Business errors come back with HTTP 200 and a non-zero code.
- Tokens are stateless (HMAC-signed with `settings.token_signing_key`: app, seller, kind, expiry,
  nonce), so they survive a sandbox restart. Auth codes are signed too, live
  `settings.auth_code_ttl` and are single use (used codes are remembered in memory). A refresh
  returns a new access token and a new refresh token; the refresh token keeps the expiry of the
  authorization it came from, so an authorization still ends when it ends.
- Search results are ordered by update time, newest first, then product id. Only the first
  `settings.search_cap` results can be read: a page reaching past them answers `12052180`, while
  `total_count` still reports every match (so a client can tell up front that it must split the
  query by `update_time` windows).
- Writes are kept beside the frozen catalog (per SKU stock per warehouse, prices, product
  status) until a reset, and show in search and product detail; a write sets the product's
  `update_time` to now, so an import by update_time window finds it.
- Inventory is validated SKU by SKU, as TikTok does: a SKU not in the product (12019022), a
  warehouse that is not the shop's, a quantity outside 0..99999, a missing `warehouse_id` on a
  SKU stocked in several warehouses, or a SKU whose warehouses are not all listed is refused in
  `data.errors[] {code, message, detail: {sku_id, extra_errors?: [{warehouse_id, code,
  message}]}}` of a `code: 0` answer while the other SKUs are applied. Codes TikTok documents are
  used as they are; the warehouse, quantity and completeness codes (1205224x) are the sandbox's.
  A product that is not the shop's answers 12019150.
- A price update is all or nothing, as TikTok's: a SKU not in the product answers 12019022, an
  amount outside the shop's range (US 0.01–7600 USD, GB 0.01–5600 GBP), with more than two
  decimals or in another currency 12052073.
- Activate / deactivate take 1 to 20 ids (12019120 past 20) and set ACTIVATE /
  SELLER_DEACTIVATED (no audit step); an unknown product is refused (12019150) in
  `data.errors[] {code, message, detail: {product_id}}` while the others change.
- Orders: one line item per unit; `recipient_address` is left out while UNPAID or ON_HOLD; search
  sorts by `create_time` (or `sort_field=update_time`), newest first unless `sort_order=ASC`;
  `update_time_lt` / `create_time_lt` are exclusive; at most 50 ids per `GET orders`, unknown ids
  are left out. Orders do not reserve stock.
- Webhooks are signed like TikTok's: header `Authorization` = hex HMAC-SHA256 keyed by the app
  secret over the app key followed by the raw body `{type, tts_notification_id, shop_id,
  timestamp, data}`; sent once (no redelivery on failure).
- Served calls are counted per endpoint in `GET /__sandbox__/stats`, keyed like
  `"POST /product/202309/products/{product_id}/inventory/update"`.
- Injected faults (`POST /__sandbox__/faults`) apply to the API and token endpoints, not to the
  consent page, which is a browser page on another host in real life.

Control endpoints for tests and the demo (no auth): `POST /__sandbox__/tiktok/tokens`
`{access_ttl?, refresh_ttl?}` mints a token grant without the consent page (a negative ttl gives
an expired token); `POST /__sandbox__/tiktok/auth-codes` `{ttl?}` mints an auth code;
`POST /__sandbox__/tiktok/revoke` invalidates every token issued so far (the seller
deauthorized the app); `POST /__sandbox__/tiktok/reset` forgets revocations, used codes, the
rate limiter's buckets, every write, order, registered webhook URL and delivery.

Orders and webhooks (control endpoints, plain JSON, 400 / 404 `{"error": ...}` when refused):

- `POST /__sandbox__/tiktok/orders` `{shop_cipher? | shop_id?, items: [{sku_id, quantity?}],
  status? (AWAITING_SHIPMENT), create_time?, buyer?: {name, phone_number, email, message,
  address_line1, address_line2, city, state, postal_code}}` creates an order in the shop (the
  first shop by default) and answers it as `GET orders` shows it (201).
- `POST /__sandbox__/tiktok/orders/{order_id}/status` `{status, cancel_reason?}` changes its
  status and moves `update_time` forward (at least one second); answers the order.
- `POST /__sandbox__/tiktok/webhooks` `{url}` registers the URL order creations and status
  changes are delivered to (type 1, `{order_id, order_status, is_on_hold_order, update_time}`);
  `{url: null}` stops it. `GET` of it answers `{url, deliveries: [{url, type, notification_id,
  status | error}]}`.
- `POST /__sandbox__/tiktok/webhooks/deliver` `{url?, type, shop_id?, data?, repeat?: 1,
  bad_signature?: false}` signs one notification (wrongly when asked) and posts it `repeat` times
  with the same body; answers `{payload, body, authorization, deliveries}` (without `url` it only
  signs, for a test client to post itself).
"""

from __future__ import annotations

import base64
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
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

import requests
from flask import Flask, Response, g, jsonify, redirect, render_template_string, request
from werkzeug.exceptions import MethodNotAllowed, NotFound

from webapp.sandbox.catalog import DemoCatalog, TikTokProduct, TikTokShop, TikTokSku
from webapp.sandbox.faults import FaultInjector
from webapp.sandbox.settings import SandboxSettings

SELLER_NAME = "Demo Outfitters"
GRANTED_SCOPES = (
    "seller.authorization.info",
    "seller.shop.info",
    "seller.product.basic",
    "seller.product.write",
    "seller.order.info",
    "seller.fulfillment.basic",
)
USER_TYPE_SELLER = 0
SIGN_EXCLUDED_PARAMS = ("sign", "access_token")
TIMESTAMP_MAX_AGE = 300  # seconds behind the server clock a signed call may be
TIMESTAMP_MAX_LEAD = 30  # seconds ahead
PAGE_SIZE_MAX = 100
SELLER_SKUS_MAX = 10
PRODUCT_STATUSES = (
    "ALL",
    "DRAFT",
    "PENDING",
    "FAILED",
    "ACTIVATE",
    "SELLER_DEACTIVATED",
    "PLATFORM_DEACTIVATED",
    "FREEZE",
    "DELETED",
)
VAT_RATES = {"GB": Decimal("0.20")}  # prices there include VAT; US prices are tax exclusive
CENT = Decimal("0.01")
PRICE_RANGES = {"USD": (CENT, Decimal("7600")), "GBP": (CENT, Decimal("5600"))}
QUANTITY_MAX = 99_999
PRODUCT_IDS_MAX = 20
ORDER_IDS_MAX = 50
LIVE = "ACTIVATE"
DEACTIVATED = "SELLER_DEACTIVATED"
ORDER_STATUSES = (
    "UNPAID",
    "ON_HOLD",
    "AWAITING_SHIPMENT",
    "PARTIALLY_SHIPPING",
    "AWAITING_COLLECTION",
    "IN_TRANSIT",
    "DELIVERED",
    "COMPLETED",
    "CANCELLED",
)
CANCELLED = "CANCELLED"
ADDRESS_HIDDEN_STATUSES = frozenset({"UNPAID", "ON_HOLD"})
ORDER_SORT_FIELDS = ("create_time", "update_time")
ORDER_ID_BASE = 576_000_000_000_000_000  # ids of 18 digits, like TikTok's; see `next_id`
LINE_ITEM_ID_BASE = 577_000_000_000_000_000
WEBHOOK_TIMEOUT = (3.05, 10.0)
ORDER_STATUS_CHANGE = 1  # webhook type

# Envelope codes (see the module docstring for where they come from).
OK = 0
AUTH_CODE_INVALID = 36004004
RATE_LIMITED = 36009002
INTERNAL_ERROR = 36009003
REQUEST_INVALID = 36009004
INVALID_PATH = 36009009
INVALID_METHOD = 36009010
REQUEST_FORMAT_INVALID = 36009022
TOKEN_EXPIRED = 105002
SIGN_INVALID = 106001
SHOP_CIPHER_MISSING = 106013
SELLER_SKUS_TOO_MANY = 12019027
PAGE_SIZE_INVALID = 12019109
STATUS_INVALID = 12019113
UPDATE_TIME_INVALID = 12019119
PRODUCT_NOT_FOUND = 12019150
SEARCH_CAP_EXCEEDED = 12052180
SKU_INVALID = 12019022
PRODUCT_IDS_TOO_MANY = 12019120
PRICE_INVALID = 12052073
# Per-SKU inventory refusals whose numbers TikTok does not publish: the sandbox's own.
INVENTORY_REFUSED = 12052240
WAREHOUSE_INVALID = 12052241
QUANTITY_INVALID = 12052242
WAREHOUSE_REQUIRED = 12052243
WAREHOUSES_INCOMPLETE = 12052244

MSG_TOKEN_INVALID = "Invalid credentials. The `x-tts-access-token` header is invalid."
MSG_TOKEN_EXPIRED = (
    "Expired credentials. The `access_token` or `x-tts-access-token` header has expired."
)


class ControlError(Exception):
    """A control endpoint's refusal of what a test or the demo asked; `{"error": message}`."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


class SkuRefused(Exception):
    """One SKU of an inventory update refused; the call's other SKUs still apply."""

    def __init__(self, code: int, message: str, extra_errors: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra_errors = extra_errors or []

    def wire(self, sku_id: str) -> dict[str, Any]:
        detail: dict[str, Any] = {"sku_id": sku_id}
        if self.extra_errors:
            detail["extra_errors"] = self.extra_errors
        return {"code": self.code, "message": self.message, "detail": detail}


class ApiRefusal(Exception):
    """A call the real API would refuse; rendered as the `{code, message, data, request_id}`
    envelope with the given HTTP status."""

    def __init__(self, code: int, message: str, status: int = 200, retry_after: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.retry_after = retry_after


# --- envelopes ------------------------------------------------------------------------------


def request_id() -> str:
    """Like the real ones: the UTC time to the second, then 20 hex digits."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime()) + secrets.token_hex(10).upper()


def envelope(data: Any, *, code: int = OK, message: str = "Success", status: int = 200) -> Response:
    response = jsonify({"code": code, "message": message, "data": data, "request_id": request_id()})
    response.status_code = status
    return response


def refusal_response(refusal: ApiRefusal) -> Response:
    response = envelope(None, code=refusal.code, message=refusal.message, status=refusal.status)
    if refusal.retry_after is not None:
        response.headers["Retry-After"] = str(refusal.retry_after)
    return response


def money(amount: Decimal) -> str:
    return str(amount.quantize(CENT, rounding=ROUND_HALF_UP))


def stable_id(*parts: str) -> str:
    """A numeric id that is always the same for the same parts, like TikTok's 19-digit ids."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return str(7_000_000_000_000_000_000 + int.from_bytes(digest[:8]) % 10**18)


# --- signatures and tokens --------------------------------------------------------------------


def expected_sign(path: str, params: Mapping[str, str], body: bytes, app_secret: str) -> str:
    """The signature the real gateway computes (see the module docstring); `body` is b"" for GET
    and multipart calls."""
    pairs = "".join(f"{k}{params[k]}" for k in sorted(params) if k not in SIGN_EXCLUDED_PARAMS)
    secret = app_secret.encode()
    message = secret + path.encode() + pairs.encode() + body + secret
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class TokenClaims:
    app: str
    seller: str
    kind: str  # "access", "refresh" or "code"
    expires_at: int
    issued_at_ms: int
    nonce: str


TOKEN_PREFIXES = {"access": "ROW_", "refresh": "RTK_", "code": "AUC_"}


def issue_token(settings: SandboxSettings, claims: TokenClaims) -> str:
    payload = json.dumps(
        {
            "a": claims.app,
            "s": claims.seller,
            "k": claims.kind,
            "e": claims.expires_at,
            "i": claims.issued_at_ms,
            "n": claims.nonce,
        },
        separators=(",", ":"),
    ).encode()
    signature = hmac.new(settings.token_signing_key.encode(), payload, hashlib.sha256).digest()
    return f"{TOKEN_PREFIXES[claims.kind]}{_b64(payload)}.{_b64(signature)}"


def read_token(settings: SandboxSettings, token: str, kind: str) -> TokenClaims | None:
    """The claims of a token this sandbox signed, of the given kind; None for anything else.
    Expiry is the caller's to check."""
    prefix = TOKEN_PREFIXES[kind]
    if not token.startswith(prefix) or "." not in token:
        return None
    encoded_payload, _, encoded_signature = token[len(prefix) :].partition(".")
    try:
        payload = _unb64(encoded_payload)
        signature = _unb64(encoded_signature)
    except ValueError:
        return None
    expected = hmac.new(settings.token_signing_key.encode(), payload, hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        return None
    fields = json.loads(payload)
    claims = TokenClaims(
        app=fields["a"],
        seller=fields["s"],
        kind=fields["k"],
        expires_at=fields["e"],
        issued_at_ms=fields["i"],
        nonce=fields["n"],
    )
    return claims if claims.kind == kind else None


# --- run-time state ---------------------------------------------------------------------------


@dataclass
class TokenBucket:
    tokens: float
    updated_at: float


@dataclass(frozen=True)
class SandboxOrder:
    """One order of a shop. `line_items` and `recipient_address` are in wire shape already."""

    id: str
    shop_id: str
    status: str
    create_time: int
    update_time: int
    currency: str
    warehouse_id: str
    line_items: tuple[dict[str, Any], ...]  # one unit each
    recipient_address: dict[str, Any]
    buyer_email: str
    buyer_message: str
    user_id: str
    cancel_reason: str = ""
    cancel_time: int | None = None


@dataclass
class SandboxState:
    """What the emulator remembers between calls, beside the frozen demo catalog: tokens used or
    revoked, rate buckets, the writes made to products, orders and webhook deliveries. Tokens
    themselves are stateless."""

    used_codes: set[str] = field(default_factory=set)
    revoked_before_ms: dict[str, int] = field(default_factory=dict)  # seller -> issued-before
    # seller -> access tokens issued before this expired early (an injected token expiry)
    expired_before_ms: dict[str, int] = field(default_factory=dict)
    buckets: dict[tuple[str, str], TokenBucket] = field(default_factory=dict)
    inventory: dict[str, tuple[tuple[str, int], ...]] = field(default_factory=dict)  # by sku id
    prices: dict[str, Decimal] = field(default_factory=dict)  # sale price by sku id
    statuses: dict[str, str] = field(default_factory=dict)  # by product id
    touched: dict[str, int] = field(default_factory=dict)  # product id -> update_time of a write
    orders: dict[str, SandboxOrder] = field(default_factory=dict)  # by order id
    webhook_url: str | None = None
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.used_codes.clear()
            self.revoked_before_ms.clear()
            self.expired_before_ms.clear()
            self.buckets.clear()
            self.inventory.clear()
            self.prices.clear()
            self.statuses.clear()
            self.touched.clear()
            self.orders.clear()
            self.webhook_url = None
            self.deliveries.clear()

    def live_product(self, product: TikTokProduct) -> TikTokProduct:
        """The catalog product with the writes made to it since the last reset."""
        with self.lock:
            if product.id not in self.touched:
                return product
            skus = tuple(
                replace(
                    sku,
                    inventory=self.inventory.get(sku.id, sku.inventory),
                    price=self.prices.get(sku.id, sku.price),
                )
                for sku in product.skus
            )
            return replace(
                product,
                status=self.statuses.get(product.id, product.status),
                update_time=self.touched[product.id],
                skus=skus,
            )

    def write_product(
        self,
        product_id: str,
        now: int,
        *,
        inventory: Mapping[str, tuple[tuple[str, int], ...]] | None = None,
        prices: Mapping[str, Decimal] | None = None,
        status: str | None = None,
    ) -> None:
        with self.lock:
            self.inventory.update(inventory or {})
            self.prices.update(prices or {})
            if status is not None:
                self.statuses[product_id] = status
            self.touched[product_id] = now

    def add_order(self, order: SandboxOrder) -> None:
        with self.lock:
            self.orders[order.id] = order

    def shop_orders(self, shop_id: str) -> list[SandboxOrder]:
        with self.lock:
            return [order for order in self.orders.values() if order.shop_id == shop_id]

    def order(self, order_id: str) -> SandboxOrder | None:
        with self.lock:
            return self.orders.get(order_id)

    def change_order_status(
        self, order_id: str, status: str, now: int, cancel_reason: str
    ) -> SandboxOrder | None:
        """The order with its new status; `update_time` moves at least one second forward, so a
        client polling by update_time always sees the change."""
        with self.lock:
            order = self.orders.get(order_id)
            if order is None:
                return None
            update_time = max(now, order.update_time + 1)
            cancelled = status == CANCELLED
            changed = replace(
                order,
                status=status,
                update_time=update_time,
                cancel_reason=cancel_reason if cancelled else order.cancel_reason,
                cancel_time=update_time if cancelled else order.cancel_time,
            )
            self.orders[order_id] = changed
            return changed

    def register_webhook(self, url: str | None) -> None:
        with self.lock:
            self.webhook_url = url

    def record_delivery(self, delivery: dict[str, Any]) -> None:
        with self.lock:
            self.deliveries.append(delivery)

    def webhook_log(self) -> dict[str, Any]:
        with self.lock:
            return {"url": self.webhook_url, "deliveries": list(self.deliveries)}

    def use_code(self, nonce: str) -> bool:
        """Mark an auth code used; False when it already was."""
        with self.lock:
            if nonce in self.used_codes:
                return False
            self.used_codes.add(nonce)
            return True

    def is_revoked(self, claims: TokenClaims) -> bool:
        with self.lock:
            return claims.issued_at_ms < self.revoked_before_ms.get(claims.seller, 0)

    def revoke(self, seller: str, now_ms: int) -> None:
        with self.lock:
            self.revoked_before_ms[seller] = now_ms + 1

    def has_expired_early(self, claims: TokenClaims) -> bool:
        with self.lock:
            return claims.issued_at_ms < self.expired_before_ms.get(claims.seller, 0)

    def expire_access_tokens(self, seller: str, now_ms: int) -> None:
        """Every access token of the seller issued so far expires now; refresh tokens still
        work, so a refresh gets a good one."""
        with self.lock:
            self.expired_before_ms[seller] = now_ms + 1

    def take(self, key: tuple[str, str], rate: float, now: float) -> float:
        """Take one request from the key's bucket; the seconds to wait when it is empty, else 0."""
        capacity = max(1.0, rate)
        with self.lock:
            bucket = self.buckets.setdefault(key, TokenBucket(capacity, now))
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated_at) * rate)
            bucket.updated_at = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0.0
            return (1 - bucket.tokens) / rate


@dataclass(frozen=True)
class DemoSeller:
    id: str
    name: str
    base_region: str
    open_id: str
    shops: tuple[TikTokShop, ...]

    def shop_by_cipher(self, cipher: str) -> TikTokShop | None:
        return next((shop for shop in self.shops if shop.cipher == cipher), None)


def demo_seller(catalog: DemoCatalog) -> DemoSeller:
    first = catalog.shops[0]
    return DemoSeller(
        id=stable_id("seller", first.id),
        name=SELLER_NAME,
        base_region=first.region,
        open_id=_b64(hashlib.sha256(f"open-id:{first.id}".encode()).digest()[:24]),
        shops=catalog.shops,
    )


# --- serializers ------------------------------------------------------------------------------


def sku_price(sku: TikTokSku, region: str) -> dict[str, str]:
    vat = VAT_RATES.get(region)
    tax_exclusive = sku.price / (1 + vat) if vat else sku.price
    return {
        "currency": sku.currency,
        "sale_price": money(sku.price),
        "tax_exclusive_price": money(tax_exclusive),
    }


def sku_summary(sku: TikTokSku, region: str) -> dict[str, Any]:
    return {
        "id": sku.id,
        "seller_sku": sku.seller_sku,
        "price": sku_price(sku, region),
        "inventory": [{"warehouse_id": w, "quantity": q} for w, q in sku.inventory],
    }


def sku_detail(sku: TikTokSku, region: str) -> dict[str, Any]:
    detail = sku_summary(sku, region)
    detail["sales_attributes"] = [
        {
            "id": stable_id("attribute", name),
            "name": name,
            "value_id": stable_id("attribute-value", name, value),
            "value_name": value,
        }
        for name, value in sku.sales_attributes
    ]
    if sku.identifier_code:
        detail["identifier_code"] = {"code": sku.identifier_code, "type": barcode_type(sku)}
    detail["combined_skus"] = []
    return detail


def barcode_type(sku: TikTokSku) -> str:
    code = sku.identifier_code or ""
    return {12: "UPC", 13: "EAN", 14: "GTIN"}.get(len(code), "GTIN")


def product_summary(product: TikTokProduct, shop: TikTokShop) -> dict[str, Any]:
    return {
        "id": product.id,
        "title": product.title,
        "status": product.status,
        "create_time": product.create_time,
        "update_time": product.update_time,
        "sales_regions": [shop.region],
        "skus": [sku_summary(sku, shop.region) for sku in product.skus],
    }


def product_detail(product: TikTokProduct, shop: TikTokShop) -> dict[str, Any]:
    return {
        "id": product.id,
        "title": product.title,
        "status": product.status,
        "description": f"<p>{product.title} from {SELLER_NAME}.</p>",
        "category_chains": [
            {
                "id": stable_id("category", product.category),
                "local_name": product.category,
                "is_leaf": True,
                "parent_id": "0",
            }
        ],
        "create_time": product.create_time,
        "update_time": product.update_time,
        "skus": [sku_detail(sku, shop.region) for sku in product.skus],
    }


def shop_summary(shop: TikTokShop) -> dict[str, str]:
    return {
        "cipher": shop.cipher,
        "code": shop.code,
        "id": shop.id,
        "name": shop.name,
        "region": shop.region,
        "seller_type": shop.seller_type,
    }


# --- products/search --------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchFilters:
    status: str | None
    seller_skus: tuple[str, ...]
    update_time_ge: int | None
    update_time_le: int | None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> SearchFilters:
        status = body.get("status")
        if status is not None and status not in PRODUCT_STATUSES:
            raise ApiRefusal(STATUS_INVALID, "product status is invalid")
        seller_skus = body.get("seller_skus") or []
        if not isinstance(seller_skus, list) or not all(isinstance(s, str) for s in seller_skus):
            raise ApiRefusal(REQUEST_INVALID, "invalid param error: seller_skus must be strings")
        if len(seller_skus) > SELLER_SKUS_MAX:
            raise ApiRefusal(
                SELLER_SKUS_TOO_MANY,
                "The maximum count of “seller_skus” in the search filter is 10.",
            )
        ge = _optional_time(body, "update_time_ge")
        le = _optional_time(body, "update_time_le")
        if ge is not None and le is not None and ge > le:
            raise ApiRefusal(UPDATE_TIME_INVALID, "search update time invalid")
        return cls(status, tuple(seller_skus), ge, le)

    def matches(self, product: TikTokProduct) -> bool:
        if self.status not in (None, "ALL") and product.status != self.status:
            return False
        if self.seller_skus and not any(s.seller_sku in self.seller_skus for s in product.skus):
            return False
        if self.update_time_ge is not None and product.update_time < self.update_time_ge:
            return False
        return self.update_time_le is None or product.update_time <= self.update_time_le

    def fingerprint(self, shop: TikTokShop) -> str:
        """Ties a page token to the query it came from."""
        query = [shop.id, self.status, self.seller_skus, self.update_time_ge, self.update_time_le]
        text = json.dumps(query)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def _optional_time(body: Mapping[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ApiRefusal(UPDATE_TIME_INVALID, "search update time invalid")
    return value


def encode_page_token(offset: int, fingerprint: str) -> str:
    return _b64(json.dumps({"o": offset, "q": fingerprint}).encode())


def decode_page_token(token: str, fingerprint: str) -> int:
    try:
        fields = json.loads(_unb64(token))
        offset, query = int(fields["o"]), fields["q"]
    except (ValueError, KeyError, TypeError):
        raise ApiRefusal(REQUEST_INVALID, "invalid param error: page_token is invalid") from None
    if query != fingerprint or offset < 0:
        raise ApiRefusal(
            REQUEST_INVALID, "invalid param error: page_token does not belong to this search"
        ) from None
    return offset


def parse_page_size(raw: str | None) -> int:
    try:
        page_size = int(raw or "")
    except ValueError:
        raise ApiRefusal(PAGE_SIZE_INVALID, "page size is invalid") from None
    if not 1 <= page_size <= PAGE_SIZE_MAX:
        raise ApiRefusal(PAGE_SIZE_INVALID, "page size is invalid")
    return page_size


def newest_first(products: Iterable[TikTokProduct]) -> list[TikTokProduct]:
    return sorted(products, key=lambda p: (-p.update_time, p.id))


# --- writes: inventory, prices, product status -------------------------------------------------


def sku_entries(body: Mapping[str, Any], value_field: str, value_type: type) -> list[dict]:
    """The `skus` of a write: a non-empty list of `{id, <value_field>}` objects, else the whole
    call is refused."""
    skus = body.get("skus")
    if (
        not isinstance(skus, list)
        or not skus
        or not all(
            isinstance(entry, dict)
            and entry.get("id")
            and isinstance(entry.get(value_field), value_type)
            for entry in skus
        )
    ):
        raise ApiRefusal(
            REQUEST_INVALID,
            f"invalid param error: skus must be a non-empty list of {{id, {value_field}}}",
        )
    return skus


def new_inventory(
    sku: TikTokSku | None, listed: list[Any], shop: TikTokShop
) -> tuple[tuple[str, int], ...]:
    """The SKU's stock after an update listing `listed` ([{warehouse_id, quantity}]), or
    `SkuRefused`. Every warehouse the SKU is stocked in must be listed; a shop warehouse it was
    not stocked in may be added."""
    if sku is None:
        raise SkuRefused(SKU_INVALID, "sku ID is invalid")
    current = [warehouse_id for warehouse_id, _ in sku.inventory]
    quantities, problems = read_quantities(listed, current, shop)
    if problems:
        raise SkuRefused(INVENTORY_REFUSED, "Failed to update the inventory of the SKU.", problems)
    missing = [warehouse_id for warehouse_id in current if warehouse_id not in quantities]
    if missing:
        raise SkuRefused(
            WAREHOUSES_INCOMPLETE,
            "Inventory must be given for every warehouse of the SKU; missing warehouse "
            + ", ".join(missing)
            + ".",
        )
    added = [w.id for w in shop.warehouses if w.id in quantities and w.id not in current]
    return tuple((warehouse_id, quantities[warehouse_id]) for warehouse_id in current + added)


def read_quantities(
    listed: list[Any], current: list[str], shop: TikTokShop
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Quantities by warehouse, and the `extra_errors` of the entries that are wrong. An entry
    may leave `warehouse_id` out when the SKU is stocked in one warehouse only."""
    shop_warehouses = {warehouse.id for warehouse in shop.warehouses}
    default = current[0] if len(current) == 1 else ""
    quantities: dict[str, int] = {}
    problems: list[dict[str, Any]] = []
    for entry in listed:
        entry = entry if isinstance(entry, dict) else {}
        warehouse_id = str(entry.get("warehouse_id") or default)
        quantity = entry.get("quantity")
        if not warehouse_id:
            problems.append(
                warehouse_problem(
                    "",
                    WAREHOUSE_REQUIRED,
                    "warehouse_id is required: the SKU is stocked in several warehouses.",
                )
            )
        elif warehouse_id not in shop_warehouses:
            problems.append(
                warehouse_problem(
                    warehouse_id, WAREHOUSE_INVALID, "The warehouse does not exist in this shop."
                )
            )
        elif not is_whole(quantity) or not 0 <= quantity <= QUANTITY_MAX:
            problems.append(
                warehouse_problem(
                    warehouse_id,
                    QUANTITY_INVALID,
                    f"The quantity must be a whole number from 0 to {QUANTITY_MAX}.",
                )
            )
        else:
            quantities[warehouse_id] = quantity
    return quantities, problems


def warehouse_problem(warehouse_id: str, code: int, message: str) -> dict[str, Any]:
    return {"warehouse_id": warehouse_id, "code": code, "message": message}


def is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def new_price(price: Mapping[str, Any], shop: TikTokShop) -> Decimal:
    """The sale price a `{amount, currency}` sets, or the refusal of the whole call."""
    if price.get("currency") != shop.currency:
        raise ApiRefusal(
            PRICE_INVALID, f"The product price is invalid: the currency must be {shop.currency}."
        )
    try:
        amount = Decimal(price["amount"]) if isinstance(price.get("amount"), str) else None
    except InvalidOperation:
        amount = None
    low, high = PRICE_RANGES[shop.currency]
    if (
        amount is None
        or not amount.is_finite()
        or -amount.as_tuple().exponent > 2
        or not low <= amount <= high
    ):
        raise ApiRefusal(
            PRICE_INVALID,
            f"The product price is invalid: give a string amount from {low} to {high} "
            f"{shop.currency} with at most two decimals.",
        )
    return amount


def product_ids(body: Mapping[str, Any]) -> list[str]:
    ids = body.get("product_ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        raise ApiRefusal(
            REQUEST_INVALID, "invalid param error: product_ids must be a non-empty list of ids"
        )
    if len(ids) > PRODUCT_IDS_MAX:
        raise ApiRefusal(PRODUCT_IDS_TOO_MANY, "product ids exceed limit")
    return ids


def product_refusal(code: int, message: str, product_id: str) -> dict[str, Any]:
    return {"code": code, "message": message, "detail": {"product_id": product_id}}


# --- orders ------------------------------------------------------------------------------------

ORDER_TIME_FILTERS = ("create_time_ge", "create_time_lt", "update_time_ge", "update_time_lt")

# The demo buyer of each region: (level name, area name) from L0 down, and the street.
DEMO_RECIPIENTS: dict[str, dict[str, Any]] = {
    "US": {
        "name": "Jordan Rivera",
        "phone_number": "(+1)2135550188",
        "address_line1": "1200 Sunset Blvd",
        "address_line2": "Apt 4B",
        "postal_code": "90026",
        "levels": (
            ("Country", "United States"),
            ("State", "California"),
            ("County", "Los Angeles County"),
            ("City", "Los Angeles"),
        ),
    },
    "GB": {
        "name": "Amelia Clarke",
        "phone_number": "(+44)7700900123",
        "address_line1": "14 Granby Street",
        "address_line2": "",
        "postal_code": "LE1 6EJ",
        "levels": (
            ("Country", "United Kingdom"),
            ("Nation", "England"),
            ("County", "Leicestershire"),
            ("City", "Leicester"),
        ),
    },
}
BUYER_ADDRESS_FIELDS = ("name", "phone_number", "address_line1", "address_line2", "postal_code")
STATE_LEVEL, CITY_LEVEL = 1, 3


@dataclass(frozen=True)
class OrderFilters:
    order_status: str | None
    create_time_ge: int | None
    create_time_lt: int | None
    update_time_ge: int | None
    update_time_lt: int | None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> OrderFilters:
        status = body.get("order_status")
        if status is not None and status not in ORDER_STATUSES:
            raise ApiRefusal(REQUEST_INVALID, "invalid param error: order_status is invalid")
        return cls(status, *(_order_time(body, name) for name in ORDER_TIME_FILTERS))

    def matches(self, order: SandboxOrder) -> bool:
        return (
            self.order_status in (None, order.status)
            and _within(order.create_time, self.create_time_ge, self.create_time_lt)
            and _within(order.update_time, self.update_time_ge, self.update_time_lt)
        )

    def fingerprint(self, shop: TikTokShop, sort_field: str, descending: bool) -> str:
        """Ties a page token to the query it came from."""
        query = [shop.id, self.order_status, *self.times(), sort_field, descending]
        return hashlib.sha256(json.dumps(query).encode()).hexdigest()[:12]

    def times(self) -> tuple[int | None, ...]:
        return tuple(getattr(self, name) for name in ORDER_TIME_FILTERS)


def _order_time(body: Mapping[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not is_whole(value) or value < 0:
        raise ApiRefusal(REQUEST_INVALID, f"invalid param error: {name} must be unix seconds")
    return value


def _within(value: int, ge: int | None, lt: int | None) -> bool:
    return (ge is None or value >= ge) and (lt is None or value < lt)


def parse_order_sort(args: Mapping[str, str]) -> tuple[str, bool]:
    """`sort_field` (create_time by default) and whether newest first (the default)."""
    sort_field = args.get("sort_field") or "create_time"
    sort_order = (args.get("sort_order") or "DESC").upper()
    if sort_field not in ORDER_SORT_FIELDS or sort_order not in ("ASC", "DESC"):
        raise ApiRefusal(
            REQUEST_INVALID, "invalid param error: sort_field or sort_order is invalid"
        )
    return sort_field, sort_order == "DESC"


def line_item(line_id: str, product: TikTokProduct, sku: TikTokSku) -> dict[str, Any]:
    """One unit of a SKU as an order line item (without its display_status, the order's)."""
    price = money(sku.price)
    return {
        "id": line_id,
        "product_id": product.id,
        "product_name": product.title,
        "sku_id": sku.id,
        "seller_sku": sku.seller_sku,
        "sku_name": ", ".join(value for _, value in sku.sales_attributes),
        "sku_image": "",
        "original_price": price,
        "sale_price": price,
        "platform_discount": "0.00",
        "seller_discount": "0.00",
        "currency": sku.currency,
        "sku_type": "NORMAL",
        "is_gift": False,
        "package_status": "TO_FULFILL",
    }


def recipient_address(region: str, buyer: Mapping[str, Any]) -> dict[str, Any]:
    """The region's demo buyer's address, with what `buyer` gives instead."""
    demo = DEMO_RECIPIENTS[region]
    fields = {name: str(buyer.get(name) or demo[name]) for name in BUYER_ADDRESS_FIELDS}
    levels = [list(level) for level in demo["levels"]]
    levels[STATE_LEVEL][1] = str(buyer.get("state") or levels[STATE_LEVEL][1])
    levels[CITY_LEVEL][1] = str(buyer.get("city") or levels[CITY_LEVEL][1])
    street = " ".join(line for line in (fields["address_line1"], fields["address_line2"]) if line)
    return {
        **fields,
        "address_line3": "",
        "address_line4": "",
        "address_detail": street,
        "full_address": ", ".join([*(area for _, area in levels), street]),
        "region_code": region,
        "district_info": [
            {"address_level": f"L{index}", "address_level_name": name, "address_name": area}
            for index, (name, area) in enumerate(levels)
        ],
    }


def order_payment(order: SandboxOrder) -> dict[str, str]:
    subtotal = money(sum((Decimal(line["sale_price"]) for line in order.line_items), Decimal(0)))
    return {
        "currency": order.currency,
        "original_total_product_price": subtotal,
        "seller_discount": "0.00",
        "platform_discount": "0.00",
        "sub_total": subtotal,
        "original_shipping_fee": "0.00",
        "shipping_fee": "0.00",
        "tax": "0.00",
        "total_amount": subtotal,
    }


def order_wire(order: SandboxOrder) -> dict[str, Any]:
    """An order as orders/search and GET orders show it."""
    data: dict[str, Any] = {
        "id": order.id,
        "status": order.status,
        "create_time": order.create_time,
        "update_time": order.update_time,
        "user_id": order.user_id,
        "buyer_email": order.buyer_email,
        "buyer_message": order.buyer_message,
        "fulfillment_type": "FULFILLMENT_BY_SELLER",
        "shipping_type": "TIKTOK",
        "delivery_type": "HOME_DELIVERY",
        "warehouse_id": order.warehouse_id,
        "is_cod": False,
        "is_on_hold_order": order.status == "ON_HOLD",
        "is_sample_order": False,
        "payment": order_payment(order),
        "line_items": [{**line, "display_status": order.status} for line in order.line_items],
        "packages": [],
    }
    if order.status != "UNPAID":
        data["paid_time"] = order.create_time
    if order.status not in ADDRESS_HIDDEN_STATUSES:
        data["recipient_address"] = order.recipient_address
    if order.status == CANCELLED:
        data["cancel_reason"] = order.cancel_reason
        data["cancel_time"] = order.cancel_time
        data["cancellation_initiator"] = "BUYER"
    return data


def anonymized_email(user_id: str, region: str) -> str:
    """TikTok hands sellers a relay address, never the buyer's own."""
    domain = "scs.tiktokw.us" if region == "US" else "scs.tiktokw.eu"
    return f"v2_{hashlib.sha256(user_id.encode()).hexdigest()[:20]}@{domain}"


# --- webhooks ----------------------------------------------------------------------------------


def webhook_signature(app_key: str, app_secret: str, body: bytes) -> str:
    """What TikTok puts in a delivery's `Authorization` header."""
    return hmac.new(app_secret.encode(), app_key.encode() + body, hashlib.sha256).hexdigest()


def post_webhook(url: str, body: bytes, authorization: str) -> dict[str, Any]:
    """Send one delivery; the receiver's HTTP status, or why it could not be reached."""
    headers = {"Authorization": authorization, "Content-Type": "application/json"}
    try:
        response = requests.post(url, data=body, headers=headers, timeout=WEBHOOK_TIMEOUT)
    except requests.RequestException as error:
        return {"error": str(error)}
    return {"status": response.status_code}


def control_options() -> dict[str, Any]:
    options = request.get_json(silent=True)
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise ControlError("The body must be a JSON object")
    return options


ROUTE_VARIABLE = re.compile(r"<(?:\w+:)?(\w+)>")


def endpoint_key(method: str, rule: str) -> str:
    """The stats key of an endpoint, in the docs' notation:
    `POST /product/202309/products/{product_id}/inventory/update`."""
    return method + " " + ROUTE_VARIABLE.sub(r"{\1}", rule)


# --- the consent page -------------------------------------------------------------------------

AUTHORIZE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>TikTok Shop authorization</title>
<style>
body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;color:#161823}
li{margin:.25rem 0} button{padding:.5rem 1.25rem;margin-right:.5rem;font-size:1rem}
button[value=authorize]{background:#fe2c55;color:#fff;border:0;border-radius:4px}
</style></head><body>
<h1>Authorize SKU Bridge to manage {{ seller.name }}’ shops</h1>
<p>SKU Bridge asks to read and update your products, inventory, prices and orders in:</p>
<ul>{% for shop in seller.shops %}<li>{{ shop.name }} ({{ shop.region }})</li>{% endfor %}</ul>
<form method="post" action="">
  <input type="hidden" name="service_id" value="{{ service_id }}">
  <input type="hidden" name="state" value="{{ state }}">
  <button type="submit" name="decision" value="authorize">Authorize</button>
  <button type="submit" name="decision" value="cancel">Cancel</button>
</form></body></html>"""

BAD_SERVICE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Authorization failed</title></head>
<body><h1>This authorization link is not valid</h1>
<p>No app is registered under service id “{{ service_id }}”.</p></body></html>"""


def with_query(url: str, params: Mapping[str, str]) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


# --- the app ----------------------------------------------------------------------------------


class TikTokSandbox:
    """The endpoints and gateway checks, bound to one settings object and catalog."""

    def __init__(self, settings: SandboxSettings, catalog: DemoCatalog, clock: Callable[[], float]):
        self.settings = settings
        self.seller = demo_seller(catalog)
        self.clock = clock
        self.state = SandboxState()
        self.by_id = {
            (shop.id, product.id): product
            for shop in self.seller.shops
            for product in shop.products
        }
        self.sku_owners = {
            (shop.id, sku.id): product
            for shop in self.seller.shops
            for product in shop.products
            for sku in product.skus
        }
        self.id_sequence = itertools.count()

    # -- tokens --

    def now(self) -> int:
        return int(self.clock())

    def mint(self, kind: str, expires_at: int) -> str:
        claims = TokenClaims(
            app=self.settings.app_key,
            seller=self.seller.id,
            kind=kind,
            expires_at=expires_at,
            issued_at_ms=int(self.clock() * 1000),
            nonce=secrets.token_hex(8),
        )
        return issue_token(self.settings, claims)

    def grant(self, refresh_expires_at: int, access_ttl: int | None = None) -> dict[str, Any]:
        """The `data` of a token/get or token/refresh answer."""
        access_expires_at = self.now() + (
            self.settings.access_token_ttl if access_ttl is None else access_ttl
        )
        return {
            "access_token": self.mint("access", access_expires_at),
            "access_token_expire_in": access_expires_at,
            "refresh_token": self.mint("refresh", refresh_expires_at),
            "refresh_token_expire_in": refresh_expires_at,
            "open_id": self.seller.open_id,
            "seller_name": self.seller.name,
            "seller_base_region": self.seller.base_region,
            "user_type": USER_TYPE_SELLER,
            "granted_scopes": list(GRANTED_SCOPES),
        }

    def check_app(self, args: Mapping[str, str]) -> None:
        """Token endpoints: the app's key and secret."""
        if args.get("app_key") != self.settings.app_key:
            raise ApiRefusal(
                REQUEST_INVALID, "Invalid credentials. Invalid `app_key` query parameter."
            )
        if not hmac.compare_digest(args.get("app_secret", ""), self.settings.app_secret):
            raise ApiRefusal(
                REQUEST_INVALID, "Invalid credentials. Invalid `app_secret` query parameter."
            )

    # -- gateway checks for signed calls --

    def authenticate(self) -> None:
        """Run the gateway's checks on a signed call; leaves the shop (or None) in `g.shop`."""
        args = request.args
        if args.get("app_key") != self.settings.app_key:
            raise ApiRefusal(
                REQUEST_INVALID, "Invalid credentials. Invalid `app_key` query parameter.", 401
            )
        if not args.get("sign"):
            raise ApiRefusal(
                REQUEST_INVALID,
                "Missing credentials. The request does not include a required signature in the "
                "query.",
                401,
            )
        self.check_timestamp(args.get("timestamp"))
        body = b"" if self.body_unsigned() else request.get_data(cache=True)
        expected = expected_sign(request.path, args.to_dict(), body, self.settings.app_secret)
        if not hmac.compare_digest(args["sign"], expected):
            raise ApiRefusal(
                SIGN_INVALID, "Invalid credentials. The `sign` query parameter is invalid.", 401
            )
        self.check_access_token(request.headers.get("x-tts-access-token", ""))
        g.shop = self.check_shop(args.get("shop_cipher"))
        self.check_rate(args["app_key"], args.get("shop_cipher", ""))

    @staticmethod
    def body_unsigned() -> bool:
        return request.method == "GET" or request.mimetype == "multipart/form-data"

    def check_timestamp(self, raw: str | None) -> None:
        try:
            timestamp = int(raw or "")
        except ValueError:
            raise ApiRefusal(
                REQUEST_INVALID,
                "Invalid timestamp. The `timestamp` query parameter must be unix seconds.",
                401,
            ) from None
        prefix = "Invalid timestamp. The value of the `timestamp` query parameter must not "
        now = self.now()
        if timestamp < 0:
            raise ApiRefusal(REQUEST_INVALID, prefix + "be lesser than 0.", 401)
        if timestamp < now - TIMESTAMP_MAX_AGE:
            raise ApiRefusal(
                REQUEST_INVALID, prefix + "be earlier than 5 minutes before the current time.", 401
            )
        if timestamp > now + TIMESTAMP_MAX_LEAD:
            raise ApiRefusal(
                REQUEST_INVALID,
                prefix + "exceed the current time by more than 30 seconds.",
                401,
            )

    def check_access_token(self, token: str) -> None:
        claims = read_token(self.settings, token, "access")
        if (
            claims is None
            or claims.app != self.settings.app_key
            or claims.seller != self.seller.id
            or self.state.is_revoked(claims)
        ):
            raise ApiRefusal(REQUEST_INVALID, MSG_TOKEN_INVALID, 401)
        if claims.expires_at <= self.now() or self.state.has_expired_early(claims):
            raise ApiRefusal(TOKEN_EXPIRED, MSG_TOKEN_EXPIRED, 401)

    def expire_tokens_now(self) -> Response | None:
        """An injected token expiry: on a signed call, the seller's access tokens expire and the
        call is refused as an expired token is; other calls carry no access token."""
        if not is_signed_api_path(request.path):
            return None
        self.state.expire_access_tokens(self.seller.id, int(self.clock() * 1000))
        return refusal_response(ApiRefusal(TOKEN_EXPIRED, MSG_TOKEN_EXPIRED, 401))

    def check_shop(self, cipher: str | None) -> TikTokShop | None:
        if request.path.startswith("/authorization/"):
            if cipher:
                raise ApiRefusal(
                    REQUEST_INVALID,
                    "Unexpected identifier. The `shop_cipher` query parameter is not required for "
                    "this request.",
                    400,
                )
            return None
        if not cipher:
            raise ApiRefusal(
                SHOP_CIPHER_MISSING,
                "Missing identifier. The `shop_cipher` query parameter is required to identify "
                "the target shop.",
                400,
            )
        shop = self.seller.shop_by_cipher(cipher)
        if shop is None:
            raise ApiRefusal(
                REQUEST_INVALID,
                "Invalid identifier. The `shop_cipher` query parameter is invalid.",
                400,
            )
        return shop

    def check_rate(self, app_key: str, cipher: str) -> None:
        rate = self.settings.rate_limit_per_second
        if not rate:
            return
        wait = self.state.take((app_key, cipher), rate, self.clock())
        if wait:
            raise ApiRefusal(
                RATE_LIMITED,
                "Too many requests. You've made too many requests in a short period of time.",
                429,
                retry_after=max(1, math.ceil(wait)),
            )

    # -- endpoints --

    def authorize_page(self) -> Response | tuple[str, int]:
        """GET services.tiktokshop.com/open/authorize: the seller's consent page."""
        service_id = request.args.get("service_id", "")
        if service_id != self.settings.service_id:
            return render_template_string(BAD_SERVICE_PAGE, service_id=service_id), 400
        return render_template_string(
            AUTHORIZE_PAGE,
            seller=self.seller,
            service_id=service_id,
            state=request.args.get("state", ""),
        )

    def authorize_decision(self) -> Response | tuple[str, int]:
        """The consent page's buttons: back to the app's redirect URI, with a code or an error."""
        service_id = request.form.get("service_id", "")
        if service_id != self.settings.service_id:
            return render_template_string(BAD_SERVICE_PAGE, service_id=service_id), 400
        state = request.form.get("state", "")
        if request.form.get("decision") != "authorize":
            return redirect(
                with_query(self.settings.redirect_uri, {"error": "access_denied", "state": state})
            )
        code = self.mint("code", self.now() + self.settings.auth_code_ttl)
        params = {
            "code": code,
            "state": state,
            "locale": "en",
            "shop_region": self.seller.base_region,
        }
        return redirect(with_query(self.settings.redirect_uri, params))

    def token_get(self) -> Response:
        """GET /api/v2/token/get: trade a single-use auth code for tokens."""
        args = request.args
        self.check_app(args)
        if args.get("grant_type") != "authorized_code":
            raise ApiRefusal(
                REQUEST_INVALID, "invalid param error: grant_type must be authorized_code"
            )
        claims = read_token(self.settings, args.get("auth_code", ""), "code")
        if claims is None or claims.app != self.settings.app_key:
            raise ApiRefusal(AUTH_CODE_INVALID, "Invalid auth code.")
        if claims.expires_at <= self.now():
            raise ApiRefusal(AUTH_CODE_INVALID, "Invalid auth code. The auth code has expired.")
        if not self.state.use_code(claims.nonce):
            raise ApiRefusal(AUTH_CODE_INVALID, "Invalid auth code. The auth code has been used.")
        return envelope(self.grant(self.now() + self.settings.refresh_token_ttl))

    def token_refresh(self) -> Response:
        """GET /api/v2/token/refresh: a new access token and a new refresh token."""
        args = request.args
        self.check_app(args)
        if args.get("grant_type") != "refresh_token":
            raise ApiRefusal(
                REQUEST_INVALID, "invalid param error: grant_type must be refresh_token"
            )
        claims = read_token(self.settings, args.get("refresh_token", ""), "refresh")
        if claims is None or claims.app != self.settings.app_key or self.state.is_revoked(claims):
            raise ApiRefusal(AUTH_CODE_INVALID, "Invalid refresh token.")
        if claims.expires_at <= self.now():
            raise ApiRefusal(
                AUTH_CODE_INVALID, "Invalid refresh token. The refresh token has expired."
            )
        return envelope(self.grant(claims.expires_at))

    def authorized_shops(self) -> Response:
        """GET /authorization/202309/shops: the shops the seller authorized the app for."""
        return envelope({"shops": [shop_summary(shop) for shop in self.seller.shops]})

    def search_products(self) -> Response:
        """POST /product/202309/products/search: one page of the shop's products."""
        shop: TikTokShop = g.shop
        page_size = parse_page_size(request.args.get("page_size"))
        filters = SearchFilters.from_body(self.json_body())
        fingerprint = filters.fingerprint(shop)
        token = request.args.get("page_token")
        offset = decode_page_token(token, fingerprint) if token else 0
        matches = [p for p in self.live_products(shop) if filters.matches(p)]
        end = min(offset + page_size, len(matches))
        if end > self.settings.search_cap:
            raise ApiRefusal(
                SEARCH_CAP_EXCEEDED, "The total number of search results can not exceed 10000."
            )
        next_token = encode_page_token(end, fingerprint) if end < len(matches) else ""
        return envelope(
            {
                "products": [product_summary(p, shop) for p in matches[offset:end]],
                "next_page_token": next_token,
                "total_count": len(matches),
            }
        )

    def get_product(self, product_id: str) -> Response:
        """GET /product/202309/products/{product_id}: one product with its SKUs in full."""
        shop: TikTokShop = g.shop
        return envelope(product_detail(self.shop_product(shop, product_id), shop))

    def live_products(self, shop: TikTokShop) -> list[TikTokProduct]:
        """The shop's products as they are now, in search order."""
        return newest_first(self.state.live_product(product) for product in shop.products)

    def shop_product(self, shop: TikTokShop, product_id: str) -> TikTokProduct:
        """One of the shop's products as it is now; another shop's is not found."""
        product = self.by_id.get((shop.id, product_id))
        if product is None:
            raise ApiRefusal(PRODUCT_NOT_FOUND, "The product ID does not exist.")
        return self.state.live_product(product)

    def update_inventory(self, product_id: str) -> Response:
        """POST /product/202309/products/{product_id}/inventory/update: absolute stock per SKU and
        warehouse. Refused SKUs come back in `data.errors`; the others are applied."""
        shop: TikTokShop = g.shop
        product = self.shop_product(shop, product_id)
        skus = {sku.id: sku for sku in product.skus}
        written: dict[str, tuple[tuple[str, int], ...]] = {}
        errors = []
        for entry in sku_entries(self.json_body(), "inventory", list):
            sku_id = str(entry["id"])
            try:
                written[sku_id] = new_inventory(skus.get(sku_id), entry["inventory"], shop)
            except SkuRefused as refusal:
                errors.append(refusal.wire(sku_id))
        if written:
            self.state.write_product(product.id, self.now(), inventory=written)
        return envelope({"errors": errors} if errors else {})

    def update_prices(self, product_id: str) -> Response:
        """POST /product/202309/products/{product_id}/prices/update: new sale prices, all or
        nothing."""
        shop: TikTokShop = g.shop
        product = self.shop_product(shop, product_id)
        sku_ids = {sku.id for sku in product.skus}
        prices = {}
        for entry in sku_entries(self.json_body(), "price", dict):
            sku_id = str(entry["id"])
            if sku_id not in sku_ids:
                raise ApiRefusal(SKU_INVALID, f"sku ID is invalid: {sku_id}")
            prices[sku_id] = new_price(entry["price"], shop)
        self.state.write_product(product.id, self.now(), prices=prices)
        return envelope({})

    def activate_products(self) -> Response:
        """POST /product/202309/products/activate: put deactivated products on sale again."""
        return self.change_status(LIVE)

    def deactivate_products(self) -> Response:
        """POST /product/202309/products/deactivate: take products off sale."""
        return self.change_status(DEACTIVATED)

    def change_status(self, target: str) -> Response:
        """Set each product's status; a product already there is left as it is."""
        shop: TikTokShop = g.shop
        errors = []
        for product_id in product_ids(self.json_body()):
            product = self.by_id.get((shop.id, product_id))
            if product is None:
                errors.append(
                    product_refusal(PRODUCT_NOT_FOUND, "The product ID does not exist.", product_id)
                )
            elif self.state.live_product(product).status != target:
                self.state.write_product(product_id, self.now(), status=target)
        return envelope({"errors": errors} if errors else {})

    def search_orders(self) -> Response:
        """POST /order/202309/orders/search: one page of the shop's orders."""
        shop: TikTokShop = g.shop
        page_size = parse_page_size(request.args.get("page_size"))
        filters = OrderFilters.from_body(self.json_body())
        sort_field, descending = parse_order_sort(request.args)
        fingerprint = filters.fingerprint(shop, sort_field, descending)
        token = request.args.get("page_token")
        offset = decode_page_token(token, fingerprint) if token else 0
        matches = sorted(
            (order for order in self.state.shop_orders(shop.id) if filters.matches(order)),
            key=lambda order: (getattr(order, sort_field), order.id),
            reverse=descending,
        )
        end = min(offset + page_size, len(matches))
        return envelope(
            {
                "orders": [order_wire(order) for order in matches[offset:end]],
                "next_page_token": encode_page_token(end, fingerprint)
                if end < len(matches)
                else "",
                "total_count": len(matches),
            }
        )

    def get_orders(self) -> Response:
        """GET /order/202309/orders?ids=a,b: those of the shop's orders, in full."""
        shop: TikTokShop = g.shop
        ids = [order_id for order_id in request.args.get("ids", "").split(",") if order_id]
        if not ids:
            raise ApiRefusal(REQUEST_INVALID, "invalid param error: ids is required")
        if len(ids) > ORDER_IDS_MAX:
            raise ApiRefusal(
                REQUEST_INVALID, f"invalid param error: ids can hold at most {ORDER_IDS_MAX}"
            )
        orders = [self.state.order(order_id) for order_id in ids]
        return envelope(
            {"orders": [order_wire(o) for o in orders if o is not None and o.shop_id == shop.id]}
        )

    @staticmethod
    def json_body() -> dict[str, Any]:
        raw = request.get_data(cache=True)
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ApiRefusal(
                REQUEST_FORMAT_INVALID,
                "Invalid request format. The request body format must be `application/json` for "
                "structured data or `multipart/form-data` for binary files.",
                400,
            )
        return body

    # -- control endpoints --

    def control_tokens(self) -> Response:
        """POST /__sandbox__/tiktok/tokens {access_ttl?, refresh_ttl?}: a grant, no consent page."""
        options = request.get_json(silent=True) or {}
        refresh_ttl = int(options.get("refresh_ttl", self.settings.refresh_token_ttl))
        access_ttl = options.get("access_ttl")
        grant = self.grant(
            self.now() + refresh_ttl, None if access_ttl is None else int(access_ttl)
        )
        return jsonify(grant)

    def control_auth_code(self) -> Response:
        """POST /__sandbox__/tiktok/auth-codes {ttl?}: an auth code, no consent page."""
        options = request.get_json(silent=True) or {}
        ttl = int(options.get("ttl", self.settings.auth_code_ttl))
        return jsonify({"code": self.mint("code", self.now() + ttl)})

    def control_revoke(self) -> Response:
        """POST /__sandbox__/tiktok/revoke: the seller deauthorized the app."""
        self.state.revoke(self.seller.id, int(self.clock() * 1000))
        return jsonify({"revoked": True, "seller_id": self.seller.id})

    def control_reset(self) -> Response:
        """POST /__sandbox__/tiktok/reset: forget revocations, used codes, rate buckets, writes,
        orders and webhooks."""
        self.state.reset()
        return jsonify({"reset": True})

    def control_create_order(self) -> tuple[Response, int]:
        """POST /__sandbox__/tiktok/orders: a buyer places an order (see the module docstring)."""
        options = control_options()
        shop = self.control_shop(options)
        status = options.get("status", "AWAITING_SHIPMENT")
        check_order_status(status)
        buyer = options.get("buyer") or {}
        if not isinstance(buyer, dict):
            raise ControlError("buyer must be an object")
        created = options.get("create_time") or self.now()
        if not is_whole(created):
            raise ControlError("create_time must be unix seconds")
        user_id = stable_id("buyer", shop.id, str(buyer.get("name") or ""))
        order = SandboxOrder(
            id=self.next_id(ORDER_ID_BASE),
            shop_id=shop.id,
            status=status,
            create_time=created,
            update_time=created,
            currency=shop.currency,
            warehouse_id=shop.warehouses[0].id,
            line_items=self.line_items(shop, options.get("items")),
            recipient_address=recipient_address(shop.region, buyer),
            buyer_email=str(buyer.get("email") or anonymized_email(user_id, shop.region)),
            buyer_message=str(buyer.get("message") or ""),
            user_id=user_id,
        )
        self.state.add_order(order)
        self.notify_order(order)
        return jsonify(order_wire(order)), 201

    def control_order_status(self, order_id: str) -> Response:
        """POST /__sandbox__/tiktok/orders/{order_id}/status {status, cancel_reason?}."""
        options = control_options()
        status = options.get("status")
        check_order_status(status)
        reason = str(options.get("cancel_reason") or "Buyer changed their mind")
        order = self.state.change_order_status(order_id, status, self.now(), reason)
        if order is None:
            raise ControlError(f"There is no order {order_id}", 404)
        self.notify_order(order)
        return jsonify(order_wire(order))

    def control_register_webhook(self) -> Response:
        """POST /__sandbox__/tiktok/webhooks {url}: where order changes are delivered."""
        url = control_options().get("url") or None
        if url is not None and not str(url).startswith(("http://", "https://")):
            raise ControlError("url must start with http:// or https://")
        self.state.register_webhook(url)
        return jsonify({"url": url})

    def control_webhook_log(self) -> Response:
        """GET /__sandbox__/tiktok/webhooks: the registered URL and every delivery made."""
        return jsonify(self.state.webhook_log())

    def control_deliver_webhook(self) -> Response:
        """POST /__sandbox__/tiktok/webhooks/deliver: sign one notification and post it."""
        options = control_options()
        kind, repeat, data = options.get("type"), options.get("repeat", 1), options.get("data", {})
        if not is_whole(kind):
            raise ControlError("type must be a webhook type number, such as 1 (order status)")
        if not is_whole(repeat) or not 1 <= repeat <= 10:
            raise ControlError("repeat must be 1 to 10")
        if not isinstance(data, dict):
            raise ControlError("data must be an object")
        delivery = self.deliver(
            options.get("url") or None,
            kind,
            str(options.get("shop_id") or self.seller.shops[0].id),
            data,
            repeat=repeat,
            bad_signature=bool(options.get("bad_signature")),
        )
        return jsonify(delivery)

    # -- orders and webhooks --

    def next_id(self, base: int) -> str:
        """An 18-digit id, unique across restarts: the clock in ms and a sequence number."""
        return str(base + int(self.clock() * 1000) * 1000 + next(self.id_sequence) % 1000)

    def control_shop(self, options: Mapping[str, Any]) -> TikTokShop:
        cipher, shop_id = options.get("shop_cipher"), options.get("shop_id")
        if cipher:
            shop = self.seller.shop_by_cipher(str(cipher))
        elif shop_id:
            shop = next((s for s in self.seller.shops if s.id == str(shop_id)), None)
        else:
            shop = self.seller.shops[0]
        if shop is None:
            raise ControlError("No shop of the demo seller has that shop_cipher or shop_id", 404)
        return shop

    def line_items(self, shop: TikTokShop, items: Any) -> tuple[dict[str, Any], ...]:
        """One line item per unit of each `{sku_id, quantity}`, at the SKU's current price."""
        if not isinstance(items, list) or not items:
            raise ControlError("items must be a non-empty list of {sku_id, quantity}")
        lines = []
        for item in items:
            item = item if isinstance(item, dict) else {}
            sku_id, quantity = str(item.get("sku_id") or ""), item.get("quantity", 1)
            owner = self.sku_owners.get((shop.id, sku_id))
            if owner is None:
                raise ControlError(f"SKU {sku_id!r} is not sold in {shop.name}")
            if not is_whole(quantity) or quantity < 1:
                raise ControlError(f"quantity of SKU {sku_id} must be a whole number from 1")
            product = self.state.live_product(owner)
            sku = next(sku for sku in product.skus if sku.id == sku_id)
            lines += [
                line_item(self.next_id(LINE_ITEM_ID_BASE), product, sku) for _ in range(quantity)
            ]
        return tuple(lines)

    def notify_order(self, order: SandboxOrder) -> None:
        """Deliver an order status change (type 1) to the registered webhook URL, if any."""
        url = self.state.webhook_url
        if url:
            data = {
                "order_id": order.id,
                "order_status": order.status,
                "is_on_hold_order": order.status == "ON_HOLD",
                "update_time": order.update_time,
            }
            self.deliver(url, ORDER_STATUS_CHANGE, order.shop_id, data)

    def deliver(
        self,
        url: str | None,
        kind: int,
        shop_id: str,
        data: dict[str, Any],
        *,
        repeat: int = 1,
        bad_signature: bool = False,
    ) -> dict[str, Any]:
        """Sign one notification and post it `repeat` times, the same body each time, as TikTok
        redelivers; without a URL it is only signed."""
        payload = {
            "type": kind,
            "tts_notification_id": stable_id("notification", secrets.token_hex(8)),
            "shop_id": shop_id,
            "timestamp": self.now(),
            "data": data,
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        secret = self.settings.app_secret + ("-not-the-secret" if bad_signature else "")
        authorization = webhook_signature(self.settings.app_key, secret, body)
        deliveries = []
        for _ in range(repeat if url else 0):
            delivery = {
                "url": url,
                "type": kind,
                "notification_id": payload["tts_notification_id"],
                **post_webhook(url, body, authorization),
            }
            self.state.record_delivery(delivery)
            deliveries.append(delivery)
        return {
            "payload": payload,
            "body": body.decode(),
            "authorization": authorization,
            "deliveries": deliveries,
        }


def check_order_status(status: Any) -> None:
    if status not in ORDER_STATUSES:
        raise ControlError(f"status must be one of {', '.join(ORDER_STATUSES)}")


def is_signed_api_path(path: str) -> bool:
    return not path.startswith(("/oauth/", "/api/v2/token/", "/__sandbox__/"))


def create_tiktok_sandbox(
    settings: SandboxSettings, catalog: DemoCatalog, *, clock: Callable[[], float] = time.time
) -> Flask:
    """The emulated TikTok Shop API as a Flask app (see the module docstring)."""
    app = Flask(__name__)
    app.json.sort_keys = False
    sandbox = TikTokSandbox(settings, catalog, clock)
    app.extensions["tiktok_sandbox"] = sandbox

    faults = FaultInjector(seed=settings.seed)
    app.extensions["sandbox_faults"] = faults
    faults.install(
        app,
        on_error=lambda: refusal_response(
            ApiRefusal(
                INTERNAL_ERROR,
                "Internal error. Please try again. If the issue persists after multiple "
                "attempts, please contact platform support.",
                500,
            )
        ),
        on_rate_limit=lambda: refusal_response(
            ApiRefusal(
                RATE_LIMITED,
                "Too many requests. You've made too many requests in a short period of time.",
                429,
            )
        ),
        on_token_expiry=sandbox.expire_tokens_now,
        exempt=lambda path: path.startswith("/oauth/"),
    )

    @app.before_request
    def gateway() -> None:
        if request.routing_exception is None and is_signed_api_path(request.path):
            try:
                sandbox.authenticate()
            except ApiRefusal as refusal:
                if refusal.code == RATE_LIMITED:  # counted with the injected ones
                    faults.stats["rate_limited"] += 1
                raise
            faults.stats[endpoint_key(request.method, request.url_rule.rule)] += 1

    app.register_error_handler(ApiRefusal, refusal_response)
    app.register_error_handler(
        ControlError, lambda error: (jsonify({"error": error.message}), error.status)
    )
    app.register_error_handler(
        NotFound,
        lambda _: envelope(
            None,
            code=INVALID_PATH,
            message="Invalid path. The specified path does not match any available endpoint.",
            status=404,
        ),
    )
    app.register_error_handler(
        MethodNotAllowed,
        lambda _: envelope(
            None,
            code=INVALID_METHOD,
            message="Invalid method. The HTTP method used is not supported by this endpoint.",
            status=405,
        ),
    )

    app.add_url_rule("/oauth/authorize", view_func=sandbox.authorize_page, methods=["GET"])
    app.add_url_rule(
        "/oauth/authorize",
        endpoint="authorize_decision",
        view_func=sandbox.authorize_decision,
        methods=["POST"],
    )
    app.add_url_rule("/api/v2/token/get", view_func=sandbox.token_get)
    app.add_url_rule("/api/v2/token/refresh", view_func=sandbox.token_refresh)
    app.add_url_rule("/authorization/202309/shops", view_func=sandbox.authorized_shops)
    app.add_url_rule(
        "/product/202309/products/search", view_func=sandbox.search_products, methods=["POST"]
    )
    app.add_url_rule("/product/202309/products/<product_id>", view_func=sandbox.get_product)
    product_writes = {
        "/product/202309/products/<product_id>/inventory/update": sandbox.update_inventory,
        "/product/202309/products/<product_id>/prices/update": sandbox.update_prices,
        "/product/202309/products/activate": sandbox.activate_products,
        "/product/202309/products/deactivate": sandbox.deactivate_products,
        "/order/202309/orders/search": sandbox.search_orders,
    }
    for rule, view in product_writes.items():
        app.add_url_rule(rule, view_func=view, methods=["POST"])
    app.add_url_rule("/order/202309/orders", view_func=sandbox.get_orders)
    control = "/__sandbox__/tiktok/"
    app.add_url_rule(control + "tokens", view_func=sandbox.control_tokens, methods=["POST"])
    app.add_url_rule(control + "auth-codes", view_func=sandbox.control_auth_code, methods=["POST"])
    app.add_url_rule(control + "revoke", view_func=sandbox.control_revoke, methods=["POST"])
    app.add_url_rule(control + "reset", view_func=sandbox.control_reset, methods=["POST"])
    app.add_url_rule(control + "orders", view_func=sandbox.control_create_order, methods=["POST"])
    app.add_url_rule(
        control + "orders/<order_id>/status",
        view_func=sandbox.control_order_status,
        methods=["POST"],
    )
    app.add_url_rule(
        control + "webhooks", view_func=sandbox.control_register_webhook, methods=["POST"]
    )
    app.add_url_rule(control + "webhooks", view_func=sandbox.control_webhook_log, methods=["GET"])
    app.add_url_rule(
        control + "webhooks/deliver", view_func=sandbox.control_deliver_webhook, methods=["POST"]
    )
    return app
