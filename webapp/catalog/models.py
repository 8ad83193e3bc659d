"""The two catalogs being linked: marketplace (TikTok Shop) SKUs and store SKUs."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import Base, utcnow
from webapp.types import UTCDateTime


class MarketplaceSku(Base):
    """One TikTok Shop SKU of one account, upserted by (account, sku id) on every import."""

    __tablename__ = "marketplace_skus"
    __table_args__ = (
        UniqueConstraint("account_id", "sku_id"),
        Index("ix_marketplace_skus_account_seller_sku", "account_id", "seller_sku"),
        Index("ix_marketplace_skus_account_product", "account_id", "product_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("marketplace_accounts.id"))
    product_id: Mapped[str] = mapped_column(String(64))
    sku_id: Mapped[str] = mapped_column(String(64))
    seller_sku: Mapped[str] = mapped_column(String(255), default="")
    product_title: Mapped[str] = mapped_column(String(500), default="")
    variant: Mapped[str] = mapped_column(String(255), default="")
    product_status: Mapped[str] = mapped_column(String(40), default="")
    price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3), default="")
    quantity: Mapped[int] = mapped_column(default=0)
    inventory: Mapped[list[list[str | int]]] = mapped_column(JSON, default=list)
    barcode: Mapped[str | None] = mapped_column(String(64))
    remote_updated_at: Mapped[int] = mapped_column(BigInteger, default=0)
    last_seen_job_id: Mapped[int | None]
    gone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def name(self) -> str:
        return f"{self.product_title} - {self.variant}" if self.variant else self.product_title


class StoreSku(Base):
    """One store catalog entry, upserted by (store, remote id). Parents are kept so they can be
    refused by name, never linked."""

    __tablename__ = "store_skus"
    __table_args__ = (
        UniqueConstraint("store_id", "remote_id"),
        Index("ix_store_skus_store_sku", "store_id", "sku"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    remote_id: Mapped[str] = mapped_column(String(64))
    sku: Mapped[str] = mapped_column(String(255), default="")
    name: Mapped[str] = mapped_column(String(500), default="")
    variant: Mapped[str] = mapped_column(String(255), default="")
    is_parent: Mapped[bool] = mapped_column(default=False)
    parent_remote_id: Mapped[str | None] = mapped_column(String(64))
    price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    quantity: Mapped[int | None]
    barcode: Mapped[str | None] = mapped_column(String(64))
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    last_seen_job_id: Mapped[int | None]
    gone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
