"""The Overview in headless Chromium: reached from the main navigation, its chart shows the
account's SKUs by link state, and a bar opens the grid on that state's tab."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select, update

from tests.browser.pages import tab
from webapp.catalog.models import StoreSku
from webapp.extensions import db
from webapp.linking.grid import status_counts
from webapp.linking.models import Link, LinkState


def _some_rows_mapped_and_failed(account_id: int) -> None:
    ids = db.session.scalars(
        select(Link.id).where(Link.account_id == account_id).order_by(Link.id).limit(5)
    ).all()
    target = db.session.scalar(select(StoreSku.id).where(StoreSku.is_parent.is_(False)).limit(1))
    db.session.execute(
        update(Link).where(Link.id.in_(ids[:3])).values(state=LinkState.MAPPED, store_sku_id=target)
    )
    db.session.execute(
        update(Link)
        .where(Link.id.in_(ids[3:]))
        .values(state=LinkState.FAILED, failure_reason="Store SKU not found: no store product.")
    )
    db.session.commit()


def test_the_overview_chart_opens_the_grid_on_a_state(
    page, logged_in, owner, shop, save_screenshot, check_accessibility
):
    _some_rows_mapped_and_failed(shop.id)
    counts = status_counts(db.session, shop.id)
    logged_in(owner.email)

    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link").first).to_have_text("Overview")
    nav.get_by_role("link", name="Overview").click()
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    expect(nav.get_by_role("link", name="Overview")).to_have_attribute("aria-current", "page")

    chart = page.get_by_role("group", name=f"SKUs by link state: {counts['all']:,} in all")
    expect(chart).to_be_visible()
    for state in LinkState:
        bar = chart.get_by_role("link", name=re.compile(rf"^{state.label}: "))
        expect(bar).to_have_attribute("href", f"/?status={state.value}")
        expect(bar.locator(".chart-count")).to_have_text(f"{counts[state.value]:,}")
        row = page.get_by_role("row", name=re.compile(rf"^{state.label} "))
        expect(row.get_by_role("cell").first).to_have_text(f"{counts[state.value]:,}")
    expect(page.get_by_role("row", name=re.compile("^Total "))).to_contain_text(
        f"{counts['all']:,}"
    )
    expect(page.get_by_role("link", name="Store SKU not found")).to_be_visible()
    check_accessibility("the Overview")
    save_screenshot("overview")
    page.set_viewport_size({"width": 768, "height": 900})
    check_accessibility("the Overview")
    save_screenshot("overview-768")
    page.set_viewport_size({"width": 1280, "height": 900})

    chart.get_by_role("link", name=re.compile("^Mapped: ")).locator(".chart-bar").click()
    expect(page).to_have_url(re.compile(r"/\?status=mapped$"))
    expect(tab(page, "Mapped")).to_have_attribute("aria-current", "page")
    expect(page.locator("#linking-grid tbody tr")).to_have_count(counts["mapped"])
    expect(page.locator("#linking-grid tbody .status").first).to_have_text("Mapped")
