"""Links: each marketplace SKU's mapping to a store SKU, with its state."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.catalog.models import MarketplaceSku, StoreSku
from webapp.extensions import Base, utcnow
from webapp.types import UTCDateTime, str_enum


class LinkState(enum.StrEnum):
    NOT_LINKED = "not_linked"
    IN_PROGRESS = "in_progress"
    MAPPED = "mapped"
    LINKED = "linked"
    FAILED = "failed"

    @property
    def label(self) -> str:
        return LINK_STATE_LABELS[self]


LINK_STATE_LABELS = {
    LinkState.NOT_LINKED: "Not Linked",
    LinkState.IN_PROGRESS: "In Progress",
    LinkState.MAPPED: "Mapped",
    LinkState.LINKED: "Linked",
    LinkState.FAILED: "Map failed",
}


class Link(Base):
    """One per marketplace SKU, made `not_linked` when the SKU is first imported.

    `version` guards against two people changing the same row at once (optimistic locking).
    """

    __tablename__ = "links"
    __table_args__ = (
        Index("ix_links_account_state_id", "account_id", "state", "id"),
        CheckConstraint("quantity >= 1", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("marketplace_accounts.id"))
    marketplace_sku_id: Mapped[int] = mapped_column(ForeignKey("marketplace_skus.id"), unique=True)
    store_sku_id: Mapped[int | None] = mapped_column(ForeignKey("store_skus.id"), index=True)
    quantity: Mapped[int] = mapped_column(default=1)  # store units per TikTok unit
    state: Mapped[LinkState] = mapped_column(str_enum(LinkState), default=LinkState.NOT_LINKED)
    failure_reason: Mapped[str] = mapped_column(String(500), default="")
    version: Mapped[int] = mapped_column(default=1)
    mapped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    linked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    marketplace_sku: Mapped[MarketplaceSku] = relationship()
    store_sku: Mapped[StoreSku | None] = relationship()

    __mapper_args__ = {"version_id_col": version}
