"""Store connections: list, add, test connection, refresh the catalog or upload an export."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.datastructures import FileStorage

from webapp.accounts.models import Store
from webapp.adapters.registry import STORE_ADAPTERS, store_adapter_class, store_platforms
from webapp.catalog.jobs import start_store_catalog_file_import
from webapp.csvio.platform_exports import detect_file_platform
from webapp.csvio.reader import CsvRefused
from webapp.csvio.uploads import save_upload, stored_path
from webapp.domain import DomainError
from webapp.extensions import db
from webapp.htmx import is_htmx, toast
from webapp.jobs.models import JobKind
from webapp.jobs.responses import announce_started
from webapp.jobs.services import shown_jobs
from webapp.stores.services import (
    StoreError,
    catalog_summaries,
    check_connection,
    create_store,
)
from webapp.tenancy import get_or_404, organization_stores, require_manager, require_organization

bp = Blueprint("stores", __name__, url_prefix="/stores")
CATALOG_KINDS = [JobKind.STORE_CATALOG_REFRESH, JobKind.STORE_CATALOG_FILE]


@bp.get("/")
def index():
    stores = organization_stores()
    return render_template(
        "stores/index.html",
        stores=stores,
        summaries=catalog_summaries(db.session, [store.id for store in stores]),
        runs={
            store.id: shown_jobs(db.session, CATALOG_KINDS, store_id=store.id) for store in stores
        },
        webhook_setups={
            store.id: store_adapter_class(store.platform).webhook_setup
            for store in stores
            if store.platform in STORE_ADAPTERS
        },
    )


def _credentials(form: Mapping[str, str]) -> dict[str, str]:
    """The chosen platform's credential fields: the form names them `<platform>-<field>`."""
    prefix = f"{form.get('platform', '')}-"
    return {
        key.removeprefix(prefix): value for key, value in form.items() if key.startswith(prefix)
    }


@bp.route("/new", methods=["GET", "POST"])
def new():
    require_manager()
    organization = require_organization()
    if request.method == "GET":
        return render_template("stores/new.html", platforms=store_platforms(), form={})
    try:
        store = create_store(
            db.session,
            organization_id=organization.id,
            platform=request.form.get("platform", ""),
            name=request.form.get("name", ""),
            base_url=request.form.get("base_url", ""),
            credentials=_credentials(request.form),
            actor=current_user,
        )
    except StoreError as error:
        db.session.rollback()
        return render_template(
            "stores/new.html", platforms=store_platforms(), form=request.form, error=str(error)
        ), 422
    db.session.commit()
    flash(f"Store {store.name} added. Test the connection, then link an account to it.", "success")
    return redirect(url_for("stores.index"))


@bp.post("/<int:store_id>/test")
def test_connection(store_id: int):
    store = get_or_404(Store, store_id)
    check = check_connection(db.session, store, actor=current_user)
    db.session.commit()
    response = render_template("stores/_connection.html", store=store)
    return toast(response, check.message, "success" if check.ok else "error")


CATALOG_FILE_SUFFIXES = (".csv", ".txt", ".tsv")


@bp.post("/<int:store_id>/catalog-file")
def upload_catalog(store_id: int):
    """Upload a platform's product export; a job imports it as the store's catalog."""
    require_manager()
    store = get_or_404(Store, store_id)
    path = None
    try:
        path = _save_catalog_upload(request.files.get("file"))
        run = start_store_catalog_file_import(db.session, store, current_user, path)
    except DomainError as error:
        db.session.rollback()
        if path is not None:
            path.unlink(missing_ok=True)
        return _catalog_upload_answer(store, str(error), "error", error=str(error))
    message = f"Importing the catalog file into {store.name}…"
    return _catalog_upload_answer(store, message, "info", run=run)


def _save_catalog_upload(upload: FileStorage | None) -> Path:
    """Keep the upload under a name of our own and check its header before any job runs."""
    if upload is None or not upload.filename:
        raise CsvRefused("Choose the export file to upload.")
    if Path(upload.filename).suffix.lower() not in CATALOG_FILE_SUFFIXES:
        raise CsvRefused(
            f"{upload.filename} is not a CSV file. Export the products as CSV from Shopify, "
            "Magento or WooCommerce and upload that."
        )
    max_bytes = current_app.config.get("MAX_CONTENT_LENGTH") or sys.maxsize
    stored_name, _ = save_upload(upload.stream, max_bytes=max_bytes)
    path = stored_path(stored_name)
    try:
        detect_file_platform(path)
    except CsvRefused:
        path.unlink(missing_ok=True)
        raise
    return path


def _catalog_upload_answer(store: Store, message: str, level: str, **context):
    if is_htmx():
        fragment = render_template("stores/_catalog_upload.html", store=store, **context)
        response = toast(fragment, message, level)
        if context.get("run") is not None:
            response = announce_started(response, context["run"])
        return response
    flash(message, level)
    return redirect(url_for("stores.index"))
