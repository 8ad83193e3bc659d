"""Builders of test data, in one place. Accounts are connected through the sandbox's real OAuth
flow and stores point at the Magento sandbox, so the data is what the product itself makes."""

from __future__ import annotations

from flask import current_app

from webapp.accounts.models import MarketplaceAccount, Organization, Store, User, UserRole
from webapp.accounts.services import TikTokApp, complete_authorization, connect_shops
from webapp.auth.services import create_user, get_or_create_organization
from webapp.demo import authorize_as_demo_seller
from webapp.extensions import db
from webapp.sandbox.settings import SandboxSettings
from webapp.stores.services import create_store

PASSWORD = "correct-horse-battery"


def make_user(
    email: str = "owner@shop.test",
    *,
    role: UserRole = UserRole.OWNER,
    organization: str | None = "Shop One",
) -> User:
    user = create_user(
        db.session,
        email=email,
        password=PASSWORD,
        role=role,
        organization_name=organization if role is not UserRole.SUPPORT else None,
    )
    db.session.commit()
    return user


def make_organization(name: str = "Shop One") -> Organization:
    organization = get_or_create_organization(db.session, name)
    db.session.commit()
    return organization


def make_store(organization: Organization, *, token: str | None = None) -> Store:
    store = create_store(
        db.session,
        organization_id=organization.id,
        platform="magento",
        name=f"{organization.name} Magento",
        base_url=current_app.config["SANDBOX_MAGENTO_URL"],
        credentials={"access_token": token or SandboxSettings.magento_token},
        actor=None,
    )
    db.session.commit()
    return store


def make_account(
    organization: Organization, owner: User, *, shop_index: int = 0, store: Store | None = None
) -> MarketplaceAccount:
    tiktok = TikTokApp.from_config(current_app.config)
    pending = complete_authorization(
        db.session,
        tiktok,
        organization_id=organization.id,
        user=owner,
        auth_code=authorize_as_demo_seller(tiktok),
    )
    account = connect_shops(db.session, pending, [pending.shops[shop_index]["id"]], user=owner)[0]
    account.store_id = store.id if store else None
    db.session.commit()
    return account
