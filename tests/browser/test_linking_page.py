"""The linking page as a user drives it in headless Chromium: log in, connect a shop through
OAuth, import its products, then tabs, active search, paging and the account selector."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select, update

from tests.browser.pages import assert_no_reload, set_marker, tab
from tests.builders import PASSWORD, make_account, make_store, unique_variants
from webapp.accounts.models import AccountStatus
from webapp.catalog.jobs import start_marketplace_import, start_store_catalog_refresh
from webapp.extensions import db
from webapp.linking.models import Link, LinkState
from webapp.sync.models import LinkSync


@pytest.fixture
def shop(owner):
    """An owner whose first sandbox shop is connected and linked to a Magento store."""
    store = make_store(owner.organization)
    return make_account(owner.organization, owner, store=store)


@pytest.fixture
def imported(shop, owner, run_jobs):
    """The shop's products already imported, so the grid has rows from the start."""
    start_marketplace_import(db.session, shop, owner)
    run_jobs()
    return shop


def shop_sku_count(sandbox, index: int = 0) -> int:
    return sum(len(product.skus) for product in sandbox.catalog.shops[index].products)


def product_prefix(sandbox) -> str:
    """A seller SKU prefix such as "TS-0006-" that the SKUs of one product share."""
    for product in sandbox.catalog.shops[0].products[5:]:
        for sku in product.skus:
            if match := re.match(r"[A-Z]{2}-\d{4}-", sku.seller_sku):
                return match.group()
    raise AssertionError("no seller SKU of the usual shape in the sandbox catalog")


def grid(page: Page) -> Locator:
    return page.get_by_role("region", name="Links")


def grid_rows(page: Page) -> Locator:
    return grid(page).locator("tbody").get_by_role("row")


def row_ids(page: Page) -> list[str]:
    return grid_rows(page).evaluate_all("rows => rows.map(r => r.id)")


def banner(page: Page) -> Locator:
    return page.get_by_role("region", name="No Active/Valid Accounts Found")


# --- login ----------------------------------------------------------------------------------


def test_wrong_password_shows_the_error_and_the_right_one_lands_on_linking(page, owner):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"))
    page.get_by_label("Email").fill(owner.email)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_text("Email or password is not right.")).to_be_visible()
    expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("heading", name="Linking", level=1)).to_be_visible()
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Linking")
    ).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


# --- Initiate Import ------------------------------------------------------------------------


def test_initiate_import_shows_progress_and_fills_the_grid_without_a_reload(
    page, logged_in, owner, shop, sandbox, run_jobs, save_screenshot
):
    logged_in(owner.email)
    expect(page.get_by_role("heading", name="No products imported yet")).to_be_visible()
    set_marker(page)

    page.get_by_role("button", name="Initiate Import").click()

    progress = page.locator("#import-progress")
    expect(progress.get_by_text("TikTok Shop product import")).to_be_visible()
    expect(progress).to_contain_text("waiting for a worker")
    expect(page.get_by_text(f"Importing products of {shop.name}")).to_be_visible()  # toast
    assert_no_reload(page)

    run_jobs()  # the browser keeps polling /jobs/<id> meanwhile

    expected = shop_sku_count(sandbox)
    expect(progress).to_contain_text("done")
    expect(progress).to_contain_text(f"skus: {expected}")
    expect(progress).to_contain_text(f"new: {expected}")
    expect(progress.get_by_role("progressbar")).to_have_count(0)  # polling is over
    # The grid heard jobFinished and reloaded itself.
    expect(grid_rows(page)).to_have_count(20)
    expect(page.get_by_role("heading", name="No products imported yet")).to_have_count(0)
    expect(tab(page, "All")).to_have_text(f"All {expected}")
    expect(tab(page, "Not Linked")).to_have_text(f"Not Linked {expected}")
    expect(tab(page, "Linked")).to_have_text("Linked 0")
    expect(tab(page, "Mapped")).to_have_text("Mapped 0")
    assert_no_reload(page)

    save_screenshot("linking-grid-after-import")


# --- tabs, search, paging -------------------------------------------------------------------


def test_a_status_tab_swaps_only_the_grid_and_pushes_its_url(page, logged_in, owner, imported):
    logged_in(owner.email)
    expect(grid_rows(page)).to_have_count(20)
    set_marker(page)

    tab(page, "Linked").click()

    expect(page).to_have_url(re.compile(r"[?&]status=linked(&|$)"))
    expect(grid(page).get_by_text("No rows are Linked.")).to_be_visible()
    expect(tab(page, "Linked")).to_have_attribute("aria-current", "page")
    expect(tab(page, "All")).not_to_have_attribute("aria-current", "page")

    tab(page, "Not Linked").click()

    expect(page).to_have_url(re.compile(r"[?&]status=not_linked(&|$)"))
    expect(grid_rows(page)).to_have_count(20)
    expect(grid_rows(page).first).to_contain_text("Not Linked")
    assert_no_reload(page)


def test_the_linked_tab_filters_rows_whose_last_push_was_refused(
    page, logged_in, owner, imported, run_jobs
):
    start_store_catalog_refresh(db.session, imported.store, owner)
    run_jobs()
    ids = db.session.scalars(select(Link.id).order_by(Link.id).limit(3)).all()
    target = unique_variants(imported.store_id, 1)[0]
    db.session.execute(
        update(Link).where(Link.id.in_(ids)).values(state=LinkState.LINKED, store_sku_id=target.id)
    )
    db.session.add(
        LinkSync(link_id=ids[1], account_id=imported.id, error="Price refused.", has_error=True)
    )
    db.session.commit()
    logged_in(owner.email)
    tab(page, "Linked").click()
    expect(grid_rows(page)).to_have_count(3)
    set_marker(page)

    page.get_by_label("Last push").select_option(label="Refused (1)")

    expect(page).to_have_url(re.compile(r"[?&]sync=refused(&|$)"))
    expect(grid_rows(page)).to_have_count(1)
    expect(grid_rows(page).first).to_contain_text("Last sync: Price refused.")
    assert_no_reload(page)


def test_active_search_filters_rows_as_you_type(page, logged_in, owner, imported, sandbox):
    needle = product_prefix(sandbox)
    expected = [
        sku.seller_sku
        for product in sandbox.catalog.shops[0].products
        for sku in product.skus
        if needle.lower() in sku.seller_sku.lower()
    ]
    assert 0 < len(expected) <= 20
    logged_in(owner.email)
    expect(grid_rows(page)).to_have_count(20)
    set_marker(page)

    page.get_by_label("Search SKU or name").press_sequentially(needle, delay=30)

    expect(page).to_have_url(re.compile(r"[?&]q=" + re.escape(needle)))
    expect(grid_rows(page)).to_have_count(len(expected))
    for row in grid_rows(page).all():
        expect(row).to_contain_text(needle)
    expect(tab(page, "All")).to_have_text(f"All {len(expected)}")
    assert_no_reload(page)


def test_active_search_replaces_the_grid_rather_than_nesting_a_copy(
    page, logged_in, owner, imported
):
    """htmx's default innerHTML swap once put a second #linking-grid inside the first."""
    logged_in(owner.email)
    expect(grid_rows(page)).to_have_count(20)
    page.get_by_label("Search SKU or name").press_sequentially("TS-0006-", delay=30)
    expect(tab(page, "All").first).to_have_attribute("href", re.compile(r"q=TS-0006-"))

    assert page.locator("#linking-grid").count() == 1


def test_search_keeps_the_status_tab_chosen_before(page, logged_in, owner, imported):
    logged_in(owner.email)
    expect(grid_rows(page)).to_have_count(20)
    tab(page, "Linked").click()
    expect(page).to_have_url(re.compile(r"[?&]status=linked(&|$)"))

    page.get_by_label("Search SKU or name").press_sequentially("TS-0006-", delay=30)
    expect(tab(page, "Linked").first).to_have_attribute("href", re.compile(r"q=TS-0006-"))

    assert re.search(r"[?&]status=linked(&|$)", page.url), page.url
    expect(tab(page, "Linked").first).to_have_attribute("aria-current", "page", timeout=1000)
    expect(grid(page).first).to_contain_text("Nothing matches “TS-0006-” in Linked.")


def test_next_and_previous_pages_and_back_restores_the_grid(page, logged_in, owner, imported):
    logged_in(owner.email)
    expect(grid_rows(page)).to_have_count(20)
    first_page = row_ids(page)
    set_marker(page)
    pager = page.get_by_role("navigation", name="Pages")
    expect(pager.get_by_role("link", name="← Previous")).to_have_count(0)

    pager.get_by_role("link", name="Next →").click()

    expect(page).to_have_url(re.compile(r"[?&]after=\d+"))
    expect(grid_rows(page).first).not_to_have_id(first_page[0])
    second_page = row_ids(page)
    assert len(second_page) == 20
    assert not set(first_page) & set(second_page)

    pager.get_by_role("link", name="← Previous").click()

    expect(page).to_have_url(re.compile(r"[?&]before=\d+"))
    expect(grid_rows(page).first).to_have_id(first_page[0])
    assert row_ids(page) == first_page

    page.go_back()

    expect(page).to_have_url(re.compile(r"[?&]after=\d+"))
    expect(grid_rows(page).first).to_have_id(second_page[0])
    assert row_ids(page) == second_page
    assert_no_reload(page)


# --- the account selector -------------------------------------------------------------------


def test_no_account_says_none_is_usable_and_offers_to_connect(page, logged_in, owner):
    logged_in(owner.email)

    expect(banner(page)).to_be_visible()
    expect(banner(page)).to_contain_text("No TikTok Shop account is connected yet.")
    expect(banner(page).get_by_role("link", name="Connect TikTok Shop")).to_be_visible()
    expect(page.get_by_role("main").get_by_role("link", name="Connect TikTok Shop")).to_be_visible()


def test_an_expired_account_shows_its_reason_and_a_reconnect_action(page, logged_in, owner, shop):
    reason = "TikTok Shop refused the refresh token (test)."
    shop.status = AccountStatus.AUTH_EXPIRED
    shop.status_reason = reason
    db.session.commit()

    logged_in(owner.email)

    expect(banner(page)).to_be_visible()
    expect(banner(page)).to_contain_text(f"{shop.name}: {reason}")
    expect(banner(page).get_by_role("link", name="Reconnect")).to_be_visible()
    expect(page.get_by_label("Account", exact=True)).to_contain_text("auth expired")
    expect(page.get_by_role("button", name="Initiate Import")).to_be_disabled()


def test_switching_the_account_select_shows_the_other_account(page, logged_in, owner):
    store = make_store(owner.organization)
    first = make_account(owner.organization, owner, shop_index=0, store=store)
    second = make_account(owner.organization, owner, shop_index=1, store=store)
    logged_in(owner.email)
    selector = page.get_by_label("Account", exact=True)
    shown = first if selector.input_value() == str(first.id) else second
    other = second if shown is first else first
    expect(page.get_by_text(f"{shown.name} · Account {shown.id}")).to_be_visible()

    selector.select_option(str(other.id))

    # Short timeout: the redirect takes milliseconds, and the known bug would wait it out.
    expect(page.get_by_text(f"{other.name} · Account {other.id}")).to_be_visible(timeout=3000)
    expect(page.get_by_text(f"{shown.name} · Account {shown.id}")).to_have_count(0)
    expect(page.get_by_label("Account", exact=True)).to_have_value(str(other.id))
    page.reload()  # the choice is kept in the session
    expect(page.get_by_label("Account", exact=True)).to_have_value(str(other.id))


# --- connecting a shop through OAuth ---------------------------------------------------------


def test_connect_tiktok_shop_through_the_consent_page(
    page, logged_in, owner, sandbox, oauth_to_live_server
):
    us_shop, uk_shop = (shop.name for shop in sandbox.catalog.shops[:2])
    logged_in(owner.email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Accounts").click()
    expect(page.get_by_role("heading", name="No TikTok Shop account yet")).to_be_visible()

    page.get_by_role("main").get_by_role("link", name="Connect TikTok Shop").click()

    expect(page).to_have_url(re.compile(re.escape(sandbox.url("tiktok"))))
    expect(page.get_by_role("heading", name=re.compile("Authorize SKU Bridge"))).to_be_visible()
    page.get_by_role("button", name="Authorize").click()

    expect(page.get_by_role("heading", name="Which shops should SKU Bridge link?")).to_be_visible()
    page.get_by_label(us_shop).uncheck()
    page.get_by_label(uk_shop).check()
    page.get_by_role("button", name="Connect shops").click()

    expect(page.get_by_role("heading", name="TikTok Shop accounts")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text=f"Connected {uk_shop}")).to_be_visible()
    rows = page.get_by_role("main").locator("tbody").get_by_role("row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(uk_shop)
    expect(rows.first.locator(".status")).to_have_text("Active")
    expect(banner(page)).to_have_count(0)
