"""The two catalogs being linked: marketplace (TikTok Shop) SKUs and store SKUs."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Numeric,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, validates

from webapp.extensions import Base, utcnow
from webapp.linking.matching import normalize_barcode, normalize_sku
from webapp.types import UTCDateTime

KEY_LENGTH = 255
MATCH_KEYS = ("sku_key", "barcode_key")


def match_keys(sku: str | None, barcode: str | None) -> dict[str, str]:
    """The keys the matching rules look SKUs up by, kept beside the SKU and barcode they come
    from so that auto-map can match a million rows in the database: the normalized SKU and the
    normalized barcode ("" when there is none)."""
    return {
        "sku_key": normalize_sku(sku or "")[:KEY_LENGTH],
        "barcode_key": normalize_barcode(barcode),
    }


class _MatchKeys:
    """Keeps `sku_key` and `barcode_key` when the SKU or the barcode is set on an object.
    Bulk writes (the imports) set them with `match_keys` themselves."""

    sku_field: str

    @validates("seller_sku", "sku", "barcode")
    def _keep_match_keys(self, name: str, value: str | None) -> str | None:
        if name == "barcode":
            self.barcode_key = normalize_barcode(value)
        elif name == self.sku_field:
            self.sku_key = match_keys(value, None)["sku_key"]
        return value


def _live_key_index(name: str, column: str) -> Index:
    """A store's live catalog entries by one matching key, covering what a rule needs to decide
    (is it a parent; the entry's id is in every index), so matching never reads the table."""
    return Index(
        name,
        "store_id",
        column,
        "is_parent",
        sqlite_where=text("gone_at IS NULL"),
        postgresql_where=text("gone_at IS NULL"),
    )


class MarketplaceSku(_MatchKeys, Base):
    """One TikTok Shop SKU of one account, upserted by (account, sku id) on every import."""

    __tablename__ = "marketplace_skus"
    __table_args__ = (
        UniqueConstraint("account_id", "sku_id"),
        Index("ix_marketplace_skus_account_seller_sku", "account_id", "seller_sku"),
        Index("ix_marketplace_skus_account_product", "account_id", "product_id"),
    )
    sku_field = "seller_sku"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("marketplace_accounts.id"))
    product_id: Mapped[str] = mapped_column(String(64))
    sku_id: Mapped[str] = mapped_column(String(64))
    seller_sku: Mapped[str] = mapped_column(String(255), default="")
    sku_key: Mapped[str] = mapped_column(String(KEY_LENGTH), default="", server_default="")
    barcode_key: Mapped[str] = mapped_column(String(14), default="", server_default="")
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


class StoreSku(_MatchKeys, Base):
    """One store catalog entry, upserted by (store, remote id). Parents are kept so they can be
    refused by name, never linked."""

    __tablename__ = "store_skus"
    __table_args__ = (
        UniqueConstraint("store_id", "remote_id"),
        Index("ix_store_skus_store_sku", "store_id", "sku"),
        _live_key_index("ix_store_skus_live_sku", "sku"),
        _live_key_index("ix_store_skus_live_sku_key", "sku_key"),
        _live_key_index("ix_store_skus_live_barcode_key", "barcode_key"),
    )
    sku_field = "sku"

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    remote_id: Mapped[str] = mapped_column(String(64))
    sku: Mapped[str] = mapped_column(String(255), default="")
    sku_key: Mapped[str] = mapped_column(String(KEY_LENGTH), default="", server_default="")
    barcode_key: Mapped[str] = mapped_column(String(14), default="", server_default="")
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
