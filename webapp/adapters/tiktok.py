"""TikTok Shop Open API client (version 202309 paths): OAuth tokens, authorized shops, products.

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
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

import requests

from webapp.adapters.base import (
    DEFAULT_TIMEOUT,
    AdapterError,
    AuthenticationFailed,
    HttpClient,
    InvalidResponse,
    RateLimited,
    RemoteServerError,
    retry_after_seconds,
    with_retries,
)

API_VERSION = "202309"
SEARCH_CAP = 10_000  # products/search refuses to read past this many results (12052180)
PAGE_SIZE_MAX = 100
SIGN_EXCLUDED_PARAMS = frozenset({"sign", "access_token"})
OPEN_WINDOW_MIN_SPAN = 7 * 86_400  # seconds; see `TikTokShopClient._halves`

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
        payload = response.json()
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
    consent page and the token endpoints. `sleep` and `clock` are injectable for tests;
    `search_cap` is TikTok's 10,000 unless a test sandbox is set lower.
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
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
        max_attempts: int = 4,
        search_cap: int = SEARCH_CAP,
        clock: Callable[[], float] = time.time,
    ):
        if not app_key or not app_secret:
            raise ValueError("TikTok Shop needs the app key and app secret")
        self.app_key = app_key
        self.app_secret = app_secret
        self.access_token = access_token
        self.shop_cipher = shop_cipher
        self.api = HttpClient(api_base_url, timeout=timeout)
        self.auth = HttpClient(auth_base_url, timeout=timeout, session=self.api.session)
        self.sleep = sleep
        self.max_attempts = max_attempts
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

    # -- HTTP --

    def _token_call(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        query = {"app_key": self.app_key, "app_secret": self.app_secret, **params}
        return with_retries(
            lambda: read_envelope(self.auth.request("GET", path, params=query)),
            attempts=self.max_attempts,
            sleep=self.sleep,
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
        fixed = {key: str(value) for key, value in (query or {}).items() if value is not None}
        if with_shop:
            fixed["shop_cipher"] = self.shop_cipher
        headers = {"x-tts-access-token": self.access_token, "Content-Type": "application/json"}

        def attempt() -> dict[str, Any]:
            params = {"app_key": self.app_key, "timestamp": str(int(self.clock())), **fixed}
            params["sign"] = sign_request(path, params, raw_body, self.app_secret)
            response = self.api.request(method, path, params=params, data=raw_body, headers=headers)
            return read_envelope(response)

        return with_retries(attempt, attempts=self.max_attempts, sleep=self.sleep)
