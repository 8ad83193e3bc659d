"""TikTok Shop Open API client (version 202309 paths): OAuth tokens, authorized shops, products,
stock / price / status writes, orders, and the webhooks TikTok Shop sends.

It speaks the real wire format (see DESIGN.md, "API notes"): every call but the token endpoints is
signed with the app secret and a fresh timestamp (re-signed on each retry), carries the access
token in `x-tts-access-token` and, except on `/authorization/*`, the shop's `shop_cipher`.
Answers are `{code, message, data, request_id}` envelopes; `code != 0` is an error whatever the
HTTP status, raised as a `TikTokApiError` subclass the rest of SKU Bridge can act on without
reading codes: `TokenExpired` / `TokenInvalid` (reconnect), `TikTokRateLimited` and
`TikTokServerError` (retried here, with backoff), `SearchCapExceeded`, `ProductNotFound`.

Code `36009004` is overloaded on TikTok's side (partner.tiktokshop.com/docv2/page/common-errors):
its message says whether the access token, the app key, the timestamp or a parameter was refused,
so the message decides the exception for that code.

Writes and orders:

- `inventory/update` and `prices/update` take one product a call, absolute values. An inventory
  update lists every warehouse of each SKU. A refused SKU comes back inside a `code: 0` answer as
  `data.errors[] {code, message, detail: {sku_id, extra_errors[] {warehouse_id, code, message}}}`
  while the call's other SKUs are applied; those become `ItemFailure`s. A price update is refused
  as a whole (a non-zero code such as 12019022 "sku ID is invalid") when one SKU is wrong.
- `products/activate` and `/deactivate` take at most 20 product ids a call (12019120 past that);
  refused products come back as `data.errors[] {code, message, detail: {product_id}}`.
- `orders/search` pages with `page_size` (≤ 100) and `page_token` in the query and filters in the
  body (`order_status`, `update_time_ge` / `update_time_lt`: lower bound inclusive, upper bound
  exclusive); `GET /order/202309/orders?ids=a,b` reads at most 50 orders a call.
- An order's `line_items` hold one unit each (two of a SKU are two line items);
  `recipient_address` is absent while the order is UNPAID or ON_HOLD; `district_info` lists the
  address levels L0 (country), L1 (state or nation), then county / city levels by name.
- All of these writes are absolute or idempotent, so they are retried like reads, also when the
  answer timed out or came back cut off. On a rate limit the client tells its `RateLimiter` to
  pause (TikTok rarely says for how long: a second then).
- An access token can expire in the middle of a run (105002). A client given `renew_token` gets
  a fresh one through it once and sends the call again.
- Webhooks carry `Authorization` = lower-case hex HMAC-SHA256 keyed by the app secret over the app
  key followed by the raw body, and a JSON body `{type, tts_notification_id, shop_id, timestamp,
  data}`. TikTok redelivers until it gets a 200, so the same notification can arrive twice.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from webapp.adapters.base import (
    DEFAULT_POLICY,
    AdapterError,
    AuthenticationFailed,
    CallPolicy,
    HttpClient,
    InvalidResponse,
    OrderAddress,
    RateLimited,
    RateLimiter,
    RemoteServerError,
    decode_json,
    retry_after_seconds,
)

API_VERSION = "202309"
SEARCH_CAP = 10_000  # products/search refuses to read past this many results (12052180)
PAGE_SIZE_MAX = 100
SIGN_EXCLUDED_PARAMS = frozenset({"sign", "access_token"})
OPEN_WINDOW_MIN_SPAN = 7 * 86_400  # seconds; see `TikTokShopClient._halves`
PRODUCT_IDS_PER_CALL = 20  # products/activate and /deactivate
ORDER_IDS_PER_CALL = 50  # GET /order/202309/orders?ids=
RATE_LIMIT_PAUSE = 1.0  # seconds the limiter holds calls back when TikTok does not say
CITY_LEVEL_NAME = "city"
STATE_LEVEL = "L1"

# Webhook `type`s SKU Bridge subscribes to.
ORDER_STATUS_CHANGE = 1
PRODUCT_STATUS_CHANGE = 5
SELLER_DEAUTHORIZATION = 6
UPCOMING_AUTHORIZATION_EXPIRATION = 7

TOKEN_EXPIRED_CODES = frozenset({105002})
TOKEN_INVALID_CODES = frozenset({36004004, 105001})
RATE_LIMIT_CODES = frozenset({36009002})
SERVER_ERROR_CODES = frozenset({36009003, 36009007, 12001000})
OVERLOADED_CODE = 36009004
SEARCH_CAP_CODE = 12052180
PRODUCT_NOT_FOUND_CODES = frozenset({12019150, 12052032, 12052260})


# --- errors ---------------------------------------------------------------------------------


class TikTokApiError(AdapterError):
    """TikTok Shop answered a non-zero `code`; `code` and `request_id` are TikTok's own."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        request_id: str | None = None,
        status: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(message, status=status, code=code, **kwargs)
        self.request_id = request_id


class TokenExpired(TikTokApiError, AuthenticationFailed):
    """The access token (or the authorization behind it) has expired: refresh or reconnect."""


class TokenInvalid(TikTokApiError, AuthenticationFailed):
    """The token, auth code or refresh token was refused (revoked, used, forged): reconnect."""


class AppCredentialsInvalid(TikTokApiError, AuthenticationFailed):
    """TikTok Shop does not know the app key or secret SKU Bridge is configured with."""


class TikTokRateLimited(TikTokApiError, RateLimited):
    """36009002 / HTTP 429."""


class TikTokServerError(TikTokApiError, RemoteServerError):
    """36009003 / 36009007 / HTTP 5xx: TikTok failed on its side."""


class SearchCapExceeded(TikTokApiError):
    """products/search refuses to page past its cap (12052180): narrow the update_time window."""


class ProductNotFound(TikTokApiError):
    """The product does not exist in this shop (deleted, or another shop's)."""


# --- what the client hands back ---------------------------------------------------------------


@dataclass(frozen=True)
class TokenGrant:
    access_token: str
    access_token_expires_at: int  # unix seconds
    refresh_token: str
    refresh_token_expires_at: int  # unix seconds; the authorization ends then
    seller_name: str
    open_id: str


@dataclass(frozen=True)
class AuthorizedShop:
    id: str
    cipher: str
    code: str
    name: str
    region: str
    seller_type: str


@dataclass(frozen=True)
class MarketplaceSkuData:
    sku_id: str
    seller_sku: str
    price: Decimal | None
    currency: str
    inventory: tuple[tuple[str, int], ...]  # (warehouse_id, quantity)
    variant: str  # "Black / M" from sales_attributes; "" when unknown (search results)
    barcode: str | None  # identifier_code, product detail only


@dataclass(frozen=True)
class MarketplaceProduct:
    id: str
    title: str
    status: str
    update_time: int
    skus: tuple[MarketplaceSkuData, ...]
    detailed: bool  # True when read from product detail (variant and barcode known)


@dataclass(frozen=True)
class ProductSearchPage:
    products: list[MarketplaceProduct]
    next_page_token: str  # "" on the last page
    total_count: int  # matches of the query (for iter_products: of the current update_time window)


@dataclass(frozen=True)
class InventoryUpdate:
    """One SKU's new stock in every one of its warehouses."""

    sku_id: str
    quantities: tuple[tuple[str, int], ...]  # (warehouse_id, quantity)


@dataclass(frozen=True)
class PriceUpdate:
    sku_id: str
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class ItemFailure:
    """A per-SKU (or per-product) refusal inside a `code: 0` answer."""

    id: str | None  # the sku id (inventory / prices) or product id (activate / deactivate)
    code: int
    message: str


@dataclass(frozen=True)
class MarketplaceOrderItem:
    id: str
    product_id: str
    sku_id: str
    seller_sku: str
    sku_name: str
    product_name: str
    sale_price: Decimal
    currency: str


@dataclass(frozen=True)
class MarketplaceOrder:
    id: str
    status: str  # UNPAID, ON_HOLD, AWAITING_SHIPMENT, ..., CANCELLED
    create_time: int
    update_time: int
    currency: str
    items: tuple[MarketplaceOrderItem, ...]  # one unit per line item, as TikTok sends them
    recipient: OrderAddress  # all empty while the order is UNPAID or ON_HOLD
    buyer_email: str
    buyer_message: str


@dataclass(frozen=True)
class OrderSearchPage:
    orders: list[MarketplaceOrder]
    next_page_token: str  # "" on the last page
    total: int


@dataclass(frozen=True)
class WebhookEvent:
    type: int  # 1 order status, 5 product status, 6 seller deauthorized, 7 authorization expiring
    shop_id: str
    timestamp: int
    data: dict[str, Any]
    notification_id: str = ""  # tts_notification_id: the same for a redelivery


# --- signing --------------------------------------------------------------------------------


def sign_request(
    path: str, params: Mapping[str, Any], body: bytes | str | None, app_secret: str
) -> str:
    """TikTok Shop's request signature: the query parameters except `sign` and `access_token`,
    sorted by key, concatenated as key+value, prefixed by the path, the raw body appended (pass
    None for GET and multipart calls), wrapped in the app secret on both sides, HMAC-SHA256 keyed
    by the app secret, lower-case hex."""
    pairs = "".join(
        f"{key}{params[key]}" for key in sorted(params) if key not in SIGN_EXCLUDED_PARAMS
    )
    if isinstance(body, str):
        body = body.encode()
    secret = app_secret.encode()
    message = secret + path.encode() + pairs.encode() + (body or b"") + secret
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


# --- envelope reading -----------------------------------------------------------------------


def read_envelope(response: requests.Response) -> Any:
    """The `data` of a TikTok envelope, or the exception its code (or HTTP status) stands for."""
    try:
        payload = decode_json(response, "TikTok Shop")
    except ValueError:
        payload = None
    if not isinstance(payload, dict) or "code" not in payload:
        raise _error_without_envelope(response)
    code = _int_or_none(payload.get("code"))
    if code == 0:
        return payload.get("data") or {}
    raise api_error(
        code,
        str(payload.get("message") or ""),
        request_id=payload.get("request_id"),
        status=response.status_code,
        retry_after=retry_after_seconds(response),
    )


def api_error(
    code: int | None,
    message: str,
    *,
    request_id: str | None = None,
    status: int | None = None,
    retry_after: float | None = None,
) -> TikTokApiError:
    """The exception for one refused call, with a message a support person can act on."""
    detail = f"{message} (TikTok Shop code {code}, request {request_id})"
    context = {"code": code, "request_id": request_id, "status": status}
    lowered = message.lower()
    if code in RATE_LIMIT_CODES or status == 429:
        return TikTokRateLimited(
            f"TikTok Shop is rate limiting SKU Bridge: {detail}", retry_after=retry_after, **context
        )
    if code in TOKEN_EXPIRED_CODES:
        return TokenExpired(f"TikTok Shop authorization has expired: {detail}", **context)
    token_refused = "access_token" in lowered or "access-token" in lowered
    if code in TOKEN_INVALID_CODES or (code == OVERLOADED_CODE and token_refused):
        return TokenInvalid(f"TikTok Shop refused the authorization: {detail}", **context)
    if code == OVERLOADED_CODE and ("app_key" in lowered or "app_secret" in lowered):
        return AppCredentialsInvalid(f"TikTok Shop refused SKU Bridge's app: {detail}", **context)
    if code in SERVER_ERROR_CODES or (status is not None and status >= 500):
        return TikTokServerError(f"TikTok Shop failed on its side: {detail}", **context)
    if code == SEARCH_CAP_CODE:
        return SearchCapExceeded(f"TikTok Shop search limit reached: {detail}", **context)
    if code in PRODUCT_NOT_FOUND_CODES:
        return ProductNotFound(f"TikTok Shop has no such product: {detail}", **context)
    return TikTokApiError(f"TikTok Shop refused the call: {detail}", **context)


def _error_without_envelope(response: requests.Response) -> AdapterError:
    status = response.status_code
    if status == 429:
        return TikTokRateLimited(
            "TikTok Shop is rate limiting SKU Bridge (HTTP 429)",
            status=status,
            retry_after=retry_after_seconds(response),
        )
    if status >= 500:
        return TikTokServerError(f"TikTok Shop failed on its side (HTTP {status})", status=status)
    return InvalidResponse(
        f"TikTok Shop answered HTTP {status} without its envelope", status=status
    )


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# --- parsing --------------------------------------------------------------------------------


def parse_grant(data: Mapping[str, Any]) -> TokenGrant:
    try:
        return TokenGrant(
            access_token=data["access_token"],
            access_token_expires_at=int(data["access_token_expire_in"]),
            refresh_token=data["refresh_token"],
            refresh_token_expires_at=int(data["refresh_token_expire_in"]),
            seller_name=data.get("seller_name", ""),
            open_id=data.get("open_id", ""),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidResponse(f"TikTok Shop token answer lacks {error}") from error


def parse_shop(data: Mapping[str, Any]) -> AuthorizedShop:
    return AuthorizedShop(
        id=str(data["id"]),
        cipher=data["cipher"],
        code=data.get("code", ""),
        name=data.get("name", ""),
        region=data.get("region", ""),
        seller_type=data.get("seller_type", ""),
    )


def parse_sku(data: Mapping[str, Any]) -> MarketplaceSkuData:
    price = data.get("price") or {}
    identifier = data.get("identifier_code") or {}
    attributes = data.get("sales_attributes") or []
    return MarketplaceSkuData(
        sku_id=str(data["id"]),
        seller_sku=data.get("seller_sku") or "",
        price=_decimal(price.get("sale_price")),
        currency=price.get("currency") or "",
        inventory=tuple(
            (str(entry["warehouse_id"]), int(entry.get("quantity") or 0))
            for entry in data.get("inventory") or []
        ),
        variant=" / ".join(a.get("value_name", "") for a in attributes if a.get("value_name")),
        barcode=identifier.get("code") or None,
    )


def parse_product(data: Mapping[str, Any], *, detailed: bool) -> MarketplaceProduct:
    try:
        return MarketplaceProduct(
            id=str(data["id"]),
            title=data.get("title") or "",
            status=data.get("status") or "",
            update_time=int(data.get("update_time") or 0),
            skus=tuple(parse_sku(sku) for sku in data.get("skus") or []),
            detailed=detailed,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidResponse(f"TikTok Shop product lacks {error}") from error


def parse_item_failures(data: Mapping[str, Any], id_field: str) -> list[ItemFailure]:
    """The `data.errors[]` of a `code: 0` write answer: what TikTok refused one SKU or product at
    a time. `id_field` is the key of `detail` naming it (`sku_id` or `product_id`)."""
    failures = []
    for error in data.get("errors") or []:
        detail = error.get("detail") or {}
        item_id = detail.get(id_field)
        failures.append(
            ItemFailure(
                id=None if item_id is None else str(item_id),
                code=_int_or_none(error.get("code")) or 0,
                message=_failure_message(error, detail),
            )
        )
    return failures


def _failure_message(error: Mapping[str, Any], detail: Mapping[str, Any]) -> str:
    """TikTok's message, followed by what it said of each warehouse."""
    message = str(error.get("message") or "refused without a reason")
    warehouses = [
        f"warehouse {extra.get('warehouse_id')}: {extra.get('message')}"
        for extra in detail.get("extra_errors") or []
    ]
    return f"{message.rstrip('.')}: {' '.join(warehouses)}" if warehouses else message


def parse_order(data: Mapping[str, Any]) -> MarketplaceOrder:
    try:
        currency = (data.get("payment") or {}).get("currency") or ""
        return MarketplaceOrder(
            id=str(data["id"]),
            status=data.get("status") or "",
            create_time=int(data.get("create_time") or 0),
            update_time=int(data.get("update_time") or 0),
            currency=currency,
            items=tuple(parse_order_item(line, currency) for line in data.get("line_items") or []),
            recipient=parse_recipient(data.get("recipient_address") or {}),
            buyer_email=data.get("buyer_email") or "",
            buyer_message=data.get("buyer_message") or "",
        )
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidResponse(f"TikTok Shop order lacks {error}") from error


def parse_order_item(data: Mapping[str, Any], order_currency: str) -> MarketplaceOrderItem:
    return MarketplaceOrderItem(
        id=str(data["id"]),
        product_id=str(data.get("product_id") or ""),
        sku_id=str(data["sku_id"]),
        seller_sku=data.get("seller_sku") or "",
        sku_name=data.get("sku_name") or "",
        product_name=data.get("product_name") or "",
        sale_price=_decimal(data.get("sale_price")) or Decimal(0),
        currency=data.get("currency") or order_currency,
    )


def parse_recipient(data: Mapping[str, Any]) -> OrderAddress:
    """`recipient_address`: street lines from address_line1..4 (or address_detail when those are
    empty), the state from district level L1, the city from the level named "city" or else the
    deepest level below the state."""
    lines = tuple(
        line for line in (data.get(f"address_line{n}") for n in range(1, 5)) if line
    ) or tuple(line for line in [data.get("address_detail")] if line)
    districts = sorted(data.get("district_info") or [], key=lambda d: d.get("address_level", ""))
    region = next((d for d in districts if d.get("address_level") == STATE_LEVEL), {})
    below_state = [d for d in districts if d.get("address_level", "") > STATE_LEVEL]
    city = next(
        (d for d in districts if (d.get("address_level_name") or "").lower() == CITY_LEVEL_NAME),
        below_state[-1] if below_state else {},
    )
    return OrderAddress(
        name=data.get("name") or "",
        phone=data.get("phone_number") or "",
        lines=lines,
        city=city.get("address_name") or "",
        region=region.get("address_name") or "",
        postal_code=data.get("postal_code") or "",
        country_code=data.get("region_code") or "",
    )


# --- webhooks -------------------------------------------------------------------------------


def verify_webhook(app_key: str, app_secret: str, body: bytes, authorization: str | None) -> bool:
    """Whether a webhook delivery's `Authorization` header is TikTok's signature of this raw body:
    hex HMAC-SHA256 keyed by the app secret over the app key followed by the body."""
    if not authorization:
        return False
    expected = hmac.new(app_secret.encode(), app_key.encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, authorization.strip().lower())


def parse_webhook(body: bytes) -> WebhookEvent:
    """A webhook delivery's body `{type, tts_notification_id, shop_id, timestamp, data}`; verify
    its signature first (`verify_webhook`)."""
    try:
        payload = json.loads(body)
    except ValueError as error:
        raise InvalidResponse("TikTok Shop webhook body is not JSON") from error
    if not isinstance(payload, dict) or not isinstance(payload.get("data", {}), dict):
        raise InvalidResponse("TikTok Shop webhook body is not a notification object")
    try:
        return WebhookEvent(
            type=int(payload["type"]),
            shop_id=str(payload["shop_id"]),
            timestamp=int(payload.get("timestamp") or 0),
            data=payload.get("data") or {},
            notification_id=str(payload.get("tts_notification_id") or ""),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidResponse(f"TikTok Shop webhook lacks {error}") from error


def _decimal(text: Any) -> Decimal | None:
    if text in (None, ""):
        return None
    try:
        return Decimal(str(text))
    except InvalidOperation:
        return None


# --- the client -----------------------------------------------------------------------------


class TikTokShopClient:
    """One app's view of TikTok Shop, optionally bound to one seller's token and one shop.

    `api_base_url` stands for open-api.tiktokglobalshop.com, `auth_base_url` for the hosts of the
    consent page and the token endpoints. `renew_token`, when given, refreshes the seller's
    authorization (and stores it) and returns the new access token: a call refused because the
    token expired is sent once more with it. `sleep` and `clock` are injectable for tests;
    `search_cap` is TikTok's 10,000 unless a test sandbox is set lower. `limiter` holds the
    account's allowed rate across workers: every signed call waits for it, and a rate-limited
    answer pauses it.
    """

    def __init__(
        self,
        app_key: str,
        app_secret: str,
        api_base_url: str,
        auth_base_url: str,
        access_token: str | None = None,
        shop_cipher: str | None = None,
        *,
        policy: CallPolicy = DEFAULT_POLICY,
        sleep: Callable[[float], None] = time.sleep,
        search_cap: int = SEARCH_CAP,
        clock: Callable[[], float] = time.time,
        limiter: RateLimiter | None = None,
        renew_token: Callable[[], str] | None = None,
    ):
        if not app_key or not app_secret:
            raise ValueError("TikTok Shop needs the app key and app secret")
        self.app_key = app_key
        self.app_secret = app_secret
        self.access_token = access_token
        self.shop_cipher = shop_cipher
        self.api = HttpClient(api_base_url, policy=policy, limiter=limiter)
        self.auth = HttpClient(auth_base_url, policy=policy, session=self.api.session)
        self.sleep = sleep
        self.renew_token = renew_token
        self.search_cap = search_cap
        self.clock = clock

    def close(self) -> None:
        self.api.close()

    # -- OAuth --

    def authorize_url(self, service_id: str, state: str) -> str:
        """services.tiktokshop.com/open/authorize: where the seller grants SKU Bridge access."""
        query = urlencode({"service_id": service_id, "state": state})
        return f"{self.auth.base_url}/oauth/authorize?{query}"

    def get_token(self, auth_code: str) -> TokenGrant:
        """GET /api/v2/token/get: trade the single-use auth code from the redirect for tokens."""
        return parse_grant(
            self._token_call(
                "/api/v2/token/get", {"auth_code": auth_code, "grant_type": "authorized_code"}
            )
        )

    def refresh_token(self, refresh_token: str) -> TokenGrant:
        """GET /api/v2/token/refresh: a new access token *and* a new refresh token; store both."""
        return parse_grant(
            self._token_call(
                "/api/v2/token/refresh",
                {"refresh_token": refresh_token, "grant_type": "refresh_token"},
            )
        )

    # -- shops and products --

    def get_authorized_shops(self) -> list[AuthorizedShop]:
        """GET /authorization/202309/shops: the shops the seller authorized SKU Bridge for."""
        data = self._signed_call("GET", f"/authorization/{API_VERSION}/shops", with_shop=False)
        return [parse_shop(shop) for shop in data.get("shops") or []]

    def search_products(
        self,
        page_token: str | None = None,
        page_size: int = PAGE_SIZE_MAX,
        update_time_ge: int | None = None,
        update_time_le: int | None = None,
        status: str | None = None,
        seller_skus: list[str] | None = None,
    ) -> ProductSearchPage:
        """POST /product/202309/products/search: one page of the shop's products (no variant
        names nor barcodes: those come with `get_product`)."""
        if not 1 <= page_size <= PAGE_SIZE_MAX:
            raise ValueError(f"page_size must be 1 to {PAGE_SIZE_MAX}, got {page_size}")
        query = {"page_size": page_size, "page_token": page_token or None}
        filters = {
            "status": status,
            "seller_skus": seller_skus,
            "update_time_ge": update_time_ge,
            "update_time_le": update_time_le,
        }
        body = {name: value for name, value in filters.items() if value is not None}
        data = self._signed_call(
            "POST", f"/product/{API_VERSION}/products/search", query=query, body=body
        )
        return ProductSearchPage(
            products=[parse_product(p, detailed=False) for p in data.get("products") or []],
            next_page_token=data.get("next_page_token") or "",
            total_count=int(data.get("total_count") or 0),
        )

    def get_product(self, product_id: str) -> MarketplaceProduct:
        """GET /product/202309/products/{product_id}: one product with variant names, barcodes."""
        data = self._signed_call("GET", f"/product/{API_VERSION}/products/{product_id}")
        return parse_product(data, detailed=True)

    def iter_products(
        self,
        update_time_ge: int | None = None,
        update_time_le: int | None = None,
        page_size: int = PAGE_SIZE_MAX,
    ) -> Iterator[ProductSearchPage]:
        """Every product updated in the window, each exactly once, page by page.

        TikTok's search reads at most `search_cap` results of one query, so a window holding more
        is split in two halves by update_time, recursively, until each half fits. Empty pages are
        not yielded; `total_count` of a page is that of its window.
        """
        yield from self._iter_window(update_time_ge, update_time_le, page_size, frozenset())

    def _iter_window(
        self, ge: int | None, le: int | None, page_size: int, skip: frozenset[str]
    ) -> Iterator[ProductSearchPage]:
        try:
            page = self.search_products(page_size=page_size, update_time_ge=ge, update_time_le=le)
            total = page.total_count
        except SearchCapExceeded:  # a first page larger than the cap
            page, total = None, self.search_cap + 1
        if page is None or total > self.search_cap:
            for half_ge, half_le in self._halves(ge, le, total):
                yield from self._iter_window(half_ge, half_le, page_size, skip)
            return
        yielded: set[str] = set()
        while True:
            fresh = [product for product in page.products if product.id not in skip]
            if fresh:
                yield ProductSearchPage(fresh, page.next_page_token, page.total_count)
                yielded.update(product.id for product in fresh)
            if not page.next_page_token:
                return
            try:
                page = self.search_products(
                    page_token=page.next_page_token,
                    page_size=page_size,
                    update_time_ge=ge,
                    update_time_le=le,
                )
            except SearchCapExceeded:
                # The window grew past the cap while we read it: split it, skipping what we gave.
                for half_ge, half_le in self._halves(ge, le, self.search_cap + 1):
                    yield from self._iter_window(half_ge, half_le, page_size, skip | yielded)
                return

    def _halves(self, ge: int | None, le: int | None, total: int) -> list[tuple[int, int | None]]:
        """Two update_time windows covering [ge, le]. An open end stays open, so nothing updated
        after the clock's "now" is lost; its notional end is now, or a week past `ge`."""
        low = ge or 0
        if le is None:
            high = max(int(self.clock()), low + OPEN_WINDOW_MIN_SPAN)
            middle = (low + high) // 2
            return [(low, middle), (middle + 1, None)]
        if low >= le:
            raise TikTokApiError(
                f"TikTok Shop cannot list all {total} products updated at {low}: more than "
                f"{self.search_cap} share that second"
            )
        middle = (low + le) // 2
        return [(low, middle), (middle + 1, le)]

    # -- stock, prices, product status --

    def update_inventory(
        self, product_id: str, skus: Sequence[InventoryUpdate]
    ) -> list[ItemFailure]:
        """POST /product/202309/products/{product_id}/inventory/update: absolute stock of these
        SKUs of one product, each with every one of its warehouses. Returns the SKUs TikTok
        refused (the others were applied)."""
        if not skus:
            return []
        body = {
            "skus": [
                {
                    "id": sku.sku_id,
                    "inventory": [
                        {"warehouse_id": warehouse_id, "quantity": quantity}
                        for warehouse_id, quantity in sku.quantities
                    ],
                }
                for sku in skus
            ]
        }
        path = f"/product/{API_VERSION}/products/{product_id}/inventory/update"
        return parse_item_failures(self._signed_call("POST", path, body=body), "sku_id")

    def update_prices(self, product_id: str, prices: Sequence[PriceUpdate]) -> list[ItemFailure]:
        """POST /product/202309/products/{product_id}/prices/update: new sale prices of these SKUs
        of one product. TikTok refuses the whole call (raising here) when one SKU is wrong."""
        if not prices:
            return []
        body = {
            "skus": [
                {
                    "id": price.sku_id,
                    "price": {"amount": _amount(price.amount), "currency": price.currency},
                }
                for price in prices
            ]
        }
        path = f"/product/{API_VERSION}/products/{product_id}/prices/update"
        return parse_item_failures(self._signed_call("POST", path, body=body), "sku_id")

    def activate_products(self, product_ids: Sequence[str]) -> list[ItemFailure]:
        """POST /product/202309/products/activate, 20 products a call: list them for sale again.
        Returns the products TikTok refused."""
        return self._change_status("activate", product_ids)

    def deactivate_products(self, product_ids: Sequence[str]) -> list[ItemFailure]:
        """POST /product/202309/products/deactivate, 20 products a call: take them off sale.
        Returns the products TikTok refused."""
        return self._change_status("deactivate", product_ids)

    def _change_status(self, action: str, product_ids: Sequence[str]) -> list[ItemFailure]:
        path = f"/product/{API_VERSION}/products/{action}"
        failures: list[ItemFailure] = []
        for chunk in _chunks(product_ids, PRODUCT_IDS_PER_CALL):
            data = self._signed_call("POST", path, body={"product_ids": list(chunk)})
            failures.extend(parse_item_failures(data, "product_id"))
        return failures

    # -- orders --

    def search_orders(
        self,
        *,
        update_time_ge: int | None = None,
        update_time_lt: int | None = None,
        page_size: int = PAGE_SIZE_MAX,
        page_token: str | None = None,
        order_status: str | None = None,
    ) -> OrderSearchPage:
        """POST /order/202309/orders/search: one page of the shop's orders updated in
        [update_time_ge, update_time_lt)."""
        if not 1 <= page_size <= PAGE_SIZE_MAX:
            raise ValueError(f"page_size must be 1 to {PAGE_SIZE_MAX}, got {page_size}")
        query = {"page_size": page_size, "page_token": page_token or None}
        filters = {
            "order_status": order_status,
            "update_time_ge": update_time_ge,
            "update_time_lt": update_time_lt,
        }
        body = {name: value for name, value in filters.items() if value is not None}
        data = self._signed_call(
            "POST", f"/order/{API_VERSION}/orders/search", query=query, body=body
        )
        return OrderSearchPage(
            orders=[parse_order(order) for order in data.get("orders") or []],
            next_page_token=data.get("next_page_token") or "",
            total=int(data.get("total_count") or 0),
        )

    def iter_orders(
        self,
        *,
        update_time_ge: int | None = None,
        update_time_lt: int | None = None,
        order_status: str | None = None,
    ) -> Iterator[MarketplaceOrder]:
        """Every order updated in [update_time_ge, update_time_lt), page after page."""
        page_token = None
        while True:
            page = self.search_orders(
                update_time_ge=update_time_ge,
                update_time_lt=update_time_lt,
                page_token=page_token,
                order_status=order_status,
            )
            yield from page.orders
            if not page.next_page_token:
                return
            page_token = page.next_page_token

    def get_orders(self, order_ids: Sequence[str]) -> list[MarketplaceOrder]:
        """GET /order/202309/orders?ids=a,b, 50 orders a call: these orders in full. Ids TikTok
        does not know for this shop are left out."""
        orders: list[MarketplaceOrder] = []
        for chunk in _chunks(order_ids, ORDER_IDS_PER_CALL):
            data = self._signed_call(
                "GET", f"/order/{API_VERSION}/orders", query={"ids": ",".join(chunk)}
            )
            orders.extend(parse_order(order) for order in data.get("orders") or [])
        return orders

    # -- HTTP --

    def _token_call(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        query = {"app_key": self.app_key, "app_secret": self.app_secret, **params}
        return self.auth.retrying(
            lambda: read_envelope(self.auth.request("GET", path, params=query)), sleep=self.sleep
        )

    def _signed_call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        with_shop: bool = True,
    ) -> dict[str, Any]:
        """One signed call, retried on rate limits and server errors, re-signed each attempt."""
        if not self.access_token:
            raise TokenInvalid("This TikTok Shop account has no access token: connect it first")
        if with_shop and not self.shop_cipher:
            raise ValueError("This call needs a shop: create the client with shop_cipher")
        raw_body = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        params = {key: str(value) for key, value in (query or {}).items() if value is not None}
        params["app_key"] = self.app_key
        if with_shop:
            params["shop_cipher"] = self.shop_cipher

        def attempt() -> dict[str, Any]:
            headers = {"x-tts-access-token": self.access_token, "Content-Type": "application/json"}
            response = self.api.request(
                method, path, params=params, data=raw_body, headers=headers, auth=self._sign
            )
            try:
                return read_envelope(response)
            except TikTokRateLimited as error:
                self.api.pause(error.retry_after or RATE_LIMIT_PAUSE)
                raise

        try:
            return self.api.retrying(attempt, sleep=self.sleep)
        except TokenExpired:
            if self.renew_token is None:
                raise
            self.access_token = self.renew_token()
            return self.api.retrying(attempt, sleep=self.sleep)

    def _sign(self, prepared: requests.PreparedRequest) -> requests.PreparedRequest:
        """Stamp and sign a request as it goes out: requests calls this for every attempt after
        the rate limiter let it go, so a long wait never sends a stale timestamp."""
        url = urlsplit(prepared.url)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        params["timestamp"] = str(int(self.clock()))
        body = None if prepared.method == "GET" else prepared.body
        params["sign"] = sign_request(url.path, params, body, self.app_secret)
        prepared.url = urlunsplit(url._replace(query=urlencode(params)))
        return prepared


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _amount(amount: Decimal) -> str:
    """A price as TikTok takes it: a decimal string such as "1.32", never an exponent."""
    return format(amount, "f")
