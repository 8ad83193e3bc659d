"""Orders and sync in headless Chromium: a held order's item linked from the Orders page goes to
the store; the sync settings refuse bad input in the page; Sync now shows its progress."""

from __future__ import annotations

import requests
from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.pages import assert_no_reload, set_marker
from tests.browser.test_link_editor import SEARCH_LABEL, exact_pairs, search_for
from webapp.extensions import db
from webapp.orders.jobs import start_orders
from webapp.orders.models import Order, OrderState
from webapp.sync.models import SyncSettings


def test_linking_a_held_orders_item_sends_the_order_to_the_store(
    page, logged_in, owner, shop, sandbox, run_jobs, save_screenshot
):
    link, target = exact_pairs(shop.id)[0]
    sku_id, seller_sku = link.marketplace_sku.sku_id, link.marketplace_sku.seller_sku
    response = requests.post(
        f"{sandbox.url('tiktok')}/__sandbox__/tiktok/orders",
        json={"shop_cipher": shop.shop_cipher, "items": [{"sku_id": sku_id, "quantity": 2}]},
        timeout=5,
    )
    order_id = response.json()["id"]
    start_orders(db.session, shop, owner)
    run_jobs()

    logged_in(owner.email)
    page.goto("/orders/")
    expect(page.get_by_role("heading", name="1 order held: link products")).to_be_visible()
    order = page.locator("article.order").filter(has_text=order_id)
    expect(order).to_contain_text("Awaiting mapping")
    expect(order).to_contain_text(f"{seller_sku}")
    expect(order).to_contain_text("is not linked to a store product")
    set_marker(page)

    order.get_by_role("button", name=f"Link product {seller_sku}").click()
    search = page.get_by_role("combobox", name=SEARCH_LABEL)
    expect(search).to_be_focused()
    search_for(page, search, seller_sku[:9])
    search.press("ArrowDown")
    search.press("Enter")

    row = page.locator(f"#link-{link.id}")
    expect(row.locator(".status")).to_have_text("Linked")  # linked and assigned in one step
    expect(row).to_contain_text(target.sku)
    expect(page.locator("#toasts")).to_contain_text(
        "The orders held for it are being sent to the store."
    )
    expect(page.locator("article.order .select-cell").first).to_be_hidden()  # no bulk actions
    assert_no_reload(page)
    save_screenshot("orders-item-linked")

    run_jobs()  # the first push of the row, and the held order tried again
    db.session.expire_all()
    stored = db.session.scalar(select(Order).where(Order.tiktok_order_id == order_id))
    assert stored.state is OrderState.CREATED
    page.goto("/orders/?tab=created")
    expect(page.locator("article.order").filter(has_text=order_id)).to_contain_text(
        "Created in store"
    )


def test_sync_settings_refuse_bad_input_in_the_page(page, logged_in, owner, shop):
    logged_in(owner.email)
    page.goto(f"/sync/accounts/{shop.id}/settings")
    page.get_by_label("Sync every (minutes)").fill("2")
    page.get_by_label("Reserve (% of store stock held back)").fill("120")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("Nothing was saved")
    expect(page.get_by_role("alert")).to_contain_text("Sync every 5 to 1,440 minutes")
    expect(page.get_by_role("alert")).to_contain_text("The reserve is a percentage from 0 to 100.")
    assert db.session.get(SyncSettings, shop.id) is None

    page.get_by_label("Sync every (minutes)").fill("30")
    page.get_by_label("Reserve (% of store stock held back)").fill("10")
    page.get_by_label("Safety stock (store units held back per SKU)").fill("3")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Sync settings saved.")).to_be_visible()
    db.session.expire_all()
    saved = db.session.get(SyncSettings, shop.id)
    assert (saved.interval_minutes, saved.reserve_percent, saved.safety_stock) == (30, 10, 3)


def test_sync_now_from_the_linking_page_shows_its_progress(page, logged_in, owner, shop):
    logged_in(owner.email)
    set_marker(page)
    page.get_by_role("button", name="Sync now").click()
    progress = page.locator("#job-progress")
    expect(progress).to_contain_text("Sync to TikTok Shop")
    assert_no_reload(page)
