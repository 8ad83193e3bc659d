"""The TikTok Shop client against the emulated API over real HTTP."""

from __future__ import annotations

import time
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.builders import serve_tiktok
from tests.conftest import TEST_SANDBOX_SETTINGS
from webapp.adapters.base import (
    AuthenticationFailed,
    CallPolicy,
    ConnectionFailed,
    RateLimited,
    RemoteServerError,
    UnreadableResponse,
)
from webapp.adapters.tiktok import (
    AppCredentialsInvalid,
    AuthorizedShop,
    ProductNotFound,
    TikTokRateLimited,
    TikTokServerError,
    TikTokShopClient,
    TokenExpired,
    TokenGrant,
    TokenInvalid,
    sign_request,
)
from webapp.sandbox.settings import SandboxSettings

# --- signing --------------------------------------------------------------------------------

# Expected values computed outside Python, e.g.:
#   printf '%s' 's3cr3t/product/202309/products/searchapp_key6abc123page_size20shop_cipherROW_abc\
#   timestamp1700000000{"status":"ACTIVATE"}s3cr3t' | openssl dgst -sha256 -hmac 's3cr3t'
SEARCH_VECTOR = "ca653f91b6de1a10c5ffcca489440608a76afd19031a30ffec6a52138cc5cd2e"
#   printf '%s' 's3cr3t/authorization/202309/shopsapp_key6abc123timestamp1700000000s3cr3t' \
#   | openssl dgst -sha256 -hmac 's3cr3t'
SHOPS_VECTOR = "b83d6f0e83eaf223653d820562261d89fed34d7f35dc1c9b094b895e720797a4"


def test_sign_request_matches_a_hand_computed_vector():
    params = {
        "timestamp": "1700000000",
        "shop_cipher": "ROW_abc",
        "app_key": "6abc123",
        "page_size": "20",
        "sign": "left out",
        "access_token": "left out too",
    }

    signature = sign_request(
        "/product/202309/products/search", params, b'{"status":"ACTIVATE"}', "s3cr3t"
    )

    assert signature == SEARCH_VECTOR


def test_sign_request_without_a_body():
    params = {"app_key": "6abc123", "timestamp": "1700000000"}

    assert sign_request("/authorization/202309/shops", params, None, "s3cr3t") == SHOPS_VECTOR
    assert sign_request("/authorization/202309/shops", params, "", "s3cr3t") == SHOPS_VECTOR


# --- fixtures -------------------------------------------------------------------------------


def mint_grant(base_url: str, **ttls: int) -> dict:
    response = requests.post(f"{base_url}/__sandbox__/tiktok/tokens", json=ttls, timeout=5)
    response.raise_for_status()
    return response.json()


def set_faults(base_url: str, **knobs: float) -> None:
    requests.post(f"{base_url}/__sandbox__/faults", json=knobs, timeout=5).raise_for_status()


def fault_stats(base_url: str) -> dict:
    return requests.get(f"{base_url}/__sandbox__/stats", timeout=5).json()


class Sleeps(list):
    """Records the delays the client asks for instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_client(base_url: str, settings: SandboxSettings, **kwargs) -> TikTokShopClient:
    kwargs.setdefault("sleep", Sleeps())
    return TikTokShopClient(settings.app_key, settings.app_secret, base_url, base_url, **kwargs)


@pytest.fixture
def tiktok_url(sandbox):
    return sandbox.url("tiktok")


@pytest.fixture
def us_shop(sandbox):
    return sandbox.catalog.shops[0]


@pytest.fixture
def client(sandbox, tiktok_url, us_shop):
    """A client with a fresh access token, bound to the US shop."""
    token = mint_grant(tiktok_url)["access_token"]
    client = make_client(
        tiktok_url, sandbox.settings, access_token=token, shop_cipher=us_shop.cipher
    )
    yield client
    client.close()


# --- OAuth ----------------------------------------------------------------------------------


def consent(authorize_url: str) -> dict[str, str]:
    """What a seller's browser does on the consent page: press Authorize, follow nothing."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
    response = requests.post(
        authorize_url, data={**query, "decision": "authorize"}, allow_redirects=False, timeout=5
    )
    assert response.status_code == 302
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def test_oauth_code_to_token_to_shops(sandbox, tiktok_url):
    settings = sandbox.settings
    client = make_client(tiktok_url, settings)
    url = client.authorize_url(settings.service_id, "state-42")
    assert url.startswith(f"{tiktok_url}/oauth/authorize?")
    assert "Demo Outfitters" in requests.get(url, timeout=5).text

    callback = consent(url)
    grant = client.get_token(callback["code"])

    assert callback["state"] == "state-42"
    assert isinstance(grant, TokenGrant)
    now = time.time()
    assert grant.access_token_expires_at > now + settings.access_token_ttl - 60
    assert grant.refresh_token_expires_at > grant.access_token_expires_at
    assert grant.seller_name == "Demo Outfitters" and grant.open_id
    client.access_token = grant.access_token
    shops = client.get_authorized_shops()
    assert shops == [
        AuthorizedShop(s.id, s.cipher, s.code, s.name, s.region, s.seller_type)
        for s in sandbox.catalog.shops
    ]


def test_an_auth_code_is_single_use(sandbox, tiktok_url):
    client = make_client(tiktok_url, sandbox.settings)
    code = consent(client.authorize_url(sandbox.settings.service_id, "s"))["code"]
    client.get_token(code)

    with pytest.raises(TokenInvalid) as refused:
        client.get_token(code)

    assert refused.value.code == 36004004 and refused.value.request_id
    assert isinstance(refused.value, AuthenticationFailed)
    assert client.sleep == []  # not retried


def test_refresh_returns_a_new_refresh_token(sandbox, tiktok_url, us_shop):
    client = make_client(tiktok_url, sandbox.settings, shop_cipher=us_shop.cipher)
    first = client.get_token(
        consent(client.authorize_url(sandbox.settings.service_id, "s"))["code"]
    )

    second = client.refresh_token(first.refresh_token)

    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    assert second.refresh_token_expires_at == first.refresh_token_expires_at
    client.access_token = second.access_token
    assert client.search_products(page_size=1).products
    with pytest.raises(TokenInvalid):
        client.refresh_token(first.access_token)  # not a refresh token


def test_wrong_app_secret_is_an_app_credentials_error(sandbox, tiktok_url):
    client = TikTokShopClient(sandbox.settings.app_key, "wrong", tiktok_url, tiktok_url)

    with pytest.raises(AppCredentialsInvalid, match="app_secret"):
        client.get_token("AUC_whatever")


# --- token errors ---------------------------------------------------------------------------


def test_an_expired_access_token_raises_token_expired_at_once(client, tiktok_url):
    client.access_token = mint_grant(tiktok_url, access_ttl=-5)["access_token"]
    before = fault_stats(tiktok_url).get("requests", 0)

    with pytest.raises(TokenExpired) as refused:
        client.get_authorized_shops()

    assert refused.value.code == 105002 and not refused.value.retryable
    assert "expired" in str(refused.value)
    assert fault_stats(tiktok_url)["requests"] == before + 1
    assert client.sleep == []


def test_an_invalid_access_token_raises_token_invalid(client):
    client.access_token = "ROW_not-a-token"

    with pytest.raises(TokenInvalid) as refused:
        client.search_products()

    assert refused.value.code == 36009004 and client.sleep == []


def test_a_client_without_a_token_says_so(sandbox, tiktok_url):
    with pytest.raises(TokenInvalid, match="connect it first"):
        make_client(tiktok_url, sandbox.settings).get_authorized_shops()


# --- retries --------------------------------------------------------------------------------


def test_rate_limited_calls_are_retried_re_signed_and_succeed(client, tiktok_url):
    """Two injected 429s, then the knob is turned off: the third attempt, signed anew with a new
    timestamp, succeeds."""
    seen: list[dict[str, str]] = []
    client.api.session.hooks["response"].append(
        lambda response, **_: seen.append(
            {k: v[0] for k, v in parse_qs(urlsplit(response.request.url).query).items()}
        )
    )
    ticks = iter(range(10))
    client.clock = lambda: time.time() + next(ticks)

    delays: list[float] = []

    def sleep(seconds: float) -> None:
        delays.append(seconds)
        if len(delays) == 2:
            set_faults(tiktok_url, rate_limit_rate=0)

    client.sleep = sleep
    set_faults(tiktok_url, rate_limit_rate=1.0)

    page = client.search_products(page_size=5)

    assert len(page.products) == 5
    assert len(delays) == 2 and delays[0] < delays[1]
    assert len(seen) == 3
    assert len({attempt["timestamp"] for attempt in seen}) == 3
    assert len({attempt["sign"] for attempt in seen}) == 3
    assert fault_stats(tiktok_url)["rate_limited"] == 2


def test_rate_limits_that_do_not_stop_raise_rate_limited(client, tiktok_url):
    set_faults(tiktok_url, rate_limit_rate=1.0)
    client.api.policy = CallPolicy(attempts=3)

    with pytest.raises(TikTokRateLimited) as refused:
        client.get_authorized_shops()

    assert isinstance(refused.value, RateLimited) and refused.value.code == 36009002
    assert len(client.sleep) == 2


def test_server_errors_are_retried_then_raised(client, tiktok_url):
    set_faults(tiktok_url, error_rate=1.0)

    with pytest.raises(TikTokServerError) as refused:
        client.get_product("1")

    assert isinstance(refused.value, RemoteServerError) and refused.value.code == 36009003
    assert len(client.sleep) == client.api.policy.attempts - 1


def test_an_answer_cut_off_on_the_way_is_asked_again(client, tiktok_url, us_shop):
    set_faults(tiktok_url, truncate_rate=1.0)

    with pytest.raises(UnreadableResponse):
        client.get_authorized_shops()
    assert fault_stats(tiktok_url)["truncated"] == client.api.policy.attempts

    set_faults(tiktok_url, truncate_rate=0.5, seed=3)
    assert us_shop.cipher in [shop.cipher for shop in client.get_authorized_shops()]


def test_a_call_that_times_out_is_sent_again(client, tiktok_url):
    client.api.policy = CallPolicy(timeout=(1.0, 0.2), attempts=2)
    client.api.timeout = client.api.policy.timeout
    set_faults(tiktok_url, timeout_rate=1.0, timeout_ms=600)

    with pytest.raises(ConnectionFailed, match="did not answer in time"):
        client.get_authorized_shops()

    assert len(client.sleep) == 1  # tried twice
    set_faults(tiktok_url, timeout_rate=0.0)
    assert client.get_authorized_shops()


def test_a_token_that_expires_mid_run_is_renewed_once(sandbox, client, tiktok_url, us_shop):
    renewals = []

    def renew_token() -> str:
        renewals.append(mint_grant(tiktok_url)["access_token"])
        return renewals[-1]

    set_faults(tiktok_url, token_expiry_rate=1.0)
    with pytest.raises(TokenExpired):  # no way to renew: the job stops and says why
        client.get_authorized_shops()
    set_faults(tiktok_url, token_expiry_rate=0.0)
    with pytest.raises(TokenExpired):  # the token stays expired
        client.get_authorized_shops()

    client.renew_token = renew_token
    assert us_shop.cipher in [shop.cipher for shop in client.get_authorized_shops()]
    assert len(renewals) == 1

    set_faults(tiktok_url, token_expiry_rate=0.25, seed=1)
    for _ in range(6):
        assert us_shop.cipher in [shop.cipher for shop in client.get_authorized_shops()]
    stats = fault_stats(tiktok_url)
    assert stats["tokens_expired"] >= 2 and len(renewals) == stats["tokens_expired"]
    assert client.access_token == renewals[-1]


def test_business_errors_raise_at_once(client, tiktok_url):
    with pytest.raises(ProductNotFound) as refused:
        client.get_product("1")

    assert refused.value.code == 12019150 and client.sleep == []


# --- products -------------------------------------------------------------------------------


def test_detail_gives_variant_names_and_barcodes(client, us_shop):
    product = next(p for p in us_shop.products if any(s.identifier_code for s in p.skus))

    detail = client.get_product(product.id)

    assert detail.detailed and detail.id == product.id and detail.title == product.title
    assert detail.update_time == product.update_time
    for got, want in zip(detail.skus, product.skus, strict=True):
        assert got.sku_id == want.id and got.seller_sku == want.seller_sku
        assert got.variant == " / ".join(value for _, value in want.sales_attributes)
        assert got.barcode == want.identifier_code
        assert got.price == want.price and isinstance(got.price, Decimal)
        assert got.currency == "USD" and got.inventory == want.inventory


def test_search_results_have_no_variant_names(client, us_shop):
    page = client.search_products(page_size=3)

    assert page.total_count == len(us_shop.products) and page.next_page_token
    assert all(not p.detailed for p in page.products)
    assert all(s.variant == "" and s.barcode is None for p in page.products for s in p.skus)
    with pytest.raises(ValueError):
        client.search_products(page_size=101)


def test_iter_products_without_a_cap_problem_reads_every_product_once(client, us_shop):
    pages = list(client.iter_products(page_size=30))

    ids = [p.id for page in pages for p in page.products]
    assert len(pages) == 4
    assert sorted(ids) == sorted(p.id for p in us_shop.products)


@pytest.fixture(scope="module")
def capped_sandbox():
    settings = SandboxSettings(**TEST_SANDBOX_SETTINGS, search_cap=15)
    with serve_tiktok(settings) as (url, catalog):
        yield url, settings, catalog


def capped_client(capped_sandbox, search_cap: int) -> TikTokShopClient:
    url, settings, catalog = capped_sandbox
    token = mint_grant(url)["access_token"]
    return make_client(
        url,
        settings,
        access_token=token,
        shop_cipher=catalog.shops[0].cipher,
        search_cap=search_cap,
    )


def test_iter_products_splits_windows_past_the_cap(capped_sandbox):
    _, _, catalog = capped_sandbox
    client = capped_client(capped_sandbox, search_cap=15)

    pages = list(client.iter_products(page_size=10))

    ids = [p.id for page in pages for p in page.products]
    assert len(ids) == len(set(ids)) == len(catalog.shops[0].products) == 100
    assert set(ids) == {p.id for p in catalog.shops[0].products}
    assert all(page.total_count <= 15 for page in pages)


def test_iter_products_within_given_bounds(capped_sandbox):
    _, _, catalog = capped_sandbox
    client = capped_client(capped_sandbox, search_cap=15)
    times = sorted(p.update_time for p in catalog.shops[0].products)
    ge, le = times[20], times[79]

    ids = [p.id for page in client.iter_products(ge, le, page_size=10) for p in page.products]

    assert len(ids) == len(set(ids)) == 60
    assert set(ids) == {p.id for p in catalog.shops[0].products if ge <= p.update_time <= le}


def test_iter_products_recovers_when_the_cap_is_hit_mid_window(capped_sandbox):
    """A client that believes the cap is higher than the shop's pages into 12052180, then splits
    the window without giving any product twice."""
    _, _, catalog = capped_sandbox
    client = capped_client(capped_sandbox, search_cap=1000)

    ids = [p.id for page in client.iter_products(page_size=10) for p in page.products]

    assert len(ids) == len(set(ids)) == 100
