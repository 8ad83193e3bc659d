"""Demo data for `make run`: an organization with its users, a Magento store and a TikTok Shop
account connected through the sandbox's real OAuth flow. Safe to run on every start."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests
from flask import Flask
from sqlalchemy import select

from webapp.accounts.models import MarketplaceAccount, Organization, Store, User, UserRole
from webapp.accounts.services import TikTokApp, complete_authorization, connect_shops
from webapp.auth.services import create_user, get_or_create_organization
from webapp.catalog.jobs import start_store_catalog_refresh
from webapp.extensions import db
from webapp.sandbox.settings import SandboxSettings
from webapp.stores.services import create_store

DEMO_ORGANIZATION = "Demo Outfitters"
DEMO_USERS = (
    ("owner@demo.test", "demo-owner", UserRole.OWNER, "Olivia Owner"),
    ("support@demo.test", "demo-support", UserRole.SUPPORT, "Sam Support"),
)


def seed_demo_data(app: Flask) -> None:
    with app.app_context():
        organization = get_or_create_organization(db.session, DEMO_ORGANIZATION)
        owner = _ensure_users(organization)
        store = _ensure_store(app, organization, owner)
        _ensure_account(app, organization, owner, store)
        db.session.commit()
        if store.last_refresh_at is None:  # the set-up's own job: no one is told it ended
            start_store_catalog_refresh(db.session, store, None)


def _ensure_users(organization: Organization) -> User:
    for email, password, role, name in DEMO_USERS:
        if db.session.scalar(select(User).where(User.email == email)) is None:
            create_user(
                db.session,
                email=email,
                password=password,
                role=role,
                organization_name=organization.name if role is not UserRole.SUPPORT else None,
                name=name,
            )
    return db.session.scalar(select(User).where(User.email == DEMO_USERS[0][0]))


def _ensure_store(app: Flask, organization: Organization, owner: User) -> Store:
    store = db.session.scalar(select(Store).where(Store.organization_id == organization.id))
    if store is None:
        store = create_store(
            db.session,
            organization_id=organization.id,
            platform="magento",
            name="Demo Outfitters Magento",
            base_url=app.config["SANDBOX_MAGENTO_URL"],
            credentials={"access_token": SandboxSettings.magento_token},
            actor=owner,
        )
    return store


def _ensure_account(app: Flask, organization: Organization, owner: User, store: Store) -> None:
    exists = db.session.scalar(
        select(MarketplaceAccount.id).where(MarketplaceAccount.organization_id == organization.id)
    )
    if exists:
        return
    account = connect_demo_shop(TikTokApp.from_config(app.config), organization.id, owner)
    account.store_id = store.id


def connect_demo_shop(
    tiktok: TikTokApp, organization_id: int, owner: User, shop_index: int = 0
) -> MarketplaceAccount:
    """Authorize as the sandbox's demo seller and connect one of its shops, through the same
    services the OAuth callback and the shop picker use."""
    pending = complete_authorization(
        db.session,
        tiktok,
        organization_id=organization_id,
        user=owner,
        auth_code=authorize_as_demo_seller(tiktok),
    )
    return connect_shops(db.session, pending, [pending.shops[shop_index]["id"]], user=owner)[0]


def authorize_as_demo_seller(tiktok: TikTokApp, state: str = "demo") -> str:
    """Press *Authorize* on the sandbox's consent page, as the demo seller would, and return the
    authorization code it sends back."""
    response = requests.post(
        tiktok.authorization_url(state).split("?")[0],
        data={"service_id": tiktok.service_id, "state": state, "decision": "authorize"},
        allow_redirects=False,
        timeout=10,
    )
    response.raise_for_status()
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    return query["code"][0]
