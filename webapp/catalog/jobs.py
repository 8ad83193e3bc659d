"""RQ job functions for the catalogs: module-level, taking a job run id, safe to run twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy.orm import Session

from webapp.accounts.models import MarketplaceAccount, Store, User
from webapp.accounts.services import TikTokApp
from webapp.adapters.base import CatalogPage, StoreVariant
from webapp.catalog.imports import (
    import_marketplace_products,
    import_store_catalog_pages,
    refresh_store_catalog,
)
from webapp.csvio.platform_exports import PLATFORM_LABELS, read_platform_export
from webapp.extensions import db
from webapp.jobs.models import JobKind, JobRun
from webapp.jobs.services import (
    JobError,
    ProgressRecorder,
    active_jobs,
    job_type,
    run_tracked,
    start_job,
)

IMPORT_QUEUE = "imports"
FILE_PAGE_SIZE = 500  # catalog entries written per batch when reading an export file
STORE_CATALOG_KINDS = (JobKind.STORE_CATALOG_REFRESH, JobKind.STORE_CATALOG_FILE)


@job_type(JobKind.MARKETPLACE_IMPORT, queue=IMPORT_QUEUE)
def run_marketplace_import(job_run_id: int) -> dict[str, Any]:
    def work(run: JobRun, progress: ProgressRecorder) -> dict[str, Any]:
        account = db.session.get(MarketplaceAccount, run.account_id)
        app = TikTokApp.from_config(current_app.config)
        return import_marketplace_products(db.session, app, account, run, progress)

    return run_tracked(job_run_id, work)


@job_type(JobKind.STORE_CATALOG_REFRESH, queue=IMPORT_QUEUE)
def run_store_catalog_refresh(job_run_id: int) -> dict[str, Any]:
    def work(run: JobRun, progress: ProgressRecorder) -> dict[str, Any]:
        store = db.session.get(Store, run.store_id)
        return refresh_store_catalog(db.session, store, run, progress)

    return run_tracked(job_run_id, work)


@job_type(JobKind.STORE_CATALOG_FILE, queue=IMPORT_QUEUE)
def run_store_catalog_file_import(job_run_id: int) -> dict[str, Any]:
    """Import a store catalog from an export file; an uploaded copy is removed once imported
    (a failed run keeps it, so Retry can read it again)."""

    def work(run: JobRun, progress: ProgressRecorder) -> dict[str, Any]:
        store = db.session.get(Store, run.store_id)
        path = Path(run.params["path"])
        result = import_catalog_file(db.session, store, path, run, progress)
        if run.params.get("uploaded"):
            path.unlink(missing_ok=True)
        return result

    return run_tracked(job_run_id, work)


def import_catalog_file(
    session: Session, store: Store, path: Path, run: JobRun, progress: ProgressRecorder
) -> dict[str, Any]:
    """Upsert a store's catalog from a Shopify, Magento or WooCommerce export file, exactly as a
    catalog refresh would (entries missing from the file are marked gone). A refused file
    (`CsvRefused`) changes nothing."""
    report: Counter[str] = Counter()
    platform, variants = read_platform_export(path, report)
    label = PLATFORM_LABELS[platform]
    progress.update(message=f"Reading the {label}…", force=True)
    result = import_store_catalog_pages(
        session,
        store,
        _pages(variants),
        run,
        progress,
        empty_message=f"The {label} holds no products; nothing was changed.",
    )
    return {
        **result,
        "platform": platform,
        "damaged_barcodes": report["damaged_barcodes"],
        "damaged_skus": report["damaged_skus"],
        "skipped": report["skipped"],
    }


def _pages(variants: Iterator[StoreVariant]) -> Iterator[CatalogPage]:
    while batch := list(islice(variants, FILE_PAGE_SIZE)):
        yield CatalogPage(items=batch, total=None)


def start_marketplace_import(
    session: Session, account: MarketplaceAccount, actor: User | None
) -> JobRun:
    return start_job(
        session,
        kind=JobKind.MARKETPLACE_IMPORT,
        organization_id=account.organization_id,
        account_id=account.id,
        actor=actor,
    )


def start_store_catalog_refresh(session: Session, store: Store, actor: User | None) -> JobRun:
    _refuse_while_file_import_runs(session, store)
    return start_job(
        session,
        kind=JobKind.STORE_CATALOG_REFRESH,
        organization_id=store.organization_id,
        store_id=store.id,
        actor=actor,
    )


def start_store_catalog_file_import(
    session: Session, store: Store, actor: User | None, path: Path, *, uploaded: bool = True
) -> JobRun:
    """Queue the import of an export file already saved at `path` (under our own name)."""
    _refuse_while_file_import_runs(session, store, kinds=STORE_CATALOG_KINDS)
    return start_job(
        session,
        kind=JobKind.STORE_CATALOG_FILE,
        organization_id=store.organization_id,
        store_id=store.id,
        actor=actor,
        params={"path": str(path), "uploaded": uploaded},
    )


def _refuse_while_file_import_runs(
    session: Session, store: Store, kinds: tuple[JobKind, ...] = (JobKind.STORE_CATALOG_FILE,)
) -> None:
    """Two catalog imports of one store at once would each mark the other's entries gone."""
    busy = active_jobs(session, kinds, store_id=store.id)
    if busy:
        raise JobError(
            f"A catalog import of {store.name} is already under way (job {busy[0].id}); "
            "wait for it to finish."
        )
