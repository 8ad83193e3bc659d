"""Mapping files: an uploaded CSV of TikTok SKU → store SKU, staged row by row, checked as a dry
run, then applied. The staging rows keep what was uploaded, so the error report gives people
their own rows back with the reason."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import Base, utcnow
from webapp.types import UTCDateTime, str_enum


class MappingImportStatus(enum.StrEnum):
    CHECKING = "checking"
    CHECKED = "checked"  # the dry run is ready: confirm to apply
    REFUSED = "refused"  # the whole file was refused; nothing changed
    APPLYING = "applying"
    APPLIED = "applied"
    FAILED = "failed"


class RowOutcome(enum.StrEnum):
    NEW = "new"  # links a row that had no store SKU
    CHANGED = "changed"  # another store SKU or quantity than now
    UNCHANGED = "unchanged"
    UNLINK = "unlink"
    DUPLICATE = "duplicate"  # the same row again in the file
    ERROR = "error"


class MappingImport(Base):
    __tablename__ = "mapping_imports"
    __table_args__ = (Index("ix_mapping_imports_account_id", "account_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("marketplace_accounts.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    filename: Mapped[str] = mapped_column(String(255))  # as uploaded, for display only
    stored_name: Mapped[str] = mapped_column(String(64))  # our own name under instance/uploads
    size_bytes: Mapped[int] = mapped_column(default=0)
    status: Mapped[MappingImportStatus] = mapped_column(
        str_enum(MappingImportStatus), default=MappingImportStatus.CHECKING
    )
    refusal: Mapped[str] = mapped_column(Text, default="")
    header: Mapped[list[str]] = mapped_column(JSON, default=list)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    first_errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    check_job_id: Mapped[int | None] = mapped_column(ForeignKey("job_runs.id"))
    apply_job_id: Mapped[int | None] = mapped_column(ForeignKey("job_runs.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MappingImportRow(Base):
    """One data row of a mapping file, with what checking it found. The cells as uploaded
    stay in the stored file, where the error report reads them."""

    __tablename__ = "mapping_import_rows"
    # Rows are staged in the file's order, so within an import `id` follows `line`: one index
    # serves reading them in order and the apply's ranges of ids.
    __table_args__ = (Index("ix_mapping_import_rows_import_id", "import_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("mapping_imports.id", ondelete="CASCADE"))
    line: Mapped[int]
    marketplace_key: Mapped[str] = mapped_column(String(255), default="")
    store_sku: Mapped[str] = mapped_column(String(255), default="")
    quantity: Mapped[int] = mapped_column(default=1)
    action: Mapped[str] = mapped_column(String(16), default="link")
    parse_error: Mapped[str | None] = mapped_column(String(500))  # what reading the row found
    error: Mapped[str | None] = mapped_column(String(500))  # parse_error or what checking found
    link_id: Mapped[int | None]
    store_sku_id: Mapped[int | None]
    outcome: Mapped[RowOutcome | None] = mapped_column(str_enum(RowOutcome))
