"""Store catalogs from platform export files: the job, the command line and the Stores page upload.
The real exports are read from ../shared/fixtures/real/; derived copies are written to tmp_path."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.builders import PASSWORD, REAL_EXPORTS, make_store, make_user, needs_real_exports
from webapp.accounts.models import UserRole
from webapp.catalog.jobs import (
    start_store_catalog_file_import,
    start_store_catalog_refresh,
)
from webapp.catalog.models import StoreSku
from webapp.extensions import db
from webapp.jobs.models import JobKind, JobRun, JobStatus
from webapp.jobs.services import JobError

REAL = REAL_EXPORTS
pytestmark = needs_real_exports
LUMA = REAL / "magento_luma_products.csv"
SHOPIFY = REAL / "shopify_product_template.csv"
WOO = REAL / "woocommerce_sample_products.csv"


@pytest.fixture
def store(app_ctx):
    owner = make_user()
    return make_store(owner.organization)


def _import(store, path: Path, run_jobs) -> JobRun:
    run = start_store_catalog_file_import(db.session, store, None, path, uploaded=False)
    run_jobs()
    db.session.expire_all()
    return db.session.get(JobRun, run.id)


def _count(**where) -> int:
    statement = select(func.count()).select_from(StoreSku)
    for name, value in where.items():
        statement = statement.where(getattr(StoreSku, name) == value)
    return db.session.scalar(statement)


def test_a_magento_export_imported_twice_changes_nothing_the_second_time(store, run_jobs):
    first = _import(store, LUMA, run_jobs)
    assert first.status is JobStatus.FINISHED, first.error
    assert first.kind.label == "Store catalog file import"
    assert first.result == {
        "skus": 1994,
        "new": 1994,
        "updated": 0,
        "unchanged": 0,
        "gone": 0,
        "platform": "magento",
        "damaged_barcodes": 0,
        "damaged_skus": 0,
        "skipped": 0,
    }
    before = {row.remote_id: row.updated_at for row in db.session.scalars(select(StoreSku))}

    second = _import(store, LUMA, run_jobs)
    assert second.status is JobStatus.FINISHED, second.error
    assert (second.result["new"], second.result["updated"], second.result["gone"]) == (0, 0, 0)
    assert second.result["unchanged"] == 1994
    after = {row.remote_id: row.updated_at for row in db.session.scalars(select(StoreSku))}
    assert after == before
    assert _count(store_id=store.id, is_parent=True) == 147
    child = db.session.scalar(select(StoreSku).where(StoreSku.remote_id == "MH01-XS-Black"))
    assert (child.parent_remote_id, child.variant, child.is_parent) == ("MH01", "Black / XS", False)
    assert db.session.get(type(store), store.id).last_refresh_at is not None


def test_entries_missing_from_the_file_are_marked_gone_and_come_back(store, run_jobs, tmp_path):
    _import(store, WOO, run_jobs)
    trimmed = tmp_path / "woo-trimmed.csv"
    with WOO.open(newline="", encoding="utf-8") as source, trimmed.open("w", newline="") as out:
        rows = list(csv.reader(source))
        csv.writer(out).writerows(row for row in rows if row[0] != "759")

    gone = _import(store, trimmed, run_jobs)
    assert (gone.result["gone"], gone.result["unchanged"]) == (1, 22)
    entry = db.session.scalar(select(StoreSku).where(StoreSku.remote_id == "759"))
    assert entry.gone_at is not None

    back = _import(store, WOO, run_jobs)
    assert (back.result["gone"], back.result["updated"], back.result["unchanged"]) == (0, 1, 22)
    db.session.refresh(entry)
    assert entry.gone_at is None


def test_shopify_counts_damaged_barcodes_in_the_result(store, run_jobs):
    run = _import(store, SHOPIFY, run_jobs)
    assert run.result["platform"] == "shopify"
    assert (run.result["skus"], run.result["damaged_barcodes"]) == (18, 16)
    assert _count(store_id=store.id, is_parent=True) == 2
    assert db.session.scalar(select(func.count()).where(StoreSku.barcode.is_not(None))) == 0


def test_a_refused_file_fails_the_job_and_changes_nothing(store, run_jobs, tmp_path):
    _import(store, SHOPIFY, run_jobs)
    refused = tmp_path / "mapping.csv"
    refused.write_text("Seller SKU,Store SKU\nA-1,B-1\n")
    run = _import(store, refused, run_jobs)
    assert run.status is JobStatus.FAILED
    assert "is not a Shopify product export" in run.error
    assert "Columns found: Seller SKU, Store SKU." in run.error
    assert _count(store_id=store.id) == 18
    assert db.session.scalar(select(func.count()).where(StoreSku.gone_at.is_not(None))) == 0


def test_an_export_without_products_is_refused(store, run_jobs, tmp_path):
    _import(store, WOO, run_jobs)
    header_only = tmp_path / "empty.csv"
    header_only.write_text(WOO.read_text(encoding="utf-8").splitlines()[0] + "\n")
    run = _import(store, header_only, run_jobs)
    assert run.status is JobStatus.FAILED
    assert run.error == "The WooCommerce product export holds no products; nothing was changed."
    assert db.session.scalar(select(func.count()).where(StoreSku.gone_at.is_not(None))) == 0


def test_one_catalog_import_of_a_store_at_a_time(store):
    start_store_catalog_file_import(db.session, store, None, WOO, uploaded=False)
    with pytest.raises(JobError, match="already under way"):
        start_store_catalog_file_import(db.session, store, None, SHOPIFY, uploaded=False)
    with pytest.raises(JobError, match="already under way"):
        start_store_catalog_refresh(db.session, store, None)


# --- command line ----------------------------------------------------------------------------


def test_the_command_line_imports_and_records_a_job(app, store):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["catalog", "import", str(SHOPIFY), "--store", str(store.id)])
    assert result.exit_code == 0, result.output
    assert "Reading a Shopify product export" in result.output
    assert "skus: 18, new: 18" in result.output
    assert "damaged barcodes: 16" in result.output
    db.session.expire_all()
    run = db.session.scalar(select(JobRun))
    assert (run.kind, run.status, run.store_id) == (
        JobKind.STORE_CATALOG_FILE,
        JobStatus.FINISHED,
        store.id,
    )
    assert _count(store_id=store.id) == 18

    again = runner.invoke(args=["catalog", "import", str(SHOPIFY), "--store", str(store.id)])
    assert "new: 0, updated: 0, unchanged: 18, gone: 0" in again.output
    assert SHOPIFY.exists()  # a file named on the command line is never removed


def test_the_command_line_refuses_with_a_message(app, store, tmp_path):
    runner = app.test_cli_runner()
    missing = runner.invoke(args=["catalog", "import", str(SHOPIFY), "--store", "999"])
    assert missing.exit_code != 0
    assert "There is no store 999." in missing.output

    wrong = tmp_path / "wrong.csv"
    wrong.write_text("sku,qty\nA-1,3\n")
    refused = runner.invoke(args=["catalog", "import", str(wrong), "--store", str(store.id)])
    assert refused.exit_code != 0
    assert "Columns found: sku, qty." in refused.output
    assert _count() == 0


# --- Stores page upload ----------------------------------------------------------------------


@pytest.fixture
def uploads(app, monkeypatch, tmp_path):
    """Uploads go under the instance folder; here, one of the test's own."""
    monkeypatch.setattr(app, "instance_path", str(tmp_path))
    return tmp_path / "uploads"


def _upload(client, store, content: bytes, filename: str = "products_export.csv"):
    return client.post_form(
        f"/stores/{store.id}/catalog-file",
        {"file": (io.BytesIO(content), filename)},
        htmx=True,
        content_type="multipart/form-data",
    )


def test_upload_an_export_from_the_stores_page(store, client, uploads, run_jobs):
    client.login("owner@shop.test", PASSWORD)
    page = client.get("/stores/").get_data(as_text=True)
    assert "Upload catalog export" in page
    assert 'enctype="multipart/form-data"' in page

    response = _upload(client, store, SHOPIFY.read_bytes())
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert "Store catalog file import" in fragment
    assert 'hx-trigger="load delay:600ms"' in fragment  # the progress component polls
    stored = list(uploads.iterdir())
    assert len(stored) == 1 and "products_export" not in stored[0].name

    run_jobs()
    run = db.session.scalar(select(JobRun))
    assert run.status is JobStatus.FINISHED, run.error
    assert run.result["new"] == 18
    assert list(uploads.iterdir()) == []  # imported, so no longer kept
    progress = client.hx_get(f"/jobs/{run.id}").get_data(as_text=True)
    assert "damaged barcodes" in progress


@pytest.mark.parametrize(
    ("content", "filename", "message"),
    [
        (b"", "export.csv", "The file is empty."),
        (b"PK\x03\x04rest", "export.xlsx", "export.xlsx is not a CSV file"),
        (b"sku,qty\nA-1,3\n", "export.csv", "is not a Shopify product export"),
    ],
)
def test_a_bad_upload_is_refused_in_the_page(store, client, uploads, content, filename, message):
    client.login("owner@shop.test", PASSWORD)
    response = _upload(client, store, content, filename)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert '"level": "error"' in response.headers["HX-Trigger"]
    assert db.session.scalar(select(func.count()).select_from(JobRun)) == 0
    assert not uploads.exists() or list(uploads.iterdir()) == []


def test_a_bad_upload_without_htmx_is_flashed_on_the_stores_page(store, client, uploads):
    client.login("owner@shop.test", PASSWORD)
    response = client.post_form(
        f"/stores/{store.id}/catalog-file",
        {"file": (io.BytesIO(b""), "export.csv")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "The file is empty." in response.get_data(as_text=True)


def test_staff_cannot_upload_a_catalog(store, client, uploads):
    make_user("staff@shop.test", role=UserRole.STAFF)
    client.login("staff@shop.test", PASSWORD)
    assert "Upload catalog export" not in client.get("/stores/").get_data(as_text=True)
    response = _upload(client, store, SHOPIFY.read_bytes())
    assert response.status_code == 403
    assert not uploads.exists()
