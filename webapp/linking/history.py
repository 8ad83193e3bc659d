"""A link's history: every change of one row, newest first, in words support staff can act on
("Mapped → Not Linked, by Dana", "Map failed: Store SKU not found…, in job 12: Auto-map").

The LinkEvents keep each change's before and after (`services.snapshot`); the store SKUs they
name are looked up once for the whole history, so a SKU the store has since renamed shows as
it is called now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.accounts.models import User
from webapp.catalog.models import StoreSku
from webapp.jobs.models import JobKind, JobRun
from webapp.linking.models import LINK_STATE_LABELS, LinkEvent, LinkState

HISTORY_LIMIT = 50

ACTION_LABELS = {
    "link": "Store SKU set",
    "unlink": "Unlinked",
    "fail": "Mapping refused",
    "assign": "Assigned",
    "undo": "Undone",
}


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    action: str
    before: str
    after: str
    actor: str  # who made the change: a person, or "System"
    job_run_id: int | None  # the job it was part of, if any
    job_kind: JobKind | None


def link_history(session: Session, link_id: int, limit: int = HISTORY_LIMIT) -> list[HistoryEntry]:
    """The link's latest `limit` changes, newest first."""
    events = session.execute(
        select(LinkEvent, User, JobRun.kind)
        .outerjoin(User, User.id == LinkEvent.actor_id)
        .outerjoin(JobRun, JobRun.id == LinkEvent.job_run_id)
        .where(LinkEvent.link_id == link_id)  # ix_link_events_link_id
        .order_by(LinkEvent.id.desc())
        .limit(limit)
    ).all()
    skus = _store_skus(
        session, [event.before for event, *_ in events] + [event.after for event, *_ in events]
    )
    return [
        HistoryEntry(
            at=event.created_at,
            action=ACTION_LABELS.get(event.action, event.action),
            before=describe(event.before, skus),
            after=describe(event.after, skus),
            actor=user.display_name if user else "System",
            job_run_id=event.job_run_id,
            job_kind=kind,
        )
        for event, user, kind in events
    ]


def _targets(snapshot: dict[str, Any]) -> list[tuple[int, int]]:
    if snapshot.get("store_sku_id") is None:
        return []
    first = (snapshot["store_sku_id"], snapshot.get("quantity") or 1)
    return [first] + [(part[0], part[1]) for part in snapshot.get("components") or []]


def _store_skus(session: Session, snapshots: list[dict[str, Any]]) -> dict[int, str]:
    ids = {store_sku_id for snapshot in snapshots for store_sku_id, _ in _targets(snapshot)}
    if not ids:
        return {}
    return dict(
        session.execute(select(StoreSku.id, StoreSku.sku).where(StoreSku.id.in_(ids))).all()
    )


def describe(snapshot: dict[str, Any], skus: dict[int, str]) -> str:
    """One side of a change: the state, what the row pointed at and why it failed."""
    state = LinkState(snapshot.get("state", LinkState.NOT_LINKED.value))
    words = LINK_STATE_LABELS[state]
    parts = [
        f"{skus.get(store_sku_id, f'store SKU #{store_sku_id}')}"
        + (f" ×{quantity}" if quantity != 1 else "")
        for store_sku_id, quantity in _targets(snapshot)
    ]
    if parts and state is not LinkState.NOT_LINKED:
        words += ": " + " + ".join(parts)
    if state is LinkState.FAILED and snapshot.get("failure_reason"):
        words += f" ({snapshot['failure_reason']})"
    return words
