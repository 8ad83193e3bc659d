"""Organizations, their users, TikTok Shop accounts and store connections."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from flask_login import UserMixin
from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.extensions import Base, utcnow
from webapp.types import EncryptedJSON, EncryptedText, UTCDateTime, str_enum


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    accounts: Mapped[list[MarketplaceAccount]] = relationship(back_populates="organization")
    stores: Mapped[list[Store]] = relationship(back_populates="organization")


class UserRole(enum.StrEnum):
    OWNER = "owner"
    STAFF = "staff"
    SUPPORT = "support"  # SKU Bridge staff: may open any organization


class User(UserMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "role = 'support' OR organization_id IS NOT NULL", name="member_has_organization"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[UserRole] = mapped_column(str_enum(UserRole))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Loaded with the user: every request asks for it.
    organization: Mapped[Organization | None] = relationship(lazy="joined")

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_support(self) -> bool:
        return self.role is UserRole.SUPPORT

    @property
    def display_name(self) -> str:
        return self.name or self.email


class AccountStatus(enum.StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"  # switched off by the owner
    AUTH_EXPIRED = "auth_expired"  # refresh token expired or refused: reconnect
    DISCONNECTED = "disconnected"  # the seller revoked SKU Bridge's access


class MarketplaceAccount(Base):
    """One authorized TikTok Shop shop."""

    __tablename__ = "marketplace_accounts"
    __table_args__ = (UniqueConstraint("organization_id", "shop_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"), index=True)
    shop_id: Mapped[str] = mapped_column(String(64))
    shop_cipher: Mapped[str] = mapped_column(String(128))
    shop_code: Mapped[str] = mapped_column(String(64), default="")
    name: Mapped[str] = mapped_column(String(200))
    region: Mapped[str] = mapped_column(String(8), default="")
    seller_name: Mapped[str] = mapped_column(String(200), default="")
    # Read (and decrypted) only by the code that calls TikTok Shop, not by every page.
    access_token: Mapped[str] = mapped_column(EncryptedText, deferred=True, deferred_group="tokens")
    refresh_token: Mapped[str] = mapped_column(
        EncryptedText, deferred=True, deferred_group="tokens"
    )
    access_token_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    refresh_token_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[AccountStatus] = mapped_column(
        str_enum(AccountStatus), default=AccountStatus.ACTIVE
    )
    status_reason: Mapped[str] = mapped_column(String(500), default="")
    last_import_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Auto-map newly imported SKUs with the auto-map rules; None until the owner answers the
    # question the first import asks.
    auto_link_new_products: Mapped[bool | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organization: Mapped[Organization] = relationship(back_populates="accounts")
    store: Mapped[Store | None] = relationship()

    @property
    def is_usable(self) -> bool:
        return self.status is AccountStatus.ACTIVE


class Store(Base):
    """A merchant's own store, reached through the adapter of its platform."""

    __tablename__ = "stores"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    platform: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    base_url: Mapped[str] = mapped_column(String(500))
    # Read (and decrypted) only by the code that calls the store, not by every page.
    credentials: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON, deferred=True)
    last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_check_ok: Mapped[bool | None]
    last_check_message: Mapped[str] = mapped_column(String(500), default="")
    last_refresh_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organization: Mapped[Organization] = relationship(back_populates="stores")


class PendingAuthorization(Base):
    """Tokens from a finished TikTok Shop OAuth callback, kept until the user picks the shops.

    Kept server-side (encrypted) so tokens never travel in a cookie or a form.
    """

    __tablename__ = "pending_authorizations"
    __table_args__ = (Index("ix_pending_authorizations_org_created", "organization_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    seller_name: Mapped[str] = mapped_column(String(200), default="")
    access_token: Mapped[str] = mapped_column(EncryptedText)
    refresh_token: Mapped[str] = mapped_column(EncryptedText)
    access_token_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    refresh_token_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    shops: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
