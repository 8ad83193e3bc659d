"""Auto-map against the sandbox's demo catalog, imported for real over HTTP."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from sqlalchemy import func, select, update

from tests.builders import make_account, make_store, make_user
from webapp.catalog.models import MarketplaceSku, StoreSku
from webapp.extensions import db, utcnow
from webapp.jobs.models import JobKind, JobRun
from webapp.jobs.services import ProgressRecorder
from webapp.linking import automap
from webapp.linking.automap import (
    AutomapError,
    apply_automap,
    automap_links,
    preview_automap,
)
from webapp.linking.matching import MatchRule, match_sku
from webapp.linking.models import Link, LinkEvent, LinkState


@pytest.fixture(autouse=True)
def every_row_listed(monkeypatch):
    """These tests compare the preview's rows one by one with the demo catalog, so they list
    them all; `test_a_large_preview_counts_everything_and_lists_the_first_rows` does not."""
    monkeypatch.setattr(automap, "PREVIEW_LIMIT", 10_000)


def _loose(sku: str) -> str:
    """An independent reference for the flaws the sandbox gives SKUs: separators, case, zeros."""
    return re.sub(r"( - | |_|-)", "", sku).lower().lstrip("0")


def _expected(sandbox) -> dict[str, set[str]]:
    """Seller SKUs by the outcome the demo catalog's flaws call for."""
    simple = [p for p in sandbox.catalog.store_products if p.type_id == "simple"]
    exact = Counter(p.sku for p in simple)
    loose = Counter(_loose(p.sku) for p in simple)
    outcome: dict[str, set[str]] = {"exact": set(), "normalized": set(), "ambiguous": set()}
    outcome["unmatched"] = set()
    for product in sandbox.catalog.shops[0].products:
        for sku in product.skus:
            if exact[sku.seller_sku] == 1:
                outcome["exact"].add(sku.seller_sku)
            elif exact[sku.seller_sku] > 1 or loose[_loose(sku.seller_sku)] > 1:
                outcome["ambiguous"].add(sku.seller_sku)
            elif loose[_loose(sku.seller_sku)] == 1:
                outcome["normalized"].add(sku.seller_sku)
            else:
                outcome["unmatched"].add(sku.seller_sku)
    return outcome


def _batch(owner, account) -> JobRun:
    run = JobRun(
        kind=JobKind.AUTOMAP,
        organization_id=account.organization_id,
        account_id=account.id,
        created_by_id=owner.id,
    )
    db.session.add(run)
    db.session.commit()
    return run


def _states() -> Counter[LinkState]:
    return Counter(db.session.scalars(select(Link.state)))


def test_preview_counts_per_rule_follow_the_demo_catalog(shop, sandbox):
    _, _, account = shop
    expected = _expected(sandbox)
    preview = preview_automap(db.session, account)

    assert preview.by_rule == {
        MatchRule.EXACT: len(expected["exact"]),
        MatchRule.NORMALIZED: len(expected["normalized"]),
        MatchRule.BARCODE: 0,  # every barcode the demo shares belongs to a SKU matched before
    }
    assert {p.marketplace_sku for p in preview.proposals_by_rule(MatchRule.EXACT)} == (
        expected["exact"]
    )
    normalized = preview.proposals_by_rule(MatchRule.NORMALIZED)
    assert {p.marketplace_sku for p in normalized} == expected["normalized"]
    assert all(_loose(p.marketplace_sku) == _loose(p.store_sku) for p in normalized)
    assert any(p.marketplace_sku.startswith("00") for p in normalized)  # zero-padded numbers
    assert preview.unmatched == len(expected["unmatched"]) > 0
    assert preview.parent_only == []
    assert preview.considered == sum(len(v) for v in expected.values())


def test_ambiguous_rows_are_exactly_the_duplicated_store_skus(shop, sandbox):
    _, store, account = shop
    duplicated = {
        sku
        for sku, count in Counter(
            p.sku for p in sandbox.catalog.store_products if p.type_id == "simple"
        ).items()
        if count > 1
    }
    preview = preview_automap(db.session, account)

    assert duplicated and len(preview.ambiguous) == len(_expected(sandbox)["ambiguous"])
    for row in preview.ambiguous:
        assert {c.sku for c in row.candidates} <= duplicated
        assert len(row.candidates) == 2 and not any(c.is_parent for c in row.candidates)
        assert _loose(row.marketplace_sku) == _loose(row.candidates[0].sku)
        assert row.reason.startswith("SKU is ambiguous: 2 store products share it")
    assert {c.sku for row in preview.ambiguous for c in row.candidates} == duplicated
    assert not {p.store_sku for p in preview.proposals} & duplicated


def test_barcode_rule_finds_a_renamed_store_sku_and_a_parent_is_refused(shop, sandbox):
    _, store, account = shop
    with_barcode = db.session.scalars(
        select(MarketplaceSku)
        .where(MarketplaceSku.account_id == account.id, MarketplaceSku.barcode.is_not(None))
        .order_by(MarketplaceSku.id)
    ).first()
    with_barcode.seller_sku = "RENAMED-ON-TIKTOK"
    parent = db.session.scalars(
        select(StoreSku).where(StoreSku.store_id == store.id, StoreSku.is_parent.is_(True))
    ).first()
    pointing_at_parent = db.session.scalars(
        select(MarketplaceSku)
        .where(MarketplaceSku.account_id == account.id, MarketplaceSku.barcode.is_(None))
        .order_by(MarketplaceSku.id.desc())
    ).first()
    pointing_at_parent.seller_sku = parent.sku
    db.session.commit()

    preview = preview_automap(db.session, account)

    assert preview.by_rule[MatchRule.BARCODE] == 1
    (by_barcode,) = preview.proposals_by_rule(MatchRule.BARCODE)
    assert by_barcode.marketplace_sku == "RENAMED-ON-TIKTOK"
    store_barcode = db.session.get(StoreSku, by_barcode.store_sku_id).barcode
    assert store_barcode == with_barcode.barcode
    (refused,) = preview.parent_only
    assert refused.marketplace_sku == parent.sku
    assert refused.reason.startswith("Parent product chosen instead of a variant")
    assert refused.candidates[0].is_parent


def test_apply_maps_through_a_batch_records_failures_and_leaves_excluded_rows(shop, sandbox):
    owner, _, account = shop
    expected = _expected(sandbox)
    preview = preview_automap(db.session, account)
    excluded = {p.link_id for p in preview.proposals[:3]} | {preview.ambiguous[0].link_id}
    run = _batch(owner, account)

    result = apply_automap(
        db.session,
        account,
        excluded_link_ids=excluded,
        actor=owner,
        batch=run,
        progress=ProgressRecorder(db.session, run),
    )

    matched = len(expected["exact"]) + len(expected["normalized"])
    assert result["mapped"] == matched - 3
    assert result["skipped"] == 4
    failed = len(expected["ambiguous"]) - 1 + len(expected["unmatched"])
    assert result["failed"] == result["failures_total"] == failed
    assert result["unmatched"] == len(expected["unmatched"])
    assert result["by_rule"]["exact"] + result["by_rule"]["normalized"] == matched - 3
    reasons = {f["marketplace_sku"]: f["reason"] for f in result["failures"]}
    assert (
        set(reasons)
        == (expected["ambiguous"] - {preview.ambiguous[0].marketplace_sku}) | expected["unmatched"]
    )
    for sku in expected["unmatched"]:
        assert reasons[sku].startswith("Store SKU not found")

    db.session.expire_all()
    assert run.total == run.done == preview.considered
    states = _states()
    assert states[LinkState.MAPPED] == matched - 3
    assert states[LinkState.FAILED] == failed
    for link_id in excluded:
        link = db.session.get(Link, link_id)
        assert (link.state, link.store_sku_id) == (LinkState.NOT_LINKED, None)
    by_proposal = {p.link_id: p.store_sku_id for p in preview.proposals}
    for link in db.session.scalars(select(Link).where(Link.state == LinkState.MAPPED)):
        assert link.store_sku_id == by_proposal[link.id]
    failed_rows = db.session.scalars(select(Link).where(Link.state == LinkState.FAILED)).all()
    assert all(
        link.failure_reason.startswith(("SKU is ambiguous", "Store SKU not found"))
        for link in failed_rows
    )
    events = Counter(
        db.session.scalars(select(LinkEvent.action).where(LinkEvent.job_run_id == run.id))
    )
    assert events == {"link": matched - 3, "fail": failed}


def test_apply_recomputes_against_the_current_catalog(shop):
    owner, store, account = shop
    preview = preview_automap(db.session, account)
    gone = preview.proposals_by_rule(MatchRule.EXACT)[0]
    db.session.execute(
        update(StoreSku).where(StoreSku.id == gone.store_sku_id).values(gone_at=utcnow())
    )
    db.session.commit()

    result = apply_automap(
        db.session,
        account,
        excluded_link_ids=set(),
        actor=owner,
        batch=_batch(owner, account),
        progress=None,
    )

    assert result["mapped"] == len(preview.proposals) - 1
    link = db.session.get(Link, gone.link_id)
    assert (link.state, link.store_sku_id) == (LinkState.FAILED, None)
    assert link.failure_reason.startswith("Store SKU not found")


def test_running_apply_again_changes_nothing(shop):
    owner, _, account = shop
    first = apply_automap(
        db.session,
        account,
        excluded_link_ids=set(),
        actor=owner,
        batch=_batch(owner, account),
        progress=None,
    )
    events = db.session.scalar(select(func.count()).select_from(LinkEvent))
    second_run = _batch(owner, account)
    second = apply_automap(
        db.session, account, excluded_link_ids=set(), actor=owner, batch=second_run, progress=None
    )

    assert first["mapped"] > 0
    assert second["mapped"] == 0
    assert second["failed"] == first["failed"]  # still listed, not written again
    assert db.session.scalar(select(func.count()).select_from(LinkEvent)) == events


def test_automap_links_touches_only_the_given_links(shop):
    owner, _, account = shop
    preview = preview_automap(db.session, account)
    chosen = [preview.proposals[0].link_id, preview.ambiguous[0].link_id]

    result = automap_links(db.session, account, chosen, actor=owner, batch=None)

    assert (result["mapped"], result["failed"], result["skipped"]) == (1, 1, 0)
    assert result["failures"][0]["link_id"] == preview.ambiguous[0].link_id
    assert _states()[LinkState.MAPPED] == 1
    assert db.session.get(Link, chosen[0]).store_sku_id == preview.proposals[0].store_sku_id


def test_no_store_or_an_empty_catalog_is_a_clear_error(app_ctx, run_jobs):
    owner = make_user()
    account = make_account(owner.organization, owner)
    with pytest.raises(AutomapError, match="no store"):
        preview_automap(db.session, account)

    account.store_id = make_store(owner.organization).id
    db.session.commit()
    with pytest.raises(AutomapError, match="catalog .* is empty"):
        preview_automap(db.session, account)


def test_a_target_the_services_refuse_becomes_a_failure_with_their_reason(shop):
    owner, store, account = shop
    sku, target = db.session.execute(
        select(MarketplaceSku, StoreSku)
        .join(StoreSku, StoreSku.barcode == MarketplaceSku.barcode)
        .where(MarketplaceSku.account_id == account.id, StoreSku.store_id == store.id)
        .order_by(MarketplaceSku.id)
        .limit(1)
    ).one()
    sku.seller_sku = "RENAMED-ON-TIKTOK"
    target.sku = ""  # found by barcode only, and a store entry without a SKU cannot sync
    db.session.commit()
    link_id = db.session.scalar(select(Link.id).where(Link.marketplace_sku_id == sku.id))

    result = automap_links(db.session, account, [link_id], actor=owner, batch=None)

    assert (result["mapped"], result["failed"]) == (0, 1)
    assert "has no SKU in the store" in result["failures"][0]["reason"]
    link = db.session.get(Link, link_id)
    assert link.state is LinkState.FAILED and "has no SKU" in link.failure_reason


def test_a_large_preview_counts_everything_and_lists_the_first_rows(shop, monkeypatch):
    _, _, account = shop
    full = preview_automap(db.session, account)
    monkeypatch.setattr(automap, "PREVIEW_LIMIT", 3)

    preview = preview_automap(db.session, account)

    assert preview.by_rule == full.by_rule and preview.considered == full.considered
    assert preview.ambiguous_total == full.ambiguous_total == len(full.ambiguous) > 3
    assert (preview.unmatched, preview.parent_only_total) == (full.unmatched, 0)
    for rule in (MatchRule.EXACT, MatchRule.NORMALIZED):
        assert preview.proposals_by_rule(rule) == full.proposals_by_rule(rule)[:3]
    assert preview.ambiguous == full.ambiguous[:3]


def test_the_database_decides_every_row_as_the_matching_rules_do(shop):
    """The rules run in SQL over the kept keys; `match_sku` is their definition. Every row of
    the demo catalog, with its flaws, and a few made harder here, get the same outcome."""
    _, store, account = shop
    skus = db.session.scalars(
        select(MarketplaceSku)
        .where(MarketplaceSku.account_id == account.id)
        .order_by(MarketplaceSku.id)
    ).all()
    skus[0].seller_sku = "ｔｓ－classic blk m"  # full-width forms and a space
    skus[1].seller_sku = ""
    skus[2].barcode = "3.65275E+11"  # a barcode a spreadsheet damaged
    store_skus = db.session.scalars(select(StoreSku).where(StoreSku.store_id == store.id)).all()
    store_skus[0].gone_at = utcnow()
    store_skus[1].sku = skus[3].seller_sku.lower()
    db.session.commit()
    index = automap.load_catalog_index(db.session, store.id)

    decisions = dict(db.session.execute(automap._candidates(account.id, store.id)).all())

    assert len(decisions) == len(skus)
    links = dict(db.session.execute(select(Link.marketplace_sku_id, Link.id)).all())
    for sku in skus:
        outcome = match_sku(index, sku.seller_sku, sku.barcode)
        target = outcome.target.id if outcome.target else None
        assert automap.Decision.read(decisions[links[sku.id]]) == (
            outcome.kind,
            outcome.rule,
            target,
        ), sku.seller_sku
