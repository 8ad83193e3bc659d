"""API tokens: an organization's keys to the JSON API, kept only as a hash."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import Base, utcnow
from webapp.types import UTCDateTime


class ApiToken(Base):
    """One bearer token of one organization. The secret is shown once, when it is made; the
    database keeps its SHA-256 and a short `prefix` so that people can tell tokens apart."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_org_id", "organization_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
