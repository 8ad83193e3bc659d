"""The README's screenshots, taken of the real app in headless Chromium so they stay current.

Each test drives the app to one state a reader of the README should see, checks what is on
screen, and photographs the part of the page that matters at a 1280-pixel-wide viewport. The
pictures go to a temporary folder, or to $SCREENSHOTS_DIR when it is set (`make screenshots`
writes them to docs/screenshots/, where the README shows them).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import func, select

from tests.browser.conftest import SCREENSHOTS
from tests.browser.pages import expect_preview_counts, tab
from tests.builders import make_user
from webapp.extensions import db
from webapp.linking.automap import automap_links, preview_automap
from webapp.linking.matching import MatchRule
from webapp.linking.models import Link, LinkState
from webapp.linking.services import assign_links

WIDTH = 1280  # the browser fixture's viewport width
SEARCH_LABEL = "Search the store catalog by SKU or name"


@pytest.fixture(scope="module")
def screenshots_dir(tmp_path_factory) -> Path:
    """$SCREENSHOTS_DIR when set, else a temporary folder: `make test` leaves the repo clean."""
    chosen = os.environ.get("SCREENSHOTS_DIR")
    if not chosen:
        return tmp_path_factory.mktemp("readme-screenshots")
    path = Path(chosen)
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def shoot(page: Page, screenshots_dir: Path, request) -> Callable[..., Path]:
    """Photograph the full width of the page from just above `top` to `below` pixels under
    the bottom of `bottom` (or of `top`); the path is printed at the end of the run."""

    def save(name: str, top: Locator, bottom: Locator | None = None, *, below: int = 12) -> Path:
        first, last = top.bounding_box(), (bottom or top).bounding_box()
        assert first and last, f"{name}: the region to photograph is not on the page"
        scrolled = page.evaluate("window.scrollY")  # boxes are measured from the viewport
        y = max(first["y"] + scrolled - 12, 0)
        height = last["y"] + scrolled + last["height"] + below - y
        path = screenshots_dir / f"{name}.png"
        # Toasts come and go (a job just finished): they would cover what the picture is of.
        page.evaluate(
            "() => { const toasts = document.getElementById('toasts');"
            " if (toasts) toasts.style.visibility = 'hidden'; }"
        )
        page.screenshot(
            path=str(path),
            clip={"x": 0, "y": y, "width": WIDTH, "height": height},
            full_page=True,
            animations="disabled",
            caret="hide",
        )
        request.config.stash.setdefault(SCREENSHOTS, []).append(path)
        return path

    return save


@pytest.fixture
def owner(app_ctx):
    """The shop owner `make run` seeds, so the pictures show what the demo shows."""
    return make_user("owner@demo.test", organization="Demo Outfitters")


@pytest.fixture
def worked_on(shop, owner, run_jobs) -> list[Link]:
    """A shop part-way through linking, as its first 12 rows show it: eleven auto-mapped (the
    one the store lacks is Map failed), four of those assigned and synced, and the first-import
    question answered."""
    shop.auto_link_new_products = False
    rows = first_rows(shop.id, 12)
    automap_links(db.session, shop, [row.id for row in rows[:11]], actor=owner, batch=None)
    db.session.commit()
    mapped = [row for row in rows if row.state is LinkState.MAPPED]
    assign_links(db.session, shop, mapped[:4], actor=owner, batch=None)
    db.session.commit()
    run_jobs()  # the first push of the rows that went live
    return rows


def first_rows(account_id: int, n: int) -> list[Link]:
    return db.session.scalars(
        select(Link).where(Link.account_id == account_id).order_by(Link.id).limit(n)
    ).all()


def link_count(account_id: int) -> int:
    return db.session.scalar(
        select(func.count()).select_from(Link).where(Link.account_id == account_id)
    )


def grid_row(page: Page, link: Link) -> Locator:
    return page.locator(f"#link-{link.id}")


def test_the_linking_grid(page, logged_in, owner, worked_on, shoot):
    states = [row.state for row in worked_on]
    assert {LinkState.LINKED, LinkState.MAPPED, LinkState.FAILED} <= set(states), states
    failed = next(row for row in worked_on if row.state is LinkState.FAILED)
    logged_in(owner.email)

    heading = page.get_by_role("heading", name="Linking", level=1)
    for state in (LinkState.LINKED, LinkState.MAPPED, LinkState.FAILED):
        expect(tab(page, state.label)).to_have_text(f"{state.label} {states.count(state)}")
    not_linked = link_count(worked_on[0].account_id) - len(worked_on) + 1
    expect(tab(page, "Not Linked")).to_have_text(f"Not Linked {not_linked}")
    expect(grid_row(page, worked_on[0]).locator(".status")).to_have_text("Linked")
    expect(grid_row(page, worked_on[0])).to_contain_text("synced just now")
    expect(grid_row(page, failed)).to_contain_text("Store SKU not found")
    expect(grid_row(page, worked_on[-1]).locator(".status")).to_have_text("Not Linked")

    shoot("grid", heading, grid_row(page, worked_on[-1]), below=1)


def test_the_link_editor(page, logged_in, owner, worked_on, shoot):
    """The first Not Linked row: its exact store SKU is suggested first, with the rest."""
    link = next(row for row in worked_on if row.state is LinkState.NOT_LINKED)
    sku = link.marketplace_sku.seller_sku
    logged_in(owner.email)

    grid_row(page, link).get_by_role("button", name=f"Link {sku}").click()

    search = page.get_by_role("combobox", name=SEARCH_LABEL)
    expect(search).to_be_focused()
    options = page.get_by_role("listbox", name="Store SKUs").get_by_role("option")
    expect(options.first).to_contain_text(sku)
    expect(options.first).to_contain_text("Exact SKU · 100")
    expect(options.filter(has_text="parent — choose a variant").first).to_be_visible()
    search.press("ArrowDown")
    expect(page.get_by_text(f"Chosen: {sku}")).to_be_visible()

    above = grid_row(page, worked_on[worked_on.index(link) - 1])
    shoot("link-editor", above, page.locator(f"#link-{link.id} + tr"), below=1)


def test_the_automap_preview(page, logged_in, owner, shop, worked_on, shoot):
    preview = preview_automap(db.session, shop)
    logged_in(owner.email)

    page.get_by_role("link", name="Auto-map", exact=True).click()

    panel = page.get_by_role("region", name="Auto-map preview")
    expect_preview_counts(panel, preview)
    first = preview.proposals[0]
    expect(panel.get_by_label(f"Map {first.marketplace_sku} to {first.store_sku}")).to_be_checked()
    expect(panel.get_by_role("button", name="Map", exact=True)).to_be_visible()

    # The whole panel is too tall for a README: down to the first pairs of the second rule
    # (leading zeros, case), with the counts of everything above them.
    normalized = panel.locator("fieldset").nth(1)
    expect(normalized).to_contain_text(f"{MatchRule.NORMALIZED.label}:")
    shoot("automap-preview", panel, normalized.locator("tbody tr").nth(4), below=1)


def test_a_mapping_csv_dry_run(page, logged_in, owner, shop, worked_on, run_jobs, tmp_path, shoot):
    """An operations person's spreadsheet: new links, a pack size changed, an unlink, a row
    already as it says, and the mistakes such files carry."""
    mapped = [r.marketplace_sku.seller_sku for r in worked_on if r.state is LinkState.MAPPED]
    failed = next(r.marketplace_sku.seller_sku for r in worked_on if r.state is LinkState.FAILED)
    preview = preview_automap(db.session, shop)
    new = [*preview.listed[MatchRule.EXACT][:2], *preview.listed[MatchRule.NORMALIZED][:2]]
    path = tmp_path / "tiktok-magento-links.csv"
    lines = [
        "Seller SKU,Magento SKU,Qty,Action",
        *(f"{pair.marketplace_sku},{pair.store_sku},1,link" for pair in new),
        f"{mapped[0]},{mapped[0]},1,link",  # unchanged
        f"{mapped[1]},{mapped[1]},2,link",  # changed: sold as a 2-pack
        f"{mapped[2]},,,unlink",
        f"{failed},{failed},1,link",  # the store has no such SKU
        "1.76971E+18,7700,1,link",  # a TikTok SKU ID a spreadsheet turned into a number
        f"{mapped[3]},{mapped[3].rsplit('-', 2)[0]},1,link",  # its style: the parent product
    ]
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    logged_in(owner.email)

    page.get_by_text("Import", exact=True).click()
    page.get_by_label("Mapping CSV").set_input_files(str(path))
    page.get_by_role("button", name="Upload and check").click()
    run_jobs()  # the check

    heading = page.get_by_role("heading", name=path.name, level=1)
    expect(page.get_by_role("heading", name="Dry run")).to_be_visible()
    counts = page.get_by_role("list", name="Rows by outcome")
    for outcome in ("New links 4", "Changed 1", "Unlink 1", "Unchanged 1", "Errors 3"):
        expect(counts).to_contain_text(outcome)
    errors = page.locator(".failure-list li")
    expect(errors.nth(0)).to_contain_text("line 9: Store SKU not found")
    expect(errors.nth(1)).to_contain_text('line 10: Marketplace SKU "1.76971E+18" looks damaged')
    expect(errors.nth(2)).to_contain_text("line 11: Store SKU is a parent (configurable) product")
    expect(page.get_by_role("link", name="Download error report")).to_be_visible()
    expect(page.get_by_role("button", name="Confirm: apply 6 changes")).to_be_visible()
    shoot("csv-import", heading, page.get_by_role("region", name="Mapping file"))
