"""TikTok Shop accounts: OAuth through the views, tokens at rest, refresh, the account selector."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select, text

from tests.builders import PASSWORD, make_account, make_store, make_user
from webapp.accounts.jobs import (
    TOKEN_SWEEP_JOB_ID,
    TOKEN_SWEEP_QUEUE,
    refresh_expiring_tokens,
    schedule_token_sweep,
)
from webapp.accounts.models import AccountStatus, MarketplaceAccount
from webapp.accounts.services import AccountUnusable, TikTokApp, account_client
from webapp.extensions import db, utcnow
from webapp.jobs.queue import get_queue


def _press_authorize(authorize_url: str, decision: str = "authorize") -> dict[str, str]:
    """Do what the seller does on TikTok Shop's consent page; return the redirect's query."""
    query = parse_qs(urlsplit(authorize_url).query)
    response = requests.post(
        authorize_url.split("?")[0],
        data={
            "service_id": query["service_id"][0],
            "state": query["state"][0],
            "decision": decision,
        },
        allow_redirects=False,
        timeout=5,
    )
    assert response.status_code == 302
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


@pytest.fixture
def owner(app_ctx, client):
    user = make_user()
    client.login(user.email, PASSWORD)
    return user


def test_connect_through_oauth_and_pick_a_shop(owner, client, sandbox):
    start = client.get("/accounts/tiktok/connect")
    assert start.status_code == 302
    assert start.headers["Location"].startswith(sandbox.url("tiktok") + "/oauth/authorize")
    redirect = _press_authorize(start.headers["Location"])

    callback = client.get("/accounts/tiktok/callback", query_string=redirect)
    assert callback.status_code == 302
    picker = client.get(callback.headers["Location"]).get_data(as_text=True)
    us_shop, uk_shop = sandbox.catalog.shops
    assert us_shop.name in picker and uk_shop.name in picker

    done = client.post_form(callback.headers["Location"], {"shop_id": [us_shop.id, uk_shop.id]})
    assert done.status_code == 302
    accounts = db.session.scalars(select(MarketplaceAccount).order_by(MarketplaceAccount.id)).all()
    assert [(a.shop_id, a.shop_cipher, a.status) for a in accounts] == [
        (us_shop.id, us_shop.cipher, AccountStatus.ACTIVE),
        (uk_shop.id, uk_shop.cipher, AccountStatus.ACTIVE),
    ]
    assert accounts[0].access_token_expires_at > utcnow()
    page = client.get("/accounts/").get_data(as_text=True)
    assert "Demo Outfitters US" in page and "Active" in page


def test_tokens_are_encrypted_at_rest(owner):
    account = make_account(owner.organization, owner)
    raw = db.session.execute(
        text("SELECT access_token, refresh_token FROM marketplace_accounts WHERE id = :id"),
        {"id": account.id},
    ).one()
    assert account.access_token not in raw.access_token
    assert account.refresh_token not in raw.refresh_token
    assert raw.access_token.startswith("gAAAA")  # a Fernet token


def test_a_callback_with_a_foreign_state_connects_nothing(owner, client):
    client.get("/accounts/tiktok/connect")
    response = client.get("/accounts/tiktok/callback?code=abc&state=forged")
    assert response.status_code == 302
    page = client.get("/accounts/").get_data(as_text=True)
    assert "stale or was not started here" in page
    assert db.session.scalar(select(MarketplaceAccount)) is None


def test_cancel_on_the_consent_page_connects_nothing(owner, client):
    start = client.get("/accounts/tiktok/connect")
    redirect = _press_authorize(start.headers["Location"], decision="cancel")
    client.get("/accounts/tiktok/callback", query_string=redirect)
    assert "authorization was cancelled" in client.get("/accounts/").get_data(as_text=True)
    assert db.session.scalar(select(MarketplaceAccount)) is None


def test_an_auth_code_works_once(owner, client):
    start = client.get("/accounts/tiktok/connect")
    redirect = _press_authorize(start.headers["Location"])
    client.get("/accounts/tiktok/callback", query_string=redirect)
    client.get("/accounts/tiktok/connect")  # a new state, the old code
    with client.session_transaction() as session:
        redirect["state"] = session["tiktok_oauth_state"]
    client.get("/accounts/tiktok/callback", query_string=redirect)
    assert "did not accept the authorization" in client.get("/accounts/").get_data(as_text=True)


def test_access_token_is_refreshed_before_it_expires(app, owner):
    account = make_account(owner.organization, owner)
    old_access, old_refresh = account.access_token, account.refresh_token
    account.access_token_expires_at = utcnow() + timedelta(minutes=5)
    db.session.commit()

    client = account_client(db.session, TikTokApp.from_config(app.config), account)
    shops = client.get_authorized_shops()  # the new token works

    db.session.expire_all()
    account = db.session.get(MarketplaceAccount, account.id)
    assert account.access_token != old_access
    assert account.refresh_token != old_refresh
    assert account.access_token_expires_at > utcnow() + timedelta(days=1)
    assert shops


def test_expired_refresh_token_marks_the_account_and_says_why(app, owner, client):
    account = make_account(owner.organization, owner)
    account.access_token_expires_at = utcnow() - timedelta(days=1)
    account.refresh_token_expires_at = utcnow() - timedelta(hours=1)
    db.session.commit()

    with pytest.raises(AccountUnusable, match="authorization expired"):
        account_client(db.session, TikTokApp.from_config(app.config), account)
    assert db.session.get(MarketplaceAccount, account.id).status is AccountStatus.AUTH_EXPIRED

    page = client.get("/").get_data(as_text=True)
    assert "No Active/Valid Accounts Found" in page
    assert "authorization expired" in page and "Reconnect" in page


def test_refused_refresh_marks_the_account_expired(app, owner, sandbox):
    account = make_account(owner.organization, owner)
    account.access_token_expires_at = utcnow()
    db.session.commit()
    requests.post(sandbox.url("tiktok") + "/__sandbox__/tiktok/revoke", timeout=5)

    with pytest.raises(AccountUnusable, match="refused to renew"):
        account_client(db.session, TikTokApp.from_config(app.config), account)
    assert account.status is AccountStatus.AUTH_EXPIRED


def test_no_account_says_so_with_the_action(owner, client):
    page = client.get("/").get_data(as_text=True)
    assert "No Active/Valid Accounts Found" in page
    assert "No TikTok Shop account is connected yet." in page
    assert "Connect TikTok Shop" in page


def test_switched_off_account_offers_activate(owner, client):
    account = make_account(owner.organization, owner)
    client.post_form(f"/accounts/{account.id}/active", {"active": "0"})
    page = client.get("/").get_data(as_text=True)
    assert "No Active/Valid Accounts Found" in page and "Activate" in page

    client.post_form(f"/accounts/{account.id}/active", {"active": "1"})
    assert "No Active/Valid Accounts Found" not in client.get("/").get_data(as_text=True)


def test_an_expired_account_cannot_be_switched_on_without_reconnecting(owner, client):
    account = make_account(owner.organization, owner)
    account.status = AccountStatus.AUTH_EXPIRED
    db.session.commit()
    client.post_form(f"/accounts/{account.id}/active", {"active": "1"})
    assert "needs to be reconnected" in client.get("/accounts/").get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(MarketplaceAccount, account.id).status is AccountStatus.AUTH_EXPIRED


def test_the_selector_switches_accounts(owner, client):
    first = make_account(owner.organization, owner, shop_index=0)
    second = make_account(owner.organization, owner, shop_index=1)
    assert first.name in client.get("/").get_data(as_text=True)
    response = client.post_form("/accounts/select", {"account_id": second.id}, htmx=True)
    assert response.status_code == 204  # not a 302: htmx must see the header itself
    assert response.headers["HX-Redirect"] == "/"
    assert f"{second.name} · Account {second.id}" in client.get("/").get_data(as_text=True)


def test_choosing_a_store_for_an_account(owner, client):
    account = make_account(owner.organization, owner)
    store = make_store(owner.organization)
    client.post_form(f"/accounts/{account.id}/store", {"store_id": store.id})
    db.session.expire_all()
    assert db.session.get(MarketplaceAccount, account.id).store_id == store.id


def test_the_token_sweep_refreshes_idle_accounts_and_schedules_itself(app, owner, run_jobs):
    soon = make_account(owner.organization, owner, shop_index=0)
    later = make_account(owner.organization, owner, shop_index=1)
    soon.access_token_expires_at = utcnow() + timedelta(minutes=20)
    later_expiry = later.access_token_expires_at
    db.session.commit()

    schedule_token_sweep(timedelta(0))
    queue = get_queue(TOKEN_SWEEP_QUEUE)
    assert queue.scheduled_job_registry.get_job_ids() == [TOKEN_SWEEP_JOB_ID]
    queue.scheduled_job_registry.remove(TOKEN_SWEEP_JOB_ID)
    queue.enqueue(refresh_expiring_tokens, job_id=TOKEN_SWEEP_JOB_ID)
    run_jobs()

    db.session.expire_all()
    assert db.session.get(
        MarketplaceAccount, soon.id
    ).access_token_expires_at > utcnow() + timedelta(days=1)
    assert db.session.get(MarketplaceAccount, later.id).access_token_expires_at == later_expiry
    assert queue.scheduled_job_registry.get_job_ids() == [TOKEN_SWEEP_JOB_ID]
