"""Auto-map: propose store SKUs for unlinked rows by the matching rules, then apply them.

The store catalog is read once into a `CatalogIndex` (dict lookups), and links are read in
keyset chunks, so a 100k-row account costs a few queries per thousand rows plus the writes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Row, select
from sqlalchemy.orm import Session, selectinload

from webapp.accounts.models import MarketplaceAccount, Store, User
from webapp.catalog.models import MarketplaceSku, StoreSku
from webapp.dbutil import chunked
from webapp.domain import DomainError
from webapp.jobs.models import JobRun
from webapp.linking import services
from webapp.linking.matching import (
    RULE_ORDER,
    CatalogEntry,
    CatalogIndex,
    MatchKind,
    MatchOutcome,
    MatchRule,
    match_sku,
)
from webapp.linking.models import Link, LinkState

AUTOMAP_STATES = (LinkState.NOT_LINKED, LinkState.FAILED)
CHUNK_SIZE = 900
MAX_LISTED_FAILURES = 500
CHUNK_ATTEMPTS = 3


class AutomapError(DomainError):
    """Auto-map cannot run for this account; the message says why and what fixes it."""


class Progress(Protocol):
    def update(
        self, *, done: int | None = None, total: int | None = None, message: str | None = None
    ) -> None: ...


@dataclass(frozen=True)
class Candidate:
    store_sku_id: int
    sku: str
    name: str
    is_parent: bool


@dataclass(frozen=True)
class Proposal:
    link_id: int
    marketplace_sku: str
    name: str
    store_sku_id: int
    store_sku: str
    store_name: str
    rule: MatchRule


@dataclass(frozen=True)
class Refusal:
    """A row auto-map will mark Map failed: ambiguous, or only a parent product matched."""

    link_id: int
    marketplace_sku: str
    name: str
    rule: MatchRule
    reason: str
    candidates: tuple[Candidate, ...]


@dataclass
class AutomapPreview:
    proposals: list[Proposal] = field(default_factory=list)
    ambiguous: list[Refusal] = field(default_factory=list)
    parent_only: list[Refusal] = field(default_factory=list)
    unmatched: int = 0
    considered: int = 0  # rows looked at: Not Linked or Map failed, SKU not gone
    by_rule: dict[MatchRule, int] = field(default_factory=lambda: dict.fromkeys(RULE_ORDER, 0))

    def proposals_by_rule(self, rule: MatchRule) -> list[Proposal]:
        return [proposal for proposal in self.proposals if proposal.rule is rule]


@dataclass(frozen=True)
class _Row:
    link_id: int
    seller_sku: str
    barcode: str | None
    name: str


def load_catalog_index(session: Session, store_id: int) -> CatalogIndex:
    rows = session.execute(
        select(
            StoreSku.id,
            StoreSku.sku,
            StoreSku.barcode,
            StoreSku.is_parent,
            StoreSku.name,
            StoreSku.variant,
        ).where(StoreSku.store_id == store_id, StoreSku.gone_at.is_(None))
    )
    return CatalogIndex(
        CatalogEntry(r.id, r.sku or "", r.barcode, bool(r.is_parent), r.name or "", r.variant or "")
        for r in rows
    )


def _account_index(session: Session, account: MarketplaceAccount) -> CatalogIndex:
    if account.store_id is None:
        raise AutomapError(
            f"{account.name} has no store yet, so there is nothing to map to. "
            "Choose its store on the Accounts page."
        )
    index = load_catalog_index(session, account.store_id)
    if not len(index):
        store = session.get(Store, account.store_id)
        raise AutomapError(
            f"The catalog of {store.name if store else 'the store'} is empty. "
            "Refresh the store catalog, then run Auto-map again."
        )
    return index


def _row(r: Row[Any]) -> _Row:
    name = f"{r.product_title} - {r.variant}" if r.variant else r.product_title
    return _Row(r.id, r.seller_sku or "", r.barcode, name or "")


def _rows_statement():
    return (
        select(
            Link.id,
            MarketplaceSku.seller_sku,
            MarketplaceSku.barcode,
            MarketplaceSku.product_title,
            MarketplaceSku.variant,
        )
        .join(MarketplaceSku, MarketplaceSku.id == Link.marketplace_sku_id)
        .where(Link.state.in_(AUTOMAP_STATES), MarketplaceSku.gone_at.is_(None))
        .order_by(Link.id)
    )


def _rows_for(session: Session, account_id: int, link_ids: Sequence[int]) -> list[_Row]:
    statement = _rows_statement().where(Link.account_id == account_id, Link.id.in_(link_ids))
    return [_row(r) for r in session.execute(statement)]


def _candidate_chunks(
    session: Session, account_id: int, link_ids: Iterable[int] | None = None
) -> Iterator[list[_Row]]:
    """The rows auto-map considers, in chunks by link id: all of the account's, or only these."""
    base = _rows_statement().where(Link.account_id == account_id)
    if link_ids is not None:
        for chunk in chunked(sorted(set(link_ids)), CHUNK_SIZE):
            rows = _rows_for(session, account_id, chunk)
            if rows:
                yield rows
        return
    after = 0
    while True:
        rows = session.execute(base.where(Link.id > after).limit(CHUNK_SIZE)).all()
        if not rows:
            return
        yield [_row(r) for r in rows]
        after = rows[-1].id


def _candidates(outcome: MatchOutcome) -> tuple[Candidate, ...]:
    return tuple(Candidate(c.id, c.sku, c.name, c.is_parent) for c in outcome.candidates)


def preview_automap(session: Session, account: MarketplaceAccount) -> AutomapPreview:
    """What Auto-map would do now: proposed pairs by rule, refusals, and how many match nothing.

    Rules run in order, so `by_rule` counts what each rule adds to the ones before it.
    """
    index = _account_index(session, account)
    preview = AutomapPreview()
    for chunk in _candidate_chunks(session, account.id):
        for row in chunk:
            preview.considered += 1
            outcome = match_sku(index, row.seller_sku, row.barcode)
            if outcome.kind is MatchKind.MATCHED:
                target = outcome.target
                preview.proposals.append(
                    Proposal(
                        link_id=row.link_id,
                        marketplace_sku=row.seller_sku,
                        name=row.name,
                        store_sku_id=target.id,
                        store_sku=target.sku,
                        store_name=target.name,
                        rule=outcome.rule,
                    )
                )
                preview.by_rule[outcome.rule] += 1
            elif outcome.kind is MatchKind.UNMATCHED:
                preview.unmatched += 1
            else:
                refusal = Refusal(
                    row.link_id,
                    row.seller_sku,
                    row.name,
                    outcome.rule,
                    outcome.reason,
                    _candidates(outcome),
                )
                if outcome.kind is MatchKind.AMBIGUOUS:
                    preview.ambiguous.append(refusal)
                else:
                    preview.parent_only.append(refusal)
    return preview


class _Tally:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.by_rule: Counter[str] = Counter()
        self.failures: list[dict[str, Any]] = []

    def fail(self, row: _Row, reason: str) -> None:
        self.counts["failed"] += 1
        if len(self.failures) < MAX_LISTED_FAILURES:
            self.failures.append(
                {"link_id": row.link_id, "marketplace_sku": row.seller_sku, "reason": reason}
            )

    def merge(self, other: _Tally) -> None:
        self.counts.update(other.counts)
        self.by_rule.update(other.by_rule)
        room = MAX_LISTED_FAILURES - len(self.failures)
        self.failures.extend(other.failures[: max(0, room)])

    def result(self) -> dict[str, Any]:
        return {
            "mapped": self.counts["mapped"],
            "failed": self.counts["failed"],
            "skipped": self.counts["skipped"],
            "unmatched": self.counts["unmatched"],
            "by_rule": {rule.value: self.by_rule[rule.value] for rule in RULE_ORDER},
            "failures": self.failures,
            "failures_total": self.counts["failed"],
        }


def _apply_chunk(
    session: Session,
    index: CatalogIndex,
    chunk: Sequence[_Row],
    *,
    excluded: set[int],
    actor: User | None,
    batch: JobRun | None,
) -> _Tally:
    tally = _Tally()
    outcomes = {row.link_id: match_sku(index, row.seller_sku, row.barcode) for row in chunk}
    actionable = [row.link_id for row in chunk if row.link_id not in excluded]
    # Load the rows to change, and the store SKUs they point at, in one query each, so the
    # services find them in the session instead of asking the database once per row.
    links = {
        link.id: link
        for link in session.scalars(
            select(Link)
            .where(Link.id.in_(actionable), Link.state.in_(AUTOMAP_STATES))
            .options(selectinload(Link.components))
        )
    }
    target_ids = [o.target.id for o in outcomes.values() if o.target is not None]
    # Held for the whole chunk: the session's identity map keeps only weak references.
    targets = session.scalars(select(StoreSku).where(StoreSku.id.in_(target_ids))).all()
    for row in chunk:
        outcome = outcomes[row.link_id]
        if row.link_id in excluded:
            tally.counts["skipped"] += 1
            continue
        link = links.get(row.link_id)
        if link is None:  # changed by someone else since the chunk was read
            tally.counts["skipped"] += 1
            continue
        if outcome.is_match:
            try:
                services.set_link_target(
                    session,
                    link,
                    [services.Target(outcome.target.id)],
                    expected_version=None,
                    actor=actor,
                    batch=batch,
                )
            except services.LinkConflict:
                raise
            except services.LinkError as error:
                services.mark_failed(session, link, str(error), actor=actor, batch=batch)
                tally.fail(row, str(error))
                continue
            tally.counts["mapped"] += 1
            tally.by_rule[outcome.rule.value] += 1
            continue
        if outcome.kind is MatchKind.UNMATCHED:
            tally.counts["unmatched"] += 1
        reason = outcome.reason[:500]
        if not (link.state is LinkState.FAILED and link.failure_reason == reason):
            services.mark_failed(session, link, reason, actor=actor, batch=batch)
        tally.fail(row, reason)
    del targets
    return tally


def _apply(
    session: Session,
    account: MarketplaceAccount,
    link_ids: Iterable[int] | None,
    *,
    excluded: set[int],
    actor: User | None,
    batch: JobRun | None,
    progress: Progress | None,
) -> dict[str, Any]:
    index = _account_index(session, account)
    ids = (
        sorted(set(link_ids))
        if link_ids is not None
        else session.scalars(
            select(Link.id)
            .join(MarketplaceSku, MarketplaceSku.id == Link.marketplace_sku_id)
            .where(
                Link.account_id == account.id,
                Link.state.in_(AUTOMAP_STATES),
                MarketplaceSku.gone_at.is_(None),
            )
            .order_by(Link.id)
        ).all()
    )
    total = _Tally()
    done = 0
    if progress is not None:
        progress.update(done=0, total=len(ids), message="Matching against the store catalog…")
        session.commit()
    for id_chunk in chunked(ids, CHUNK_SIZE):
        for attempt in range(CHUNK_ATTEMPTS):
            # A conflict rolls the session back, so the whole chunk is read and done again;
            # rows someone else mapped meanwhile are no longer candidates then.
            rows = _rows_for(session, account.id, id_chunk)
            try:
                tally = _apply_chunk(
                    session, index, rows, excluded=excluded, actor=actor, batch=batch
                )
            except services.LinkConflict:
                if attempt == CHUNK_ATTEMPTS - 1:
                    raise
                continue
            break
        total.merge(tally)
        done += len(id_chunk)
        if progress is not None:
            progress.update(
                done=done,
                message=f"{total.counts['mapped']} mapped, {total.counts['failed']} failed",
            )
        session.commit()  # the chunk's changes and its progress together
    return total.result()


def apply_automap(
    session: Session,
    account: MarketplaceAccount,
    *,
    excluded_link_ids: set[int],
    actor: User | None,
    batch: JobRun,
    progress: Progress | None,
) -> dict[str, Any]:
    """Map every proposal not excluded, and mark ambiguous and parent-only rows Map failed.

    Proposals are computed again: the catalog may have changed since the preview. Commits
    after each chunk. Returns counts and the failures (the first 500; `failures_total` says
    how many there were).
    """
    return _apply(
        session,
        account,
        None,
        excluded=set(excluded_link_ids),
        actor=actor,
        batch=batch,
        progress=progress,
    )


def automap_links(
    session: Session,
    account: MarketplaceAccount,
    link_ids: Iterable[int],
    *,
    actor: User | None,
    batch: JobRun | None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The auto-map rules for just these links (new rows of an import, when the account
    auto-links new products). Rows not Not Linked / Map failed are left alone."""
    return _apply(
        session,
        account,
        link_ids,
        excluded=set(),
        actor=actor,
        batch=batch,
        progress=progress,
    )
