"""Links: each marketplace SKU's mapping to a store SKU, with its state."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
)
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
    """One per marketplace SKU, made `not_linked` when the SKU is first imported; the unique
    marketplace_sku_id makes a SKU link to at most one target.

    The target is one store SKU × `quantity` (a multi-pack when above 1); a kit adds further
    store SKUs as `components`. `version` guards against two people changing the same row at
    once (optimistic locking).
    """

    __tablename__ = "links"
    __table_args__ = (
        Index("ix_links_account_state_id", "account_id", "state", "id"),  # status tabs
        Index("ix_links_account_id", "account_id", "id"),  # the All tab, in id order
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint(
            "state NOT IN ('mapped', 'linked') OR store_sku_id IS NOT NULL",
            name="mapped_has_target",
        ),
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
    components: Mapped[list[LinkComponent]] = relationship(
        back_populates="link", cascade="all, delete-orphan", order_by="LinkComponent.id"
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_kit(self) -> bool:
        return bool(self.components)


class LinkComponent(Base):
    """A further store SKU of a kit: 1 TikTok unit = link.quantity × the link's store SKU plus
    quantity × each component's store SKU."""

    __tablename__ = "link_components"
    __table_args__ = (
        UniqueConstraint("link_id", "store_sku_id"),
        CheckConstraint("quantity >= 1", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("links.id", ondelete="CASCADE"))
    store_sku_id: Mapped[int] = mapped_column(ForeignKey("store_skus.id"), index=True)
    quantity: Mapped[int] = mapped_column(default=1)

    link: Mapped[Link] = relationship(back_populates="components")
    store_sku: Mapped[StoreSku] = relationship()


class LinkEvent(Base):
    """One change of one link: who, when, before, after, and the batch (job run) it was part of.
    Undo of a batch replays `before` onto rows whose version is still `after`'s."""

    __tablename__ = "link_events"
    __table_args__ = (
        Index("ix_link_events_link_id", "link_id", "id"),
        Index("ix_link_events_job_run_id", "job_run_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("links.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("marketplace_accounts.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    job_run_id: Mapped[int | None] = mapped_column(ForeignKey("job_runs.id"))
    action: Mapped[str] = mapped_column(String(32))
    before: Mapped[dict[str, Any]] = mapped_column(JSON)
    after: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LinkStateCount(Base):
    """How many links of an account are in each state, kept by database triggers on `links`
    (migration 0006), so the grid's tabs never count a million rows."""

    __tablename__ = "link_state_counts"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("marketplace_accounts.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[str] = mapped_column(String(20), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)


class FailureKindCount(Base):
    """How many Map failed rows of an account fail for each kind of reason
    (`webapp.linking.grid.FAILURE_KINDS`), kept by database triggers on `links` (migration
    0009), for the Map failed tab's filter."""

    __tablename__ = "failure_kind_counts"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("marketplace_accounts.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)


class AutomapDecision(Base):
    """What one auto-map run decided for one row, staged so that every row is decided in one
    statement and written to the links in ranges; a run deletes its rows when it ends.

    `decision` packs the deciding rule and what it found (`webapp.linking.automap.Decision`);
    `failure_reason` is filled for the refusals whose reason names the candidates."""

    __tablename__ = "automap_decisions"
    __table_args__ = (Index("ix_automap_decisions_run_key", "run_key", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_key: Mapped[int] = mapped_column(BigInteger)
    link_id: Mapped[int]
    decision: Mapped[int | None] = mapped_column(BigInteger)
    failure_reason: Mapped[str] = mapped_column(String(500), default="")
