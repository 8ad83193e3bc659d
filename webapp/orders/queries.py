"""The Orders page's data: an account's orders, held ones first, each item with its link."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from webapp.catalog.models import MarketplaceSku
from webapp.linking.grid import GridRow, grid_row
from webapp.linking.models import Link
from webapp.orders.models import HELD_STATES, Order, OrderItem, OrderState

PAGE_SIZE = 25
TABS = (
    ("held", "Held", HELD_STATES),
    ("created", "Created in store", (OrderState.CREATED,)),
    ("waiting", "Waiting for payment", (OrderState.WAITING, OrderState.READY, OrderState.CREATING)),
    ("cancelled", "Cancelled", (OrderState.CANCELLED,)),
)


@dataclass(frozen=True)
class ItemLine:
    """The line items of one TikTok SKU in an order, and the grid row of its link."""

    first: OrderItem
    units: int
    link: GridRow | None


@dataclass(frozen=True)
class OrderView:
    order: Order
    lines: list[ItemLine]


def tab_counts(session: Session, account_id: int) -> dict[str, int]:
    by_state = dict(
        session.execute(
            select(Order.state, func.count())
            .where(Order.account_id == account_id)
            .group_by(Order.state)
        ).all()
    )
    return {key: sum(by_state.get(state, 0) for state in states) for key, _, states in TABS}


def orders_page(
    session: Session, account_id: int, tab: str, before: int | None = None
) -> tuple[list[OrderView], int | None]:
    """A page of the tab's orders, newest first, and the id to continue before (or None)."""
    states = next((states for key, _, states in TABS if key == tab), HELD_STATES)
    statement = (
        select(Order)
        .where(Order.account_id == account_id, Order.state.in_(states))
        .options(selectinload(Order.items))
        .order_by(Order.id.desc())
        .limit(PAGE_SIZE + 1)
    )
    if before is not None:
        statement = statement.where(Order.id < before)
    orders = list(session.scalars(statement))
    more = len(orders) > PAGE_SIZE
    orders = orders[:PAGE_SIZE]
    sku_ids = {item.sku_id for order in orders for item in order.items}
    links = dict(
        session.execute(
            select(MarketplaceSku.sku_id, Link.id)
            .join(Link, Link.marketplace_sku_id == MarketplaceSku.id)
            .where(MarketplaceSku.account_id == account_id, MarketplaceSku.sku_id.in_(sku_ids))
        ).all()
    )
    rows: dict[int, GridRow | None] = {}
    views = []
    for order in orders:
        grouped: dict[str, list[OrderItem]] = {}
        for item in order.items:
            grouped.setdefault(item.sku_id, []).append(item)
        lines = []
        for sku_id, items in grouped.items():
            link_id = links.get(sku_id)
            if link_id is not None and link_id not in rows:
                rows[link_id] = grid_row(session, link_id)
            lines.append(ItemLine(items[0], len(items), rows.get(link_id) if link_id else None))
        views.append(OrderView(order, lines))
    return views, (orders[-1].id if more else None)
