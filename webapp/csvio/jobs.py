"""RQ jobs for mapping files: check (the dry run) and apply. Both take the job run id."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.accounts.models import User
from webapp.csvio.mappings import apply_mapping_import, check_mapping_import
from webapp.csvio.models import MappingImport, MappingImportStatus
from webapp.csvio.uploads import stored_path
from webapp.extensions import db
from webapp.jobs.models import JobKind, JobRun
from webapp.jobs.services import JobError, ProgressRecorder, job_type, run_tracked, start_job

QUEUE = "imports"


def _import_of(run: JobRun) -> MappingImport:
    return db.session.get(MappingImport, run.params["import_id"])


@contextmanager
def _on_failure(mapping_import: MappingImport, status: MappingImportStatus) -> Iterator[None]:
    """Put the file in `status` when the work fails unexpectedly (a refusal sets its own)."""
    import_id = mapping_import.id
    try:
        yield
    except Exception:
        db.session.rollback()
        mapping_import = db.session.get(MappingImport, import_id)
        if mapping_import.status is not MappingImportStatus.REFUSED:
            mapping_import.status = status
            db.session.commit()
        raise


@job_type(JobKind.MAPPING_CHECK, queue=QUEUE)
def run_mapping_check(job_run_id: int) -> dict[str, Any]:
    def work(run: JobRun, progress: ProgressRecorder) -> dict[str, Any]:
        mapping_import = _import_of(run)
        with _on_failure(mapping_import, MappingImportStatus.FAILED):
            return check_mapping_import(
                db.session,
                mapping_import,
                stored_path(mapping_import.stored_name),
                max_rows=current_app.config["MAPPING_MAX_ROWS"],
                progress=progress,
            )

    return run_tracked(job_run_id, work)


@job_type(JobKind.MAPPING_APPLY, queue=QUEUE)
def run_mapping_apply(job_run_id: int) -> dict[str, Any]:
    def work(run: JobRun, progress: ProgressRecorder) -> dict[str, Any]:
        mapping_import = _import_of(run)
        # Applying is idempotent: after a failure the file can be confirmed again.
        with _on_failure(mapping_import, MappingImportStatus.CHECKED):
            return apply_mapping_import(
                db.session, mapping_import, actor=run.created_by, batch=run, progress=progress
            )

    return run_tracked(job_run_id, work)


def _start(
    session: Session, kind: JobKind, mapping_import: MappingImport, actor: User | None
) -> JobRun:
    return start_job(
        session,
        kind=kind,
        organization_id=mapping_import.organization_id,
        account_id=mapping_import.account_id,
        actor=actor,
        params={"import_id": mapping_import.id},
    )


def start_mapping_check(session: Session, mapping_import: MappingImport, actor: User | None):
    run = _start(session, JobKind.MAPPING_CHECK, mapping_import, actor)
    mapping_import.check_job_id = run.id
    session.commit()
    return run


def start_mapping_apply(session: Session, mapping_import: MappingImport, actor: User | None):
    if mapping_import.status is not MappingImportStatus.CHECKED:
        raise JobError("Only a checked file that was not applied yet can be applied.")
    run = _start(session, JobKind.MAPPING_APPLY, mapping_import, actor)
    mapping_import.apply_job_id = run.id
    mapping_import.status = MappingImportStatus.APPLYING  # the page shows the apply's progress
    session.commit()
    return run


def latest_imports(session: Session, account_id: int, limit: int = 20) -> list[MappingImport]:
    return list(
        session.scalars(
            select(MappingImport)
            .where(MappingImport.account_id == account_id)
            .order_by(MappingImport.id.desc())
            .limit(limit)
        )
    )
