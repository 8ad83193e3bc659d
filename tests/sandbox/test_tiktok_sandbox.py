"""The emulated TikTok Shop API over real HTTP: the gateway's checks, search paging and its cap,
product detail, OAuth, rate limits and fault knobs.

Requests are signed here by an implementation of the documented algorithm of the test's own, so
the sandbox is checked independently of the adapter.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.builders import serve_tiktok
from tests.conftest import TEST_SANDBOX_SETTINGS
from webapp.sandbox.settings import SandboxSettings

SHOPS_PATH = "/authorization/202309/shops"
SEARCH_PATH = "/product/202309/products/search"


class Api:
    """A minimal signed caller: the test's own reading of the signing algorithm."""

    def __init__(self, base_url: str, settings: SandboxSettings, access_token: str):
        self.base_url = base_url
        self.app_key = settings.app_key
        self.app_secret = settings.app_secret
        self.access_token = access_token

    def sign(self, path: str, params: dict[str, str], body: bytes, secret: str | None = None):
        secret = (secret or self.app_secret).encode()
        pairs = "".join(
            f"{k}{params[k]}" for k in sorted(params) if k not in ("sign", "access_token")
        )
        message = secret + path.encode() + pairs.encode() + body + secret
        return hmac.new(secret, message, hashlib.sha256).hexdigest()

    def call(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None = None,
        body: dict | None = None,
        *,
        timestamp: int | None = None,
        secret: str | None = None,
        token: str | None = None,
        sign: bool = True,
    ) -> requests.Response:
        params = {
            "app_key": self.app_key,
            "timestamp": str(int(time.time()) if timestamp is None else timestamp),
            **(query or {}),
        }
        raw = b"" if body is None else json.dumps(body).encode()
        if sign:
            params["sign"] = self.sign(path, params, raw if method != "GET" else b"", secret)
        headers = {"x-tts-access-token": self.access_token if token is None else token}
        if body is not None:
            headers["Content-Type"] = "application/json"
        return requests.request(
            method,
            self.base_url + path,
            params=params,
            data=raw or None,
            headers=headers,
            timeout=5,
        )

    def search(self, cipher: str, page_size: int = 100, page_token: str = "", **filters):
        query = {"shop_cipher": cipher, "page_size": str(page_size)}
        if page_token:
            query["page_token"] = page_token
        return self.call("POST", SEARCH_PATH, query, filters)


def mint_grant(base_url: str, **ttls: int) -> dict:
    response = requests.post(f"{base_url}/__sandbox__/tiktok/tokens", json=ttls, timeout=5)
    response.raise_for_status()
    return response.json()


def assert_refused(response: requests.Response, code: int, status: int | None = None) -> dict:
    payload = response.json()
    assert payload["code"] == code, payload
    assert payload["data"] is None
    assert payload["request_id"]
    if status is not None:
        assert response.status_code == status
    return payload


@pytest.fixture
def tiktok_url(sandbox):
    return sandbox.url("tiktok")


@pytest.fixture
def api(sandbox, tiktok_url):
    return Api(tiktok_url, sandbox.settings, mint_grant(tiktok_url)["access_token"])


@pytest.fixture
def us_shop(sandbox):
    return sandbox.catalog.shops[0]


# --- the gateway ----------------------------------------------------------------------------


def test_authorized_shops_answer_with_a_good_signature(api, sandbox):
    response = api.call("GET", SHOPS_PATH)

    payload = response.json()
    assert response.status_code == 200 and payload["code"] == 0, payload
    assert payload["message"] == "Success"
    assert [shop["cipher"] for shop in payload["data"]["shops"]] == [
        shop.cipher for shop in sandbox.catalog.shops
    ]
    assert set(payload["data"]["shops"][0]) == {
        "cipher",
        "code",
        "id",
        "name",
        "region",
        "seller_type",
    }


def test_a_wrong_secret_or_a_changed_parameter_breaks_the_signature(api):
    assert_refused(api.call("GET", SHOPS_PATH, secret="not-the-secret"), 106001, 401)

    params = {"app_key": api.app_key, "timestamp": str(int(time.time()))}
    params["sign"] = api.sign(SHOPS_PATH, params, b"")
    params["timestamp"] = str(int(params["timestamp"]) - 1)
    response = requests.get(
        api.base_url + SHOPS_PATH,
        params=params,
        headers={"x-tts-access-token": api.access_token},
        timeout=5,
    )
    assert_refused(response, 106001)


def test_the_body_is_signed(api, us_shop):
    params = {"app_key": api.app_key, "timestamp": str(int(time.time()))}
    params.update(shop_cipher=us_shop.cipher, page_size="5")
    params["sign"] = api.sign(SEARCH_PATH, params, b'{"status":"ACTIVATE"}')
    response = requests.post(
        api.base_url + SEARCH_PATH,
        params=params,
        data=b'{"status":"DELETED"}',
        headers={"x-tts-access-token": api.access_token, "Content-Type": "application/json"},
        timeout=5,
    )
    assert_refused(response, 106001)


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [(-290, True), (-310, False), (25, True), (40, False)],
    ids=["4m50s-old", "5m10s-old", "25s-ahead", "40s-ahead"],
)
def test_timestamp_window_is_five_minutes_behind_to_thirty_seconds_ahead(api, offset, accepted):
    response = api.call("GET", SHOPS_PATH, timestamp=int(time.time()) + offset)

    if accepted:
        assert response.json()["code"] == 0
    else:
        assert "timestamp" in assert_refused(response, 36009004, 401)["message"]


def test_unknown_app_key_and_missing_sign_are_refused(api):
    api.app_key = "someone-else"
    assert "app_key" in assert_refused(api.call("GET", SHOPS_PATH), 36009004, 401)["message"]

    api.app_key = "sandbox-app-key"
    payload = assert_refused(api.call("GET", SHOPS_PATH, sign=False), 36009004, 401)
    assert "signature" in payload["message"]


def test_expired_access_token_answers_105002(api, tiktok_url):
    expired = mint_grant(tiktok_url, access_ttl=-10)["access_token"]

    assert_refused(api.call("GET", SHOPS_PATH, token=expired), 105002, 401)


@pytest.mark.parametrize("token", ["", "ROW_garbage", "forged"])
def test_invalid_access_token_is_refused(api, token):
    if token == "forged":  # a real token with its signature changed
        token = api.access_token[:-2] + ("AA" if not api.access_token.endswith("AA") else "BB")

    payload = assert_refused(api.call("GET", SHOPS_PATH, token=token), 36009004, 401)
    assert "x-tts-access-token" in payload["message"]


def test_shop_cipher_rules(api, us_shop):
    assert_refused(api.call("POST", SEARCH_PATH, {"page_size": "5"}, {}), 106013, 400)
    payload = assert_refused(
        api.call("POST", SEARCH_PATH, {"page_size": "5", "shop_cipher": "ROW_nope"}, {}), 36009004
    )
    assert "shop_cipher" in payload["message"]
    payload = assert_refused(api.call("GET", SHOPS_PATH, {"shop_cipher": us_shop.cipher}), 36009004)
    assert "not required" in payload["message"]


def test_unknown_path_answers_36009009(api):
    response = api.call("GET", "/product/202309/nothing/here")

    assert_refused(response, 36009009, 404)


# --- products/search ------------------------------------------------------------------------


@pytest.mark.parametrize("page_size", [0, 101, "ten"])
def test_page_size_must_be_1_to_100(api, us_shop, page_size):
    assert_refused(api.search(us_shop.cipher, page_size=page_size), 12019109)


def test_paging_is_deterministic_and_covers_every_product_once(api, us_shop):
    def read_all() -> list[dict]:
        products, token = [], ""
        while True:
            data = api.search(us_shop.cipher, page_size=37, page_token=token).json()["data"]
            products += data["products"]
            assert data["total_count"] == len(us_shop.products)
            token = data["next_page_token"]
            if not token:
                return products

    first, second = read_all(), read_all()

    assert [p["id"] for p in first] == [p["id"] for p in second]
    assert sorted(p["id"] for p in first) == sorted(p.id for p in us_shop.products)
    times = [p["update_time"] for p in first]
    assert times == sorted(times, reverse=True)
    sku = first[0]["skus"][0]
    assert set(sku) == {"id", "seller_sku", "price", "inventory"}
    assert isinstance(sku["price"]["sale_price"], str) and "." in sku["price"]["sale_price"]
    assert set(sku["price"]) == {"currency", "sale_price", "tax_exclusive_price"}
    assert {"warehouse_id", "quantity"} == set(sku["inventory"][0])


def test_search_filters(api, us_shop):
    times = sorted(p.update_time for p in us_shop.products)
    ge, le = times[10], times[29]
    data = api.search(us_shop.cipher, update_time_ge=ge, update_time_le=le).json()["data"]
    assert data["total_count"] == 20 and data["next_page_token"] == ""

    wanted = us_shop.products[3].skus[1].seller_sku
    data = api.search(us_shop.cipher, seller_skus=[wanted]).json()["data"]
    assert [p["id"] for p in data["products"]] == [us_shop.products[3].id]

    deactivated = sum(p.status == "SELLER_DEACTIVATED" for p in us_shop.products)
    data = api.search(us_shop.cipher, status="SELLER_DEACTIVATED").json()["data"]
    assert data["total_count"] == deactivated

    assert_refused(api.search(us_shop.cipher, update_time_ge=le, update_time_le=ge), 12019119)
    assert_refused(api.search(us_shop.cipher, seller_skus=[str(n) for n in range(11)]), 12019027)
    assert_refused(api.search(us_shop.cipher, status="SOLD_OUT"), 12019113)


def test_a_page_token_belongs_to_its_query(api, us_shop):
    token = api.search(us_shop.cipher, page_size=10).json()["data"]["next_page_token"]

    assert_refused(
        api.search(us_shop.cipher, page_size=10, page_token=token, status="DRAFT"), 36009004
    )
    assert_refused(api.search(us_shop.cipher, page_size=10, page_token="bm9wZQ"), 36009004)


def test_search_stops_at_the_cap_but_reports_the_full_total():
    settings = SandboxSettings(**TEST_SANDBOX_SETTINGS, search_cap=25)
    with serve_tiktok(settings) as (url, catalog):
        api = Api(url, settings, mint_grant(url)["access_token"])
        cipher = catalog.shops[0].cipher

        first = api.search(cipher, page_size=10).json()["data"]
        second = api.search(cipher, page_size=10, page_token=first["next_page_token"]).json()
        third = api.search(cipher, page_size=10, page_token=second["data"]["next_page_token"])

        assert first["total_count"] == len(catalog.shops[0].products) == 100
        assert len(second["data"]["products"]) == 10
        payload = assert_refused(third, 12052180, 200)
        assert "10000" in payload["message"]
        narrow = api.search(cipher, page_size=10, status="SELLER_DEACTIVATED").json()
        assert narrow["code"] == 0  # a query under the cap pages as usual


# --- product detail -------------------------------------------------------------------------


def test_product_detail_adds_attributes_and_identifier_code(api, us_shop):
    product = next(p for p in us_shop.products if any(s.identifier_code for s in p.skus))
    response = api.call(
        "GET", f"/product/202309/products/{product.id}", {"shop_cipher": us_shop.cipher}
    )

    data = response.json()["data"]
    assert data["id"] == product.id and data["title"] == product.title
    by_id = {sku["id"]: sku for sku in data["skus"]}
    for sku in product.skus:
        detail = by_id[sku.id]
        assert [(a["name"], a["value_name"]) for a in detail["sales_attributes"]] == list(
            sku.sales_attributes
        )
        assert all(a["id"] and a["value_id"] for a in detail["sales_attributes"])
        assert detail["combined_skus"] == []
        if sku.identifier_code:
            assert detail["identifier_code"] == {"code": sku.identifier_code, "type": "EAN"}
        else:
            assert "identifier_code" not in detail
        assert detail["price"]["sale_price"] == str(sku.price)


def test_unknown_product_answers_12019150(api, us_shop, sandbox):
    other_shop_product = sandbox.catalog.shops[1].products[0].id
    for product_id in ("1", other_shop_product):
        response = api.call(
            "GET", f"/product/202309/products/{product_id}", {"shop_cipher": us_shop.cipher}
        )
        assert_refused(response, 12019150, 200)


def test_uk_prices_carry_vat_in_sale_price_only(api, sandbox):
    uk = sandbox.catalog.shops[1]
    sku = api.search(uk.cipher, page_size=1).json()["data"]["products"][0]["skus"][0]

    assert sku["price"]["currency"] == "GBP"
    sale, net = sku["price"]["sale_price"], sku["price"]["tax_exclusive_price"]
    assert abs(float(sale) / 1.2 - float(net)) < 0.01


# --- OAuth ----------------------------------------------------------------------------------


def test_consent_page_lists_the_shops_and_refuses_a_wrong_service_id(sandbox, tiktok_url):
    page = requests.get(
        f"{tiktok_url}/oauth/authorize",
        params={"service_id": sandbox.settings.service_id, "state": "s1"},
        timeout=5,
    )
    assert page.status_code == 200
    assert "Authorize SKU Bridge to manage Demo Outfitters’ shops" in page.text
    for shop in sandbox.catalog.shops:
        assert shop.name in page.text
    assert 'value="authorize"' in page.text and 'value="cancel"' in page.text

    wrong = requests.get(f"{tiktok_url}/oauth/authorize", params={"service_id": "1"}, timeout=5)
    assert wrong.status_code == 400


@pytest.mark.parametrize("decision", ["authorize", "cancel"])
def test_consent_redirects_back_to_the_app(sandbox, tiktok_url, decision):
    form = {"service_id": sandbox.settings.service_id, "state": "abc 123", "decision": decision}
    response = requests.post(
        f"{tiktok_url}/oauth/authorize", data=form, allow_redirects=False, timeout=5
    )

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location._replace(query="").geturl() == sandbox.settings.redirect_uri
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    if decision == "authorize":
        assert query["state"] == "abc 123" and query["locale"] == "en"
        assert query["shop_region"] == "US" and query["code"]
    else:
        assert query == {"error": "access_denied", "state": "abc 123"}


def token_get(url: str, settings: SandboxSettings, code: str, secret: str | None = None):
    params = {
        "app_key": settings.app_key,
        "app_secret": secret or settings.app_secret,
        "auth_code": code,
        "grant_type": "authorized_code",
    }
    return requests.get(f"{url}/api/v2/token/get", params=params, timeout=5)


def test_token_get_answers_absolute_expiries_and_refuses_a_reused_code(sandbox, tiktok_url):
    code = requests.post(f"{tiktok_url}/__sandbox__/tiktok/auth-codes", timeout=5).json()["code"]
    before = int(time.time())

    payload = token_get(tiktok_url, sandbox.settings, code).json()

    data = payload["data"]
    assert payload["code"] == 0
    assert set(data) == {
        "access_token",
        "access_token_expire_in",
        "refresh_token",
        "refresh_token_expire_in",
        "open_id",
        "seller_name",
        "seller_base_region",
        "user_type",
        "granted_scopes",
    }
    ttl = sandbox.settings.access_token_ttl
    assert before + ttl <= data["access_token_expire_in"] <= int(time.time()) + ttl
    assert data["seller_name"] == "Demo Outfitters"
    assert (
        "used" in assert_refused(token_get(tiktok_url, sandbox.settings, code), 36004004)["message"]
    )


def test_token_get_refusals(sandbox, tiktok_url):
    settings = sandbox.settings
    code = requests.post(f"{tiktok_url}/__sandbox__/tiktok/auth-codes", timeout=5).json()["code"]
    expired = requests.post(
        f"{tiktok_url}/__sandbox__/tiktok/auth-codes", json={"ttl": -1}, timeout=5
    ).json()["code"]

    assert (
        "app_secret"
        in assert_refused(token_get(tiktok_url, settings, code, "x"), 36009004)["message"]
    )
    assert (
        "expired" in assert_refused(token_get(tiktok_url, settings, expired), 36004004)["message"]
    )
    assert_refused(token_get(tiktok_url, settings, "AUC_made.up"), 36004004)
    assert token_get(tiktok_url, settings, code).json()["code"] == 0  # not used up by the refusals


def test_tokens_survive_a_sandbox_restart():
    settings = SandboxSettings(**TEST_SANDBOX_SETTINGS)
    with serve_tiktok(settings) as (url, _):
        token = mint_grant(url)["access_token"]
    with serve_tiktok(settings) as (url, _):
        response = Api(url, settings, token).call("GET", SHOPS_PATH)
        assert response.json()["code"] == 0


def test_revoked_tokens_are_refused_until_new_ones_are_issued():
    settings = SandboxSettings(**TEST_SANDBOX_SETTINGS)
    with serve_tiktok(settings) as (url, _):
        old = mint_grant(url)
        requests.post(f"{url}/__sandbox__/tiktok/revoke", timeout=5).raise_for_status()
        new = mint_grant(url)

        assert_refused(Api(url, settings, old["access_token"]).call("GET", SHOPS_PATH), 36009004)
        refresh = requests.get(
            f"{url}/api/v2/token/refresh",
            params={
                "app_key": settings.app_key,
                "app_secret": settings.app_secret,
                "refresh_token": old["refresh_token"],
                "grant_type": "refresh_token",
            },
            timeout=5,
        )
        assert_refused(refresh, 36004004)
        assert Api(url, settings, new["access_token"]).call("GET", SHOPS_PATH).json()["code"] == 0


# --- rate limits and faults -----------------------------------------------------------------


def test_rate_limit_per_app_and_shop_answers_429_36009002():
    settings = SandboxSettings(**TEST_SANDBOX_SETTINGS, rate_limit_per_second=2)
    with serve_tiktok(settings) as (url, catalog):
        api = Api(url, settings, mint_grant(url)["access_token"])
        us, uk = catalog.shops

        answers = [api.search(us.cipher, page_size=1) for _ in range(5)]

        limited = [r for r in answers if r.status_code == 429]
        assert limited, [r.status_code for r in answers]
        assert_refused(limited[0], 36009002, 429)
        assert int(limited[0].headers["Retry-After"]) >= 1
        assert api.search(uk.cipher, page_size=1).json()["code"] == 0  # its own bucket
        stats = requests.get(f"{url}/__sandbox__/stats", timeout=5).json()
        assert stats["rate_limited"] == len(limited)


def test_fault_knobs(api, tiktok_url, sandbox):
    faults = f"{tiktok_url}/__sandbox__/faults"

    requests.post(faults, json={"error_rate": 1.0}, timeout=5).raise_for_status()
    assert_refused(api.call("GET", SHOPS_PATH), 36009003, 500)
    consent = requests.get(
        f"{tiktok_url}/oauth/authorize",
        params={"service_id": sandbox.settings.service_id},
        timeout=5,
    )
    assert consent.status_code == 200  # the consent page is exempt

    requests.post(faults, json={"error_rate": 0, "rate_limit_rate": 1.0}, timeout=5)
    assert_refused(api.call("GET", SHOPS_PATH), 36009002, 429)
    code = requests.post(f"{tiktok_url}/__sandbox__/tiktok/auth-codes", timeout=5).json()["code"]
    assert_refused(token_get(tiktok_url, sandbox.settings, code), 36009002, 429)

    stats = requests.get(f"{tiktok_url}/__sandbox__/stats", timeout=5).json()
    assert stats["errors"] >= 1 and stats["rate_limited"] >= 2
