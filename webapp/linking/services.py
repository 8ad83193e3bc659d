"""Changing links: link, unlink, fail, assign and undo. No HTTP here.

Every change writes a LinkEvent (who, before, after, batch). A change made with the version the
user saw is refused with `LinkConflict` when someone else changed the row since (optimistic
locking); bulk jobs pass `expected_version=None`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from webapp.accounts.models import MarketplaceAccount, User
from webapp.catalog.models import StoreSku
from webapp.domain import DomainError
from webapp.extensions import utcnow
from webapp.jobs.models import JobKind, JobRun
from webapp.linking.models import Link, LinkComponent, LinkEvent, LinkState
from webapp.linking.signals import links_stopped, links_went_live

MAX_PACK_QUANTITY = 999
NO_STORE_MESSAGE = "This account has no store yet: choose its store on the Accounts page."


class LinkError(DomainError):
    """A link change that cannot be made; the message says why in a user's words."""


class LinkConflict(LinkError):
    def __init__(self, link: Link):
        super().__init__(
            "Someone else changed this row a moment ago. It now shows their change; "
            "make yours again if it is still needed."
        )
        self.link = link


@dataclass(frozen=True)
class Target:
    store_sku_id: int
    quantity: int = 1


def snapshot(link: Link) -> dict[str, Any]:
    return {
        "state": link.state.value,
        "store_sku_id": link.store_sku_id,
        "quantity": link.quantity,
        "components": [[c.store_sku_id, c.quantity] for c in link.components],
        "failure_reason": link.failure_reason,
        "version": link.version,
    }


@dataclass(frozen=True)
class Author:
    """Who makes a change and in which batch, read before the change: touching an expired
    ORM object later would flush the half-made change early."""

    actor_id: int | None
    batch_id: int | None

    @classmethod
    def of(cls, actor: User | None, batch: JobRun | None) -> Author:
        return cls(actor.id if actor else None, batch.id if batch else None)


def _record(session: Session, link: Link, action: str, before: dict[str, Any], by: Author) -> None:
    link.updated_at = utcnow()
    link.updated_by_id = by.actor_id
    try:
        session.flush()  # bumps link.version, or finds that someone else already did
    except StaleDataError as error:
        session.rollback()
        fresh = session.get(Link, link.id)
        session.refresh(fresh)
        raise LinkConflict(fresh) from error
    session.add(
        LinkEvent(
            link_id=link.id,
            account_id=link.account_id,
            actor_id=by.actor_id,
            job_run_id=by.batch_id,
            action=action,
            before=before,
            after=snapshot(link),
        )
    )


def _check_version(link: Link, expected_version: int | None) -> None:
    if expected_version is not None and link.version != expected_version:
        raise LinkConflict(link)


def current_targets(link: Link) -> list[Target]:
    """What the link points at now, as `set_link_target` takes it: [] when nothing."""
    if link.store_sku_id is None:
        return []
    return [Target(link.store_sku_id, link.quantity)] + [
        Target(c.store_sku_id, c.quantity) for c in link.components
    ]


def account_store_id(session: Session, account_id: int) -> int:
    store_id = session.get(MarketplaceAccount, account_id).store_id
    if store_id is None:
        raise LinkError(NO_STORE_MESSAGE)
    return store_id


def describe(store_sku: StoreSku) -> str:
    return f"{store_sku.sku or '(no SKU)'} ({store_sku.name})"


def target_problem(store_sku: StoreSku | None, store_id: int) -> str | None:
    """Why a store catalog entry cannot be a link target, or None when it can."""
    if store_sku is None or store_sku.store_id != store_id:
        return "That store SKU is not in this account's store catalog."
    if store_sku.gone_at is not None:
        return f"{describe(store_sku)} is no longer in the store catalog."
    if store_sku.is_parent:
        return (
            f"{describe(store_sku)} is a parent (configurable) product, not a sellable "
            "variant. Choose one of its variants."
        )
    if not store_sku.sku:
        return f"{store_sku.name} has no SKU in the store, so it cannot be synced."
    return None


def validate_targets(session: Session, link: Link, targets: Sequence[Target]) -> None:
    if not targets:
        raise LinkError("Choose a store SKU to link to.")
    ids = [t.store_sku_id for t in targets]
    if len(set(ids)) != len(ids):
        raise LinkError("Each store SKU can appear only once in a kit.")
    for target in targets:
        if not 1 <= target.quantity <= MAX_PACK_QUANTITY:
            raise LinkError(f"Quantities go from 1 to {MAX_PACK_QUANTITY}.")
    store_id = account_store_id(session, link.account_id)
    for target in targets:
        problem = target_problem(session.get(StoreSku, target.store_sku_id), store_id)
        if problem:
            raise LinkError(problem)


def _set_target(link: Link, targets: Sequence[Target]) -> None:
    link.store_sku_id = targets[0].store_sku_id if targets else None
    link.quantity = targets[0].quantity if targets else 1
    link.components = [
        LinkComponent(store_sku_id=t.store_sku_id, quantity=t.quantity) for t in targets[1:]
    ]


def set_link_target(
    session: Session,
    link: Link,
    targets: Sequence[Target],
    *,
    expected_version: int | None,
    actor: User | None,
    batch: JobRun | None = None,
) -> Link:
    """Link a marketplace SKU to a store SKU × quantity, or to a kit; the row becomes Mapped.

    A Linked row whose target changes goes back to Mapped (its sync stops) until it is assigned
    again, so nothing syncs against a target nobody confirmed.
    """
    by = Author.of(actor, batch)
    _check_version(link, expected_version)
    validate_targets(session, link, targets)
    before, was_linked = snapshot(link), link.state is LinkState.LINKED
    _set_target(link, targets)
    link.state = LinkState.MAPPED
    link.failure_reason = ""
    link.mapped_at = utcnow()
    link.linked_at = None
    _record(session, link, "link", before, by)
    if was_linked:
        links_stopped.send(link.account_id, link_ids=[link.id])
    return link


def unlink(
    session: Session,
    link: Link,
    *,
    expected_version: int | None,
    actor: User | None,
    batch: JobRun | None = None,
) -> Link:
    """Back to Not Linked; a Linked row's sync stops at once."""
    by = Author.of(actor, batch)
    _check_version(link, expected_version)
    if link.state is LinkState.NOT_LINKED:
        return link
    before, was_linked = snapshot(link), link.state is LinkState.LINKED
    _set_target(link, [])
    link.state = LinkState.NOT_LINKED
    link.failure_reason = ""
    link.mapped_at = link.linked_at = None
    _record(session, link, "unlink", before, by)
    if was_linked:
        links_stopped.send(link.account_id, link_ids=[link.id])
    return link


def mark_failed(
    session: Session,
    link: Link,
    reason: str,
    *,
    actor: User | None,
    batch: JobRun | None = None,
) -> Link:
    """A mapping was tried and refused; the row carries the reason for support staff."""
    by = Author.of(actor, batch)
    before, was_linked = snapshot(link), link.state is LinkState.LINKED
    link.state = LinkState.FAILED
    link.failure_reason = reason[:500]
    link.linked_at = None
    _record(session, link, "fail", before, by)
    if was_linked:
        links_stopped.send(link.account_id, link_ids=[link.id])
    return link


def assignment_problem(session: Session, link: Link, store_id: int) -> str | None:
    """Why a mapped row cannot go live, checked against the current store catalog.

    A store SKU that several products share is no obstacle here: the row names one store
    product by its id, chosen by a person or by a rule that refused to guess.
    """
    if link.store_sku_id is None:
        return "No store SKU is chosen."
    for store_sku_id in [link.store_sku_id, *(c.store_sku_id for c in link.components)]:
        problem = target_problem(session.get(StoreSku, store_sku_id), store_id)
        if problem:
            return problem
    return None


def assign_links(
    session: Session,
    account: MarketplaceAccount,
    links: Iterable[Link],
    *,
    actor: User | None,
    batch: JobRun | None,
) -> Counter[str]:
    """Make mapped rows Linked after checking each against the store catalog; a row that
    cannot go live becomes Map failed with the reason. Other states are left alone."""
    store_id = account_store_id(session, account.id)
    by = Author.of(actor, batch)
    counts: Counter[str] = Counter()
    live: list[int] = []
    for link in links:
        if link.state is not LinkState.MAPPED:
            counts["skipped"] += 1
            continue
        problem = assignment_problem(session, link, store_id)
        if problem:
            mark_failed(session, link, problem, actor=actor, batch=batch)
            counts["failed"] += 1
            continue
        before = snapshot(link)
        link.state = LinkState.LINKED
        link.linked_at = utcnow()
        _record(session, link, "assign", before, by)
        live.append(link.id)
        counts["linked"] += 1
    if live:
        links_went_live.send(account.id, link_ids=live)
    return counts


def restore(session: Session, link: Link, state: dict[str, Any], *, actor, batch) -> None:
    """Put a link back as a snapshot describes it (used by undo)."""
    by = Author.of(actor, batch)
    before, was_linked = snapshot(link), link.state is LinkState.LINKED
    targets = []
    if state["store_sku_id"] is not None:
        targets = [Target(state["store_sku_id"], state["quantity"])]
        targets += [Target(sku_id, quantity) for sku_id, quantity in state["components"]]
    _set_target(link, targets)
    link.state = LinkState(state["state"])
    link.failure_reason = state["failure_reason"]
    is_linked = link.state is LinkState.LINKED
    if not is_linked:
        link.linked_at = None
    elif not was_linked:
        link.linked_at = utcnow()
    _record(session, link, "undo", before, by)
    if was_linked and not is_linked:
        links_stopped.send(link.account_id, link_ids=[link.id])
    elif is_linked and not was_linked:
        links_went_live.send(link.account_id, link_ids=[link.id])


@dataclass(frozen=True)
class UndoPlan:
    """What undoing a bulk change means for each row it touched: the snapshot to put back,
    and the version the row has if nobody changed it since (the change's own last write, or
    an earlier, interrupted run of this undo's restore)."""

    before: dict[int, dict[str, Any]]  # link id → its snapshot before the change
    changed_version: dict[int, int]  # link id → its version after the change's last write
    restored_version: dict[int, int]  # link id → its version after an earlier undo run

    @property
    def link_ids(self) -> list[int]:
        return sorted(self.before)


def plan_undo(session: Session, batch: JobRun, undo_run: JobRun) -> UndoPlan:
    if batch.undone_by_id is not None:
        raise LinkError("This change was already undone.")
    before: dict[int, dict[str, Any]] = {}
    changed_version: dict[int, int] = {}
    for link_id, snapshot_before, snapshot_after in session.execute(
        select(LinkEvent.link_id, LinkEvent.before, LinkEvent.after)
        .where(LinkEvent.job_run_id == batch.id)
        .order_by(LinkEvent.id)
    ):
        before.setdefault(link_id, snapshot_before)
        changed_version[link_id] = snapshot_after["version"]
    earlier_runs = [
        run_id
        for run_id, params in session.execute(
            select(JobRun.id, JobRun.params).where(
                JobRun.kind == JobKind.UNDO,
                JobRun.account_id == batch.account_id,
                JobRun.id != undo_run.id,
            )
        )
        if params.get("job_run_id") == batch.id
    ]
    restored_version = {
        link_id: snapshot_after["version"]
        for link_id, snapshot_after in session.execute(
            select(LinkEvent.link_id, LinkEvent.after)
            .where(LinkEvent.job_run_id.in_(earlier_runs))
            .order_by(LinkEvent.id)
        )
    }
    return UndoPlan(before, changed_version, restored_version)


def undo_links(
    session: Session, plan: UndoPlan, links: Sequence[Link], *, actor: User | None, undo_run: JobRun
) -> Counter[str]:
    """Put these rows of the plan back, except rows changed again since the change; rows an
    interrupted run of this undo already put back count as reverted. `links`: the plan's rows
    that still exist."""
    counts: Counter[str] = Counter()
    for link in links:
        if plan.restored_version.get(link.id) == link.version:
            counts["reverted"] += 1
        elif link.version != plan.changed_version[link.id]:
            counts["changed_since"] += 1
        else:
            restore(session, link, plan.before[link.id], actor=actor, batch=undo_run)
            counts["reverted"] += 1
    return counts
