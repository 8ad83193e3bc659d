"""Mapping files end to end: upload, dry run, confirm, error report, export round trip, CLI."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.builders import PASSWORD, unique_variants
from webapp.catalog.models import MarketplaceSku, StoreSku
from webapp.csvio.models import MappingImport, MappingImportStatus
from webapp.extensions import db, utcnow
from webapp.jobs.models import JobRun, JobStatus
from webapp.linking.models import Link, LinkEvent, LinkState
from webapp.linking.services import Target, assign_links, set_link_target
from webapp.linking.signals import links_stopped


@pytest.fixture
def shop(shop, client):
    client.login(shop[0].email, PASSWORD)
    return shop


def _skus(n: int) -> list[MarketplaceSku]:
    return db.session.scalars(
        select(MarketplaceSku).order_by(MarketplaceSku.id).where(MarketplaceSku.seller_sku != "")
    ).all()[:n]


def _link(marketplace_sku: MarketplaceSku) -> Link:
    return db.session.scalar(select(Link).where(Link.marketplace_sku_id == marketplace_sku.id))


def _upload(client, text: str, *, name: str = "mappings.csv", encoding: str = "utf-8"):
    data = {"file": (io.BytesIO(text.encode(encoding)), name)}
    return client.post_form("/mappings/imports", data, content_type="multipart/form-data")


def _text(response) -> str:
    """A CSV download as text (it starts with a BOM so that Excel reads it as UTF-8)."""
    return response.get_data().decode("utf-8-sig")


def _latest() -> MappingImport:
    return db.session.scalar(select(MappingImport).order_by(MappingImport.id.desc()))


def test_upload_dry_run_confirm_and_error_report(shop, client, run_jobs):
    owner, store, account = shop
    a, b, c = _skus(3)
    x, y = unique_variants(store.id, 2)
    text = (
        "Seller SKU;Magento SKU;Qty\r\n"
        f"{a.seller_sku};{x.sku};1\r\n"
        f"{b.seller_sku};{y.sku};2\r\n"
        f"{b.seller_sku};{y.sku};2\r\n"  # the same row again
        f"{c.seller_sku};NOT-IN-STORE;1\r\n"
        f"UNKNOWN-TIKTOK;{x.sku};1\r\n"
        f"{c.seller_sku};3.65275E+11;1\r\n"
    )
    response = _upload(client, text)
    assert response.status_code == 302
    run_jobs()

    mapping_import = _latest()
    assert mapping_import.status is MappingImportStatus.CHECKED
    assert mapping_import.summary | {"rows": 6} == mapping_import.summary
    assert (mapping_import.summary["new"], mapping_import.summary["duplicate"]) == (2, 1)
    assert mapping_import.summary["error"] == 3 and mapping_import.summary["damaged"] == 1
    page = client.get(f"/mappings/imports/{mapping_import.id}").get_data(as_text=True)
    assert "Dry run" in page and "line 5: Store SKU not found" in page
    assert "looks damaged by a spreadsheet" in page
    assert _link(a).state is LinkState.NOT_LINKED  # nothing changed yet

    report = _text(client.get(f"/mappings/imports/{mapping_import.id}/errors.csv"))
    rows = list(csv.reader(io.StringIO(report)))
    assert rows[0] == ["Seller SKU", "Magento SKU", "Qty", "error"]
    assert [r[0] for r in rows[1:]] == [c.seller_sku, "UNKNOWN-TIKTOK", c.seller_sku]
    assert rows[2][3].startswith("TikTok SKU not found")

    client.post_form(f"/mappings/imports/{mapping_import.id}/apply")
    run_jobs()
    mapping_import = db.session.get(MappingImport, mapping_import.id)
    assert mapping_import.status is MappingImportStatus.APPLIED
    assert (_link(a).store_sku_id, _link(a).state) == (x.id, LinkState.MAPPED)
    assert (_link(b).store_sku_id, _link(b).quantity) == (y.id, 2)
    apply_run = db.session.get(JobRun, mapping_import.apply_job_id)
    assert apply_run.status is JobStatus.FINISHED
    events = db.session.scalars(select(LinkEvent).where(LinkEvent.job_run_id == apply_run.id))
    assert {event.link_id for event in events} == {_link(a).id, _link(b).id}

    _upload(client, text)  # the same file again changes nothing
    run_jobs()
    again = _latest()
    assert (again.summary["new"], again.summary["changed"], again.summary["unchanged"]) == (0, 0, 2)


def test_the_error_report_gives_back_multi_line_rows_as_uploaded(shop, client, run_jobs):
    owner, store, account = shop
    a, b = _skus(2)
    x = unique_variants(store.id, 1)[0]
    text = (
        "Seller SKU,Store SKU,Note\r\n"
        f'{a.seller_sku},{x.sku},"two\r\nlines"\r\n'
        f'UNKNOWN-1,{x.sku},"three\r\nmore\r\nlines"\r\n'
        "\r\n"
        f"{b.seller_sku},NOT-IN-STORE\r\n"
    )
    _upload(client, text)
    run_jobs()
    mapping_import = _latest()
    report = _text(client.get(f"/mappings/imports/{mapping_import.id}/errors.csv"))
    rows = list(csv.reader(io.StringIO(report)))
    assert rows == [
        ["Seller SKU", "Store SKU", "Note", "error"],
        ["UNKNOWN-1", x.sku, "three\r\nmore\r\nlines", rows[1][3]],
        [b.seller_sku, "NOT-IN-STORE", "", rows[2][3]],
    ]
    assert rows[1][3].startswith("TikTok SKU not found")
    assert rows[2][3].startswith("Store SKU not found")


def test_the_error_report_of_a_file_no_longer_kept_says_so(app, shop, client, run_jobs):
    _upload(client, "Seller SKU,Store SKU\nUNKNOWN-1,X\n")
    run_jobs()
    mapping_import = _latest()
    (Path(app.instance_path) / "uploads" / mapping_import.stored_name).unlink()
    response = client.get(
        f"/mappings/imports/{mapping_import.id}/errors.csv", follow_redirects=True
    )
    assert response.status_code == 200
    assert "no longer kept" in response.get_data(as_text=True)


def test_unlink_rows_and_sku_ids(shop, client, run_jobs):
    owner, store, account = shop
    a, b = _skus(2)
    x = unique_variants(store.id, 1)[0]
    set_link_target(db.session, _link(a), [Target(x.id)], expected_version=None, actor=owner)
    db.session.commit()
    _upload(client, f"SKU ID,Store SKU,Action\n{a.sku_id},,unlink\n{b.sku_id},{x.sku},link\n")
    run_jobs()
    mapping_import = _latest()
    assert (mapping_import.summary["unlink"], mapping_import.summary["new"]) == (1, 1)
    client.post_form(f"/mappings/imports/{mapping_import.id}/apply")
    run_jobs()
    assert _link(a).state is LinkState.NOT_LINKED and _link(a).store_sku_id is None
    assert _link(b).store_sku_id == x.id


def test_a_file_without_the_required_columns_is_refused_and_changes_nothing(shop, client, run_jobs):
    _upload(client, "Seller SKU,Price\nA,1\n")
    run_jobs()
    mapping_import = _latest()
    assert mapping_import.status is MappingImportStatus.REFUSED
    page = client.get(f"/mappings/imports/{mapping_import.id}").get_data(as_text=True)
    assert "The file was refused; nothing changed." in page
    assert "store SKU" in mapping_import.refusal and "Price" in mapping_import.refusal


def test_parents_and_shared_store_skus_are_errors(shop, client, run_jobs):
    owner, store, _ = shop
    a, b = _skus(2)
    parent = db.session.scalar(select(StoreSku).where(StoreSku.is_parent.is_(True)).limit(1))
    shared = db.session.scalars(
        select(StoreSku.sku).group_by(StoreSku.sku).having(db.func.count() > 1)
    ).first()
    _upload(client, f"seller sku,store sku\n{a.seller_sku},{parent.sku}\n{b.seller_sku},{shared}\n")
    run_jobs()
    errors = [problem["error"] for problem in _latest().first_errors]
    assert any("parent (configurable) product" in e for e in errors)
    assert any("ambiguous" in e for e in errors)


def test_export_round_trips_unchanged(shop, client, run_jobs):
    owner, store, account = shop
    for sku, variant in zip(_skus(3), unique_variants(store.id, 3), strict=True):
        set_link_target(
            db.session, _link(sku), [Target(variant.id, 2)], expected_version=None, actor=owner
        )
    db.session.commit()

    exported = _text(client.get("/mappings/export.csv?status=mapped"))
    lines = list(csv.reader(io.StringIO(exported)))
    assert lines[0] == ["marketplace_sku", "store_sku", "quantity", "action"]
    assert len(lines) == 4 and all(line[2] == "2" for line in lines[1:])
    _upload(client, exported)
    run_jobs()
    assert _latest().summary["unchanged"] == 3 and _latest().summary["error"] == 0


def test_upload_without_a_file_says_so(shop, client):
    response = client.post_form("/mappings/imports", {}, follow_redirects=True)
    assert "Choose a CSV file to upload." in response.get_data(as_text=True)


def test_too_large_an_upload_gets_a_friendly_message(app, shop, client):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    try:
        response = _upload(client, "seller sku,store sku\n" + "A,B\n" * 1000)
    finally:
        app.config["MAX_CONTENT_LENGTH"] = 256 * 1024 * 1024
    assert response.status_code == 413
    assert "upload limit" in response.get_data(as_text=True)


def test_the_template_downloads(shop, client):
    response = client.get("/mappings/template.csv")
    assert response.mimetype == "text/csv"
    assert _text(response).startswith("marketplace_sku,store_sku,quantity,action")


def test_command_line_import_and_export(app, shop, tmp_path):
    owner, store, account = shop
    a = _skus(1)[0]
    x = unique_variants(store.id, 1)[0]
    path = tmp_path / "m.csv"
    path.write_text(f"seller sku,store sku\n{a.seller_sku},{x.sku}\n")
    runner = app.test_cli_runner()

    dry = runner.invoke(
        args=["mappings", "import", str(path), "--account", str(account.id), "--dry-run"]
    )
    assert dry.exit_code == 0, dry.output
    assert "1 new" in dry.output and "nothing was changed" in dry.output
    assert _link(a).state is LinkState.NOT_LINKED

    done = runner.invoke(args=["mappings", "import", str(path), "--account", str(account.id)])
    assert done.exit_code == 0, done.output
    assert _link(a).store_sku_id == x.id

    bad = tmp_path / "bad.csv"
    bad.write_text("Seller SKU,Price\nA,1\n")
    refused = runner.invoke(args=["mappings", "import", str(bad), "--account", str(account.id)])
    assert refused.exit_code != 0 and "store SKU" in refused.output

    out = tmp_path / "export.csv"
    exported = runner.invoke(args=["mappings", "export", "--account", str(account.id), str(out)])
    assert exported.exit_code == 0
    assert f"{a.seller_sku},{x.sku},1,link" in out.read_text()


def test_apply_checks_again_when_the_catalog_changed_after_the_dry_run(shop, client, run_jobs):
    owner, store, account = shop
    a, b = _skus(2)
    x, y = unique_variants(store.id, 2)
    _upload(client, f"seller sku,store sku\n{a.seller_sku},{x.sku}\n{b.seller_sku},{y.sku}\n")
    run_jobs()
    mapping_import = _latest()
    assert mapping_import.summary["new"] == 2
    y.gone_at = utcnow()  # a catalog refresh after the dry run found it gone
    db.session.commit()

    client.post_form(f"/mappings/imports/{mapping_import.id}/apply")
    run_jobs()
    assert _link(a).store_sku_id == x.id
    assert _link(b).state is LinkState.NOT_LINKED
    assert db.session.get(MappingImport, mapping_import.id).summary["error"] == 1


def test_a_linked_row_changed_by_a_file_stops_syncing(shop, client, run_jobs):
    owner, store, account = shop
    a = _skus(1)[0]
    x, y = unique_variants(store.id, 2)
    set_link_target(db.session, _link(a), [Target(x.id)], expected_version=None, actor=owner)
    assign_links(db.session, account, [_link(a)], actor=owner, batch=None)
    db.session.commit()
    _upload(client, f"seller sku,store sku\n{a.seller_sku},{y.sku}\n")
    run_jobs()
    stopped = []
    with links_stopped.connected_to(lambda sender, link_ids: stopped.extend(link_ids)):
        client.post_form(f"/mappings/imports/{_latest().id}/apply")
        run_jobs()
    assert stopped == [_link(a).id]
    assert (_link(a).state, _link(a).store_sku_id) == (LinkState.MAPPED, y.id)
