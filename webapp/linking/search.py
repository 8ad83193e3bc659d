"""Finding an account's links by text, through an index rather than by reading every row.

A search matches, case-insensitively and with `%` and `_` taken as the characters they are, a
part of the seller SKU, product title, variant or store SKU, or the whole TikTok SKU id. The
text is looked up in trigram indexes (migration 0007): FTS5 tables with the `trigram`
tokenizer on SQLite, kept by triggers, and `pg_trgm` GIN indexes on PostgreSQL. A trigram
index cannot look up fewer than three characters; shorter searches read the rows.

The FTS5 tables live beside the models, not in them: `is_search_index` tells the migration
tooling to leave them (and their shadow tables) alone.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Integer, column, or_, select, text, union
from sqlalchemy.orm import Session

from webapp.catalog.models import MarketplaceSku, StoreSku
from webapp.dbutil import contains_text
from webapp.linking.models import Link

MIN_INDEXED_LENGTH = 3
SQLITE_SEARCH_INDEXES = ("marketplace_sku_search", "store_sku_search")  # FTS5 tables
POSTGRES_SEARCH_INDEXES = ("ix_marketplace_skus_search", "ix_store_skus_search")  # pg_trgm GIN
SEARCH_INDEXES = SQLITE_SEARCH_INDEXES + POSTGRES_SEARCH_INDEXES

_MARKETPLACE_MATCHES = text(
    "SELECT rowid FROM marketplace_sku_search WHERE marketplace_sku_search MATCH :marketplace_text"
).columns(column("rowid", Integer))
_STORE_MATCHES = text(
    "SELECT rowid FROM store_sku_search WHERE store_sku_search MATCH :store_text"
).columns(column("rowid", Integer))


def is_search_index(name: str | None) -> bool:
    """A table or index of the text search (an FTS5 table's shadow tables included)."""
    return bool(name) and any(name == n or name.startswith(f"{n}_") for n in SEARCH_INDEXES)


def include_in_migrations(object_, name, type_, reflected, compare_to) -> bool:
    """Alembic's `include_object`: autogenerate leaves the search indexes alone."""
    return not is_search_index(name)


def _phrase(search: str) -> str:
    """`search` as one FTS5 phrase: every character taken literally."""
    return '"' + search.replace('"', '""') + '"'


def matching_links(account_id: int, search: str, dialect: str) -> ColumnElement[bool]:
    """A condition on `Link`: the account's links that `search` finds."""
    indexed = dialect == "sqlite" and len(search) >= MIN_INDEXED_LENGTH
    if indexed:
        marketplace_text = MarketplaceSku.id.in_(
            _MARKETPLACE_MATCHES.bindparams(marketplace_text=_phrase(search))
        )
        store_text = StoreSku.id.in_(_STORE_MATCHES.bindparams(store_text=_phrase(search)))
    else:  # PostgreSQL's planner takes ILIKE to its trigram indexes by itself
        marketplace_text = contains_text(
            search, MarketplaceSku.seller_sku, MarketplaceSku.product_title, MarketplaceSku.variant
        )
        store_text = contains_text(search, StoreSku.sku)
    marketplace_skus = select(MarketplaceSku.id).where(
        MarketplaceSku.account_id == account_id,
        or_(marketplace_text, MarketplaceSku.sku_id == search),
    )
    found = union(
        select(Link.id).where(Link.marketplace_sku_id.in_(marketplace_skus)),
        select(Link.id).where(
            Link.account_id == account_id,
            Link.store_sku_id.in_(select(StoreSku.id).where(store_text)),
        ),
    )
    return Link.id.in_(found)


def merge_pending_search_entries(session: Session) -> int:
    """On PostgreSQL, merge what bulk writes left in the trigram indexes' pending lists into
    the indexes proper; returns the pages merged. A GIN index takes new rows into an unsorted
    pending list, quick to write, that every search then reads through until autovacuum comes
    by: after an import of a million SKUs that doubled a search (55 ms of SQL against 25 ms).
    SQLite's FTS5 tables have no such list."""
    if session.get_bind().dialect.name != "postgresql":
        return 0
    merge = text("SELECT gin_clean_pending_list(CAST(:index AS regclass))")
    pages = sum(session.scalar(merge, {"index": name}) for name in POSTGRES_SEARCH_INDEXES)
    session.commit()
    return pages
