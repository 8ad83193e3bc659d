"""Set-based link writes for the jobs that change links by the hundred thousand (a mapping
file's apply, auto-map): staged rows say what each link becomes, and a few statements write a
whole range of them with their LinkEvents, so the batch can be undone like any other.

The services in `webapp.linking.services` do the same for one row at a time, through the ORM;
the two must agree on what a change does to a link, which the tests of both check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    null,
    select,
    update,
)
from sqlalchemy.orm import Session

from webapp.extensions import utcnow
from webapp.linking.models import Link, LinkComponent, LinkEvent, LinkState
from webapp.types import UTCDateTime

_links = Link.__table__
_components = LinkComponent.__table__
EVENT_COLUMNS = [
    "link_id",
    "account_id",
    "actor_id",
    "job_run_id",
    "action",
    "before",
    "after",
    "created_at",
]


@dataclass(frozen=True)
class StagedChanges:
    """What a range of staged rows makes of their links, as SQL expressions over the staging
    table (and links).

    `rows` selects the staged rows to write and joins each to its link (`links.id = …`).
    `state` is Not Linked, Mapped or Map failed. A failure keeps the link's target, as
    `services.mark_failed` does; any other change replaces it, kit parts included.
    """

    rows: ColumnElement[bool]
    state: ColumnElement[Any]
    store_sku_id: ColumnElement[Any]
    quantity: ColumnElement[Any]
    failure_reason: ColumnElement[Any]
    action: ColumnElement[Any]


class BulkLinkWriter:
    """Writes staged changes to one account's links in three statements a range: the
    LinkEvents (before and after, built by the database as JSON), the kit parts cleared, the
    links set."""

    def __init__(
        self, session: Session, account_id: int, *, actor_id: int | None, batch_id: int | None
    ):
        self.session = session
        self.actor_id = actor_id
        self.batch_id = batch_id
        self.postgres = session.get_bind().dialect.name == "postgresql"
        self.written = 0
        # Kits and Linked rows are rare in these jobs: when the account has none, there are no
        # kit parts to record or clear and no sync to stop.
        self.has_linked = session.scalar(
            select(
                exists().where(
                    _links.c.account_id == account_id, _links.c.state == LinkState.LINKED.value
                )
            )
        )
        self.has_kits = session.scalar(
            select(
                exists().where(
                    _components.c.link_id == _links.c.id, _links.c.account_id == account_id
                )
            )
        )

    def write(self, change: StagedChanges) -> tuple[int, list[int]]:
        """Write the rows; returns how many links changed and which of them were Linked (their
        sync stops: the caller sends `links_stopped` once the job's writes are committed)."""
        now = utcnow()
        stopped = (
            list(
                self.session.scalars(
                    select(_links.c.id).where(change.rows, _links.c.state == LinkState.LINKED.value)
                )
            )
            if self.has_linked
            else []
        )
        failing = change.state == LinkState.FAILED.value
        kit_parts = self._kit_parts() if self.has_kits else self._empty_list()
        self.session.execute(
            insert(LinkEvent.__table__).from_select(
                EVENT_COLUMNS,
                select(
                    _links.c.id,
                    _links.c.account_id,
                    literal(self.actor_id, Integer),
                    literal(self.batch_id, Integer),
                    change.action,
                    self._object(
                        state=_links.c.state,
                        store_sku_id=_links.c.store_sku_id,
                        quantity=_links.c.quantity,
                        components=kit_parts,
                        failure_reason=_links.c.failure_reason,
                        version=_links.c.version,
                    ),
                    self._object(
                        state=change.state,
                        store_sku_id=change.store_sku_id,
                        quantity=change.quantity,
                        components=case((failing, kit_parts), else_=self._empty_list())
                        if self.has_kits
                        else self._empty_list(),
                        failure_reason=change.failure_reason,
                        version=_links.c.version + 1,
                    ),
                    literal(now, UTCDateTime()),
                ).where(change.rows),
            )
        )
        if self.has_kits:
            self.session.execute(
                delete(_components).where(
                    _components.c.link_id.in_(select(_links.c.id).where(change.rows, ~failing))
                )
            )
        updated = self.session.execute(
            update(_links)
            .where(change.rows)
            .values(
                state=change.state,
                store_sku_id=change.store_sku_id,
                quantity=change.quantity,
                failure_reason=change.failure_reason,
                version=_links.c.version + 1,
                mapped_at=case(
                    (change.state == LinkState.MAPPED.value, literal(now, UTCDateTime())),
                    (change.state == LinkState.NOT_LINKED.value, null()),
                    else_=_links.c.mapped_at,
                ),
                linked_at=None,
                updated_at=now,
                updated_by_id=self.actor_id,
            )
            .execution_options(synchronize_session=False)
        )
        written = max(updated.rowcount or 0, 0)
        self.written += written
        return written, stopped

    def _object(self, **pairs: Any):
        arguments = [part for key, value in pairs.items() for part in (literal(key), value)]
        build = func.json_build_object if self.postgres else func.json_object
        return build(*arguments)

    def _kit_parts(self):
        parts = _components.c
        if self.postgres:
            listed = func.json_agg(func.json_build_array(parts.store_sku_id, parts.quantity))
            found = select(listed).where(parts.link_id == _links.c.id).scalar_subquery()
            return func.coalesce(found, self._empty_list())
        listed = func.json_group_array(func.json_array(parts.store_sku_id, parts.quantity))
        found = select(listed).where(parts.link_id == _links.c.id).scalar_subquery()
        return func.json(func.coalesce(found, "[]"))

    def _empty_list(self):
        return literal_column("'[]'::json") if self.postgres else func.json("[]")
