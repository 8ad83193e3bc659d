"""The contract every platform adapter follows, and the HTTP machinery they share.

An adapter speaks one platform's real wire format over `requests` and hands the rest of SKU Bridge
plain dataclasses, so no caller ever branches on a platform's name. Each store platform is one
module with one `StoreAdapter` subclass, found through `webapp.adapters.registry`.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, TypeVar

import requests

from webapp.domain import DomainError

DEFAULT_TIMEOUT = (3.05, 30.0)  # (connect, read) seconds: every call has one


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


class HttpClient:
    """One `requests.Session` per adapter with a base URL and a timeout on every call."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
        headers: Mapping[str, str] | None = None,
    ):
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"Base URL must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.headers.update({"User-Agent": "SKU-Bridge/0.1", **(headers or {})})

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send one request; network failures become `ConnectionFailed`."""
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


class StoreAdapter(ABC):
    """A merchant's own store. Subclasses declare their platform and the credentials they need,
    validate them in the constructor (raising `ValueError` with a readable message), and give
    every call a timeout."""

    platform: ClassVar[str]
    label: ClassVar[str]
    credential_fields: ClassVar[tuple[CredentialField, ...]]
    base_url_example: ClassVar[str] = "https://shop.example.com"

    def __init__(
        self,
        base_url: str,
        credentials: Mapping[str, str],
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
    ):
        missing = [f.label for f in self.credential_fields if not credentials.get(f.name)]
        if missing:
            raise ValueError(f"{self.label} needs: {', '.join(missing)}")
        self.credentials = dict(credentials)
        self.http = HttpClient(base_url, timeout=timeout)
        self.sleep = sleep

    @abstractmethod
    def test_connection(self) -> ConnectionCheck:
        """Make one cheap authenticated call and say in words whether it worked."""

    @abstractmethod
    def iter_catalog(self) -> Iterator[CatalogPage]:
        """Every catalog entry, page by page, parents included."""

    def close(self) -> None:
        self.http.close()
