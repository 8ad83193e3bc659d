"""The linking grid: one page of an account's links, by status tab and search, keyset-paginated.

Pages are cut by link id (`after` / `before`), never by OFFSET, so a deep page costs what the
first one does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, exists, func, select
from sqlalchemy.orm import Session

from webapp.catalog.models import MarketplaceSku, StoreSku
from webapp.linking.models import FailureKindCount, Link, LinkComponent, LinkState, LinkStateCount
from webapp.linking.search import matching_links
from webapp.sync.models import LinkSync

MAX_QUERY_LENGTH = 200


@dataclass(frozen=True)
class FailureKind:
    label: str
    pattern: str  # matches failure_reason (LIKE, case-insensitive)


# The reasons the services write, grouped so support staff can work through one kind at a time.
FAILURE_KINDS = {
    "not_found": FailureKind("Store SKU not found", "store sku not found%"),
    "ambiguous": FailureKind("Ambiguous SKU", "%is ambiguous%"),
    "parent": FailureKind("Parent product chosen", "%parent%"),
    "gone": FailureKind("No longer in the store", "%no longer in the store catalog%"),
}


@dataclass(frozen=True)
class GridQuery:
    account_id: int
    status: LinkState | None = None
    search: str = ""
    after: int | None = None  # rows with a larger id (next page)
    before: int | None = None  # rows with a smaller id (previous page)
    page_size: int = 50
    failure: str | None = None  # a FAILURE_KINDS key: why rows failed
    sync_refused: bool = False  # only rows whose last push TikTok Shop or the store refused

    @property
    def backwards(self) -> bool:
        """A previous page: read down from `before`, shown in id order."""
        return self.before is not None and self.after is None


@dataclass(frozen=True)
class GridRow:
    id: int
    account_id: int
    marketplace_sku: str
    sku_id: str
    store_sku: str | None
    store_sku_name: str | None
    name: str
    state: LinkState
    failure_reason: str
    quantity: int
    gone: bool
    version: int
    components: tuple[tuple[str, int], ...] = ()  # further kit parts: (store SKU, quantity)
    synced_at: datetime | None = None  # the last push that went through (linked rows)
    sync_error: str = ""  # what TikTok Shop or the store said on the last push, if it failed

    @property
    def has_target(self) -> bool:
        return self.store_sku is not None


@dataclass(frozen=True)
class GridPage:
    rows: list[GridRow]
    has_next: bool
    has_previous: bool

    @property
    def first_id(self) -> int | None:
        return self.rows[0].id if self.rows else None

    @property
    def last_id(self) -> int | None:
        return self.rows[-1].id if self.rows else None


def _filtered(session: Session, statement: Select[Any], account_id: int, search: str):
    statement = statement.where(Link.account_id == account_id)
    search = search.strip()[:MAX_QUERY_LENGTH]
    if search:
        dialect = session.get_bind().dialect.name
        statement = statement.where(matching_links(account_id, search, dialect))
    return statement


def _joined(statement: Select[Any]) -> Select[Any]:
    return statement.join(MarketplaceSku, MarketplaceSku.id == Link.marketplace_sku_id).outerjoin(
        StoreSku, StoreSku.id == Link.store_sku_id
    )


# Built once: a page adds its filters, cursor and limit to it.
_ROW_SELECT: Select[Any] = _joined(
    select(
        Link.id,
        Link.account_id,
        MarketplaceSku.seller_sku,
        MarketplaceSku.sku_id,
        StoreSku.sku,
        StoreSku.name.label("store_sku_name"),
        MarketplaceSku.product_title,
        MarketplaceSku.variant,
        Link.state,
        Link.failure_reason,
        Link.quantity,
        Link.version,
        MarketplaceSku.gone_at,
        LinkSync.synced_at,
        LinkSync.error.label("sync_error"),
        # Kits are rare: only their rows need the parts read.
        exists().where(LinkComponent.link_id == Link.id).label("is_kit"),
    ).select_from(Link)
).outerjoin(LinkSync, LinkSync.link_id == Link.id)


def _to_rows(session: Session, fetched: Sequence[Any]) -> list[GridRow]:
    components: dict[int, list[tuple[str, int]]] = {}
    ids = [r.id for r in fetched if r.is_kit]
    if ids:
        for link_id, sku, quantity in session.execute(
            select(LinkComponent.link_id, StoreSku.sku, LinkComponent.quantity)
            .join(StoreSku, StoreSku.id == LinkComponent.store_sku_id)
            .where(LinkComponent.link_id.in_(ids))
            .order_by(LinkComponent.id)
        ):
            components.setdefault(link_id, []).append((sku, quantity))
    return [
        GridRow(
            id=r.id,
            account_id=r.account_id,
            marketplace_sku=r.seller_sku,
            sku_id=r.sku_id,
            store_sku=r.sku,
            store_sku_name=r.store_sku_name,
            name=f"{r.product_title} - {r.variant}" if r.variant else r.product_title,
            state=r.state,
            failure_reason=r.failure_reason,
            quantity=r.quantity,
            gone=r.gone_at is not None,
            version=r.version,
            components=tuple(components.get(r.id, ())),
            synced_at=r.synced_at,
            sync_error=r.sync_error or "",
        )
        for r in fetched
    ]


def grid_row(session: Session, link_id: int) -> GridRow | None:
    """One row as the grid shows it, for swapping a single row in place."""
    fetched = session.execute(_ROW_SELECT.where(Link.id == link_id)).all()
    rows = _to_rows(session, fetched)
    return rows[0] if rows else None


def grid_page(session: Session, query: GridQuery) -> GridPage:
    statement = page_statement(session, query)
    fetched = session.execute(statement).all()
    more = len(fetched) > query.page_size
    fetched = fetched[: query.page_size]
    if query.backwards:
        fetched.reverse()
    rows = _to_rows(session, fetched)
    if query.backwards:
        return GridPage(rows=rows, has_next=True, has_previous=more)
    return GridPage(rows=rows, has_next=more, has_previous=query.after is not None)


def page_statement(session: Session, query: GridQuery) -> Select[Any]:
    """The rows of one page, and one more to tell whether a next page exists."""
    statement = _filtered(session, _ROW_SELECT, query.account_id, query.search)
    if query.status is not None:
        statement = statement.where(Link.state == query.status)
    if query.failure in FAILURE_KINDS:
        statement = statement.where(Link.failure_reason.ilike(FAILURE_KINDS[query.failure].pattern))
    if query.sync_refused:
        statement = statement.where(Link.id.in_(_refused_pushes(query.account_id)))
    if query.backwards:
        statement = statement.where(Link.id < query.before).order_by(Link.id.desc())
    else:
        if query.after is not None:
            statement = statement.where(Link.id > query.after)
        statement = statement.order_by(Link.id)
    return statement.limit(query.page_size + 1)


def iter_grid_rows(session: Session, query: GridQuery, batch: int = 5_000) -> Iterator[GridRow]:
    """Every row the query's filters select, page after page (for exports)."""
    after = None
    while True:
        page = grid_page(session, replace(query, after=after, before=None, page_size=batch))
        yield from page.rows
        if not page.has_next:
            return
        after = page.last_id


def status_counts(session: Session, account_id: int, search: str = "") -> dict[str, int]:
    """Rows per status tab (and "all"), for the same search as the grid. Without a search they
    are read from the counts the database keeps (`LinkStateCount`), not counted."""
    if search.strip():
        counted = select(Link.state, func.count()).select_from(Link)
        statement = _filtered(session, counted, account_id, search).group_by(Link.state)
    else:
        statement = select(LinkStateCount.state, LinkStateCount.count).where(
            LinkStateCount.account_id == account_id
        )
    counts = {state.value: 0 for state in LinkState}
    for state, count in session.execute(statement):
        counts[LinkState(state).value] = count
    counts["all"] = sum(counts.values())
    return counts


def failure_counts(session: Session, account_id: int) -> dict[str, int]:
    """Map failed rows of each failure kind, for the filter on the Map failed tab, read from
    the counts the database keeps (`FailureKindCount`). A row counts for every kind whose
    pattern its reason matches, as the filter finds it."""
    kept = dict(
        session.execute(
            select(FailureKindCount.kind, FailureKindCount.count).where(
                FailureKindCount.account_id == account_id
            )
        ).all()
    )
    return {key: kept.get(key, 0) for key in FAILURE_KINDS}


def _refused_pushes(account_id: int) -> Select[Any]:
    return select(LinkSync.link_id).where(
        LinkSync.account_id == account_id,  # ix_link_syncs_account_error
        LinkSync.has_error.is_(True),
    )


def refused_push_count(session: Session, account_id: int) -> int:
    """Linked rows whose last push TikTok Shop or the store refused, for the Linked tab's
    filter: each row says why, and support staff work through them one by one."""
    return session.scalar(
        select(func.count())
        .select_from(Link)
        .where(Link.id.in_(_refused_pushes(account_id)), Link.state == LinkState.LINKED)
    )
