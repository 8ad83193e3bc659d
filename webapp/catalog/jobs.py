"""RQ job functions for the catalogs: module-level, taking a job run id, safe to run twice."""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy.orm import Session

from webapp.accounts.models import MarketplaceAccount, Store, User
from webapp.accounts.services import TikTokApp
from webapp.catalog.imports import import_marketplace_products, refresh_store_catalog
from webapp.extensions import db
from webapp.jobs.models import JobKind, JobRun
from webapp.jobs.services import ProgressRecorder, job_type, run_tracked, start_job

IMPORT_QUEUE = "imports"


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
    return start_job(
        session,
        kind=JobKind.STORE_CATALOG_REFRESH,
        organization_id=store.organization_id,
        store_id=store.id,
        actor=actor,
    )
