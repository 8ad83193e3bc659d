"""The push: stock, price and status of an account's linked rows, from the store to TikTok Shop.

One pass over the linked rows, a few hundred TikTok products at a time (a product's SKUs are
never split: TikTok takes one inventory call per product covering all its changed SKUs):

1. read the store's stock, price and status of every store SKU those rows use (in a thread
   of its own, while the previous pass is being pushed: a slow store costs no TikTok time);
2. work out what each row should offer (`rules`), and keep what differs from what was last
   pushed (everything on a full re-send);
3. one inventory call and one price call per product with changes, status calls twenty
   products at a time;
4. record per row what was pushed and when, or the error TikTok Shop gave for that SKU.

A failure confined to one product (a refusal, a server error after retries) is recorded on its
rows and the push goes on; a failure of the account (its authorization) stops it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from webapp.accounts.models import MarketplaceAccount
from webapp.adapters.base import AdapterError, AuthenticationFailed, StockLevel, StoreAdapter
from webapp.adapters.tiktok import (
    InventoryUpdate,
    ItemFailure,
    PriceUpdate,
    TikTokShopClient,
)
from webapp.catalog.models import MarketplaceSku, StoreSku
from webapp.dbutil import upsert
from webapp.extensions import utcnow
from webapp.linking.models import Link, LinkComponent, LinkState
from webapp.sync.models import LinkSync, SyncSettings
from webapp.sync.rules import (
    Part,
    StockRules,
    offered_price,
    offered_quantity,
    warehouse_quantities,
)

PRODUCTS_PER_PASS = 200
ACTIVE_STATUSES = frozenset({"ACTIVATE", "ACTIVE", "LIVE"})


@dataclass(frozen=True)
class LastPush:
    """What the previous pushes of a row left (a `LinkSync` row, read as plain values so that
    committing a pass does not expire them)."""

    quantity: int | None
    price: Decimal | None
    active: bool | None
    store_quantity: int | None
    store_price: Decimal | None
    synced_at: datetime | None
    has_error: bool


LAST_PUSH_COLUMNS = (
    LinkSync.link_id,
    LinkSync.quantity,
    LinkSync.price,
    LinkSync.active,
    LinkSync.store_quantity,
    LinkSync.store_price,
    LinkSync.synced_at,
    LinkSync.has_error,
)


@dataclass
class Row:
    """One linked row as the push sees it."""

    link_id: int
    product_id: str
    sku_id: str
    currency: str
    warehouses: tuple[str, ...]
    product_active: bool
    parts: list[Part]
    last: LastPush | None
    quantity: int | None = None
    price: Decimal | None = None
    enabled: bool = True
    store_quantity: int | None = None
    store_price: Decimal | None = None
    error: str = ""


@dataclass
class PushReport:
    rows: int = 0
    inventory: int = 0  # rows whose stock was pushed
    prices: int = 0
    activated: int = 0  # products
    deactivated: int = 0
    unchanged: int = 0
    failed: int = 0
    untracked: int = 0  # rows whose store stock is not known
    calls: int = 0  # calls to TikTok Shop
    errors: list[str] = field(default_factory=list)  # the first few, for the job's page

    def note_error(self, message: str) -> None:
        if len(self.errors) < 10 and message not in self.errors:
            self.errors.append(message)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "inventory": self.inventory,
            "prices": self.prices,
            "activated": self.activated,
            "deactivated": self.deactivated,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "untracked": self.untracked,
            "calls": self.calls,
            "errors": self.errors,
        }


Progress = Callable[[int, str], None]


class Push:
    """A push for one account: `run()` once, then read `report`."""

    def __init__(
        self,
        session: Session,
        account: MarketplaceAccount,
        settings: SyncSettings,
        *,
        client: TikTokShopClient,
        store: StoreAdapter,
        full: bool = False,
        link_ids: Sequence[int] | None = None,
        unpushed_only: bool = False,
        progress: Progress | None = None,
    ):
        self.session = session
        self.account = account
        self.settings = settings
        self.client = client
        self.store = store
        self.full = full
        self.link_ids = list(link_ids) if link_ids is not None else None
        self.unpushed_only = unpushed_only
        self.progress = progress
        self.rules = StockRules(
            settings.safety_stock, settings.reserve_percent, settings.out_of_stock_threshold
        )
        self.report = PushReport()
        self.statuses: dict[str, bool] = {}  # products whose status this push sets

    def run(self) -> PushReport:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-read") as store_reader:
            passes = self._product_passes()

            def read(products: list[str] | None):
                if products is None:
                    return None
                rows = self._rows(products)
                return rows, store_reader.submit(self._store_levels, rows)

            upcoming = read(next(passes, None))
            while upcoming is not None:
                rows, levels = upcoming
                upcoming = read(next(passes, None))  # its store read overlaps this pass
                self._apply_store_levels(rows, levels)
                self._push_pass(rows)
        return self.report

    def _push_pass(self, rows: list[Row]) -> None:
        now = utcnow()
        pushed: dict[int, set[str]] = defaultdict(set)
        by_product: dict[str, list[Row]] = defaultdict(list)
        for row in rows:
            by_product[row.product_id].append(row)
        done = self.report.rows
        for product_id, product_rows in by_product.items():
            if self.settings.inventory:
                self._push_inventory(product_id, product_rows, pushed)
            if self.settings.price:
                self._push_prices(product_id, product_rows, pushed)
            done += len(product_rows)
            self._tell(done)
        if self.settings.status:
            self._push_statuses(by_product, pushed)
        self._record(rows, pushed, now)
        self.report.rows += len(rows)
        self.session.commit()
        self._tell(self.report.rows)

    def _tell(self, done: int) -> None:
        if self.progress:
            self.progress(done, f"Pushed {done:,} linked rows")

    # --- reading ---------------------------------------------------------------------------

    @staticmethod
    def never_pushed() -> ColumnElement[bool]:
        """A link no push has gone through for yet."""
        pushed = select(LinkSync.link_id).where(
            LinkSync.link_id == Link.id, LinkSync.synced_at.is_not(None)
        )
        return ~pushed.correlate(Link).exists()

    def _linked(self) -> list[ColumnElement[bool]]:
        condition = [Link.account_id == self.account.id, Link.state == LinkState.LINKED]
        if self.link_ids is not None:
            condition.append(Link.id.in_(self.link_ids))
        if self.unpushed_only:
            condition.append(self.never_pushed())
        return condition

    def row_count(self) -> int:
        """How many linked rows this push covers."""
        return self.session.scalar(select(func.count()).select_from(Link).where(*self._linked()))

    def _product_passes(self) -> Iterator[list[str]]:
        """The account's TikTok products that have linked rows, a few hundred at a time."""
        after = ""
        while True:
            products = list(
                self.session.scalars(
                    select(MarketplaceSku.product_id)
                    .join(Link, Link.marketplace_sku_id == MarketplaceSku.id)
                    .where(*self._linked(), MarketplaceSku.product_id > after)
                    .group_by(MarketplaceSku.product_id)
                    .order_by(MarketplaceSku.product_id)
                    .limit(PRODUCTS_PER_PASS)
                )
            )
            if not products:
                return
            yield products
            after = products[-1]

    def _rows(self, products: list[str]) -> list[Row]:
        found = self.session.execute(
            select(
                Link.id,
                Link.quantity,
                MarketplaceSku.product_id,
                MarketplaceSku.sku_id,
                MarketplaceSku.currency,
                MarketplaceSku.inventory,
                MarketplaceSku.product_status,
                StoreSku.remote_id,
                *LAST_PUSH_COLUMNS,
            )
            .join(MarketplaceSku, Link.marketplace_sku_id == MarketplaceSku.id)
            .join(StoreSku, Link.store_sku_id == StoreSku.id)
            .outerjoin(LinkSync, LinkSync.link_id == Link.id)
            .where(*self._linked(), MarketplaceSku.product_id.in_(products))
            .order_by(MarketplaceSku.product_id, Link.id)
        ).all()
        kit_parts: dict[int, list[Part]] = defaultdict(list)
        link_ids = [row[0] for row in found]
        for link_id, remote_id, units in self.session.execute(
            select(LinkComponent.link_id, StoreSku.remote_id, LinkComponent.quantity)
            .join(StoreSku, LinkComponent.store_sku_id == StoreSku.id)
            .where(LinkComponent.link_id.in_(link_ids))
        ):
            kit_parts[link_id].append(Part(remote_id, units))
        return [
            Row(
                link_id=link_id,
                product_id=product_id,
                sku_id=sku_id,
                currency=currency,
                warehouses=tuple(str(entry[0]) for entry in inventory or []),
                product_active=product_status.upper() in ACTIVE_STATUSES,
                parts=[Part(remote_id, units), *kit_parts.get(link_id, [])],
                last=LastPush(*last[1:]) if last[0] is not None else None,
            )
            for (
                link_id,
                units,
                product_id,
                sku_id,
                currency,
                inventory,
                product_status,
                remote_id,
                *last,
            ) in found
        ]

    def _store_levels(self, rows: list[Row]) -> dict[str, StockLevel]:
        """The store's stock, price and status of every store SKU the rows use (no database
        work: this runs in the store-read thread)."""
        return self.store.stock_levels(
            sorted({part.remote_id for row in rows for part in row.parts})
        )

    def _apply_store_levels(self, rows: list[Row], read: Future[dict[str, StockLevel]]) -> None:
        levels = read.result()
        quantities = {rid: level.quantity for rid, level in levels.items()}
        prices = {rid: level.price for rid, level in levels.items()}
        for row in rows:
            gone = [part.remote_id for part in row.parts if part.remote_id not in levels]
            if gone:
                row.error = (
                    "The store no longer has this product (refresh the store catalog and "
                    "link the row again)."
                )
                continue
            row.quantity = offered_quantity(row.parts, quantities, self.rules)
            row.price = offered_price(row.parts, prices)
            row.enabled = all(levels[part.remote_id].enabled for part in row.parts)
            row.store_quantity = min(
                (q for q in (quantities[p.remote_id] for p in row.parts) if q is not None),
                default=None,
            )
            row.store_price = prices[row.parts[0].remote_id]

    # --- deciding --------------------------------------------------------------------------

    def _changed(self, row: Row, offered: Any, last_pushed: Any, store_now: Any, store_then: Any):
        """Whether a value goes out: it differs from what was pushed (a full re-send sends it
        anyway). When TikTok Shop's own edits win (`store_overwrites` off), only a value the
        store changed since the last push goes out."""
        if row.last is None or row.last.synced_at is None or row.last.has_error:
            return True
        if not self.settings.store_overwrites:
            return store_now != store_then
        return self.full or offered != last_pushed

    # --- pushing ---------------------------------------------------------------------------

    def _push_inventory(self, product_id: str, rows: list[Row], pushed) -> None:
        updates, sent = [], []
        for row in rows:
            if row.error:
                continue
            if row.quantity is None:
                self.report.untracked += 1
                continue
            last = row.last
            if not self._changed(
                row,
                row.quantity,
                last.quantity if last else None,
                row.store_quantity,
                last.store_quantity if last else None,
            ):
                continue
            if not row.warehouses:
                row.error = (
                    "TikTok Shop listed no warehouse for this SKU: import the shop's products "
                    "again."
                )
                continue
            updates.append(
                InventoryUpdate(row.sku_id, warehouse_quantities(row.warehouses, row.quantity))
            )
            sent.append(row)
        if updates:
            self._call(
                lambda: self.client.update_inventory(product_id, updates), sent, pushed, "stock"
            )

    def _push_prices(self, product_id: str, rows: list[Row], pushed) -> None:
        updates, sent = [], []
        for row in rows:
            if row.error or row.price is None or row.price <= 0:
                continue
            last = row.last
            if not self._changed(
                row,
                row.price,
                last.price if last else None,
                row.store_price,
                last.store_price if last else None,
            ):
                continue
            updates.append(PriceUpdate(row.sku_id, row.price, row.currency or "USD"))
            sent.append(row)
        if updates:
            self._call(
                lambda: self.client.update_prices(product_id, updates), sent, pushed, "price"
            )

    def _push_statuses(self, by_product: dict[str, list[Row]], pushed) -> None:
        """A product is activated when one of its linked SKUs is sellable in the store, and
        deactivated only when every SKU it has is linked and none is sellable."""
        sku_counts = self._sku_counts(list(by_product))
        activate, deactivate = [], []
        for product_id, rows in by_product.items():
            usable = [row for row in rows if not row.error]
            if not usable:
                continue
            wanted = any(row.enabled for row in usable)
            if not wanted and sku_counts.get(product_id, 0) > len(rows):
                continue  # unlinked SKUs may still sell: leave the product as it is
            current = usable[0].last.active if usable[0].last else None
            if current is None:
                current = usable[0].product_active
            if wanted == current and not self.full:
                continue
            (activate if wanted else deactivate).append(product_id)
            self.statuses[product_id] = wanted
        for product_ids, call, counter in (
            (activate, self.client.activate_products, "activated"),
            (deactivate, self.client.deactivate_products, "deactivated"),
        ):
            if not product_ids:
                continue
            rows = [row for pid in product_ids for row in by_product[pid] if not row.error]
            failures = self._call(lambda ids=product_ids, c=call: c(ids), rows, pushed, "status")
            refused = {failure.id for failure in failures}
            setattr(
                self.report,
                counter,
                getattr(self.report, counter) + len(set(product_ids) - refused),
            )

    def _sku_counts(self, products: list[str]) -> dict[str, int]:
        return dict(
            self.session.execute(
                select(MarketplaceSku.product_id, func.count())
                .where(
                    MarketplaceSku.account_id == self.account.id,
                    MarketplaceSku.product_id.in_(products),
                    MarketplaceSku.gone_at.is_(None),
                )
                .group_by(MarketplaceSku.product_id)
            ).all()
        )

    def _call(
        self,
        send: Callable[[], list[ItemFailure]],
        rows: list[Row],
        pushed: dict[int, set[str]],
        what: str,
    ) -> list[ItemFailure]:
        """Send one call; its per-item refusals land on their rows, a failed call on all of
        them. A refused authorization stops the push: nothing else would go through."""
        self.report.calls += 1
        try:
            failures = send()
        except AuthenticationFailed:
            raise
        except AdapterError as error:
            for row in rows:
                row.error = row.error or f"TikTok Shop refused the {what} update: {error}"
            self.report.note_error(str(error))
            return []
        refused = {failure.id: failure for failure in failures}
        for row in rows:
            failure = refused.get(row.sku_id) or refused.get(row.product_id)
            if failure is not None:
                row.error = row.error or f"TikTok Shop refused the {what}: {failure.message}"
                self.report.note_error(failure.message)
            else:
                pushed[row.link_id].add(what)
        return failures

    # --- recording -------------------------------------------------------------------------

    def _record(self, rows: list[Row], pushed: dict[int, set[str]], now: datetime) -> None:
        records = []
        for row in rows:
            last = row.last
            sent = pushed.get(row.link_id, set())
            if "stock" in sent:
                self.report.inventory += 1
            if "price" in sent:
                self.report.prices += 1
            if row.error:
                self.report.failed += 1
            elif not sent:
                self.report.unchanged += 1
            active = last.active if last else None
            if "status" in sent:
                active = self.statuses[row.product_id]
            records.append(
                {
                    "link_id": row.link_id,
                    "account_id": self.account.id,
                    "quantity": row.quantity if "stock" in sent else (last and last.quantity),
                    "price": row.price if "price" in sent else (last and last.price),
                    "active": active,
                    "store_quantity": row.store_quantity,
                    "store_price": row.store_price,
                    "synced_at": now if not row.error else (last and last.synced_at),
                    "error": row.error[:500],
                    "has_error": bool(row.error),
                    "error_at": now if row.error else None,
                }
            )
        upsert(
            self.session,
            LinkSync.__table__,
            records,
            key=["link_id"],
            update=[name for name in records[0] if name != "link_id"] if records else [],
        )
