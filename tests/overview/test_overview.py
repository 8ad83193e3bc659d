"""The Overview page: one account's SKUs by link state (from the kept counts, as the grid's tabs
show them), its sync health, its held orders, and what to do when there is nothing to show."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import requests
from sqlalchemy import event, func, select, update

from tests.builders import PASSWORD, import_shop, make_account, make_user
from webapp.catalog.models import StoreSku
from webapp.extensions import db, utcnow
from webapp.jobs.models import JobKind, JobRun, JobStatus
from webapp.linking.grid import FAILURE_KINDS, failure_counts, status_counts
from webapp.linking.models import Link, LinkState
from webapp.orders.jobs import start_orders
from webapp.orders.models import Order, OrderState
from webapp.overview.queries import account_overview, held_order_count, link_states, sync_health
from webapp.sync.models import LinkSync, SyncSettings

FAILURES = [
    "Store SKU not found: no store product has SKU X.",
    "SKU is ambiguous: 2 store products share it.",
    "Store SKU not found: no store product has SKU Y.",
]


@pytest.fixture
def imported(shop, client):
    """The shop's account with a few rows in each state but In Progress, its owner logged in."""
    owner, _, account = shop
    ids = db.session.scalars(
        select(Link.id).where(Link.account_id == account.id).order_by(Link.id).limit(7)
    ).all()
    for link_id, reason in zip(ids[:3], FAILURES, strict=True):
        db.session.execute(
            update(Link)
            .where(Link.id == link_id)
            .values(state=LinkState.FAILED, failure_reason=reason)
        )
    target = db.session.scalar(select(StoreSku.id).where(StoreSku.is_parent.is_(False)).limit(1))
    for link_id, state in zip(
        ids[3:], [LinkState.MAPPED] * 2 + [LinkState.LINKED] * 2, strict=True
    ):
        db.session.execute(
            update(Link).where(Link.id == link_id).values(state=state, store_sku_id=target)
        )
    db.session.commit()
    client.login(owner.email, PASSWORD)
    return account


def _page(client) -> str:
    response = client.get("/overview/")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _counted(account_id: int) -> dict[str, int]:
    rows = db.session.execute(
        select(Link.state, func.count()).where(Link.account_id == account_id).group_by(Link.state)
    )
    return {state.value: 0 for state in LinkState} | {state.value: n for state, n in rows}


def test_link_states_are_the_grid_tab_counts(imported):
    links = link_states(db.session, imported)
    tabs = status_counts(db.session, imported.id)
    assert [s.state for s in links.states] == list(LinkState)
    assert {s.state.value: s.count for s in links.states} == _counted(imported.id)
    assert {s.state.value: s.count for s in links.states} | {"all": links.total} == tabs
    assert links.count(LinkState.FAILED) == 3 and links.count(LinkState.LINKED) == 2
    assert {k.key: k.count for k in links.failure_kinds} == failure_counts(db.session, imported.id)
    assert {k.key: k.count for k in links.failure_kinds}["not_found"] == 2
    assert [k.label for k in links.failure_kinds] == [k.label for k in FAILURE_KINDS.values()]


def test_shares_and_bars_read_well_for_few_among_many(imported):
    by_state = {s.state: s for s in link_states(db.session, imported).states}
    total = status_counts(db.session, imported.id)["all"]
    assert total > 100  # so that 2 rows are under one percent
    assert by_state[LinkState.LINKED].share == "<1%"
    assert float(by_state[LinkState.LINKED].bar_percent) > 0  # still a visible sliver
    assert by_state[LinkState.IN_PROGRESS].share == "0%"
    assert by_state[LinkState.IN_PROGRESS].bar_percent == "0"
    assert by_state[LinkState.NOT_LINKED].share == f"{round(100 * (total - 7) / total)}%"


def test_no_failure_kinds_are_read_when_nothing_failed(shop):
    _, _, account = shop
    links = link_states(db.session, account)
    assert links.count(LinkState.FAILED) == 0 and links.failure_kinds == []


def test_the_page_shows_the_chart_and_table_with_links_into_the_filtered_grid(imported, client):
    body = _page(client)
    total = status_counts(db.session, imported.id)["all"]
    assert re.search(r'<svg class="state-chart"[^>]*aria-labelledby="state-chart-title"', body)
    assert f'<title id="state-chart-title">SKUs by link state: {total:,} in all' in body
    for state in LinkState:
        bar = re.search(rf'<a class="chart-link" href="/\?status={state.value}"[^>]*>', body)
        assert bar, state  # a bar that opens the grid on its tab, named with its numbers
    assert 'aria-label="Map failed: 3 SKUs, &lt;1%"' in body
    assert 'aria-label="In Progress: 0 SKUs, 0%"' in body
    assert f'<td class="num">{total - 7:,}</td>' in body  # Not Linked, as text
    assert f'<tfoot><tr><th scope="row">Total</th><td class="num">{total:,}</td>' in body
    assert 'href="/?status=failed&amp;failure=not_found">Store SKU not found</a>' in body
    assert "Why maps failed" in body


@pytest.mark.parametrize("state", list(LinkState))
def test_each_state_link_opens_the_grid_on_that_tab(imported, client, state):
    grid = client.get(f"/?status={state.value}").get_data(as_text=True)
    current = re.search(r'class="tab tab-(\w+)" aria-current="page"', grid)
    assert current and current.group(1) == state.value
    count = status_counts(db.session, imported.id)[state.value]
    assert grid.count('<tr id="link-') == min(count, 20)  # GRID_PAGE_SIZE in the tests


def test_a_failure_kind_link_opens_the_grid_filtered_by_it(imported, client):
    grid = client.get("/?status=failed&failure=ambiguous").get_data(as_text=True)
    assert grid.count('<tr id="link-') == 1 and "is ambiguous" in grid


def test_overview_is_first_in_the_navigation_and_marked_current(imported, client):
    body = _page(client)
    nav = re.search(r'<nav class="mainnav".*?</nav>', body, re.S).group(0)
    first = re.search(r"<a [^>]*>([^<]+)</a>", nav)
    assert first.group(1) == "Overview" and 'aria-current="page"' in first.group(0)
    linking = client.get("/").get_data(as_text=True)
    assert '<a href="/overview/" >Overview</a>' in linking  # not current on other pages


def test_login_still_lands_on_the_linking_page(app_ctx, client):
    owner = make_user()
    response = client.login(owner.email, PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_without_an_account_the_page_says_to_connect_one(app_ctx, client):
    owner = make_user()
    client.login(owner.email, PASSWORD)
    body = _page(client)
    assert "No TikTok Shop account is connected yet" in body
    assert '<a class="button button-primary" href="/accounts/">Go to Accounts</a>' in body
    assert "state-chart" not in body


def test_before_the_first_import_the_page_offers_initiate_import(app_ctx, client):
    owner = make_user()
    make_account(owner.organization, owner)  # no store either
    client.login(owner.email, PASSWORD)
    body = _page(client)
    assert "No products imported yet" in body and "state-chart" not in body
    assert '<form method="post" action="/catalog/import">' in body
    assert ">Initiate Import</button>" in body
    assert 'href="/">Go to the Linking page</a>' in body
    assert "No store is linked to this account" in body
    assert 'href="/stores/">Go to Stores</a>' in body


def test_initiate_import_from_the_overview_imports_and_lands_on_linking(app_ctx, client, run_jobs):
    owner = make_user()
    make_account(owner.organization, owner)
    client.login(owner.email, PASSWORD)
    client.refresh_csrf("/overview/")
    form = re.search(
        r'<form method="post" action="([^"]+)">(?:(?!</form>).)*Initiate Import',
        _page(client),
        re.S,
    )
    response = client.post_form(form.group(1))
    assert response.status_code == 302 and response.headers["Location"] == "/"
    run_jobs()
    body = _page(client)
    assert "No products imported yet" not in body and "state-chart" in body
    assert "No store is linked to this account" in body  # still to do


def test_another_organizations_account_is_never_shown(imported, client, run_jobs):
    stranger = make_user("owner@other.test", organization="Other Shop")
    _, theirs = import_shop(stranger, run_jobs, shop_index=1)
    with client.session_transaction() as session:
        session["account_id"] = theirs.id  # as if chosen: the selector offers only our own
    body = _page(client)
    assert imported.name != theirs.name
    assert f"Account {imported.id}" in body and f"Account {theirs.id}<" not in body
    assert theirs.name not in body
    client.refresh_csrf("/overview/")
    assert client.post_form("/accounts/select", {"account_id": theirs.id}).status_code == 404


def test_held_orders_are_counted_with_a_link_products_call(shop, sandbox, client, run_jobs):
    owner, _, account = shop
    sku_id = db.session.scalar(
        select(Link.id).where(Link.account_id == account.id).order_by(Link.id).limit(1)
    )
    sku_id = db.session.get(Link, sku_id).marketplace_sku.sku_id
    response = requests.post(
        f"{sandbox.url('tiktok')}/__sandbox__/tiktok/orders",
        json={"shop_cipher": account.shop_cipher, "items": [{"sku_id": sku_id, "quantity": 1}]},
        timeout=5,
    )
    assert response.status_code == 201, response.text
    start_orders(db.session, account, owner)
    run_jobs()
    assert db.session.scalar(select(Order.state)) is OrderState.AWAITING_MAPPING
    assert held_order_count(db.session, account) == 1

    client.login(owner.email, PASSWORD)
    body = _page(client)
    assert "1 order awaiting mapping" in body
    assert 'href="/orders/?tab=held">Link products</a>' in body
    assert 'Last pull of orders</dt><dd><time datetime="' in body  # the pull just done
    orders = client.get("/orders/?tab=held").get_data(as_text=True)
    assert "1 order held: link products" in orders


def test_no_held_orders_no_call_to_action(imported, client):
    body = _page(client)
    assert "awaiting mapping" not in body and ">Link products</a>" not in body
    assert "No order is waiting for a product to be linked." in body


def _failed_run(account, kind: JobKind, finished_ago: timedelta) -> JobRun:
    return JobRun(
        organization_id=account.organization_id,
        account_id=account.id,
        kind=kind,
        status=JobStatus.FAILED,
        error="TikTok Shop refused the access token.",
        finished_at=utcnow() - finished_ago,
    )


def test_sync_health_counts_the_errors_of_the_last_day(imported, client, run_jobs):
    account = imported
    other = make_user("owner@other.test", organization="Other Shop")
    _, theirs = import_shop(other, run_jobs, shop_index=1)
    db.session.add_all(
        [
            _failed_run(account, JobKind.SYNC, timedelta(hours=1)),
            _failed_run(account, JobKind.ORDERS, timedelta(hours=23)),
            _failed_run(account, JobKind.SYNC, timedelta(hours=25)),  # too old
            _failed_run(account, JobKind.MARKETPLACE_IMPORT, timedelta(hours=1)),  # not sync
            _failed_run(theirs, JobKind.SYNC, timedelta(hours=1)),  # not this account
        ]
    )
    linked = db.session.scalars(
        select(Link.id).where(Link.account_id == account.id, Link.state == LinkState.LINKED)
    ).all()
    now = utcnow()
    db.session.add_all(
        [
            LinkSync(link_id=linked[0], account_id=account.id, has_error=True, error="Refused.",
                     error_at=now - timedelta(minutes=5)),
            LinkSync(link_id=linked[1], account_id=account.id, has_error=False, error="",
                     synced_at=now - timedelta(minutes=3)),
            Order(organization_id=account.organization_id, account_id=account.id,
                  tiktok_order_id="5770001", tiktok_status="AWAITING_SHIPMENT",
                  state=OrderState.FAILED, updated_at=now - timedelta(hours=2)),
            Order(organization_id=account.organization_id, account_id=account.id,
                  tiktok_order_id="5770002", tiktok_status="AWAITING_SHIPMENT",
                  state=OrderState.FAILED, updated_at=now - timedelta(days=3)),
        ]
    )  # fmt: skip
    settings = SyncSettings.defaults(account.id)
    settings.last_sync_at = now - timedelta(minutes=3)
    db.session.add(settings)
    db.session.commit()

    health = sync_health(db.session, account)
    assert (health.failed_runs, health.failed_skus, health.failed_orders) == (2, 1, 1)
    assert health.errors == 4 and health.paused == []
    assert health.last_push_at == settings.last_sync_at and health.last_pull_at is None

    body = _page(client)
    assert '<strong class="failure">4</strong>' in body
    assert 'href="/jobs/?status=failed">2 sync or order runs failed</a>' in body
    assert 'href="/?status=linked&amp;sync=refused">1 linked SKU not pushed</a>' in body
    assert 'href="/orders/?tab=held">1 order the store did not take</a>' in body
    pushed = re.search(r"Last push of stock and prices</dt><dd>(<time [^>]+>[^<]+</time>)", body)
    assert pushed and ">3 min ago</time>" in pushed.group(1)
    assert f'datetime="{settings.last_sync_at.isoformat()}"' in pushed.group(1)
    assert f'title="{settings.last_sync_at:%Y-%m-%d %H:%M:%S} UTC"' in pushed.group(1)
    assert "Last pull of orders</dt><dd>never</dd>" in body


def test_no_errors_and_never_synced(imported, client):
    health = sync_health(db.session, imported)
    assert health.errors == 0 and health.last_push_at is None
    body = _page(client)
    assert "Errors in the last 24 hours</dt><dd>none</dd>" in body
    assert "Last push of stock and prices</dt><dd>never</dd>" in body


def test_sync_switched_off_says_so_with_a_link_to_its_settings(imported, client):
    settings = SyncSettings.defaults(imported.id)
    settings.inventory = settings.price = settings.status = settings.orders = False
    db.session.add(settings)
    db.session.commit()
    body = _page(client)
    assert "Sync is switched off in this account&#39;s settings." in body
    assert "Order sync is switched off in this account&#39;s settings." in body
    assert f'href="/sync/accounts/{imported.id}/settings">Sync settings</a>' in body


def test_the_page_reads_a_few_rows_and_never_the_links_table(imported, client, app):
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        _page(client)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert not [s for s in statements if re.search(r"\blinks\b", s)], statements
    assert len(statements) <= 15, statements


def test_account_overview_bundles_the_parts(imported):
    overview = account_overview(db.session, imported)
    assert overview.imported and overview.has_store and overview.held_orders == 0
    assert overview.links.total == status_counts(db.session, imported.id)["all"]
