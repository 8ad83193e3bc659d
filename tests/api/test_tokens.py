"""API tokens: an owner makes one on the API tokens page (shown once, kept as a hash), sees
when it was last used, and revokes it; both are in the audit log; staff cannot; the dashboard's
session never opens the API."""

from __future__ import annotations

import hashlib
import re

import pytest
from sqlalchemy import select

from tests.api.conftest import bearer
from tests.builders import PASSWORD, make_user
from webapp.accounts.models import UserRole
from webapp.api.models import ApiToken
from webapp.audit import AuditEvent
from webapp.extensions import db

SECRET = re.compile(r'id="new-token-secret"[^>]*value="(skb_[A-Za-z0-9_-]{43})"')


@pytest.fixture
def owner(shop, client):
    owner, _, _ = shop
    client.login(owner.email, PASSWORD)
    client.refresh_csrf("/settings/api-tokens/")
    return owner


def _make(client, name: str = "ERP", *, htmx: bool = True):
    return client.post_form("/settings/api-tokens/", {"name": name}, htmx=htmx)


def test_a_new_token_is_shown_once_and_kept_only_as_a_hash(owner, client):
    made = _make(client, "  Warehouse   ERP ")
    secret = SECRET.search(made.get_data(as_text=True)).group(1)
    token = db.session.scalar(select(ApiToken))

    assert made.status_code == 200
    assert (token.name, token.prefix) == ("Warehouse ERP", secret[:12])
    assert token.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    page = client.get("/settings/api-tokens/").get_data(as_text=True)
    assert secret not in page and f"{token.prefix}…" in page and "Never" in page
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "api_token.created"))
    assert (event.actor_id, event.target) == (owner.id, f"api_token:{token.id}")
    assert event.detail == {"name": "Warehouse ERP", "prefix": token.prefix}


def test_the_page_works_without_javascript_too(owner, client):
    made = _make(client, htmx=False)
    body = made.get_data(as_text=True)
    assert made.status_code == 200 and "<h1>API tokens</h1>" in body and SECRET.search(body)


def test_a_token_needs_a_name(owner, client):
    refused = _make(client, "   ")
    assert refused.status_code == 422
    assert "Give the token a name" in refused.get_data(as_text=True)
    assert db.session.scalar(select(ApiToken)) is None


def test_a_call_notes_when_the_token_was_last_used(owner, client):
    secret = SECRET.search(_make(client).get_data(as_text=True)).group(1)
    assert client.get("/api/v1/accounts", headers=bearer(secret)).status_code == 200
    db.session.expire_all()
    assert db.session.scalar(select(ApiToken)).last_used_at is not None
    assert "Never" not in client.get("/settings/api-tokens/").get_data(as_text=True)


def test_a_revoked_token_is_refused_and_the_revocation_audited(owner, client):
    secret = SECRET.search(_make(client).get_data(as_text=True)).group(1)
    token = db.session.scalar(select(ApiToken))

    revoked = client.post_form(f"/settings/api-tokens/{token.id}/revoke", htmx=True)
    again = client.post_form(f"/settings/api-tokens/{token.id}/revoke", htmx=True)
    call = client.get("/api/v1/accounts", headers=bearer(secret))

    assert revoked.status_code == again.status_code == 200
    assert "Revoked" in revoked.get_data(as_text=True)
    assert call.status_code == 401 and "was revoked on" in call.get_json(force=True)["detail"]
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "api_token.revoked")
    ).all()
    assert [(e.actor_id, e.target) for e in events] == [(owner.id, f"api_token:{token.id}")]


def test_the_session_cookie_alone_never_opens_the_api(owner, client):
    """Logged in as the owner, with the page's CSRF token even: the API still says 401."""
    account_id = owner.organization.accounts[0].id
    for method, url in (
        ("GET", "/api/v1/accounts"),
        ("GET", f"/api/v1/accounts/{account_id}/links"),
        ("DELETE", f"/api/v1/accounts/{account_id}/links/anything"),
    ):
        response = client.open(url, method=method, headers={"X-CSRFToken": client.csrf_token})
        assert response.status_code == 401, (method, url)
        assert response.mimetype == "application/problem+json"


def test_staff_cannot_manage_tokens(shop, client):
    owner, _, _ = shop
    staff = make_user("staff@shop.test", role=UserRole.STAFF, organization="Shop One")
    client.login(staff.email, PASSWORD)
    client.refresh_csrf("/")
    assert client.get("/settings/api-tokens/").status_code == 403
    assert _make(client).status_code == 403
    assert "API tokens" not in client.get("/").get_data(as_text=True)
    assert owner.organization_id == staff.organization_id


def test_owners_reach_the_page_from_the_navigation(owner, client):
    page = client.get("/").get_data(as_text=True)
    assert 'href="/settings/api-tokens/"' in page
