"""Grid-level linking in headless Chromium: the Auto-map preview and Map, bulk selection,
Assign Products and Undo — each a partial swap, never a page reload."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from tests.browser.pages import assert_no_reload, expect_preview_counts, set_marker, tab
from tests.browser.test_linking_page import grid
from webapp.catalog.models import StoreSku
from webapp.extensions import db
from webapp.linking.automap import preview_automap
from webapp.linking.models import Link, LinkState
from webapp.linking.services import Target, set_link_target


@pytest.fixture
def mapped(shop, owner) -> list[int]:
    """The first three rows mapped by hand to store variants no other entry shares."""
    shared = (
        select(StoreSku.sku)
        .where(StoreSku.store_id == shop.store_id)
        .group_by(StoreSku.sku)
        .having(func.count() > 1)
    )
    variants = db.session.scalars(
        select(StoreSku)
        .where(
            StoreSku.store_id == shop.store_id,
            StoreSku.is_parent.is_(False),
            StoreSku.sku.not_in(shared),
        )
        .order_by(StoreSku.id)
        .limit(3)
    ).all()
    links = db.session.scalars(select(Link).order_by(Link.id).limit(3)).all()
    for link, variant in zip(links, variants, strict=True):
        set_link_target(db.session, link, [Target(variant.id)], expected_version=None, actor=owner)
    db.session.commit()
    return [link.id for link in links]


def accept_confirms(page: Page) -> None:
    page.on("dialog", lambda dialog: dialog.accept())


def job_card(page: Page):
    return page.locator("#job-progress .job-progress")


def row(page: Page, link_id: int):
    return page.locator(f"#link-{link_id}")


def test_automap_preview_untick_one_pair_map_and_see_the_result(
    page, logged_in, owner, shop, run_jobs, save_screenshot
):
    preview = preview_automap(db.session, shop)
    unticked = preview.proposals[0]
    expected_mapped = preview.matched - 1
    logged_in(owner.email)
    set_marker(page)

    page.get_by_role("link", name="Auto-map", exact=True).click()

    panel = page.get_by_role("region", name="Auto-map preview")
    expect(panel).to_be_visible()
    expect_preview_counts(panel, preview)
    box = panel.get_by_label(f"Map {unticked.marketplace_sku} to {unticked.store_sku}")
    expect(box).to_be_checked()
    save_screenshot("automap-preview")

    box.uncheck()
    panel.get_by_role("button", name="Map", exact=True).click()

    expect(job_card(page)).to_contain_text("Auto-map")
    expect(page.get_by_text("1 unticked pairs are left out")).to_be_visible()  # toast
    run_jobs()

    expect(job_card(page)).to_contain_text("done")
    expect(job_card(page)).to_contain_text(f"mapped: {expected_mapped}")
    failed = len(preview.ambiguous) + preview.unmatched  # every row mapped or explained
    failures = job_card(page).locator(".failure-list li")
    expect(failures).to_have_count(failed)
    expect(failures.filter(has_text="SKU is ambiguous")).to_have_count(len(preview.ambiguous))
    expect(failures.filter(has_text="Store SKU not found")).to_have_count(preview.unmatched)
    expect(tab(page, "Mapped")).to_have_text(f"Mapped {expected_mapped}")  # the grid reloaded
    expect(tab(page, "Map failed")).to_have_text(f"Map failed {failed}")
    assert db.session.get(Link, unticked.link_id).state is LinkState.NOT_LINKED
    assert_no_reload(page)
    save_screenshot("automap-result")


def test_automap_preview_closes_without_mapping(page, logged_in, owner, shop):
    logged_in(owner.email)
    set_marker(page)
    page.get_by_role("link", name="Auto-map", exact=True).click()
    panel = page.get_by_role("region", name="Auto-map preview")
    expect(panel).to_be_visible()

    panel.get_by_role("link", name="Close").click()

    expect(panel).to_have_count(0)
    assert_no_reload(page)


def test_assign_selected_rows_makes_them_linked(page, logged_in, owner, mapped, run_jobs):
    first, second, third = mapped
    logged_in(owner.email)
    set_marker(page)
    tab(page, "Mapped").click()
    expect(grid(page).locator("tbody tr")).to_have_count(3)

    page.get_by_label(f"Select row {first}").check()
    page.get_by_label(f"Select row {second}").check()
    expect(page.locator("#bulk-count")).to_have_text("2 selected")
    page.get_by_role("button", name="Assign selected").click()

    expect(job_card(page)).to_contain_text("Assign Products")
    run_jobs()

    expect(job_card(page)).to_contain_text("linked: 2")
    expect(tab(page, "Mapped")).to_have_text("Mapped 1")  # the grid reloaded, on its tab
    expect(row(page, third)).to_contain_text("Mapped")
    tab(page, "Linked").click()
    expect(row(page, first)).to_contain_text("Linked")
    expect(row(page, second)).to_contain_text("Linked")
    assert_no_reload(page)


def test_select_all_on_the_page_and_an_empty_selection(page, logged_in, owner, mapped):
    logged_in(owner.email)
    tab(page, "Mapped").click()
    expect(grid(page).locator("tbody tr")).to_have_count(3)

    page.get_by_role("button", name="Assign selected").click()
    expect(page.locator("#flash")).to_contain_text("No rows are selected")
    expect(job_card(page)).to_have_count(0)

    page.get_by_label("Select all on this page").check()
    for link_id in mapped:
        expect(page.get_by_label(f"Select row {link_id}")).to_be_checked()
    expect(page.locator("#bulk-count")).to_have_text("3 selected")
    page.get_by_label(f"Select row {mapped[0]}").uncheck()
    expect(page.get_by_label("Select all on this page")).not_to_be_checked()
    expect(page.locator("#bulk-count")).to_have_text("2 selected")


def test_assign_products_then_undo_from_the_progress_card(
    page, logged_in, owner, mapped, run_jobs, save_screenshot
):
    accept_confirms(page)
    logged_in(owner.email)
    set_marker(page)

    page.get_by_role("button", name="Assign Products").click()

    expect(job_card(page)).to_contain_text("Assign Products")
    run_jobs()
    expect(job_card(page)).to_contain_text("linked: 3")
    expect(tab(page, "Linked")).to_have_text("Linked 3")
    expect(tab(page, "Mapped")).to_have_text("Mapped 0")
    assign_job = job_card(page).get_attribute("id")

    job_card(page).get_by_role("button", name="Undo").click()

    expect(job_card(page)).to_contain_text(re.compile(r"undoes job \d+"))
    expect(job_card(page)).not_to_have_id(assign_job)
    run_jobs()
    expect(job_card(page)).to_contain_text("reverted: 3")
    expect(tab(page, "Mapped")).to_have_text("Mapped 3")
    expect(tab(page, "Linked")).to_have_text("Linked 0")
    assert_no_reload(page)
    save_screenshot("undo-done")

    job_card(page).get_by_role("link", name=re.compile(r"^job \d+$")).last.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Assign Products")
    expect(page.get_by_text(re.compile(r"Undone by job \d+"))).to_be_visible()
    expect(page.get_by_role("button", name="Undo")).to_have_count(0)
