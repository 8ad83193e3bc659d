"""Importing the two catalogs: TikTok Shop products of an account, and a store's catalog.

Both upsert by remote ids, so running an import twice changes nothing; entries no longer on the
remote side are marked gone (kept, with their links, for the record) and come back if they return.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, literal, select, update
from sqlalchemy.orm import Session

from webapp.accounts.models import MarketplaceAccount, Store
from webapp.accounts.services import TikTokApp, account_client
from webapp.adapters.base import CatalogPage, StoreVariant
from webapp.adapters.tiktok import MarketplaceProduct
from webapp.catalog.models import MATCH_KEYS, MarketplaceSku, StoreSku, match_keys
from webapp.dbutil import chunked, upsert
from webapp.extensions import utcnow
from webapp.jobs.models import JobRun
from webapp.jobs.services import ProgressRecorder
from webapp.linking.automap import AutomapError, automap_links
from webapp.linking.models import Link, LinkState
from webapp.stores.services import StoreError, store_adapter

MARKETPLACE_FIELDS = (
    "product_id",
    "seller_sku",
    "product_title",
    "variant",
    "product_status",
    "price",
    "currency",
    "quantity",
    "inventory",
    "barcode",
    "remote_updated_at",
)
STORE_FIELDS = (
    "sku",
    "name",
    "variant",
    "is_parent",
    "parent_remote_id",
    "price",
    "quantity",
    "barcode",
    "categories",
    "tags",
    "enabled",
)


def import_marketplace_products(
    session: Session,
    app: TikTokApp,
    account: MarketplaceAccount,
    run: JobRun,
    progress: ProgressRecorder,
) -> dict[str, Any]:
    """Page through the shop's products and upsert their SKUs; new SKUs get a Not Linked row.

    Product detail (variant names, barcodes) is fetched only for products that are new or
    changed since the last import, so a re-import costs the search pages alone. New SKUs are
    those first seen since the last import that finished, so an import that was interrupted
    and run again auto-links the SKUs the interrupted one added, as one run would have.
    """
    last_finished = account.last_import_at
    client = account_client(session, app, account)
    known_update_times = dict(
        session.execute(
            select(MarketplaceSku.product_id, MarketplaceSku.remote_updated_at).where(
                MarketplaceSku.account_id == account.id
            )
        ).all()
    )
    counts: Counter[str] = Counter()
    progress.update(message="Reading products from TikTok Shop…", force=True)
    try:
        for page in client.iter_products():
            if progress.run.total is None:
                progress.update(total=page.total_count)
            products = [
                product
                if known_update_times.get(product.id) == product.update_time
                else client.get_product(product.id)
                for product in page.products
            ]
            counts.update(_store_marketplace_page(session, account.id, products, run.id))
            counts["products"] += len(products)
            progress.update(
                advance=len(products),
                message=f"Imported {counts['products']} products ({counts['skus']} SKUs)",
            )
    finally:
        client.close()
    counts["gone"] = _mark_gone(
        session, MarketplaceSku, MarketplaceSku.account_id == account.id, run
    )
    account.last_import_at = utcnow()
    session.commit()
    result = {
        name: counts[name] for name in ("products", "skus", "new", "updated", "unchanged", "gone")
    }
    link_ids = []
    if account.auto_link_new_products and account.store_id:
        link_ids = _links_first_seen_since(session, account.id, last_finished)
    if link_ids:
        progress.update(message="Auto-linking the new products…", force=True)
        try:
            auto = automap_links(session, account, link_ids, actor=None, batch=run)
        except AutomapError as error:
            result["auto_link_skipped"] = str(error)
        else:
            result["auto_linked"] = auto["mapped"]
        session.commit()
    return result


def _links_first_seen_since(session: Session, account_id: int, since: datetime | None) -> list[int]:
    """The link rows of the account's SKUs first seen after `since` (all, when None)."""
    statement = (
        select(Link.id)
        .join(MarketplaceSku, MarketplaceSku.id == Link.marketplace_sku_id)
        .where(MarketplaceSku.account_id == account_id)
    )
    if since is not None:
        statement = statement.where(MarketplaceSku.created_at > since)
    return list(session.scalars(statement.order_by(Link.id)))


def _marketplace_rows(
    account_id: int, products: Iterable[MarketplaceProduct], run_id: int
) -> list[dict[str, Any]]:
    return [
        {
            "account_id": account_id,
            "sku_id": sku.sku_id,
            "product_id": product.id,
            "seller_sku": sku.seller_sku or "",
            "product_title": product.title,
            "variant": sku.variant,
            "product_status": product.status,
            "price": sku.price,
            "currency": sku.currency or "",
            "quantity": sum(quantity for _, quantity in sku.inventory),
            "inventory": [[warehouse, quantity] for warehouse, quantity in sku.inventory],
            "barcode": sku.barcode,
            "remote_updated_at": product.update_time,
            "last_seen_job_id": run_id,
            "gone_at": None,
            "updated_at": utcnow(),
        }
        for product in products
        for sku in product.skus
    ]


def _store_marketplace_page(
    session: Session, account_id: int, products: Sequence[MarketplaceProduct], run_id: int
) -> Counter[str]:
    rows = _marketplace_rows(account_id, products, run_id)
    existing = _existing_rows(
        session,
        MarketplaceSku,
        MarketplaceSku.account_id == account_id,
        MarketplaceSku.sku_id,
        [row["sku_id"] for row in rows],
        MARKETPLACE_FIELDS,
    )
    for row in rows:
        # Search pages lack variant names and barcodes: keep what detail gave us before.
        previous = existing.get(row["sku_id"])
        if previous and not row["variant"]:
            row["variant"], row["barcode"] = previous["variant"], previous["barcode"]
    counts, _ = _write_changes(
        session, MarketplaceSku, rows, existing, "sku_id", MARKETPLACE_FIELDS, run_id
    )
    _create_missing_links(session, account_id, [row["sku_id"] for row in rows])
    return counts


def _existing_rows(session, model, scope, key_column, keys, fields) -> dict[str, dict[str, Any]]:
    columns = [key_column, model.id, *(getattr(model, name) for name in fields), model.gone_at]
    found: dict[str, dict[str, Any]] = {}
    for chunk in chunked(keys):
        for row in session.execute(select(*columns).where(scope, key_column.in_(chunk))):
            found[row[0]] = row._asdict()
    return found


def _write_changes(
    session, model, rows, existing, key_name, fields, run_id
) -> tuple[Counter[str], list[str]]:
    """Upsert new and changed rows; unchanged rows only get their last-seen mark.
    Returns the counts and the keys of the new rows."""
    counts: Counter[str] = Counter(skus=len(rows))
    changed, unchanged_ids, new_keys = [], [], []
    for row in rows:
        previous = existing.get(row[key_name])
        if previous is None:
            counts["new"] += 1
            new_keys.append(row[key_name])
            changed.append(row)
        elif previous["gone_at"] is not None or any(
            _differs(previous[name], row[name]) for name in fields
        ):
            counts["updated"] += 1
            changed.append(row)
        else:
            counts["unchanged"] += 1
            unchanged_ids.append(previous["id"])
    for row in changed:
        row.update(match_keys(row[model.sku_field], row["barcode"]))
    scope_key = "account_id" if model is MarketplaceSku else "store_id"
    upsert(
        session,
        model.__table__,
        changed,
        key=[scope_key, key_name],
        update=[*fields, *MATCH_KEYS, "last_seen_job_id", "gone_at", "updated_at"],
    )
    for chunk in chunked(unchanged_ids):
        session.execute(update(model).where(model.id.in_(chunk)).values(last_seen_job_id=run_id))
    return counts, new_keys


def _differs(stored: Any, fresh: Any) -> bool:
    if stored is None or fresh is None:
        return stored is not fresh
    if isinstance(fresh, int | float) or hasattr(fresh, "as_tuple"):
        return float(stored) != float(fresh)
    return stored != fresh


def _create_missing_links(session: Session, account_id: int, sku_ids: Sequence[str]) -> None:
    """Every marketplace SKU has one link row, Not Linked until someone maps it."""
    for chunk in chunked(sku_ids):
        missing = (
            select(
                MarketplaceSku.account_id,
                MarketplaceSku.id,
                literal(LinkState.NOT_LINKED.value),
                literal(1),
                literal(1),
                literal(""),
                literal(utcnow(), Link.updated_at.type),
            )
            .outerjoin(Link, Link.marketplace_sku_id == MarketplaceSku.id)
            .where(
                MarketplaceSku.account_id == account_id,
                MarketplaceSku.sku_id.in_(chunk),
                Link.id.is_(None),
            )
            # Link ids follow the catalog's order, which the grid shows. Without it PostgreSQL
            # returns the rows in whatever order its pages hold them (free space is reused).
            .order_by(MarketplaceSku.id)
        )
        session.execute(
            insert(Link).from_select(
                [
                    "account_id",
                    "marketplace_sku_id",
                    "state",
                    "quantity",
                    "version",
                    "failure_reason",
                    "updated_at",
                ],
                missing,
            )
        )


def _mark_gone(session: Session, model, scope, run: JobRun) -> int:
    result = session.execute(
        update(model)
        .where(
            scope,
            model.gone_at.is_(None),
            model.last_seen_job_id.is_distinct_from(run.id),
        )
        .values(gone_at=utcnow())
    )
    return result.rowcount or 0


def refresh_store_catalog(
    session: Session, store: Store, run: JobRun, progress: ProgressRecorder
) -> dict[str, Any]:
    """Read the whole store catalog through its adapter and upsert it."""
    adapter = store_adapter(store)
    progress.update(message=f"Reading the {store.name} catalog…", force=True)
    try:
        return import_store_catalog_pages(
            session,
            store,
            adapter.iter_catalog(),
            run,
            progress,
            empty_message=f"{store.name} returned an empty catalog; nothing was changed.",
        )
    finally:
        adapter.close()


def import_store_catalog_pages(
    session: Session,
    store: Store,
    pages: Iterable[CatalogPage],
    run: JobRun,
    progress: ProgressRecorder,
    *,
    empty_message: str,
) -> dict[str, Any]:
    """Upsert a store's whole catalog, given page by page, then mark what it no longer holds as
    gone. The one write path of store catalogs, read through an adapter or from an export file.
    An empty catalog is refused with `empty_message` and changes nothing."""
    counts: Counter[str] = Counter()
    for page in pages:
        if page.total is not None:
            progress.update(total=page.total)
        counts.update(store_catalog_page(session, store.id, page.items, run.id))
        progress.update(advance=len(page.items), message=f"Read {counts['skus']} catalog entries")
    if counts["skus"] == 0:
        raise StoreError(empty_message)
    counts["gone"] = _mark_gone(session, StoreSku, StoreSku.store_id == store.id, run)
    store.last_refresh_at = utcnow()
    session.commit()
    return {name: counts[name] for name in ("skus", "new", "updated", "unchanged", "gone")}


def store_catalog_page(
    session: Session, store_id: int, items: Sequence[StoreVariant], run_id: int
) -> Counter[str]:
    rows = [
        {
            "store_id": store_id,
            "remote_id": item.remote_id,
            "sku": item.sku,
            "name": item.name,
            "variant": item.variant,
            "is_parent": item.is_parent,
            "parent_remote_id": item.parent_remote_id,
            "price": item.price,
            "quantity": item.quantity,
            "barcode": item.barcode,
            "categories": list(item.categories),
            "tags": list(item.tags),
            "enabled": item.enabled,
            "last_seen_job_id": run_id,
            "gone_at": None,
            "updated_at": utcnow(),
        }
        for item in items
    ]
    existing = _existing_rows(
        session,
        StoreSku,
        StoreSku.store_id == store_id,
        StoreSku.remote_id,
        [row["remote_id"] for row in rows],
        STORE_FIELDS,
    )
    counts, _ = _write_changes(session, StoreSku, rows, existing, "remote_id", STORE_FIELDS, run_id)
    return counts
