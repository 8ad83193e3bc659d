"""Links as the JSON API reads and changes them: found by marketplace SKU, targets named by
store SKU text. Changes go through `webapp.linking.services`, so events, undo history and sync
behave as for a dashboard edit. No HTTP here.

Marketplace SKUs are looked up as a mapping file's rows are (`webapp.csvio.mappings`): a TikTok
SKU id first, else a seller SKU that no other TikTok SKU of the account shares. Store SKUs must
name exactly one sellable variant of the account's store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from webapp.accounts.models import User
from webapp.catalog.models import MarketplaceSku, StoreSku
from webapp.linking.models import Link, LinkComponent, LinkState
from webapp.linking.services import (
    LinkError,
    Target,
    account_store_id,
    current_targets,
    set_link_target,
    unlink,
)

MAX_KIT_PARTS = 20
WITH_TARGETS = (
    joinedload(Link.marketplace_sku),
    joinedload(Link.store_sku),
    selectinload(Link.components).joinedload(LinkComponent.store_sku),
)


class MarketplaceSkuNotFound(LinkError):
    def __init__(self, key: str):
        super().__init__(
            f"No TikTok SKU with the SKU ID or seller SKU “{key[:80]}” in this account. "
            "Import the shop's products if it is new."
        )


class MarketplaceSkuAmbiguous(LinkError):
    def __init__(self, key: str, sku_ids: Sequence[str]):
        super().__init__(
            f"Several TikTok SKUs share the seller SKU “{key[:80]}”: name one by its TikTok "
            f"SKU ID instead ({', '.join(sku_ids)})."
        )
        self.sku_ids = list(sku_ids)


@dataclass(frozen=True)
class PartByText:
    """A store SKU as an ERP names it, with the store units it takes per TikTok unit."""

    store_sku: str
    quantity: int = 1


def find_link(session: Session, account_id: int, marketplace_sku: str) -> Link:
    """The link of the account's TikTok SKU with this SKU id, or else this seller SKU."""
    key = marketplace_sku.strip()
    if not key or "\x00" in key:
        raise MarketplaceSkuNotFound(key)
    statement = (
        select(Link)
        .join(MarketplaceSku, MarketplaceSku.id == Link.marketplace_sku_id)
        .where(MarketplaceSku.account_id == account_id)
        .options(*WITH_TARGETS)
    )
    link = session.scalar(statement.where(MarketplaceSku.sku_id == key))
    if link is not None:
        return link
    shared = session.scalars(
        statement.where(MarketplaceSku.seller_sku == key).order_by(Link.id).limit(5)
    ).all()
    if len(shared) > 1:
        raise MarketplaceSkuAmbiguous(key, [link.marketplace_sku.sku_id for link in shared])
    if not shared:
        raise MarketplaceSkuNotFound(key)
    return shared[0]


def list_links(
    session: Session,
    account_id: int,
    *,
    state: LinkState | None,
    after: int | None,
    limit: int,
) -> tuple[list[Link], int | None]:
    """One page of the account's links in id order, and the cursor of the next page (None on
    the last)."""
    statement = (
        select(Link).where(Link.account_id == account_id).options(*WITH_TARGETS).order_by(Link.id)
    )
    if state is not None:
        statement = statement.where(Link.state == state)
    if after is not None:
        statement = statement.where(Link.id > after)
    links = list(session.scalars(statement.limit(limit + 1)))
    if len(links) > limit:
        return links[:limit], links[limit - 1].id
    return links, None


def store_sku_by_text(session: Session, store_id: int, sku: str) -> StoreSku:
    """The one live sellable variant of the store with exactly this SKU."""
    sku = sku.strip()
    if not sku or "\x00" in sku:
        raise LinkError("Name the store SKU to link to.")
    entries = session.scalars(
        select(StoreSku)
        .where(StoreSku.store_id == store_id, StoreSku.sku == sku, StoreSku.gone_at.is_(None))
        .order_by(StoreSku.id)
    ).all()
    variants = [entry for entry in entries if not entry.is_parent]
    if len(variants) > 1:
        raise LinkError(
            f"Store SKU “{sku[:80]}” is ambiguous: {len(variants)} store products share it. "
            "Link this row in the dashboard, where you can choose the product."
        )
    if variants:
        return variants[0]
    if entries:
        raise LinkError(
            f"Store SKU “{sku[:80]}” is a parent (configurable) product, not a sellable "
            "variant: use a variant's SKU."
        )
    raise LinkError(
        f"Store SKU “{sku[:80]}” is not in this account's store catalog (refresh the "
        "catalog if it was added lately)."
    )


def put_link_target(
    session: Session,
    link: Link,
    parts: Sequence[PartByText],
    *,
    expected_version: int | None,
    actor: User | None,
) -> bool:
    """Link to the first part × its quantity, plus the further parts as a kit; True when the
    link changed. Asking for the target a Mapped or Linked link already has changes nothing
    whatever the version (so a retried request is safe, and a Linked row keeps syncing)."""
    if len(parts) > 1 + MAX_KIT_PARTS:
        raise LinkError(f"A kit has at most {1 + MAX_KIT_PARTS} store SKUs.")
    store_id = account_store_id(session, link.account_id)
    targets = [
        Target(store_sku_by_text(session, store_id, part.store_sku).id, part.quantity)
        for part in parts
    ]
    if link.state in (LinkState.MAPPED, LinkState.LINKED) and current_targets(link) == targets:
        return False
    set_link_target(session, link, targets, expected_version=expected_version, actor=actor)
    return True


def remove_link_target(
    session: Session, link: Link, *, expected_version: int | None, actor: User | None
) -> bool:
    """Unlink; True when the link changed. A link already Not Linked stays as it is whatever
    the version, so deleting twice is safe."""
    if link.state is LinkState.NOT_LINKED:
        return False
    unlink(session, link, expected_version=expected_version, actor=actor)
    return True
