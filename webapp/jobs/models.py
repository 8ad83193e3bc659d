"""Background job runs as the dashboard sees them: kind, progress, result."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.accounts.models import User
from webapp.extensions import Base, utcnow
from webapp.types import UTCDateTime, str_enum


class JobKind(enum.StrEnum):
    MARKETPLACE_IMPORT = "marketplace_import"
    STORE_CATALOG_REFRESH = "store_catalog_refresh"
    STORE_CATALOG_FILE = "store_catalog_file"
    AUTOMAP = "automap"
    ASSIGN = "assign"
    BULK_UNLINK = "bulk_unlink"
    UNDO = "undo"
    MAPPING_CHECK = "mapping_check"
    MAPPING_APPLY = "mapping_apply"
    SYNC = "sync"
    ORDERS = "orders"

    @property
    def label(self) -> str:
        return {
            JobKind.MARKETPLACE_IMPORT: "TikTok Shop product import",
            JobKind.STORE_CATALOG_REFRESH: "Store catalog refresh",
            JobKind.STORE_CATALOG_FILE: "Store catalog file import",
            JobKind.AUTOMAP: "Auto-map",
            JobKind.ASSIGN: "Assign Products",
            JobKind.BULK_UNLINK: "Bulk unlink",
            JobKind.UNDO: "Undo",
            JobKind.MAPPING_CHECK: "Mapping file check",
            JobKind.MAPPING_APPLY: "Mapping file import",
            JobKind.SYNC: "Sync to TikTok Shop",
            JobKind.ORDERS: "Orders from TikTok Shop",
        }[self]

    @property
    def writes_in_bulk(self) -> bool:
        """Writes catalogs or links by the thousand: the query planner's statistics are
        refreshed after it, and the search indexes' pending entries merged."""
        return self not in (JobKind.MAPPING_CHECK, JobKind.SYNC, JobKind.ORDERS)

    @property
    def changes_links(self) -> bool:
        """Bulk link changes, which can be undone from the job's page."""
        return self in (
            JobKind.AUTOMAP,
            JobKind.ASSIGN,
            JobKind.BULK_UNLINK,
            JobKind.MAPPING_APPLY,
        )


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # its worker stopped mid-way; Retry finishes the work

    @property
    def is_over(self) -> bool:
        return self in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.INTERRUPTED)


class JobRun(Base):
    __tablename__ = "job_runs"
    __table_args__ = (
        Index("ix_job_runs_org_kind_status", "organization_id", "kind", "status"),
        Index("ix_job_runs_created_by_finished", "created_by_id", "finished_at"),
        Index("ix_job_runs_org_id", "organization_id", "id"),  # the Jobs list, newest first
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("marketplace_accounts.id"))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    kind: Mapped[JobKind] = mapped_column(str_enum(JobKind, 40))
    status: Mapped[JobStatus] = mapped_column(str_enum(JobStatus), default=JobStatus.QUEUED)
    total: Mapped[int | None]
    done: Mapped[int] = mapped_column(default=0)
    message: Mapped[str] = mapped_column(String(500), default="")
    rate: Mapped[float | None]  # items a second in the current phase, while it runs
    error: Mapped[str] = mapped_column(Text, default="")
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # what to work on
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    undone_by_id: Mapped[int | None] = mapped_column(ForeignKey("job_runs.id"))
    rq_job_id: Mapped[str | None] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the person who started it was told it was over (see jobs.services.watch_own_runs).
    announced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    created_by: Mapped[User | None] = relationship()

    @property
    def percent(self) -> int | None:
        if not self.total:
            return None
        return min(100, round(100 * self.done / self.total))

    @property
    def seconds_left(self) -> float | None:
        """At the current phase's rate; None while there is no rate or no total to reach."""
        if not self.total or not self.rate or self.status.is_over:
            return None
        return max(self.total - self.done, 0) / self.rate
