"""The inline link editor's helpers: ranked suggestions, catalog search, category/tag facets.

Suggestions put what the matching rules find first (score 100, the rule named), then store SKUs
whose SKU or name is merely similar (rapidfuzz, 0–100). Similar ones are only ever offered,
never applied. Parents are listed, flagged, so the editor can show them as not selectable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz, process, utils
from sqlalchemy import (
    ColumnElement,
    Select,
    case,
    cast,
    exists,
    func,
    literal,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from webapp.accounts.models import MarketplaceAccount
from webapp.catalog.models import StoreSku
from webapp.dbutil import contains_text
from webapp.linking.automap import load_catalog_index
from webapp.linking.matching import RULE_ORDER, normalize_sku
from webapp.linking.models import Link

MIN_SIMILARITY = 60
MAX_QUERY_LENGTH = 200
SIMILAR_SKU = "Similar SKU"
SIMILAR_NAME = "Similar name"


@dataclass(frozen=True)
class CatalogHit:
    store_sku_id: int
    sku: str
    name: str
    variant: str
    is_parent: bool
    quantity: int | None  # stock in the store
    barcode: str | None
    categories: tuple[str, ...]
    tags: tuple[str, ...]

    @property
    def selectable(self) -> bool:
        return not self.is_parent


@dataclass(frozen=True)
class Suggestion(CatalogHit):
    score: int  # 100 for a rule match; the similarity (below 100) otherwise
    rule: str  # "Exact SKU", "Normalized SKU", "Barcode", "Similar SKU", "Similar name"
    exact: bool  # found by a matching rule rather than by similarity


@dataclass(frozen=True)
class _Ranked:
    store_sku_id: int
    score: int
    rule: str
    exact: bool
    order: int  # rule position among the exact rules; 9 for similarity
    is_parent: bool


def _hit(row: StoreSku, **extra: Any) -> dict[str, Any]:
    return dict(
        store_sku_id=row.id,
        sku=row.sku,
        name=row.name,
        variant=row.variant,
        is_parent=row.is_parent,
        quantity=row.quantity,
        barcode=row.barcode,
        categories=tuple(row.categories or ()),
        tags=tuple(row.tags or ()),
        **extra,
    )


def _choice_name(name: str, variant: str) -> str:
    return name if not variant or variant in name else f"{name} {variant}"


def suggest_targets(session: Session, link: Link, limit: int = 8) -> list[Suggestion]:
    """Store SKUs for this link's marketplace SKU, best first."""
    store_id = session.scalar(
        select(MarketplaceAccount.store_id).where(MarketplaceAccount.id == link.account_id)
    )
    if store_id is None:
        return []
    sku = link.marketplace_sku
    index = load_catalog_index(session, store_id)
    ranked: dict[int, _Ranked] = {}

    for order, rule in enumerate(RULE_ORDER):
        for entry in index.lookup(rule, sku.seller_sku or "", sku.barcode):
            ranked.setdefault(
                entry.id, _Ranked(entry.id, 100, rule.label, True, order, entry.is_parent)
            )

    entries = {entry.id: entry for entry in index.entries()}
    for rule, query, choices, scorer in (
        (
            SIMILAR_SKU,
            normalize_sku(sku.seller_sku or ""),
            index.normalized_keys(),
            fuzz.ratio,
        ),
        (
            SIMILAR_NAME,
            _choice_name(sku.product_title, sku.variant),
            {e.id: _choice_name(e.name, e.variant) for e in entries.values() if e.name},
            fuzz.token_sort_ratio,
        ),
    ):
        if not query:
            continue
        for _, score, entry_id in process.extract(
            query,
            choices,
            scorer=scorer,
            processor=utils.default_process if rule == SIMILAR_NAME else None,
            limit=limit * 2,
            score_cutoff=MIN_SIMILARITY,
        ):
            current = ranked.get(entry_id)
            if current is None or (not current.exact and round(score) > current.score):
                parent = entries[entry_id].is_parent
                # 100 is kept for rule matches: an identical name is still only similar.
                similarity = min(99, round(score))
                ranked[entry_id] = _Ranked(entry_id, similarity, rule, False, 9, parent)

    best = sorted(
        ranked.values(),
        key=lambda r: (not r.exact, r.order, -r.score, r.is_parent, r.store_sku_id),
    )[:limit]
    rows = {
        row.id: row
        for row in session.scalars(
            select(StoreSku).where(StoreSku.id.in_([r.store_sku_id for r in best]))
        )
    }
    return [
        Suggestion(**_hit(rows[r.store_sku_id], score=r.score, rule=r.rule, exact=r.exact))
        for r in best
    ]


def json_list_contains(session: Session, column: Any, value: str) -> ColumnElement[bool]:
    """`value` is one of the strings of a JSON list column, on SQLite and PostgreSQL."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(column, JSONB).contains([value])
    elements = func.json_each(column).table_valued("value")
    return exists(select(literal(1)).select_from(elements).where(elements.c.value == value))


def _catalog_statement(session: Session, store_id: int) -> Select[Any]:
    return select(StoreSku).where(StoreSku.store_id == store_id, StoreSku.gone_at.is_(None))


def search_store_catalog(
    session: Session,
    store_id: int,
    query: str,
    *,
    category: str | None = None,
    tag: str | None = None,
    limit: int = 25,
) -> list[CatalogHit]:
    """Store catalog entries whose SKU or name contains `query` (case-insensitive, `%` and `_`
    taken literally), optionally in a category and with a tag; variants before parents, an
    exact SKU first."""
    statement = _catalog_statement(session, store_id)
    query = (query or "").strip()[:MAX_QUERY_LENGTH]
    order: list[Any] = []
    if query:
        statement = statement.where(
            contains_text(query, StoreSku.sku, StoreSku.name, StoreSku.variant)
        )
        order.append(case((func.lower(StoreSku.sku) == query.lower(), 0), else_=1))
    if category:
        statement = statement.where(json_list_contains(session, StoreSku.categories, category))
    if tag:
        statement = statement.where(json_list_contains(session, StoreSku.tags, tag))
    statement = statement.order_by(StoreSku.is_parent, *order, StoreSku.sku, StoreSku.id)
    return [CatalogHit(**_hit(row)) for row in session.scalars(statement.limit(limit))]


def catalog_facets(session: Session, store_id: int) -> tuple[list[str], list[str]]:
    """The distinct categories and tags of the store's catalog, sorted, for the filters."""
    return (
        _distinct_list_values(session, store_id, StoreSku.categories),
        _distinct_list_values(session, store_id, StoreSku.tags),
    )


def _distinct_list_values(session: Session, store_id: int, column: Any) -> list[str]:
    where = (StoreSku.store_id == store_id, StoreSku.gone_at.is_(None))
    if session.get_bind().dialect.name == "postgresql":
        value = func.json_array_elements_text(column)
        statement = select(value).where(*where)
    else:
        elements = func.json_each(column).table_valued("value")
        statement = (
            select(elements.c.value).select_from(StoreSku).join(elements, true()).where(*where)
        )
    values = {value for value in session.scalars(statement.distinct()) if value}
    return sorted(values, key=str.casefold)
