"""Orders from TikTok Shop into the store: kept, checked against the links, created once.

- Every order seen is recorded (`record_orders`), newest status wins.
- An order is created in the store when TikTok Shop has it ready to ship and every item is
  linked; each item becomes its store SKU × the pack size (a kit: each of its parts).
- An item that is not linked holds the order (*awaiting mapping*) with the reason; linking the
  item or *Retry* processes it again.
- Never twice: a worker first claims the order with one conditional UPDATE (only one worker
  can win it), then asks the store for an order carrying the TikTok order id before creating
  one. A worker that died after creating leaves a stale claim; the next attempt takes it over
  and finds the order the store already has. A claim is stale once the job run that made it
  is over or interrupted (its worker stopped), or after CLAIM_TIMEOUT when it names none.
- A cancelled TikTok order is cancelled in the store when it was created there.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import asdict
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from webapp.accounts.models import MarketplaceAccount
from webapp.adapters.base import AdapterError, NewOrder, OrderAddress, OrderLine, StoreAdapter
from webapp.adapters.tiktok import MarketplaceOrder
from webapp.catalog.models import MarketplaceSku, StoreSku
from webapp.extensions import utcnow
from webapp.jobs.models import JobRun
from webapp.jobs.services import notice_interrupted
from webapp.linking.models import Link, LinkComponent, LinkState
from webapp.orders.models import Order, OrderItem, OrderState

WAITING_STATUSES = frozenset({"UNPAID", "ON_HOLD"})
CANCELLED_STATUS = "CANCELLED"
CLAIM_TIMEOUT = timedelta(minutes=10)
CLAIMABLE = (
    OrderState.WAITING,
    OrderState.READY,
    OrderState.AWAITING_MAPPING,
    OrderState.FAILED,
)
CENT = Decimal("0.01")


def record_orders(
    session: Session, account: MarketplaceAccount, orders: Iterable[MarketplaceOrder]
) -> list[Order]:
    """Keep these TikTok orders: new ones with their items, known ones with their newer
    status. Returns the orders in the order given."""
    recorded = []
    for remote in orders:
        order = session.scalar(
            select(Order).where(Order.account_id == account.id, Order.tiktok_order_id == remote.id)
        )
        if order is None:
            order = Order(
                organization_id=account.organization_id,
                account_id=account.id,
                tiktok_order_id=remote.id,
                items=[
                    OrderItem(
                        line_item_id=item.id,
                        product_id=item.product_id,
                        sku_id=item.sku_id,
                        seller_sku=item.seller_sku,
                        product_name=item.product_name[:500],
                        sku_name=item.sku_name[:255],
                        sale_price=item.sale_price,
                    )
                    for item in remote.items
                ],
            )
            session.add(order)
        elif remote.update_time < order.update_time:
            recorded.append(order)  # an older copy of what we have: keep ours
            continue
        order.tiktok_status = remote.status
        order.update_time = remote.update_time
        order.created_time = remote.create_time
        order.currency = remote.currency
        order.total = sum((item.sale_price for item in remote.items), Decimal(0))
        if any(asdict(remote.recipient).values()):
            order.recipient = asdict(remote.recipient)
        order.buyer_email = remote.buyer_email[:254]
        order.buyer_message = remote.buyer_message[:1000]
        order.updated_at = utcnow()
        recorded.append(order)
    session.commit()
    return recorded


def process_order(
    session: Session, order: Order, store: StoreAdapter, *, job_run_id: int | None = None
) -> OrderState:
    """Bring one order as far as it can go now, for job run `job_run_id` (the claim names
    it). Problems are recorded on the order, never raised: one bad order must not stop the
    others."""
    if order.tiktok_status == CANCELLED_STATUS:
        return _cancel(session, order, store)
    if order.state in (OrderState.CREATED, OrderState.CANCELLED):
        return order.state
    stale_claim = None
    if order.state is OrderState.CREATING:
        if not _claim_is_stale(session, order):
            return order.state  # another worker is on it
        stale_claim = order.claim
    if order.tiktok_status in WAITING_STATUSES:
        return _set(session, order, OrderState.WAITING, "")
    lines, problems = order_lines(session, order)
    if problems:
        return _set(session, order, OrderState.AWAITING_MAPPING, " ".join(problems))
    if not _claim(session, order, job_run_id, stale_claim):
        return order.state
    try:
        created = store.find_order(order.tiktok_order_id) or store.create_order(
            _new_order(order, lines)
        )
    except AdapterError as error:
        order.claim = None
        return _set(session, order, OrderState.FAILED, f"The store did not take the order: {error}")
    order.store_order_id = created.remote_id
    order.store_order_number = created.number
    order.claim = None
    return _set(session, order, OrderState.CREATED, "")


def order_lines(session: Session, order: Order) -> tuple[list[OrderLine], list[str]]:
    """The store lines of an order, or why it cannot have them yet (one reason per item)."""
    units: dict[str, list[OrderItem]] = {}
    for item in order.items:
        units.setdefault(item.sku_id, []).append(item)
    found = {
        sku.sku_id: (sku, link)
        for sku, link in session.execute(
            select(MarketplaceSku, Link)
            .join(Link, Link.marketplace_sku_id == MarketplaceSku.id)
            .where(
                MarketplaceSku.account_id == order.account_id,
                MarketplaceSku.sku_id.in_(list(units)),
            )
        )
    }
    lines: list[OrderLine] = []
    problems: list[str] = []
    for sku_id, items in units.items():
        name = _item_name(items[0])
        if sku_id not in found:
            problems.append(
                f"{name} is not in SKU Bridge yet: import the shop's products, then link it."
            )
            continue
        _, link = found[sku_id]
        if link.state is not LinkState.LINKED:
            hint = " (it is mapped: assign it)" if link.state is LinkState.MAPPED else ""
            problems.append(f"{name} is not linked to a store product{hint}.")
            continue
        lines += _store_lines(session, link, items)
    return lines, problems


def _item_name(item: OrderItem) -> str:
    label = item.seller_sku or f"SKU ID {item.sku_id}"
    return f"{label} ({item.product_name})" if item.product_name else label


def _store_lines(session: Session, link: Link, items: list[OrderItem]) -> list[OrderLine]:
    """A TikTok unit is `link.quantity` of its store SKU, plus each kit part's units; the price
    the buyer paid goes on the first part, per store unit."""
    parts = [(link.store_sku_id, link.quantity)] + [
        (component.store_sku_id, component.quantity)
        for component in session.scalars(
            select(LinkComponent).where(LinkComponent.link_id == link.id)
        )
    ]
    count = len(items)
    paid = sum((item.sale_price for item in items), Decimal(0))
    lines = []
    for index, (store_sku_id, per_unit) in enumerate(parts):
        store_sku = session.get(StoreSku, store_sku_id)
        quantity = count * per_unit
        price = (paid / quantity).quantize(CENT, ROUND_HALF_UP) if index == 0 else Decimal(0)
        lines.append(
            OrderLine(
                remote_id=store_sku.remote_id,
                sku=store_sku.sku,
                name=store_sku.name,
                quantity=quantity,
                unit_price=price,
            )
        )
    return lines


def _new_order(order: Order, lines: list[OrderLine]) -> NewOrder:
    recipient = order.recipient or {}
    return NewOrder(
        reference=order.tiktok_order_id,
        currency=order.currency or "USD",
        lines=tuple(lines),
        shipping_address=OrderAddress(
            name=recipient.get("name", ""),
            phone=recipient.get("phone", ""),
            lines=tuple(recipient.get("lines", ())),
            city=recipient.get("city", ""),
            region=recipient.get("region", ""),
            postal_code=recipient.get("postal_code", ""),
            country_code=recipient.get("country_code", ""),
        ),
        email=order.buyer_email,
        note=f"TikTok Shop order {order.tiktok_order_id}"
        + (f". Buyer's message: {order.buyer_message}" if order.buyer_message else ""),
    )


def _claim_is_stale(session: Session, order: Order) -> bool:
    """Whether the worker that claimed the order is gone: the job run named in the claim is
    over or was interrupted (noticed here if nobody has yet), or, for a claim naming no run,
    it is older than CLAIM_TIMEOUT."""
    if order.claimed_at is None or order.claimed_at < utcnow() - CLAIM_TIMEOUT:
        return True
    holder_id = _claim_holder(order.claim)
    holder = session.get(JobRun, holder_id) if holder_id else None
    if holder is None:
        return holder_id is not None  # a run since deleted cannot be working on it
    notice_interrupted(session, [holder])
    return holder.status.is_over


def _claim_holder(claim: str | None) -> int | None:
    """The job run id a claim names (`<run id>.<random>`), if any."""
    run_id, dot, _ = (claim or "").partition(".")
    return int(run_id) if dot and run_id.isdigit() and int(run_id) > 0 else None


def _claim(session: Session, order: Order, job_run_id: int | None, stale_claim: str | None) -> bool:
    """Take the order for this worker with one conditional UPDATE: of two workers, only one
    changes the row. A claim older than CLAIM_TIMEOUT belonged to a worker that died, and so
    did `stale_claim` (a claim its caller found stale), if the order still carries it."""
    token = f"{job_run_id or 0}.{secrets.token_hex(8)}"
    now = utcnow()
    taken_over = [Order.claimed_at < now - CLAIM_TIMEOUT]
    if stale_claim is not None:
        taken_over.append(Order.claim == stale_claim)
    result = session.execute(
        update(Order)
        .where(
            Order.id == order.id,
            or_(
                Order.state.in_(CLAIMABLE),
                and_(Order.state == OrderState.CREATING, or_(*taken_over)),
            ),
        )
        .values(
            state=OrderState.CREATING,
            claim=token,
            claimed_at=now,
            attempts=Order.attempts + 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    session.refresh(order)
    return result.rowcount == 1 and order.claim == token


def _cancel(session: Session, order: Order, store: StoreAdapter) -> OrderState:
    if order.state is OrderState.CANCELLED:
        return order.state
    if order.store_order_id:
        try:
            store.cancel_order(order.store_order_id)
        except AdapterError as error:
            return _set(
                session,
                order,
                OrderState.FAILED,
                f"Cancelled in TikTok Shop, but the store did not cancel its order: {error}",
            )
    return _set(session, order, OrderState.CANCELLED, "")


def _set(session: Session, order: Order, state: OrderState, reason: str) -> OrderState:
    order.state = state
    order.reason = reason[:1000]
    order.updated_at = utcnow()
    session.commit()
    return state


def held_orders_for_links(
    session: Session, account_id: int, link_ids: Iterable[int]
) -> list[Order]:
    """The account's orders held for an item that one of these links sells."""
    sku_ids = (
        select(MarketplaceSku.sku_id)
        .join(Link, Link.marketplace_sku_id == MarketplaceSku.id)
        .where(Link.id.in_(list(link_ids)))
    )
    return list(
        session.scalars(
            select(Order)
            .where(
                Order.account_id == account_id,
                Order.state == OrderState.AWAITING_MAPPING,
                Order.id.in_(select(OrderItem.order_id).where(OrderItem.sku_id.in_(sku_ids))),
            )
            .order_by(Order.id)
        )
    )
