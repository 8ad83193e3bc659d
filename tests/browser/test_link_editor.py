"""The inline link editor in headless Chromium: open it on a row, search, pick with the keyboard,
cancel with Escape, build a kit, unlink through the confirm dialog, and a parent refused."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect
from sqlalchemy import func, select

from tests.browser.pages import assert_no_reload, set_marker, tab
from webapp.catalog.models import MarketplaceSku, StoreSku
from webapp.extensions import db
from webapp.linking.models import Link
from webapp.linking.services import Target, set_link_target

FIRST_PAGE = 20  # GRID_PAGE_SIZE in tests
SEARCH_LABEL = "Search the store catalog by SKU or name"


def exact_pairs(account_id: int) -> list[tuple[Link, StoreSku]]:
    """Rows of the first grid page whose seller SKU is exactly one sellable store SKU."""
    links = db.session.scalars(
        select(Link).where(Link.account_id == account_id).order_by(Link.id).limit(FIRST_PAGE)
    ).all()
    pairs = []
    for link in links:
        seller_sku = link.marketplace_sku.seller_sku
        if not re.fullmatch(r"[A-Z]{2}-\d{4}-[A-Z]+-[A-Z0-9]+", seller_sku):
            continue
        matches = db.session.scalars(select(StoreSku).where(StoreSku.sku == seller_sku)).all()
        if len(matches) == 1 and not matches[0].is_parent:
            pairs.append((link, matches[0]))
    assert len(pairs) >= 2, "the demo catalog has no plain exact matches on the first page"
    return pairs


def link_count(account_id: int) -> int:
    return db.session.scalar(
        select(func.count()).select_from(Link).where(Link.account_id == account_id)
    )


def open_editor(page: Page, link: Link) -> Locator:
    sku = link.marketplace_sku.seller_sku
    page.locator(f"#link-{link.id}").get_by_role("button", name=f"Link {sku}").click()
    search = page.get_by_role("combobox", name=SEARCH_LABEL)
    expect(search).to_be_focused()
    return search


def search_for(page: Page, search: Locator, text: str) -> None:
    """Type as a user does and wait for the candidates of the whole text."""
    with page.expect_response(lambda r: "/candidates?" in r.url and f"q={text}" in r.url):
        search.press_sequentially(text, delay=30)


def test_pick_a_suggestion_with_the_keyboard_links_the_row(page, logged_in, owner, shop):
    link, target = exact_pairs(shop.id)[0]
    sku = link.marketplace_sku.seller_sku
    total = link_count(shop.id)
    logged_in(owner.email)
    row = page.locator(f"#link-{link.id}")
    expect(row).to_contain_text("Not Linked")
    set_marker(page)

    search = open_editor(page, link)
    search_for(page, search, sku[:9])
    options = page.get_by_role("listbox", name="Store SKUs").get_by_role("option")
    expect(options.first).to_contain_text(target.sku)
    expect(options.first).to_contain_text("Exact SKU · 100")

    search.press("ArrowDown")
    expect(options.first).to_have_attribute("aria-selected", "true")
    expect(search).to_have_attribute("aria-activedescendant", f"option-{link.id}-{target.id}")
    expect(page.get_by_text(f"Chosen: {target.sku}")).to_be_visible()
    search.press("Enter")

    expect(row.locator(".status")).to_have_text("Mapped")
    expect(row).to_contain_text(target.sku)
    expect(tab(page, "Mapped")).to_have_text("Mapped 1")
    expect(tab(page, "Not Linked")).to_have_text(f"Not Linked {total - 1}")
    expect(page.locator("#toasts").get_by_text(f"Linked {sku} to {target.sku}.")).to_be_visible()
    expect(row.get_by_role("button", name=f"Change {sku}")).to_be_focused()
    expect(page.get_by_role("combobox", name=SEARCH_LABEL)).to_have_count(0)
    assert_no_reload(page)


def test_escape_closes_the_editor_and_changes_nothing(page, logged_in, owner, shop):
    link, _ = exact_pairs(shop.id)[0]
    sku = link.marketplace_sku.seller_sku
    logged_in(owner.email)
    set_marker(page)

    search = open_editor(page, link)
    search.press("ArrowDown")
    search.press("Escape")

    row = page.locator(f"#link-{link.id}")
    expect(page.get_by_role("combobox", name=SEARCH_LABEL)).to_have_count(0)
    expect(row.locator(".status")).to_have_text("Not Linked")
    expect(row.get_by_role("button", name=f"Link {sku}")).to_be_focused()
    assert_no_reload(page)


def test_a_kit_of_two_store_skus(page, logged_in, owner, shop, save_screenshot):
    (link, first), (_, second) = exact_pairs(shop.id)[:2]
    logged_in(owner.email)
    set_marker(page)
    search = open_editor(page, link)
    listbox = page.get_by_role("listbox", name="Store SKUs")

    listbox.get_by_role("option").filter(has_text=first.sku).first.click()
    page.get_by_label("Store units per TikTok unit").fill("2")
    page.get_by_role("button", name="Add to kit").click()
    expect(page.get_by_role("spinbutton", name=f"Units of {first.sku}")).to_have_value("2")
    expect(page.get_by_label("Store units per TikTok unit")).to_have_value("1")

    search.fill("")
    search_for(page, search, second.sku)
    listbox.get_by_role("option").filter(has_text=second.sku).first.click()
    save_screenshot("link-editor-kit")
    page.get_by_role("button", name="Save link").click()

    row = page.locator(f"#link-{link.id}")
    expect(row.locator(".status")).to_have_text("Mapped")
    expect(row).to_contain_text(f"{first.sku} × 2")
    expect(row).to_contain_text(f"+ {second.sku}")
    assert_no_reload(page)


def test_unlink_after_the_confirm_dialog(page, logged_in, owner, shop):
    link, target = exact_pairs(shop.id)[0]
    sku = link.marketplace_sku.seller_sku
    set_link_target(db.session, link, [Target(target.id)], expected_version=1, actor=owner)
    db.session.commit()
    logged_in(owner.email)
    expect(tab(page, "Mapped")).to_have_text("Mapped 1")
    set_marker(page)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))

    page.locator(f"#link-{link.id}").get_by_role("button", name=f"Unlink {sku}").click()

    row = page.locator(f"#link-{link.id}")
    expect(row.locator(".status")).to_have_text("Not Linked")
    expect(row.get_by_role("button", name=f"Link {sku}")).to_be_visible()
    expect(tab(page, "Mapped")).to_have_text("Mapped 0")
    expect(page.locator("#toasts").get_by_text(f"Unlinked {sku}")).to_be_visible()
    assert dialogs == [f"Unlink {sku}? Inventory, price and order sync stop for this SKU at once."]
    assert_no_reload(page)


def test_picking_a_parent_shows_the_refusal_in_the_editor(page, logged_in, owner, shop):
    link, target = exact_pairs(shop.id)[0]
    style = re.match(r"[A-Z]{2}-\d{4}", target.sku).group()
    parent = db.session.scalar(
        select(StoreSku).where(StoreSku.sku == style, StoreSku.is_parent.is_(True))
    )
    assert parent is not None
    logged_in(owner.email)
    set_marker(page)

    search = open_editor(page, link)
    search_for(page, search, style)
    option = page.get_by_role("option").filter(has_text="parent — choose a variant").first
    expect(option).to_contain_text(parent.sku)
    option.click()
    page.get_by_role("button", name="Save link").click()

    editor = page.locator(f"#link-{link.id}")
    expect(editor.get_by_role("alert")).to_contain_text(
        "is a parent (configurable) product, not a sellable variant"
    )
    expect(page.get_by_role("combobox", name=SEARCH_LABEL)).to_be_focused()
    db.session.expire_all()
    assert db.session.get(Link, link.id).store_sku_id is None
    assert db.session.get(MarketplaceSku, link.marketplace_sku_id).seller_sku == target.sku
    assert_no_reload(page)


def test_the_editor_shows_the_rows_history(page, logged_in, owner, shop, check_accessibility):
    link, target = exact_pairs(shop.id)[0]
    sku = link.marketplace_sku.seller_sku
    set_link_target(db.session, link, [Target(target.id, 2)], expected_version=1, actor=owner)
    db.session.commit()
    logged_in(owner.email)

    change = page.locator(f"#link-{link.id}").get_by_role("button", name=re.compile(f" {sku}$"))
    change.first.click()
    page.get_by_text("History of this row").click()

    history = page.get_by_role("region", name="History of this row")
    expect(history).to_contain_text("Store SKU set")
    row = history.locator("tbody tr").first
    expect(row).to_contain_text(f"Mapped: {target.sku} ×2")
    expect(row).to_contain_text(owner.display_name)
    check_accessibility(page)
