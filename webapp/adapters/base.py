"""The contract every platform adapter follows, and the HTTP machinery they share.

An adapter speaks one platform's real wire format over `requests` and hands the rest of SKU Bridge
plain dataclasses, so no caller ever branches on a platform's name. Each store platform is one
module with one `StoreAdapter` subclass, found through `webapp.adapters.registry`.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Protocol, TypeVar

import requests

from webapp.domain import DomainError

DEFAULT_TIMEOUT = (3.05, 30.0)  # (connect, read) seconds: every call has one


@dataclass(frozen=True)
class CallPolicy:
    """How long a call to a platform may take and how a failed one is tried again: `attempts`
    in all, waiting `backoff` seconds after the first failure and twice as long after each
    next one, at most `max_backoff`. From the app's `PLATFORM_*` settings (`from_config`)."""

    timeout: tuple[float, float] = DEFAULT_TIMEOUT
    attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 8.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> CallPolicy:
        return cls(
            timeout=(DEFAULT_TIMEOUT[0], float(config["PLATFORM_TIMEOUT_SECONDS"])),
            attempts=int(config["PLATFORM_CALL_ATTEMPTS"]),
            backoff=float(config["PLATFORM_RETRY_BACKOFF_SECONDS"]),
        )


DEFAULT_POLICY = CallPolicy()


class AdapterError(DomainError):
    """A remote platform refused or failed a call; `str()` is a message a user can act on."""

    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, status: int | None = None, code: str | int | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class ConnectionFailed(AdapterError):
    """The platform could not be reached (refused, DNS, timeout)."""

    retryable = True


class AuthenticationFailed(AdapterError):
    """Credentials or tokens were refused (expired, revoked, wrong)."""


class RateLimited(AdapterError):
    """The platform asked us to slow down; `retry_after` is in seconds when it said."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class RemoteServerError(AdapterError):
    """The platform failed on its side (5xx or a server-error code); safe reads may be retried."""

    retryable = True


class InvalidResponse(AdapterError):
    """The platform answered something that is not its documented format."""


class UnreadableResponse(AdapterError):
    """A success answer whose body is not whole JSON: cut off on the way (a dropped connection,
    a proxy). The call may well have run, so only calls safe to repeat are retried."""

    retryable = True


def decode_json(response: requests.Response, platform: str, **options: Any) -> Any:
    """The answer's JSON body. A body labelled JSON that does not parse was cut off on the way:
    `UnreadableResponse`. Any other body that does not parse raises `ValueError`, for the
    caller to say what it means (often: this address is not the platform's API)."""
    try:
        return response.json(**options)
    except ValueError as error:
        if "json" not in response.headers.get("Content-Type", "").lower():
            raise
        raise UnreadableResponse(
            f"{platform} answered HTTP {response.status_code} with JSON cut off on the way",
            status=response.status_code,
        ) from error


T = TypeVar("T")


def retry_after_seconds(response: requests.Response) -> float | None:
    """The response's Retry-After header in seconds (it may be seconds or an HTTP date)."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def with_retries(
    call: Callable[[], T],
    *,
    attempts: int = 4,
    backoff: float = 0.5,
    max_backoff: float = 8.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `call` until it succeeds, retrying retryable adapter errors with exponential backoff.

    `call` must rebuild its request each time (a signed request is signed again per attempt).
    A `RateLimited.retry_after` from the platform wins over the computed delay.
    """
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except AdapterError as error:
            if not error.retryable or attempt == attempts:
                raise
            delay = min(max_backoff, backoff * 2 ** (attempt - 1))
            if isinstance(error, RateLimited) and error.retry_after is not None:
                delay = min(max_backoff, max(error.retry_after, 0.0))
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


class RateLimiter(Protocol):
    """Holds a platform's allowed rate for one account or store, across every worker.

    `acquire` blocks until one more call may go out. `pause` is the platform saying "slow
    down" (a 429, TikTok's 36009002, Shopify's `Throttled`, BigCommerce's quota headers): no
    call for that account or store goes out for `seconds`, whichever worker makes it.
    """

    def acquire(self) -> None: ...

    def pause(self, seconds: float) -> None: ...


class HttpClient:
    """One `requests.Session` per adapter with a base URL and a timeout on every call, and an
    optional `RateLimiter` every request waits for."""

    def __init__(
        self,
        base_url: str,
        *,
        policy: CallPolicy = DEFAULT_POLICY,
        session: requests.Session | None = None,
        headers: Mapping[str, str] | None = None,
        limiter: RateLimiter | None = None,
    ):
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"Base URL must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.policy = policy
        self.timeout = policy.timeout
        self.session = session or requests.Session()
        self.session.headers.update({"User-Agent": "SKU-Bridge/0.1", **(headers or {})})
        self.limiter = limiter

    def retrying(
        self, call: Callable[[], T], *, sleep: Callable[[float], None], **overrides: Any
    ) -> T:
        """`with_retries` as the policy says (`overrides`: say `max_backoff` for a platform
        whose waits are longer)."""
        options = {
            "attempts": self.policy.attempts,
            "backoff": self.policy.backoff,
            "max_backoff": self.policy.max_backoff,
        }
        return with_retries(call, sleep=sleep, **(options | overrides))

    def pause(self, seconds: float | None) -> None:
        """Tell the limiter the platform asked us to wait (adapters call this as they raise
        `RateLimited`); without a limiter, `with_retries` alone waits."""
        if self.limiter is not None and seconds:
            self.limiter.pause(seconds)

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send one request, after the limiter allows it; network failures become
        `ConnectionFailed`."""
        if self.limiter is not None:
            self.limiter.acquire()
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        kwargs.setdefault("timeout", self.timeout)
        try:
            return self.session.request(method, url, **kwargs)
        except requests.Timeout as error:
            raise ConnectionFailed(f"{self.base_url} did not answer in time") from error
        except requests.ConnectionError as error:
            raise ConnectionFailed(f"Could not connect to {self.base_url}") from error

    def close(self) -> None:
        self.session.close()


# --- what store adapters hand back ---------------------------------------------------------


@dataclass(frozen=True)
class CredentialField:
    """One credential a store connection form asks for."""

    name: str
    label: str
    secret: bool = True
    help: str = ""
    required: bool = True  # False: the connection works without it (a webhook secret)


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    message: str


@dataclass(frozen=True)
class StoreVariant:
    """One store catalog entry. Parents (configurable products) are listed so the linking screen
    can refuse them by name, but `is_parent` entries are never valid link targets."""

    remote_id: str
    sku: str
    name: str
    variant: str  # "Black / M"; empty for a product without options
    is_parent: bool
    parent_remote_id: str | None
    price: Decimal | None
    quantity: int | None
    barcode: str | None
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    enabled: bool = True


@dataclass(frozen=True)
class CatalogPage:
    items: list[StoreVariant]
    total: int | None  # entries the whole catalog holds, when the platform says


@dataclass(frozen=True)
class StockLevel:
    """What the store says now about one sellable variant: what sync pushes to TikTok Shop."""

    remote_id: str
    quantity: int | None  # units available to sell, over every location; None: not tracked
    price: Decimal | None  # the variant's current selling price in the store's currency
    enabled: bool  # sellable in the store (enabled / published / purchasable)


@dataclass(frozen=True)
class VariantUpdate:
    """New values for one variant in the store (when TikTok Shop's data is the master: the
    account's *store data overwrites TikTok data* is off). None leaves a value as it is."""

    remote_id: str
    quantity: int | None = None
    price: Decimal | None = None


@dataclass(frozen=True)
class OrderAddress:
    name: str
    phone: str
    lines: tuple[str, ...]  # street lines, first to last
    city: str
    region: str  # state or province, as the buyer wrote it
    postal_code: str
    country_code: str  # ISO 3166-1 alpha-2


@dataclass(frozen=True)
class OrderLine:
    remote_id: str  # the store variant's id (StoreSku.remote_id)
    sku: str
    name: str
    quantity: int  # store units: TikTok units × pack size
    unit_price: Decimal  # per store unit, in the order's currency


@dataclass(frozen=True)
class NewOrder:
    """A TikTok Shop order to create in the store. `reference` is the TikTok order id: the
    adapter stores it on the order (a platform field made for it, or a tag / meta field) so
    `find_order` finds the order again after a crash or a retry."""

    reference: str
    currency: str
    lines: tuple[OrderLine, ...]
    shipping_address: OrderAddress
    email: str = ""  # TikTok Shop often hides the buyer's email
    note: str = ""


@dataclass(frozen=True)
class StoreOrder:
    remote_id: str
    number: str  # what the merchant sees in the store's admin: "#1001", "000000123"
    status: str  # the store's own word for the order's status
    cancelled: bool


@dataclass(frozen=True)
class StoreWebhook:
    """What a store webhook delivery said: the variants whose stock, price or status changed.
    `delivery_id` is the platform's id of the delivery when it sends one (for deduplication)."""

    remote_ids: tuple[str, ...]
    delivery_id: str | None = None


class WebhookRefused(DomainError):
    """A webhook delivery whose signature does not verify, or that cannot be read."""


class StoreAdapter(ABC):
    """A merchant's own store. Subclasses declare their platform and the credentials they need,
    validate them in the constructor (raising `ValueError` with a readable message), and give
    every call a timeout."""

    platform: ClassVar[str]
    label: ClassVar[str]
    credential_fields: ClassVar[tuple[CredentialField, ...]]
    base_url_example: ClassVar[str] = "https://shop.example.com"

    supports_webhooks: ClassVar[bool] = False  # True when `parse_webhook` is implemented
    # Where, in the store's admin, its webhooks are pointed at SKU Bridge's URL for the store.
    webhook_setup: ClassVar[str] = ""

    def __init__(
        self,
        base_url: str,
        credentials: Mapping[str, str],
        *,
        policy: CallPolicy = DEFAULT_POLICY,
        sleep: Callable[[float], None] = time.sleep,
        limiter: RateLimiter | None = None,
    ):
        missing = [
            f.label for f in self.credential_fields if f.required and not credentials.get(f.name)
        ]
        if missing:
            raise ValueError(f"{self.label} needs: {', '.join(missing)}")
        self.credentials = dict(credentials)
        self.http = HttpClient(base_url, policy=policy, limiter=limiter)
        self.sleep = sleep

    @abstractmethod
    def test_connection(self) -> ConnectionCheck:
        """Make one cheap authenticated call and say in words whether it worked."""

    @abstractmethod
    def iter_catalog(self) -> Iterator[CatalogPage]:
        """Every catalog entry, page by page, parents included."""

    @abstractmethod
    def stock_levels(self, remote_ids: Sequence[str]) -> dict[str, StockLevel]:
        """Quantity, price and status now of these variants (ids from `StoreVariant.remote_id`),
        in as few calls as the platform allows. Ids the store no longer has are left out.
        A read: retried on rate limits and server errors."""

    @abstractmethod
    def update_variants(self, updates: Sequence[VariantUpdate]) -> dict[str, str]:
        """Write quantities and prices, batched the platform's way. Absolute values, so safe to
        retry. Returns {remote_id: reason} for the variants the store refused one by one; a
        failure of a whole call raises."""

    @abstractmethod
    def find_order(self, reference: str) -> StoreOrder | None:
        """The order created earlier for this TikTok order id, or None. A read."""

    @abstractmethod
    def create_order(self, order: NewOrder) -> StoreOrder:
        """Create the order, marked with `order.reference`. Not retried once the request may
        have reached the store (a retry could create it twice): callers retry through
        `find_order` first."""

    @abstractmethod
    def cancel_order(self, remote_id: str) -> StoreOrder:
        """Cancel an order this adapter created (the TikTok order was cancelled). Cancelling a
        cancelled order is not an error."""

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> StoreWebhook:
        """Verify a webhook delivery's signature and read which variants changed. Raises
        `WebhookRefused` when the signature does not verify."""
        raise WebhookRefused(f"{self.label} does not send webhooks to SKU Bridge")

    def close(self) -> None:
        self.http.close()
