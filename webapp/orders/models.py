"""TikTok Shop orders as SKU Bridge keeps them, and what became of each in the store.

An order is kept from the first time it is seen, whatever happens to it: an order that cannot
be created in the store (an item not linked, the store refusing it) stays, with the reason in
words, until someone links the item or presses *Retry*.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import Base, utcnow
from webapp.types import UTCDateTime, str_enum


class OrderState(enum.StrEnum):
    WAITING = "waiting"  # not paid yet, or on hold at TikTok Shop: not for the store yet
    AWAITING_MAPPING = "awaiting_mapping"  # an item is not linked: held, with the reason
    READY = "ready"  # every item linked: to be created in the store
    CREATING = "creating"  # a worker has claimed it and is creating it in the store
    CREATED = "created"
    FAILED = "failed"  # the store refused or failed; the reason says why; Retry
    CANCELLED = "cancelled"  # cancelled at TikTok Shop (and in the store, if it was created)

    @property
    def label(self) -> str:
        return {
            OrderState.WAITING: "Waiting for payment",
            OrderState.AWAITING_MAPPING: "Awaiting mapping",
            OrderState.READY: "Ready",
            OrderState.CREATING: "Creating",
            OrderState.CREATED: "Created in store",
            OrderState.FAILED: "Failed",
            OrderState.CANCELLED: "Cancelled",
        }[self]


HELD_STATES = (OrderState.AWAITING_MAPPING, OrderState.FAILED)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("account_id", "tiktok_order_id"),
        Index("ix_orders_account_state", "account_id", "state", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("marketplace_accounts.id"))
    tiktok_order_id: Mapped[str] = mapped_column(String(64))
    tiktok_status: Mapped[str] = mapped_column(String(40))
    state: Mapped[OrderState] = mapped_column(str_enum(OrderState), default=OrderState.WAITING)
    reason: Mapped[str] = mapped_column(String(1000), default="")
    currency: Mapped[str] = mapped_column(String(3), default="")
    total: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=0)
    recipient: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    buyer_email: Mapped[str] = mapped_column(String(254), default="")
    buyer_message: Mapped[str] = mapped_column(String(1000), default="")
    created_time: Mapped[int] = mapped_column(BigInteger, default=0)  # TikTok's, unix seconds
    update_time: Mapped[int] = mapped_column(BigInteger, default=0)
    store_order_id: Mapped[str | None] = mapped_column(String(128))
    store_order_number: Mapped[str] = mapped_column(String(64), default="")
    claim: Mapped[str | None] = mapped_column(String(32))  # the worker creating it now
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderItem.id"
    )


class OrderItem(Base):
    """One TikTok line item: one unit of one TikTok SKU."""

    __tablename__ = "order_items"
    __table_args__ = (
        UniqueConstraint("order_id", "line_item_id"),
        Index("ix_order_items_sku", "sku_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    line_item_id: Mapped[str] = mapped_column(String(64))
    product_id: Mapped[str] = mapped_column(String(64))
    sku_id: Mapped[str] = mapped_column(String(64))
    seller_sku: Mapped[str] = mapped_column(String(255), default="")
    product_name: Mapped[str] = mapped_column(String(500), default="")
    sku_name: Mapped[str] = mapped_column(String(255), default="")
    sale_price: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=0)

    order: Mapped[Order] = relationship(back_populates="items")
