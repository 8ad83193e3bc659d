"""Security headers on every response, the Content Security Policy, cookies (HttpOnly,
SameSite=Lax, Secure behind HTTPS) and the limit on failed logins."""

from __future__ import annotations

import pytest

from config import TestConfig
from tests.builders import PASSWORD, make_account, make_user
from tests.conftest import CsrfClient
from webapp import create_app
from webapp.auth.views import TOO_MANY_FAILURES
from webapp.http_security import CONTENT_SECURITY_POLICY, NUL_REFUSED

EXPECTED_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def _cookies(response) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in response.headers.getlist("Set-Cookie")}


def test_the_policy_allows_only_our_own_files():
    directives = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["default-src"] == directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


def test_every_kind_of_response_carries_the_security_headers(app_ctx, client):
    owner = make_user()
    make_account(owner.organization, owner)
    answers = {"login page": client.get("/login"), "static file": client.get("/static/app.css")}
    client.login(owner.email, PASSWORD)
    answers |= {
        "page": client.get("/"),
        "htmx partial": client.hx_get("/", target="linking-grid"),
        "not found": client.get("/jobs/999999"),
        "refused form": client.post("/accounts/select", data={"account_id": "1"}),
    }
    for what, response in answers.items():
        for name, value in EXPECTED_HEADERS.items():
            assert response.headers.get(name) == value, (what, name)
        assert "Strict-Transport-Security" not in response.headers, what


def test_cookies_are_httponly_lax_and_secure_only_over_https(app_ctx, client):
    owner = make_user()
    client.get("/login")
    plain = client.post_form(
        "/login", {"email": owner.email, "password": PASSWORD, "remember": "y"}
    )
    assert plain.status_code == 302
    cookies = _cookies(plain)
    assert set(cookies) >= {"session", "remember_token"}
    for header in cookies.values():
        assert "HttpOnly" in header and "SameSite=Lax" in header
        assert "Secure" not in header  # plain HTTP (make run): a Secure cookie would be dropped

    secure = CsrfClient(client.application, use_cookies=True)
    https = "https://localhost/"
    secure.refresh_csrf("/login")
    answer = secure.post_form(
        "/login",
        {"email": owner.email, "password": PASSWORD, "remember": "y"},
        base_url=https,
        headers={"Referer": https + "login"},  # over HTTPS the CSRF check wants our own referrer
    )
    assert answer.status_code == 302
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=")
    cookies = _cookies(answer)
    assert set(cookies) >= {"session", "remember_token"}
    for header in cookies.values():
        assert "; Secure" in header and "HttpOnly" in header and "SameSite=Lax" in header


@pytest.fixture
def proxied_app(app):
    """The dashboard behind one reverse proxy that terminates HTTPS."""
    return create_app(
        TestConfig,
        **{
            key: app.config[key]
            for key in ("SQLALCHEMY_DATABASE_URI", "REDIS_URL", "TIKTOK_API_BASE_URL")
        },
        TRUSTED_PROXY_HOPS=1,
    )


def test_behind_a_trusted_proxy_https_is_taken_from_its_header(app, app_ctx, proxied_app):
    client = proxied_app.test_client()
    over_https = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    over_http = client.get("/login", headers={"X-Forwarded-Proto": "http"})
    assert "; Secure" in _cookies(over_https)["session"]
    assert "Secure" not in _cookies(over_http)["session"]
    # Without a trusted proxy the same header is a client's claim and changes nothing.
    claimed = app.test_client().get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" not in _cookies(claimed)["session"]


def _try(client: CsrfClient, email: str, password: str, address: str = "127.0.0.1"):
    return client.post_form(
        "/login",
        {"email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def test_failed_logins_are_limited_per_address(app, app_ctx, client):
    owner = make_user()
    limit = app.config["LOGIN_FAILURES_PER_MINUTE"]
    client.get("/login")
    for _ in range(limit):
        assert _try(client, owner.email, "wrong password").status_code == 422

    refused = _try(client, owner.email, PASSWORD)

    assert refused.status_code == 429
    page = refused.get_data(as_text=True)
    assert TOO_MANY_FAILURES in page and 'name="email"' in page  # the form, with the reason
    assert "Retry-After" in refused.headers
    assert client.get("/").status_code == 302  # still not logged in
    # Someone else, from another address, is not slowed by these failures.
    other = make_user("other@shop.test", organization="Other shop")
    assert _try(client, other.email, PASSWORD, address="10.0.0.2").status_code == 302


def test_failed_logins_are_limited_per_email_across_addresses(app, app_ctx, client):
    owner = make_user()
    limit = app.config["LOGIN_FAILURES_PER_MINUTE"]
    client.get("/login")
    for n in range(limit):
        assert _try(client, owner.email.upper(), "guess", address=f"10.0.1.{n}").status_code == 422
    assert _try(client, owner.email, PASSWORD, address="10.0.2.1").status_code == 429


def test_successful_logins_are_never_limited(app, app_ctx, client):
    owner = make_user()
    for _ in range(app.config["LOGIN_FAILURES_PER_MINUTE"] + 5):
        client.get("/login")
        assert _try(client, owner.email, PASSWORD).status_code == 302
        client.post_form("/logout")


def test_a_nul_character_in_a_query_or_form_is_refused_with_a_message(app_ctx, client):
    owner = make_user()
    make_account(owner.organization, owner)
    client.login(owner.email, PASSWORD)
    for response in (
        client.get("/?q=TS%00-1"),
        client.hx_get("/?q=%00", target="linking-grid"),
        client.post_form("/accounts/select", {"account_id": "1\x00"}),
    ):
        assert response.status_code == 400
        assert NUL_REFUSED in response.get_data(as_text=True)
