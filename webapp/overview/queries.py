"""What the Overview page shows of one account, read cheaply at any catalog size.

Link states come from the counts the database keeps for the grid's tabs (`LinkStateCount`,
`FailureKindCount`), never from counting links; everything else is one small indexed count or
one row. No query here reads the links table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, true
from sqlalchemy.orm import Session

from webapp.accounts.models import MarketplaceAccount
from webapp.extensions import utcnow
from webapp.jobs.models import JobKind, JobRun, JobStatus
from webapp.linking.grid import FAILURE_KINDS, failure_counts, status_counts
from webapp.linking.models import LinkState
from webapp.orders.jobs import orders_paused
from webapp.orders.models import Order, OrderState
from webapp.sync.jobs import pause_reason, settings_for
from webapp.sync.models import LinkSync

ERROR_WINDOW = timedelta(hours=24)
MIN_BAR_PERCENT = 0.6  # a state with a few SKUs among many still shows a sliver of a bar


@dataclass(frozen=True)
class StateCount:
    """How many of the account's SKUs are in one link state, and their share of all."""

    state: LinkState
    count: int
    total: int

    @property
    def label(self) -> str:
        return self.state.label

    @property
    def percent(self) -> float:
        return 100 * self.count / self.total if self.total else 0.0

    @property
    def share(self) -> str:
        """The share as people read it: "75%", "<1%" for a few among many, "0%" for none."""
        if self.count and self.percent < 1:
            return "<1%"
        return f"{round(self.percent)}%"

    @property
    def bar_percent(self) -> str:
        """The bar's length in the chart, as a percentage of the whole width."""
        if not self.count:
            return "0"
        return f"{max(self.percent, MIN_BAR_PERCENT):.2f}"


@dataclass(frozen=True)
class FailureKindCountView:
    """Map failed rows whose reason is of one kind (a grid filter on the Map failed tab)."""

    key: str
    label: str
    count: int


@dataclass(frozen=True)
class LinkStates:
    states: list[StateCount]
    total: int
    failure_kinds: list[FailureKindCountView]  # empty when nothing failed

    def count(self, state: LinkState) -> int:
        return next(s.count for s in self.states if s.state is state)


@dataclass(frozen=True)
class SyncHealth:
    """When stock and prices last went to TikTok Shop, when orders were last pulled, and what
    went wrong in the last 24 hours."""

    last_push_at: datetime | None  # the last push that ran to its end
    last_pull_at: datetime | None  # orders updated before this moment have been pulled
    failed_runs: int  # sync and order runs of the account that failed
    failed_skus: int  # linked SKUs whose last push TikTok Shop or the store refused
    failed_orders: int  # orders the store refused or failed to create
    push_paused: str | None  # why stock, price and status are not pushed now
    pull_paused: str | None  # why orders are not pulled now

    @property
    def errors(self) -> int:
        return self.failed_runs + self.failed_skus + self.failed_orders

    @property
    def paused(self) -> list[str]:
        """Each reason once (an account without a store pauses both for the same reason)."""
        return list(dict.fromkeys(r for r in (self.push_paused, self.pull_paused) if r))


@dataclass(frozen=True)
class AccountOverview:
    account: MarketplaceAccount
    links: LinkStates
    sync: SyncHealth
    held_orders: int  # orders waiting for an item to be linked

    @property
    def imported(self) -> bool:
        return self.links.total > 0

    @property
    def has_store(self) -> bool:
        return self.account.store_id is not None


def account_overview(
    session: Session, account: MarketplaceAccount, now: datetime | None = None
) -> AccountOverview:
    return AccountOverview(
        account=account,
        links=link_states(session, account),
        sync=sync_health(session, account, now),
        held_orders=held_order_count(session, account),
    )


def link_states(session: Session, account: MarketplaceAccount) -> LinkStates:
    """The grid's tab counts (the same numbers), and the Map failed rows by kind of reason."""
    counts = status_counts(session, account.id)
    total = counts["all"]
    states = [StateCount(state, counts[state.value], total) for state in LinkState]
    kinds = []
    if counts[LinkState.FAILED.value]:
        by_kind = failure_counts(session, account.id)
        kinds = [
            FailureKindCountView(key, kind.label, by_kind[key])
            for key, kind in FAILURE_KINDS.items()
        ]
    return LinkStates(states=states, total=total, failure_kinds=kinds)


def sync_health(
    session: Session, account: MarketplaceAccount, now: datetime | None = None
) -> SyncHealth:
    settings = settings_for(session, account.id)
    since = (now or utcnow()) - ERROR_WINDOW
    failed_runs = select(func.count()).where(
        JobRun.organization_id == account.organization_id,  # ix_job_runs_org_kind_status
        JobRun.kind.in_([JobKind.SYNC, JobKind.ORDERS]),
        JobRun.status == JobStatus.FAILED,
        JobRun.account_id == account.id,
        JobRun.finished_at >= since,
    )
    failed_skus = select(func.count()).where(
        LinkSync.account_id == account.id,  # ix_link_syncs_account_error
        LinkSync.has_error == true(),
        LinkSync.error_at >= since,
    )
    failed_orders = select(func.count()).where(
        Order.account_id == account.id,  # ix_orders_account_state
        Order.state == OrderState.FAILED,
        Order.updated_at >= since,
    )
    pulled_until = settings.orders_pulled_until
    return SyncHealth(
        last_push_at=settings.last_sync_at,
        last_pull_at=datetime.fromtimestamp(pulled_until, UTC) if pulled_until else None,
        failed_runs=session.scalar(failed_runs),
        failed_skus=session.scalar(failed_skus),
        failed_orders=session.scalar(failed_orders),
        push_paused=pause_reason(account, settings),
        pull_paused=orders_paused(account, settings),
    )


def held_order_count(session: Session, account: MarketplaceAccount) -> int:
    """Orders held because an item is not linked (the Orders page's *Link products*)."""
    return session.scalar(
        select(func.count()).where(
            Order.account_id == account.id, Order.state == OrderState.AWAITING_MAPPING
        )
    )
