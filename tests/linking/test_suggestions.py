"""The link editor's suggestions, catalog search and facets, on the imported demo catalog."""

from __future__ import annotations

from sqlalchemy import select, update

from webapp.catalog.models import MarketplaceSku, StoreSku
from webapp.extensions import db, utcnow
from webapp.linking.models import Link
from webapp.linking.suggestions import catalog_facets, search_store_catalog, suggest_targets


def _link_for(store_sku: StoreSku, **changes) -> Link:
    """A link whose TikTok SKU is the one sold as this store SKU, with `changes` applied."""
    link = db.session.scalars(
        select(Link)
        .join(MarketplaceSku, MarketplaceSku.id == Link.marketplace_sku_id)
        .where(MarketplaceSku.seller_sku == store_sku.sku)
    ).first()
    for name, value in changes.items():
        setattr(link.marketplace_sku, name, value)
    db.session.commit()
    return link


def _variant(store, sku_like: str = "TS-0001-%") -> StoreSku:
    return db.session.scalars(
        select(StoreSku)
        .where(
            StoreSku.store_id == store.id,
            StoreSku.is_parent.is_(False),
            StoreSku.sku.like(sku_like),
        )
        .order_by(StoreSku.id)
    ).first()


def test_an_exact_match_comes_first_then_similar_ones(shop):
    _, store, _ = shop
    target = _variant(store)
    suggestions = suggest_targets(db.session, _link_for(target))

    first, *rest = suggestions
    assert (first.store_sku_id, first.score, first.rule, first.exact) == (
        target.id,
        100,
        "Exact SKU",
        True,
    )
    assert first.selectable and first.quantity == target.quantity
    assert first.categories == ("T-Shirts",)
    assert rest and all(not s.exact and 60 <= s.score < 100 for s in rest)
    assert [s.score for s in rest] == sorted((s.score for s in rest), reverse=True)
    assert len(suggestions) <= 8


def test_a_near_miss_sku_is_suggested_with_its_similarity(shop):
    _, store, _ = shop
    target = _variant(store)
    typo = target.sku[:-1] + ("Q" if target.sku[-1] != "Q" else "Z")
    link = _link_for(
        target, seller_sku=typo, product_title="Mystery item", variant="", barcode=None
    )

    suggestions = suggest_targets(db.session, link)

    assert not any(s.exact for s in suggestions)
    best = next(s for s in suggestions if s.store_sku_id == target.id)
    assert best.rule == "Similar SKU" and 60 <= best.score < 100


def test_normalized_and_barcode_matches_are_named(shop):
    _, store, _ = shop
    target = _variant(store)
    link = _link_for(target, seller_sku=target.sku.replace("-", " _ ").lower())
    assert suggest_targets(db.session, link)[0].rule == "Normalized SKU"

    link.marketplace_sku.seller_sku = "SOMETHING-ELSE"
    link.marketplace_sku.barcode = target.barcode
    db.session.commit()
    first = suggest_targets(db.session, link)[0]
    assert (first.store_sku_id, first.rule, first.score) == (target.id, "Barcode", 100)


def test_parents_are_listed_but_flagged(shop):
    _, store, _ = shop
    parent = db.session.scalar(
        select(StoreSku).where(StoreSku.store_id == store.id, StoreSku.sku == "TS-0001")
    )
    assert parent.is_parent
    link = _link_for(_variant(store, "TS-0001-%"), seller_sku=parent.sku)

    suggestions = suggest_targets(db.session, link)

    flagged = next(s for s in suggestions if s.store_sku_id == parent.id)
    assert flagged.is_parent and not flagged.selectable and flagged.rule == "Exact SKU"
    assert any(s.selectable for s in suggestions)  # its variants are offered by similarity


def test_no_store_no_suggestions(shop):
    _, store, account = shop
    link = _link_for(_variant(store))
    account.store_id = None
    db.session.commit()
    assert suggest_targets(db.session, link) == []


def test_search_matches_sku_or_name_variants_first(shop):
    _, store, _ = shop
    hits = search_store_catalog(db.session, store.id, "HOODIE", limit=500)

    assert hits and all("hoodie" in (h.name + h.sku).lower() for h in hits)
    kinds = [h.is_parent for h in hits]
    assert kinds == sorted(kinds) and True in kinds and False in kinds  # variants, then parents
    by_sku = search_store_catalog(db.session, store.id, "ts-0001-")
    assert by_sku and all(h.sku.upper().startswith("TS-0001-") for h in by_sku)
    assert len(search_store_catalog(db.session, store.id, "", limit=7)) == 7


def test_search_filters_by_category_and_tag(shop):
    _, store, _ = shop
    hoodies = search_store_catalog(db.session, store.id, "", category="Hoodies", limit=1000)
    assert hoodies and all(h.categories == ("Hoodies",) for h in hoodies)
    assert search_store_catalog(db.session, store.id, "Tee", category="Hoodies") == []

    tagged = [h.store_sku_id for h in hoodies[:3]]
    db.session.execute(update(StoreSku).where(StoreSku.id.in_(tagged)).values(tags=["sale", "new"]))
    db.session.execute(
        update(StoreSku).where(StoreSku.id == hoodies[3].store_sku_id).values(tags=["sales"])
    )
    db.session.commit()
    on_sale = search_store_catalog(db.session, store.id, "", category="Hoodies", tag="sale")
    assert sorted(h.store_sku_id for h in on_sale) == sorted(tagged)
    assert search_store_catalog(db.session, store.id, "", category="T-Shirts", tag="sale") == []
    assert search_store_catalog(db.session, store.id, "", tag="sal") == []


def test_search_treats_wildcards_as_text_and_skips_gone_entries(shop):
    _, store, _ = shop
    first, second, third = db.session.scalars(
        select(StoreSku).where(StoreSku.store_id == store.id).order_by(StoreSku.id).limit(3)
    ).all()
    first.sku, second.sku = "AB_C%1", "ABXC-1"
    third.name, third.gone_at = "A gone AB_C%1 product", utcnow()
    db.session.commit()

    assert [h.sku for h in search_store_catalog(db.session, store.id, "b_c%")] == ["AB_C%1"]
    assert [h.sku for h in search_store_catalog(db.session, store.id, "%")] == ["AB_C%1"]
    assert search_store_catalog(db.session, store.id, "B%C") == []
    assert search_store_catalog(db.session, store.id, "\\") == []


def test_facets_are_the_sorted_distinct_categories_and_tags(shop, sandbox):
    _, store, _ = shop
    categories, tags = catalog_facets(db.session, store.id)
    assert categories == sorted({c for p in sandbox.catalog.store_products for c in p.categories})
    assert tags == []

    ids = db.session.scalars(select(StoreSku.id).order_by(StoreSku.id).limit(2)).all()
    db.session.execute(update(StoreSku).where(StoreSku.id == ids[0]).values(tags=["sale", "New"]))
    db.session.execute(update(StoreSku).where(StoreSku.id == ids[1]).values(tags=["sale"]))
    db.session.commit()
    assert catalog_facets(db.session, store.id)[1] == ["New", "sale"]
