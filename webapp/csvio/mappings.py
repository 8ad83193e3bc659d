"""Mapping files: stage an uploaded CSV, check it as a dry run, apply it, report its errors.

The work is set-based: rows are staged in `mapping_import_rows`, matched to links and store SKUs
with a few UPDATE … FROM statements, and applied in chunks, so a million rows take seconds. A
file applied twice changes nothing the second time (every row is then *unchanged*).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Integer,
    and_,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from webapp.accounts.models import MarketplaceAccount, User
from webapp.catalog.models import MarketplaceSku, StoreSku
from webapp.csvio.mapping_file import MappingRow, open_mapping_file
from webapp.csvio.models import (
    MappingImport,
    MappingImportRow,
    MappingImportStatus,
    RowOutcome,
)
from webapp.csvio.reader import CsvRefused
from webapp.csvio.writer import MAPPING_HEADER, csv_lines
from webapp.dbutil import chunked
from webapp.domain import DomainError
from webapp.extensions import utcnow
from webapp.jobs.models import JobRun
from webapp.jobs.services import ProgressRecorder
from webapp.linking.grid import GridQuery, iter_grid_rows
from webapp.linking.models import Link, LinkComponent, LinkEvent, LinkState
from webapp.linking.services import NO_STORE_MESSAGE
from webapp.linking.signals import links_stopped
from webapp.types import UTCDateTime

STAGE_BATCH = 20_000
APPLY_BATCH = 50_000
FIRST_ERRORS = 20
APPLY_RESULT_KEYS = ("rows", "new", "changed", "unlink", "unchanged", "duplicate", "error")
R = MappingImportRow


def _update_rows():
    """An UPDATE of staged rows that does not fetch them back into the session (nothing of
    them lives there; fetching would read every row again)."""
    return update(R).execution_options(synchronize_session=False)


class MappingImportError(DomainError):
    pass


def create_mapping_import(
    session: Session,
    account: MarketplaceAccount,
    *,
    filename: str,
    stored_name: str,
    size: int,
    actor: User | None,
) -> MappingImport:
    if account.store_id is None:
        raise MappingImportError(NO_STORE_MESSAGE)
    mapping_import = MappingImport(
        organization_id=account.organization_id,
        account_id=account.id,
        created_by_id=actor.id if actor else None,
        filename=(filename or "mappings.csv")[:255],
        stored_name=stored_name,
        size_bytes=size,
    )
    session.add(mapping_import)
    session.flush()
    return mapping_import


# --- checking ---------------------------------------------------------------------------------


def check_mapping_import(
    session: Session,
    mapping_import: MappingImport,
    path: Path,
    *,
    max_rows: int,
    progress: ProgressRecorder | None = None,
) -> dict[str, Any]:
    """Read and stage the file, then match every row: the dry run. A refused file leaves
    nothing staged and says why."""
    session.execute(delete(R).where(R.import_id == mapping_import.id))
    try:
        mapping_file = open_mapping_file(path, max_rows=max_rows)
        mapping_import.header = list(mapping_file.header)
        _stage(session, mapping_import.id, mapping_file.rows(), progress)
    except CsvRefused as error:
        session.rollback()
        session.execute(delete(R).where(R.import_id == mapping_import.id))
        mapping_import.status = MappingImportStatus.REFUSED
        mapping_import.refusal = str(error)
        session.commit()
        raise
    summary = resolve_rows(session, mapping_import)
    mapping_import.status = MappingImportStatus.CHECKED
    session.commit()
    return summary


STAGE_COLUMNS = (
    "import_id",
    "line",
    "marketplace_key",
    "store_sku",
    "quantity",
    "action",
    "raw",
    "parse_error",
)


def _stage(session: Session, import_id: int, rows: Iterator[MappingRow], progress) -> None:
    """Write the rows as read, in batches, straight through the driver: a million rows go
    in without building a million parameter dicts."""
    connection = session.connection()
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    statement = (
        f"INSERT INTO {_rows.name} ({', '.join(STAGE_COLUMNS)}) "
        f"VALUES ({', '.join([marker] * len(STAGE_COLUMNS))})"
    )
    dumps = json.dumps
    batch: list[tuple[Any, ...]] = []
    staged = 0
    for row in rows:
        batch.append(
            (
                import_id,
                row.line,
                row.marketplace_sku[:255],
                row.store_sku[:255],
                row.quantity or 1,
                row.action,
                dumps(row.raw),
                row.error,
            )
        )
        if len(batch) >= STAGE_BATCH:
            connection.exec_driver_sql(statement, batch)
            staged += len(batch)
            batch.clear()
            if progress:
                progress.update(done=staged, message=f"Read {staged:,} rows")
    if batch:
        connection.exec_driver_sql(statement, batch)
        staged += len(batch)
    if progress:
        progress.update(done=staged, total=staged, message=f"Read {staged:,} rows", force=True)


def resolve_rows(session: Session, mapping_import: MappingImport) -> dict[str, Any]:
    """Match each staged row to its link and store SKU and decide its outcome."""
    account = session.get(MarketplaceAccount, mapping_import.account_id)
    if account.store_id is None:
        raise MappingImportError(NO_STORE_MESSAGE)
    started = utcnow()
    mine = R.import_id == mapping_import.id
    session.execute(
        _update_rows()
        .where(mine)
        .values(link_id=None, store_sku_id=None, outcome=None, error=R.parse_error)
    )
    _match_marketplace(session, mine, account.id)
    _match_store(session, mine, account.store_id)
    _decide_outcomes(session, mine)
    _mark_repeats(session, mapping_import.id)
    summary = summarize(session, mapping_import)
    summary["checked_at"] = started.isoformat()
    mapping_import.summary = summary
    mapping_import.first_errors = [
        {"line": line, "error": error}
        for line, error in session.execute(
            select(R.line, R.error)
            .where(mine, R.outcome == RowOutcome.ERROR)
            .order_by(R.line)
            .limit(FIRST_ERRORS)
        )
    ]
    return summary


def _set_error(session: Session, condition, message) -> None:
    session.execute(_update_rows().where(condition, R.error.is_(None)).values(error=message))


def _match_marketplace(session: Session, mine, account_id: int) -> None:
    in_account = and_(
        MarketplaceSku.account_id == account_id, Link.marketplace_sku_id == MarketplaceSku.id
    )
    # A TikTok SKU id is unique; a seller SKU may be shared by several TikTok SKUs.
    session.execute(
        _update_rows()
        .where(mine, R.error.is_(None), in_account, MarketplaceSku.sku_id == R.marketplace_key)
        .values(link_id=Link.id)
    )
    shared = (
        select(MarketplaceSku.seller_sku)
        .where(MarketplaceSku.account_id == account_id, MarketplaceSku.seller_sku != "")
        .group_by(MarketplaceSku.seller_sku)
        .having(func.count() > 1)
    )
    _set_error(
        session,
        and_(mine, R.link_id.is_(None), R.marketplace_key.in_(shared)),
        "Several TikTok SKUs share this seller SKU: use the TikTok SKU ID instead.",
    )
    session.execute(
        _update_rows()
        .where(
            mine,
            R.error.is_(None),
            R.link_id.is_(None),
            in_account,
            MarketplaceSku.seller_sku == R.marketplace_key,
        )
        .values(link_id=Link.id)
    )
    _set_error(
        session,
        and_(mine, R.link_id.is_(None)),
        "TikTok SKU not found in this account (import the shop's products if it is new).",
    )


def _match_store(session: Session, mine, store_id: int) -> None:
    linking = R.action == "link"
    live = and_(StoreSku.store_id == store_id, StoreSku.gone_at.is_(None))
    shared = (
        select(StoreSku.sku)
        .where(live, StoreSku.is_parent.is_(False))
        .group_by(StoreSku.sku)
        .having(func.count() > 1)
    )
    _set_error(
        session,
        and_(mine, linking, R.store_sku.in_(shared)),
        "Store SKU is ambiguous: several store products share it. Link this row in the grid.",
    )
    session.execute(
        _update_rows()
        .where(
            mine,
            linking,
            R.error.is_(None),
            live,
            StoreSku.is_parent.is_(False),
            StoreSku.sku == R.store_sku,
        )
        .values(store_sku_id=StoreSku.id)
    )
    parents = select(StoreSku.sku).where(live, StoreSku.is_parent.is_(True))
    _set_error(
        session,
        and_(mine, linking, R.store_sku_id.is_(None), R.store_sku.in_(parents)),
        "Store SKU is a parent (configurable) product, not a sellable variant: "
        "use a variant's SKU.",
    )
    _set_error(
        session,
        and_(mine, linking, R.store_sku_id.is_(None)),
        "Store SKU not found in the store catalog (refresh the catalog if it was added lately).",
    )


def _decide_outcomes(session: Session, mine) -> None:
    session.execute(
        _update_rows().where(mine, R.error.is_not(None)).values(outcome=RowOutcome.ERROR)
    )
    # A kit cannot be written in one CSV row: a row naming its first store SKU leaves it be,
    # so export → edit → import never takes a kit apart.
    same_target = and_(
        Link.store_sku_id == R.store_sku_id,
        Link.quantity == R.quantity,
        Link.state.in_([LinkState.MAPPED, LinkState.LINKED]),
    )
    for outcome, condition in (
        (RowOutcome.UNCHANGED, and_(R.action == "unlink", Link.state == LinkState.NOT_LINKED)),
        (RowOutcome.UNLINK, R.action == "unlink"),
        (RowOutcome.UNCHANGED, same_target),
        (RowOutcome.NEW, or_(Link.store_sku_id.is_(None), Link.state == LinkState.NOT_LINKED)),
        (RowOutcome.CHANGED, R.action == "link"),
    ):
        session.execute(
            _update_rows()
            .where(mine, R.outcome.is_(None), Link.id == R.link_id, condition)
            .values(outcome=outcome)
        )


def _mark_repeats(session: Session, import_id: int) -> None:
    """A TikTok SKU named on several rows: the first row counts; an identical later row is a
    duplicate, a different one an error."""
    repeated = (
        select(R.link_id)
        .where(R.import_id == import_id, R.outcome != RowOutcome.ERROR)
        .group_by(R.link_id)
        .having(func.count() > 1)
    )
    first: dict[int, tuple] = {}
    changes: list[dict[str, Any]] = []
    for row in session.execute(
        select(R.id, R.link_id, R.line, R.store_sku_id, R.quantity, R.action)
        .where(R.import_id == import_id, R.link_id.in_(repeated), R.outcome != RowOutcome.ERROR)
        .order_by(R.link_id, R.line)
    ):
        target = (row.store_sku_id, row.quantity, row.action)
        if row.link_id not in first:
            first[row.link_id] = (row.line, target)
            continue
        first_line, first_target = first[row.link_id]
        if target == first_target:
            changes.append({"id": row.id, "outcome": RowOutcome.DUPLICATE, "error": None})
        else:
            changes.append(
                {
                    "id": row.id,
                    "outcome": RowOutcome.ERROR,
                    "error": f"This TikTok SKU is already on line {first_line} with another "
                    "store SKU or action; only that line is used.",
                }
            )
    for chunk in chunked(changes, 900):
        session.execute(_update_rows(), list(chunk))


def summarize(session: Session, mapping_import: MappingImport) -> dict[str, Any]:
    counts = dict(
        session.execute(
            select(R.outcome, func.count())
            .where(R.import_id == mapping_import.id)
            .group_by(R.outcome)
        ).all()
    )
    summary = {outcome.value: counts.get(outcome, 0) for outcome in RowOutcome}
    summary["rows"] = sum(summary.values())
    summary["damaged"] = session.scalar(
        select(func.count()).where(
            R.import_id == mapping_import.id, R.error.like("%damaged by a spreadsheet%")
        )
    )
    return summary


# --- applying ---------------------------------------------------------------------------------


def apply_mapping_import(
    session: Session,
    mapping_import: MappingImport,
    *,
    actor: User | None,
    batch: JobRun,
    progress: ProgressRecorder | None = None,
) -> dict[str, Any]:
    """Check the rows again against the catalogs as they are now, then write every new,
    changed and unlink row with its LinkEvent in the batch (so the job can be undone)."""
    if mapping_import.status is MappingImportStatus.REFUSED:
        raise MappingImportError("A refused file cannot be applied.")
    mapping_import.status = MappingImportStatus.APPLYING
    if _changed_since_check(session, mapping_import):
        resolve_rows(session, mapping_import)
    summary = mapping_import.summary
    session.commit()
    first, last = session.execute(
        select(func.min(R.id), func.max(R.id)).where(R.import_id == mapping_import.id)
    ).one()
    total = summary["new"] + summary["changed"] + summary["unlink"]
    if progress:
        progress.update(done=0, total=total, message="Writing links…", force=True)
    stopped: list[int] = []
    writer = _LinkWriter(session, mapping_import.id, actor.id if actor else None, batch.id)
    for low in range(first or 0, (last or -1) + 1, APPLY_BATCH):
        stopped += writer.write(low, low + APPLY_BATCH)
        session.commit()
        if progress:
            progress.update(done=writer.written, message=f"Wrote {writer.written:,} links")
    if stopped:
        links_stopped.send(mapping_import.account_id, link_ids=stopped)
    mapping_import.status = MappingImportStatus.APPLIED
    mapping_import.apply_job_id = batch.id
    session.commit()
    return {key: summary[key] for key in APPLY_RESULT_KEYS}


def _changed_since_check(session: Session, mapping_import: MappingImport) -> bool:
    """Whether any link of the account or entry of its store catalog changed after the dry
    run: only then must the rows be matched again before they are written."""
    checked_at = mapping_import.summary.get("checked_at")
    if checked_at is None:
        return True
    since = datetime.fromisoformat(checked_at)
    account = session.get(MarketplaceAccount, mapping_import.account_id)
    links_changed = exists().where(Link.account_id == account.id, Link.updated_at >= since)
    catalog_changed = exists().where(
        StoreSku.store_id == account.store_id,
        or_(StoreSku.updated_at >= since, StoreSku.gone_at >= since),
    )
    return bool(session.scalar(select(or_(links_changed, catalog_changed))))


_links = Link.__table__
_rows = R.__table__
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
WRITTEN = [RowOutcome.NEW.value, RowOutcome.CHANGED.value, RowOutcome.UNLINK.value]


class _LinkWriter:
    """Writes a range of staged rows to their links in three statements: the LinkEvents
    (before and after, built by the database as JSON), the kit parts cleared, the links set."""

    def __init__(self, session: Session, import_id: int, actor_id: int | None, batch_id: int):
        self.session = session
        self.import_id = import_id
        self.actor_id = actor_id
        self.batch_id = batch_id
        self.postgres = session.get_bind().dialect.name == "postgresql"
        self.written = 0
        # Kits are rare: when the account has none, there are no kit parts to record or clear.
        account_id = session.scalar(
            select(MappingImport.account_id).where(MappingImport.id == import_id)
        )
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

    def write(self, low: int, high: int) -> list[int]:
        in_range = and_(
            _rows.c.import_id == self.import_id,
            _rows.c.id >= low,
            _rows.c.id < high,
            _rows.c.outcome.in_(WRITTEN),
            _links.c.id == _rows.c.link_id,
        )
        unlinking = _rows.c.action == "unlink"
        state = case((unlinking, LinkState.NOT_LINKED.value), else_=LinkState.MAPPED.value)
        store_sku_id = case((unlinking, null()), else_=_rows.c.store_sku_id)
        quantity = case((unlinking, 1), else_=_rows.c.quantity)
        now = utcnow()
        stopped = (
            list(
                self.session.scalars(
                    select(_links.c.id).where(in_range, _links.c.state == LinkState.LINKED.value)
                )
            )
            if self.has_linked
            else []
        )
        events = self.session.execute(
            insert(LinkEvent.__table__).from_select(
                EVENT_COLUMNS,
                select(
                    _links.c.id,
                    _links.c.account_id,
                    literal(self.actor_id, Integer),
                    literal(self.batch_id, Integer),
                    case((unlinking, "unlink"), else_="link"),
                    self._object(
                        state=_links.c.state,
                        store_sku_id=_links.c.store_sku_id,
                        quantity=_links.c.quantity,
                        components=self._kit_parts() if self.has_kits else self._empty_list(),
                        failure_reason=_links.c.failure_reason,
                        version=_links.c.version,
                    ),
                    self._object(
                        state=state,
                        store_sku_id=store_sku_id,
                        quantity=quantity,
                        components=self._empty_list(),
                        failure_reason=literal(""),
                        version=_links.c.version + 1,
                    ),
                    literal(now, UTCDateTime()),
                ).where(in_range),
            )
        )
        self.written += events.rowcount or 0
        if self.has_kits:
            self.session.execute(
                delete(_components).where(
                    _components.c.link_id.in_(select(_rows.c.link_id).where(in_range))
                )
            )
        self.session.execute(
            update(_links)
            .where(in_range)
            .values(
                state=state,
                store_sku_id=store_sku_id,
                quantity=quantity,
                failure_reason="",
                version=_links.c.version + 1,
                mapped_at=case((unlinking, null()), else_=literal(now, UTCDateTime())),
                linked_at=None,
                updated_at=now,
                updated_by_id=self.actor_id,
            )
        )
        return stopped

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


# --- reports ----------------------------------------------------------------------------------


def error_report_lines(session: Session, mapping_import: MappingImport) -> Iterator[str]:
    """The rejected rows as they were uploaded, with an `error` column, ready to fix and upload
    again."""
    rows = session.execute(
        select(R.raw, R.error)
        .where(R.import_id == mapping_import.id, R.outcome == RowOutcome.ERROR)
        .order_by(R.line)
        .execution_options(yield_per=5_000)
    )
    width = len(mapping_import.header)
    yield from csv_lines(
        [*mapping_import.header, "error"],
        ([*(raw + [""] * (width - len(raw)))[:width], error] for raw, error in rows),
    )


def export_lines(session: Session, query: GridQuery) -> Iterator[str]:
    """The grid's rows for these filters, every page, in the import format: what the user
    exports, edits and imports again."""
    shared = set(
        session.scalars(
            select(MarketplaceSku.seller_sku)
            .where(MarketplaceSku.account_id == query.account_id)
            .group_by(MarketplaceSku.seller_sku)
            .having(func.count() > 1)
        )
    )

    def rows() -> Iterator[list[str]]:
        for row in iter_grid_rows(session, query):
            key = (
                row.marketplace_sku
                if row.marketplace_sku and row.marketplace_sku not in shared
                else row.sku_id
            )
            if row.store_sku:
                yield [key, row.store_sku, str(row.quantity), "link"]
            else:
                yield [key, "", "", ""]

    yield from csv_lines(MAPPING_HEADER, rows())
