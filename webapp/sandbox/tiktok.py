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
- Injected faults (`POST /__sandbox__/faults`) apply to the API and token endpoints, not to the
  consent page, which is a browser page on another host in real life.

Control endpoints for tests and the demo (no auth): `POST /__sandbox__/tiktok/tokens`
`{access_ttl?, refresh_ttl?}` mints a token grant without the consent page (a negative ttl gives
an expired token); `POST /__sandbox__/tiktok/auth-codes` `{ttl?}` mints an auth code;
`POST /__sandbox__/tiktok/revoke` invalidates every token issued so far (the seller
deauthorized the app); `POST /__sandbox__/tiktok/reset` forgets revocations, used codes and the
rate limiter's buckets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import urlencode

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

MSG_TOKEN_INVALID = "Invalid credentials. The `x-tts-access-token` header is invalid."
MSG_TOKEN_EXPIRED = (
    "Expired credentials. The `access_token` or `x-tts-access-token` header has expired."
)


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


@dataclass
class SandboxState:
    """What the emulator remembers between calls. Tokens themselves are stateless."""

    used_codes: set[str] = field(default_factory=set)
    revoked_before_ms: dict[str, int] = field(default_factory=dict)  # seller -> issued-before
    buckets: dict[tuple[str, str], TokenBucket] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.used_codes.clear()
            self.revoked_before_ms.clear()
            self.buckets.clear()

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
        self.products = {
            shop.id: newest_first(shop.products) for shop in self.seller.shops
        }  # per shop, in search order
        self.by_id = {
            (shop.id, product.id): product
            for shop in self.seller.shops
            for product in shop.products
        }

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
        if claims.expires_at <= self.now():
            raise ApiRefusal(TOKEN_EXPIRED, MSG_TOKEN_EXPIRED, 401)

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
        matches = [p for p in self.products[shop.id] if filters.matches(p)]
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
        product = self.by_id.get((shop.id, product_id))
        if product is None:
            raise ApiRefusal(PRODUCT_NOT_FOUND, "The product ID does not exist.")
        return envelope(product_detail(product, shop))

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
        """POST /__sandbox__/tiktok/reset: forget revocations, used codes and rate buckets."""
        self.state.reset()
        return jsonify({"reset": True})


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
        exempt=lambda path: path.startswith("/oauth/"),
    )

    @app.before_request
    def gateway() -> None:
        if request.routing_exception is None and is_signed_api_path(request.path):
            sandbox.authenticate()

    app.register_error_handler(ApiRefusal, refusal_response)
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
    control = "/__sandbox__/tiktok/"
    app.add_url_rule(control + "tokens", view_func=sandbox.control_tokens, methods=["POST"])
    app.add_url_rule(control + "auth-codes", view_func=sandbox.control_auth_code, methods=["POST"])
    app.add_url_rule(control + "revoke", view_func=sandbox.control_revoke, methods=["POST"])
    app.add_url_rule(control + "reset", view_func=sandbox.control_reset, methods=["POST"])
    return app
