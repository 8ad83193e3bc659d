"""Auto-map: propose store SKUs for unlinked rows by the matching rules, then apply them.

The rules of `webapp.linking.matching` run in the database, for every row in one statement:
each SKU keeps its normalized SKU and barcode (`sku_key`, `barcode_key`), and covering indexes
on the store's live entries answer a rule without reading the table. What a rule decided comes
back as one number per row (`Decision`). The preview streams those numbers; the apply stages
them in `automap_decisions` and writes them to the links in ranges with `BulkLinkWriter`. Only
the refusals, whose reasons name the candidates, go through `match_sku` in Python, so a
million rows take seconds and memory does not grow with the catalog.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from webapp.accounts.models import MarketplaceAccount, Store, User
from webapp.catalog.models import MarketplaceSku, StoreSku, match_keys
from webapp.dbutil import analyze_staged, chunked
from webapp.domain import DomainError
from webapp.jobs.models import JobRun
from webapp.linking.bulk_writes import BulkLinkWriter, StagedChanges
from webapp.linking.matching import (
    NO_SELLER_SKU,
    NOT_FOUND,
    RULE_ORDER,
    CatalogEntry,
    CatalogIndex,
    MatchKind,
    MatchOutcome,
    MatchRule,
    match_sku,
)
from webapp.linking.models import AutomapDecision, Link, LinkState
from webapp.linking.services import target_problem

AUTOMAP_STATES = (LinkState.NOT_LINKED, LinkState.FAILED)
PREVIEW_LIMIT = 200  # rows listed per rule and per refusal; the rest are counted
MAX_LISTED_FAILURES = 500
APPLY_BATCH = 50_000
LOOKUP_CHUNK = 300


class AutomapError(DomainError):
    """Auto-map cannot run for this account; the message says why and what fixes it."""


class Progress(Protocol):
    def update(
        self, *, done: int | None = None, total: int | None = None, message: str | None = None
    ) -> None: ...


# --- what the rules decide, in the database ---------------------------------------------------


class Decision:
    """What the rules decided for one row, as the database hands it back in one number, so
    that the rules run in order and stop at the first that finds anything, all in one
    expression. With n the deciding rule (1 exact, 2 normalized, 3 barcode):

    - NULL: no rule found anything (unmatched);
    - 4 × id + n: one sellable variant, the store SKU `id` (a match);
    - n: several sellable variants (ambiguous);
    - −n: only parent products (refused: a parent is never a link target).
    """

    RULE_NUMBERS = {rule: number for number, rule in enumerate(RULE_ORDER, start=1)}
    # (rule, the store SKUs' column, the TikTok SKU's column holding the same kind of key)
    KEYS = (
        (MatchRule.EXACT, StoreSku.sku, MarketplaceSku.seller_sku),
        (MatchRule.NORMALIZED, StoreSku.sku_key, MarketplaceSku.sku_key),
        (MatchRule.BARCODE, StoreSku.barcode_key, MarketplaceSku.barcode_key),
    )

    @classmethod
    def expression(cls, store_id: int) -> ColumnElement[Any]:
        return func.coalesce(
            *(
                cls._by_rule(store_id, rule, store_key, own_key)
                for rule, store_key, own_key in cls.KEYS
            )
        )

    @classmethod
    def _by_rule(cls, store_id: int, rule: MatchRule, store_key, own_key) -> ColumnElement[Any]:
        n = cls.RULE_NUMBERS[rule]
        sellable = func.sum(case((StoreSku.is_parent, 0), else_=1))
        decided = (
            select(
                case(
                    (func.count() == 0, null()),
                    (
                        sellable == 1,
                        func.max(case((StoreSku.is_parent, null()), else_=StoreSku.id)) * 4 + n,
                    ),
                    (sellable > 1, n),
                    else_=-n,
                )
            )
            .where(StoreSku.store_id == store_id, store_key == own_key, StoreSku.gone_at.is_(None))
            .scalar_subquery()
        )
        return case((own_key != "", decided), else_=null())

    # Reading a decision, in SQL (over a column) and in Python (over a value).
    @staticmethod
    def is_match(decision) -> ColumnElement[bool]:
        return func.coalesce(decision, 0) > 3  # never NULL, so that NOT is_match is a failure

    @staticmethod
    def target(decision) -> ColumnElement[Any]:
        return decision // 4

    @staticmethod
    def matched_rule_number(decision) -> ColumnElement[Any]:
        return decision % 4

    @classmethod
    def read(cls, decision: int | None) -> tuple[MatchKind, MatchRule | None, int | None]:
        """(kind, rule, matched store SKU id) of a decision."""
        if decision is None:
            return MatchKind.UNMATCHED, None, None
        if decision > 3:
            return MatchKind.MATCHED, RULE_ORDER[decision % 4 - 1], decision // 4
        if decision > 0:
            return MatchKind.AMBIGUOUS, RULE_ORDER[decision - 1], None
        return MatchKind.PARENT_ONLY, RULE_ORDER[-decision - 1], None


def _considered(account_id: int, *columns):
    """The rows auto-map considers: Not Linked or Map failed, their TikTok SKU not gone."""
    return (
        select(*columns)
        .select_from(Link)
        .join(MarketplaceSku, MarketplaceSku.id == Link.marketplace_sku_id)
        .where(
            Link.account_id == account_id,
            Link.state.in_(AUTOMAP_STATES),
            MarketplaceSku.gone_at.is_(None),
        )
    )


def _candidates(account_id: int, store_id: int):
    """Each row auto-map considers with what the rules decide for it."""
    return _considered(
        account_id, Link.id.label("link_id"), Decision.expression(store_id).label("decision")
    )


def _unmatched_reason() -> ColumnElement[str]:
    """`matching.unmatched_reason`, in SQL, for a row joined to its TikTok SKU."""
    return case(
        (MarketplaceSku.seller_sku == "", NO_SELLER_SKU),
        else_=literal(NOT_FOUND)
        + MarketplaceSku.seller_sku
        + case((MarketplaceSku.barcode_key != "", " or its barcode."), else_="."),
    )


# --- the catalog and the rows -----------------------------------------------------------------


def _entries(statement) -> list[CatalogEntry]:
    return [
        CatalogEntry(r.id, r.sku or "", r.barcode, bool(r.is_parent), r.name or "", r.variant or "")
        for r in statement
    ]


def _entry_columns():
    return select(
        StoreSku.id,
        StoreSku.sku,
        StoreSku.barcode,
        StoreSku.is_parent,
        StoreSku.name,
        StoreSku.variant,
    )


def load_catalog_index(session: Session, store_id: int) -> CatalogIndex:
    """The whole live catalog of a store, for the link editor's suggestions."""
    return CatalogIndex(
        _entries(
            session.execute(
                _entry_columns().where(StoreSku.store_id == store_id, StoreSku.gone_at.is_(None))
            )
        )
    )


def _store_id(session: Session, account: MarketplaceAccount) -> int:
    if account.store_id is None:
        raise AutomapError(
            f"{account.name} has no store yet, so there is nothing to map to. "
            "Choose its store on the Accounts page."
        )
    live = select(StoreSku.id).where(
        StoreSku.store_id == account.store_id, StoreSku.gone_at.is_(None)
    )
    if session.scalar(live.limit(1)) is None:
        store = session.get(Store, account.store_id)
        raise AutomapError(
            f"The catalog of {store.name if store else 'the store'} is empty. "
            "Refresh the store catalog, then run Auto-map again."
        )
    return account.store_id


@dataclass(frozen=True)
class _Row:
    link_id: int
    seller_sku: str
    barcode: str | None
    name: str


def _rows(session: Session, link_ids: Sequence[int]) -> dict[int, _Row]:
    found: dict[int, _Row] = {}
    for chunk in chunked(sorted(set(link_ids))):
        for r in session.execute(
            select(
                Link.id,
                MarketplaceSku.seller_sku,
                MarketplaceSku.barcode,
                MarketplaceSku.product_title,
                MarketplaceSku.variant,
            )
            .join(MarketplaceSku, MarketplaceSku.id == Link.marketplace_sku_id)
            .where(Link.id.in_(chunk))
        ):
            name = f"{r.product_title} - {r.variant}" if r.variant else r.product_title
            found[r.id] = _Row(r.id, r.seller_sku or "", r.barcode, name or "")
    return found


def _outcomes(session: Session, store_id: int, rows: Sequence[_Row]) -> dict[int, MatchOutcome]:
    """The rules' full outcome (candidates and reason) for a few rows, from only the store
    entries that share one of their keys."""
    outcomes: dict[int, MatchOutcome] = {}
    for chunk in chunked(list(rows), LOOKUP_CHUNK):
        skus = {row.seller_sku for row in chunk if row.seller_sku}
        own = [match_keys(row.seller_sku, row.barcode) for row in chunk]
        keys = {key["sku_key"] for key in own if key["sku_key"]}
        barcodes = {key["barcode_key"] for key in own if key["barcode_key"]}
        index = CatalogIndex(
            _entries(
                session.execute(
                    _entry_columns().where(
                        StoreSku.store_id == store_id,
                        StoreSku.gone_at.is_(None),
                        or_(
                            StoreSku.sku.in_(skus),
                            StoreSku.sku_key.in_(keys),
                            StoreSku.barcode_key.in_(barcodes),
                        ),
                    )
                )
            )
        )
        for row in chunk:
            outcomes[row.link_id] = match_sku(index, row.seller_sku, row.barcode)
    return outcomes


# --- the preview ------------------------------------------------------------------------------


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
    """Counts of everything, and the first PREVIEW_LIMIT rows of each kind to show."""

    considered: int = 0  # rows looked at: Not Linked or Map failed, SKU not gone
    by_rule: dict[MatchRule, int] = field(default_factory=lambda: dict.fromkeys(RULE_ORDER, 0))
    listed: dict[MatchRule, list[Proposal]] = field(
        default_factory=lambda: {rule: [] for rule in RULE_ORDER}
    )
    ambiguous: list[Refusal] = field(default_factory=list)
    ambiguous_total: int = 0
    parent_only: list[Refusal] = field(default_factory=list)
    parent_only_total: int = 0
    unmatched: int = 0

    @property
    def matched(self) -> int:
        return sum(self.by_rule.values())

    @property
    def proposals(self) -> list[Proposal]:
        return [proposal for rule in RULE_ORDER for proposal in self.listed[rule]]

    def proposals_by_rule(self, rule: MatchRule) -> list[Proposal]:
        return self.listed[rule]


def preview_automap(session: Session, account: MarketplaceAccount) -> AutomapPreview:
    """What Auto-map would do now: pairs by rule, refusals, and how many match nothing.

    Rules run in order, so `by_rule` counts what each rule adds to the ones before it.
    """
    store_id = _store_id(session, account)
    preview = AutomapPreview()
    pairs: dict[int, tuple[MatchRule, int]] = {}
    refused: dict[MatchKind, list[int]] = {MatchKind.AMBIGUOUS: [], MatchKind.PARENT_ONLY: []}
    totals = Counter[MatchKind]()
    # In the order of the index the rows are found by (no sort of a million rows), through
    # the connection rather than the ORM: plain rows, no entities to build.
    statement = _candidates(account.id, store_id)
    decided = session.connection().execute(statement.execution_options(yield_per=10_000))
    for link_id, decision in decided:
        kind, rule, target = Decision.read(decision)
        totals[kind] += 1
        if kind is MatchKind.MATCHED:
            preview.by_rule[rule] += 1
            if preview.by_rule[rule] <= PREVIEW_LIMIT:
                pairs[link_id] = (rule, target)
        elif kind is not MatchKind.UNMATCHED and totals[kind] <= PREVIEW_LIMIT:
            refused[kind].append(link_id)
    preview.considered = totals.total()
    preview.unmatched = totals[MatchKind.UNMATCHED]
    preview.ambiguous_total = totals[MatchKind.AMBIGUOUS]
    preview.parent_only_total = totals[MatchKind.PARENT_ONLY]
    rows = _rows(session, [*pairs, *refused[MatchKind.AMBIGUOUS], *refused[MatchKind.PARENT_ONLY]])
    targets = _store_skus(session, [target for _, target in pairs.values()])
    for link_id, (rule, target_id) in pairs.items():
        row, target = rows[link_id], targets[target_id]
        preview.listed[rule].append(
            Proposal(link_id, row.seller_sku, row.name, target.id, target.sku, target.name, rule)
        )
    preview.ambiguous = _refusals(
        session, store_id, [rows[i] for i in refused[MatchKind.AMBIGUOUS]]
    )
    preview.parent_only = _refusals(
        session, store_id, [rows[i] for i in refused[MatchKind.PARENT_ONLY]]
    )
    return preview


def _store_skus(session: Session, ids: Iterable[int]) -> dict[int, StoreSku]:
    return {
        sku.id: sku
        for chunk in chunked(sorted(set(ids)))
        for sku in session.scalars(select(StoreSku).where(StoreSku.id.in_(chunk)))
    }


def _refusals(session: Session, store_id: int, rows: Sequence[_Row]) -> list[Refusal]:
    outcomes = _outcomes(session, store_id, rows)
    return [
        Refusal(
            row.link_id,
            row.seller_sku,
            row.name,
            outcomes[row.link_id].rule,
            outcomes[row.link_id].reason,
            tuple(
                Candidate(c.id, c.sku, c.name, c.is_parent)
                for c in outcomes[row.link_id].candidates
            ),
        )
        for row in rows
    ]


# --- the apply --------------------------------------------------------------------------------

_staged = AutomapDecision.__table__


def _stage(
    session: Session,
    account_id: int,
    store_id: int,
    run_key: int,
    link_ids: Sequence[int] | None,
    excluded: Sequence[int],
) -> None:
    """Decide every row (or only these) into `automap_decisions`, leaving the excluded out."""
    candidates = _candidates(account_id, store_id)
    if excluded:
        candidates = candidates.where(Link.id.not_in(excluded))
    scopes = (
        [candidates]
        if link_ids is None
        else [candidates.where(Link.id.in_(chunk)) for chunk in chunked(link_ids)]
    )
    for scope in scopes:
        decided = scope.subquery()
        session.execute(
            insert(_staged).from_select(
                ["run_key", "link_id", "decision", "failure_reason"],
                select(literal(run_key), decided.c.link_id, decided.c.decision, literal("")),
            )
        )


def _explain_refusals(session: Session, store_id: int, run_key: int) -> None:
    """Write the reasons that name candidates or the target: ambiguous and parent-only rows
    (`match_sku`'s own words), and matches the services would refuse (a store entry without a
    SKU, found by its barcode)."""
    D = AutomapDecision
    refused = session.execute(
        select(D.id, D.link_id).where(D.run_key == run_key, D.decision.between(-3, 3))
    ).all()
    rows = _rows(session, [link_id for _, link_id in refused])
    outcomes = _outcomes(session, store_id, list(rows.values()))
    reasons = [(staged_id, outcomes[link_id].reason) for staged_id, link_id in refused]
    reasons += [
        (staged_id, target_problem(store_sku, store_id))
        for staged_id, store_sku in session.execute(
            select(D.id, StoreSku)
            .join(StoreSku, StoreSku.id == Decision.target(D.decision))
            .where(D.run_key == run_key, Decision.is_match(D.decision), StoreSku.sku == "")
        )
    ]
    if reasons:
        session.execute(
            update(_staged)
            .where(_staged.c.id == bindparam("staged_id"))
            .values(failure_reason=bindparam("reason")),
            [{"staged_id": staged_id, "reason": reason[:500]} for staged_id, reason in reasons],
        )


def _changes(run_key: int, low: int, high: int, *, mapping: bool) -> StagedChanges:
    """A range of staged decisions as changes of their links: the matches (`mapping`) or the
    failures. A row someone changed since it was decided is no longer Not Linked or Map
    failed and is left alone; a failure already recorded with the same reason is not written
    again."""
    staged, links = _staged.c, Link.__table__.c
    maps = and_(Decision.is_match(staged.decision), staged.failure_reason == "")
    reason = case((staged.failure_reason != "", staged.failure_reason), else_=_unmatched_reason())
    rows = and_(
        staged.run_key == run_key,
        staged.id >= low,
        staged.id < high,
        links.id == staged.link_id,
        links.state.in_([state.value for state in AUTOMAP_STATES]),
    )
    if mapping:
        return StagedChanges(
            rows=and_(rows, maps),
            state=literal(LinkState.MAPPED.value),
            store_sku_id=Decision.target(staged.decision),
            quantity=literal(1),
            failure_reason=literal(""),
            action=literal("link"),
        )
    return StagedChanges(
        rows=and_(
            rows,
            MarketplaceSku.__table__.c.id == links.marketplace_sku_id,  # for the reason
            ~maps,
            or_(links.state != LinkState.FAILED.value, links.failure_reason != reason),
        ),
        state=literal(LinkState.FAILED.value),
        store_sku_id=links.store_sku_id,
        quantity=links.quantity,
        failure_reason=reason,
        action=literal("fail"),
    )


def _result(session: Session, run_key: int, mapped: int, skipped: int) -> dict[str, Any]:
    """The run's counts, from its staged decisions and the links they were written to."""
    D = AutomapDecision
    mine = D.run_key == run_key
    maps = and_(Decision.is_match(D.decision), D.failure_reason == "")
    written = and_(
        Link.id == D.link_id,
        Link.state == LinkState.MAPPED,
        Link.store_sku_id == Decision.target(D.decision),
    )
    number = Decision.matched_rule_number(D.decision).label("rule_number")
    by_number = dict(
        session.execute(
            select(number, func.count()).where(mine, maps, written).group_by(number)
        ).all()
    )
    failing = and_(mine, ~maps)
    failures = session.execute(
        select(
            D.link_id,
            MarketplaceSku.seller_sku,
            case((D.failure_reason != "", D.failure_reason), else_=_unmatched_reason()),
        )
        .join(Link, Link.id == D.link_id)
        .join(MarketplaceSku, MarketplaceSku.id == Link.marketplace_sku_id)
        .where(failing)
        .order_by(D.id)
        .limit(MAX_LISTED_FAILURES)
    ).all()
    failed = session.scalar(select(func.count()).where(failing))
    proposed = session.scalar(select(func.count()).where(mine, maps))
    return {
        "mapped": mapped,
        "failed": failed,
        "skipped": skipped + proposed - mapped,
        "unmatched": session.scalar(select(func.count()).where(mine, D.decision.is_(None))),
        "by_rule": {
            rule.value: by_number.get(number, 0) for rule, number in Decision.RULE_NUMBERS.items()
        },
        "failures": [
            {"link_id": link_id, "marketplace_sku": sku, "reason": reason}
            for link_id, sku, reason in failures
        ],
        "failures_total": failed,
    }


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
    """Decide every row, then write the decisions range by range, committing each range (a
    run stopped half way is finished by running it again: what it wrote is no longer a
    candidate)."""
    store_id = _store_id(session, account)
    scope = None if link_ids is None else sorted(set(link_ids))
    excluded_ids = sorted(excluded)
    skipped = 0
    if excluded_ids:
        skipped = session.scalar(
            _considered(account.id, func.count()).where(Link.id.in_(excluded_ids))
        )
    run_key = secrets.randbits(62)
    D = AutomapDecision
    try:
        if progress is not None:
            progress.update(done=0, message="Matching against the store catalog…")
        _stage(session, account.id, store_id, run_key, scope, excluded_ids)
        analyze_staged(session, _staged)
        _explain_refusals(session, store_id, run_key)
        first, last, total = session.execute(
            select(func.min(D.id), func.max(D.id), func.count()).where(D.run_key == run_key)
        ).one()
        if progress is not None:
            progress.update(done=skipped, total=skipped + total, message="Writing links…")
        session.commit()
        writer = BulkLinkWriter(
            session,
            account.id,
            actor_id=actor.id if actor else None,
            batch_id=batch.id if batch else None,
        )
        mapped, done = 0, skipped
        for low in range(first or 0, (last or -1) + 1, APPLY_BATCH):
            high = low + APPLY_BATCH
            mapped += writer.write(_changes(run_key, low, high, mapping=True))[0]
            writer.write(_changes(run_key, low, high, mapping=False))
            done += session.scalar(
                select(func.count()).where(D.run_key == run_key, D.id >= low, D.id < high)
            )
            if progress is not None:
                progress.update(done=done, message=f"{mapped:,} mapped")
            session.commit()  # the range's changes and its progress together
        return _result(session, run_key, mapped, skipped)
    finally:
        session.rollback()
        session.execute(delete(_staged).where(_staged.c.run_key == run_key))
        session.commit()


def apply_automap(
    session: Session,
    account: MarketplaceAccount,
    *,
    excluded_link_ids: set[int],
    actor: User | None,
    batch: JobRun,
    progress: Progress | None,
) -> dict[str, Any]:
    """Map every proposal not excluded, and mark ambiguous, parent-only and unmatched rows Map
    failed with their reason.

    Proposals are decided again: the catalog may have changed since the preview. Commits
    after each range. Returns counts and the failures (the first 500; `failures_total` says
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
