"""Audit trail: who did what, in which organization (support access included)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from webapp.accounts.models import User
from webapp.extensions import Base, utcnow
from webapp.types import UTCDateTime


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_org_id", "organization_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(128), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    actor: Mapped[User | None] = relationship()


def record_event(
    session: Session,
    *,
    actor: User | None,
    organization_id: int | None,
    action: str,
    target: str = "",
    **detail: Any,
) -> AuditEvent:
    """Add an audit event to the session (committed with the change it records)."""
    if actor is not None and actor.is_support:
        detail.setdefault("via_support", True)
    event = AuditEvent(
        organization_id=organization_id,
        actor_id=actor.id if actor is not None else None,
        action=action,
        target=target,
        detail=detail,
    )
    session.add(event)
    return event
