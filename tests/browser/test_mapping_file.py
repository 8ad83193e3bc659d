"""A mapping CSV through the browser: upload from the Import menu, dry run, confirm, result."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from tests.builders import unique_variants
from webapp.catalog.models import MarketplaceSku
from webapp.extensions import db
from webapp.linking.models import Link, LinkState


def test_upload_check_and_apply_a_mapping_file(page, logged_in, owner, shop, run_jobs, tmp_path):
    good, unknown_store = db.session.scalars(
        select(MarketplaceSku).order_by(MarketplaceSku.id).limit(2)
    ).all()
    target = unique_variants(shop.store_id, 1)[0]
    path = tmp_path / "mappings.csv"
    path.write_text(
        "Seller SKU;Magento SKU;Qty\r\n"
        f"{good.seller_sku};{target.sku};2\r\n"
        f"{unknown_store.seller_sku};NO-SUCH-SKU;1\r\n",
        encoding="cp1252",
    )
    logged_in(owner.email)

    page.get_by_text("Import", exact=True).click()
    page.get_by_label("Mapping CSV").set_input_files(str(path))
    page.get_by_role("button", name="Upload and check").click()
    run_jobs()  # the check

    expect(page.get_by_role("heading", name="Dry run")).to_be_visible()
    counts = page.get_by_role("list", name="Rows by outcome")
    expect(counts).to_contain_text("New links 1")
    expect(counts).to_contain_text("Errors 1")
    expect(page.get_by_text("line 3: Store SKU not found")).to_be_visible()
    expect(page.get_by_role("link", name="Download error report")).to_be_visible()
    link = db.session.scalar(select(Link).where(Link.marketplace_sku_id == good.id))
    assert link.state is LinkState.NOT_LINKED  # a dry run changes nothing

    page.get_by_role("button", name=re.compile("^Confirm: apply 1 change")).click()
    expect(page.locator(".job-progress")).to_contain_text("Mapping file import")
    run_jobs()  # the apply
    expect(page.get_by_role("heading", name="Result")).to_be_visible()
    expect(page.locator(".job-progress")).to_contain_text("done")
    expect(page.get_by_role("button", name="Undo")).to_be_visible()
    db.session.expire_all()
    link = db.session.get(Link, link.id)
    assert (link.state, link.store_sku_id, link.quantity) == (LinkState.MAPPED, target.id, 2)
