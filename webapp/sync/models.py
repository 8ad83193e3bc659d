"""What sync remembers: each account's sync settings, and per link what was last pushed.

Sync state lives beside the link, not on it: a link's version counts the changes people make
to its mapping, and a push must never make a support person's open editor stale.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import Base
from webapp.types import UTCDateTime


class SyncSettings(Base):
    """One account's sync choices (the Settings page). An account without a row uses the
    defaults below."""

    __tablename__ = "sync_settings"
    __table_args__ = (
        CheckConstraint("interval_minutes BETWEEN 5 AND 1440", name="interval_range"),
        CheckConstraint("safety_stock >= 0", name="safety_stock_positive"),
        CheckConstraint("reserve_percent BETWEEN 0 AND 100", name="reserve_range"),
        CheckConstraint("out_of_stock_threshold >= 0", name="threshold_positive"),
    )

    account_id: Mapped[int] = mapped_column(
        ForeignKey("marketplace_accounts.id", ondelete="CASCADE"), primary_key=True
    )
    inventory: Mapped[bool] = mapped_column(default=True)
    price: Mapped[bool] = mapped_column(default=True)
    status: Mapped[bool] = mapped_column(default=True)
    orders: Mapped[bool] = mapped_column(default=True)
    interval_minutes: Mapped[int] = mapped_column(default=15)
    safety_stock: Mapped[int] = mapped_column(default=0)  # store units held back per SKU
    reserve_percent: Mapped[int] = mapped_column(default=0)  # share of store stock held back
    out_of_stock_threshold: Mapped[int] = mapped_column(default=0)  # at or below: offer 0
    store_overwrites: Mapped[bool] = mapped_column(default=True)  # the store's data wins
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_full_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Orders updated before this moment (unix seconds) have been pulled from TikTok Shop.
    orders_pulled_until: Mapped[int | None] = mapped_column(BigInteger)

    @classmethod
    def defaults(cls, account_id: int) -> SyncSettings:
        return cls(
            account_id=account_id,
            inventory=True,
            price=True,
            status=True,
            orders=True,
            interval_minutes=15,
            safety_stock=0,
            reserve_percent=0,
            out_of_stock_threshold=0,
            store_overwrites=True,
        )

    @property
    def pushes_anything(self) -> bool:
        return self.inventory or self.price or self.status


class LinkSync(Base):
    """What sync last sent to TikTok Shop for one linked row, and how it went."""

    __tablename__ = "link_syncs"
    __table_args__ = (Index("ix_link_syncs_account_error", "account_id", "has_error"),)

    link_id: Mapped[int] = mapped_column(
        ForeignKey("links.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("marketplace_accounts.id"))
    quantity: Mapped[int | None]  # the quantity last pushed (TikTok units, every warehouse)
    price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))  # the price last pushed
    active: Mapped[bool | None]  # the product status last pushed: activated or deactivated
    store_quantity: Mapped[int | None]  # what the store said then
    store_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # last push that worked
    error: Mapped[str] = mapped_column(String(500), default="")
    has_error: Mapped[bool] = mapped_column(default=False)
    error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
