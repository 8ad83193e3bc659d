"""Initiate Import and store catalog refresh, run as jobs through a real RQ worker."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.builders import PASSWORD, make_account, make_store, make_user
from webapp.catalog.jobs import start_marketplace_import, start_store_catalog_refresh
from webapp.catalog.models import MarketplaceSku, StoreSku
from webapp.extensions import db
from webapp.jobs.models import JobRun, JobStatus
from webapp.linking.models import Link, LinkState


@pytest.fixture
def shop(app_ctx):
    owner = make_user()
    store = make_store(owner.organization)
    account = make_account(owner.organization, owner, store=store)
    return owner, store, account


def _count(model, **where) -> int:
    statement = select(func.count()).select_from(model)
    for name, value in where.items():
        statement = statement.where(getattr(model, name) == value)
    return db.session.scalar(statement)


def test_initiate_import_fills_the_grid_with_not_linked_rows(shop, sandbox, run_jobs):
    owner, _, account = shop
    run = start_marketplace_import(db.session, account, owner)
    run_jobs()

    db.session.expire_all()
    run = db.session.get(JobRun, run.id)
    expected_skus = sum(len(p.skus) for p in sandbox.catalog.shops[0].products)
    assert run.status is JobStatus.FINISHED, run.error
    assert run.result["skus"] == expected_skus, run.result
    assert run.result["new"] == expected_skus
    assert run.done == run.total == len(sandbox.catalog.shops[0].products)
    assert _count(MarketplaceSku, account_id=account.id) == expected_skus
    assert _count(Link, account_id=account.id, state=LinkState.NOT_LINKED) == expected_skus
    sku = db.session.scalar(select(MarketplaceSku).where(MarketplaceSku.variant != "").limit(1))
    assert " / " in sku.variant  # product detail gave the variant names
    # The grid (in link id order) lists the rows in the order the catalog came in.
    in_grid_order = db.session.scalars(
        select(Link.marketplace_sku_id).where(Link.account_id == account.id).order_by(Link.id)
    ).all()
    assert in_grid_order == sorted(in_grid_order)


def test_import_twice_changes_nothing(shop, sandbox, run_jobs):
    owner, _, account = shop
    start_marketplace_import(db.session, account, owner)
    run_jobs()
    before = {
        row.sku_id: (row.updated_at, row.variant, row.price)
        for row in db.session.scalars(select(MarketplaceSku))
    }

    second = start_marketplace_import(db.session, account, owner)
    run_jobs()

    db.session.expire_all()
    second = db.session.get(JobRun, second.id)
    assert second.result["new"] == 0
    assert second.result["updated"] == 0
    assert second.result["unchanged"] == len(before)
    assert second.result["gone"] == 0
    after = {
        row.sku_id: (row.updated_at, row.variant, row.price)
        for row in db.session.scalars(select(MarketplaceSku))
    }
    assert after == before
    assert _count(Link) == len(before)


def test_store_catalog_refresh_is_idempotent_and_keeps_parents_apart(shop, sandbox, run_jobs):
    owner, store, _ = shop
    first = start_store_catalog_refresh(db.session, store, owner)
    run_jobs()
    second = start_store_catalog_refresh(db.session, store, owner)
    run_jobs()

    db.session.expire_all()
    first, second = db.session.get(JobRun, first.id), db.session.get(JobRun, second.id)
    catalog = sandbox.catalog.store_products
    assert first.result["new"] == len(catalog)
    assert second.result == {
        "skus": len(catalog),
        "new": 0,
        "updated": 0,
        "unchanged": len(catalog),
        "gone": 0,
    }
    parents = sum(1 for p in catalog if p.type_id == "configurable")
    assert _count(StoreSku, store_id=store.id, is_parent=True) == parents


def test_an_import_while_one_is_queued_returns_the_same_job(shop):
    owner, _, account = shop
    first = start_marketplace_import(db.session, account, owner)
    again = start_marketplace_import(db.session, account, owner)
    assert again.id == first.id


def test_initiate_import_from_the_page_shows_progress(shop, client, run_jobs):
    owner, _, account = shop
    client.login(owner.email, PASSWORD)
    response = client.post_form("/catalog/import", htmx=True)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "TikTok Shop product import" in page
    assert 'hx-trigger="load delay:600ms"' in page  # it polls until the job is over

    run_jobs()
    run_id = db.session.scalar(select(JobRun.id))
    progress = client.hx_get(f"/jobs/{run_id}")
    assert "done" in progress.get_data(as_text=True)
    assert "hx-trigger" not in progress.get_data(as_text=True)  # polling stops
    assert "jobFinished" in progress.headers["HX-Trigger"]


def test_entries_gone_from_the_store_are_marked_and_come_back(shop, sandbox, run_jobs):
    owner, store, _ = shop
    magento = sandbox.apps["magento"].extensions["magento_store"]
    start_store_catalog_refresh(db.session, store, owner)
    run_jobs()
    index = next(i for i, p in enumerate(magento.products) if p["type_id"] == "simple")
    removed = magento.products.pop(index)
    try:
        gone_run = start_store_catalog_refresh(db.session, store, owner)
        run_jobs()
    finally:
        magento.products.insert(index, removed)
    back_run = start_store_catalog_refresh(db.session, store, owner)
    run_jobs()

    db.session.expire_all()
    assert db.session.get(JobRun, gone_run.id).result["gone"] == 1
    back = db.session.get(JobRun, back_run.id).result
    assert (back["gone"], back["updated"]) == (0, 1)
    entry = db.session.scalar(select(StoreSku).where(StoreSku.remote_id == str(removed["id"])))
    assert entry.gone_at is None


def test_new_products_are_auto_linked_when_the_account_says_so(shop, sandbox, run_jobs):
    owner, store, account = shop
    account.auto_link_new_products = True
    db.session.commit()
    start_store_catalog_refresh(db.session, store, owner)
    run_jobs()
    run = start_marketplace_import(db.session, account, owner)
    run_jobs()

    run = db.session.get(JobRun, run.id)
    mapped = _count(Link, account_id=account.id, state=LinkState.MAPPED)
    assert run.result["auto_linked"] == mapped > run.result["skus"] // 2
    again = start_marketplace_import(db.session, account, owner)
    run_jobs()
    assert "auto_linked" not in db.session.get(JobRun, again.id).result  # nothing new
