"""Mapping files: stage an uploaded CSV, check it as a dry run, apply it, report its errors.

The work is set-based: rows are staged in `mapping_import_rows`, matched to links and store SKUs
with a few UPDATE … FROM statements, and applied in chunks, so a million rows take seconds. A
file applied twice changes nothing the second time (every row is then *unchanged*).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    and_,
    case,
    delete,
    exists,
    func,
    literal,
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
from webapp.csvio.reader import CsvRefused, iter_records
from webapp.csvio.writer import MAPPING_HEADER, csv_lines
from webapp.dbutil import analyze_staged, chunked, insert_many
from webapp.domain import DomainError
from webapp.extensions import utcnow
from webapp.jobs.models import JobRun
from webapp.jobs.services import ProgressRecorder
from webapp.linking.bulk_writes import BulkLinkWriter, StagedChanges
from webapp.linking.grid import GridQuery, iter_grid_rows
from webapp.linking.models import Link, LinkState
from webapp.linking.services import NO_STORE_MESSAGE
from webapp.linking.signals import links_stopped

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
    session.commit()  # see resolve_rows
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
    "parse_error",
)


def _stage(session: Session, import_id: int, rows: Iterator[MappingRow], progress) -> None:
    """Write the rows as read, in batches, straight through the driver (`insert_many`): a
    million rows go in without building a million parameter dicts. The cells as uploaded are
    not kept: the error report reads them from the stored file again."""
    batch: list[tuple[Any, ...]] = []
    staged = 0
    for line, marketplace_sku, store_sku, quantity, action, _, error, _ in rows:
        batch.append(
            (import_id, line, marketplace_sku[:255], store_sku[:255], quantity or 1, action, error)
        )
        if len(batch) >= STAGE_BATCH:
            insert_many(session, _rows, STAGE_COLUMNS, batch)
            staged += len(batch)
            batch.clear()
            if progress:
                progress.update(done=staged, message=f"Read {staged:,} rows")
    if batch:
        insert_many(session, _rows, STAGE_COLUMNS, batch)
        staged += len(batch)
    if progress:
        progress.update(done=staged, total=staged, message=f"Read {staged:,} rows", force=True)


def resolve_rows(session: Session, mapping_import: MappingImport) -> dict[str, Any]:
    """Match each staged row to its link and store SKU and decide its outcome, in three
    statements over all the rows: match, explain what did not match, compare with the links.

    The staged rows are committed before each statement that updates all of them: PostgreSQL
    checks the foreign key of every row a transaction updates again if that transaction also
    wrote it, even when the key is unchanged (about 5 µs a row, each time). A retry starts
    again from the staged rows, so the steps between commits need no transaction of their own.
    """
    account = session.get(MarketplaceAccount, mapping_import.account_id)
    if account.store_id is None:
        raise MappingImportError(NO_STORE_MESSAGE)
    started = utcnow()
    mine = R.import_id == mapping_import.id
    catalogs = _Catalogs(account.id, account.store_id)
    session.execute(
        _update_rows()
        .where(mine)
        .values(
            link_id=case((R.parse_error.is_(None), catalogs.link_of(R.marketplace_key))),
            store_sku_id=case(
                (and_(R.parse_error.is_(None), R.action == "link"), catalogs.variant(R.store_sku))
            ),
            error=None,
            outcome=None,
        )
    )
    session.commit()
    analyze_staged(session, _rows)  # the statements below join on what matching found
    session.execute(
        _update_rows()
        .where(
            mine,
            or_(
                R.parse_error.is_not(None),
                R.link_id.is_(None),
                and_(R.action == "link", R.store_sku_id.is_(None)),
            ),
        )
        .values(error=catalogs.explain(), outcome=RowOutcome.ERROR)
    )
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
            .order_by(R.id)
            .limit(FIRST_ERRORS)
        )
    ]
    return summary


class _Catalogs:
    """SQL expressions that look a staged row's SKUs up in the account's links and its store's
    catalog. A seller SKU shared by several TikTok SKUs, or a store SKU shared by several
    variants, matches nothing: the row is then explained rather than guessed."""

    def __init__(self, account_id: int, store_id: int):
        self.account_id = account_id
        live = and_(StoreSku.store_id == store_id, StoreSku.gone_at.is_(None))
        self.variants = and_(live, StoreSku.is_parent.is_(False))
        self.parents = and_(live, StoreSku.is_parent.is_(True))
        self.shared_seller_skus = (
            select(MarketplaceSku.seller_sku)
            .where(MarketplaceSku.account_id == account_id, MarketplaceSku.seller_sku != "")
            .group_by(MarketplaceSku.seller_sku)
            .having(func.count() > 1)
        )
        self.shared_store_skus = (
            select(StoreSku.sku)
            .where(self.variants)
            .group_by(StoreSku.sku)
            .having(func.count() > 1)
        )

    def _link_where(self, condition):
        return (
            select(Link.id)
            .join(MarketplaceSku, Link.marketplace_sku_id == MarketplaceSku.id)
            .where(MarketplaceSku.account_id == self.account_id, condition)
            .scalar_subquery()
        )

    def link_of(self, key):
        """The link of the TikTok SKU with this SKU id, or else with this (unshared) seller
        SKU."""
        by_seller_sku = case(
            (key.in_(self.shared_seller_skus), null()),
            else_=self._link_where(MarketplaceSku.seller_sku == key),
        )
        return func.coalesce(self._link_where(MarketplaceSku.sku_id == key), by_seller_sku)

    def variant(self, sku):
        return case(
            (sku.in_(self.shared_store_skus), null()),
            else_=select(StoreSku.id).where(self.variants, StoreSku.sku == sku).scalar_subquery(),
        )

    def explain(self):
        """Why a row has no link or no store SKU: the error it is reported with."""
        return case(
            (R.parse_error.is_not(None), R.parse_error),
            (
                and_(R.link_id.is_(None), R.marketplace_key.in_(self.shared_seller_skus)),
                "Several TikTok SKUs share this seller SKU: use the TikTok SKU ID instead.",
            ),
            (
                R.link_id.is_(None),
                "TikTok SKU not found in this account (import the shop's products if it is new).",
            ),
            (
                R.store_sku.in_(self.shared_store_skus),
                "Store SKU is ambiguous: several store products share it. "
                "Link this row in the grid.",
            ),
            (
                exists().where(self.parents, StoreSku.sku == R.store_sku),
                "Store SKU is a parent (configurable) product, not a sellable variant: "
                "use a variant's SKU.",
            ),
            else_="Store SKU not found in the store catalog "
            "(refresh the catalog if it was added lately).",
        )


def _decide_outcomes(session: Session, mine) -> None:
    """Compare every matched row with its link, in one statement. A kit cannot be written in
    one CSV row: a row naming its first store SKU leaves it be, so export → edit → import never
    takes a kit apart."""
    same_target = and_(
        Link.store_sku_id == R.store_sku_id,
        Link.quantity == R.quantity,
        Link.state.in_([LinkState.MAPPED, LinkState.LINKED]),
    )
    unlinking = R.action == "unlink"
    outcome = case(
        (and_(unlinking, Link.state == LinkState.NOT_LINKED), RowOutcome.UNCHANGED.value),
        (unlinking, RowOutcome.UNLINK.value),
        (same_target, RowOutcome.UNCHANGED.value),
        (
            or_(Link.store_sku_id.is_(None), Link.state == LinkState.NOT_LINKED),
            RowOutcome.NEW.value,
        ),
        else_=RowOutcome.CHANGED.value,
    )
    session.execute(
        _update_rows()
        .where(mine, R.outcome.is_(None), Link.id == R.link_id)
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
    writer = BulkLinkWriter(
        session, mapping_import.account_id, actor_id=actor.id if actor else None, batch_id=batch.id
    )
    for low in range(first or 0, (last or -1) + 1, APPLY_BATCH):
        stopped += writer.write(_staged_changes(mapping_import.id, low, low + APPLY_BATCH))[1]
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


_rows = R.__table__
WRITTEN = [RowOutcome.NEW.value, RowOutcome.CHANGED.value, RowOutcome.UNLINK.value]


def _staged_changes(import_id: int, low: int, high: int) -> StagedChanges:
    """The new, changed and unlink rows of a range of staged ids, as changes of their links."""
    unlinking = _rows.c.action == "unlink"
    return StagedChanges(
        rows=and_(
            _rows.c.import_id == import_id,
            _rows.c.id >= low,
            _rows.c.id < high,
            _rows.c.outcome.in_(WRITTEN),
            Link.__table__.c.id == _rows.c.link_id,
        ),
        state=case((unlinking, LinkState.NOT_LINKED.value), else_=LinkState.MAPPED.value),
        store_sku_id=case((unlinking, null()), else_=_rows.c.store_sku_id),
        quantity=case((unlinking, 1), else_=_rows.c.quantity),
        failure_reason=literal(""),
        action=case((unlinking, "unlink"), else_="link"),
    )


# --- reports ----------------------------------------------------------------------------------


def error_report_lines(
    session: Session, mapping_import: MappingImport, path: Path
) -> Iterator[str]:
    """The rejected rows as they were uploaded, read again from the stored file, with an
    `error` column: ready to fix and upload again."""
    if not path.is_file():
        raise MappingImportError(
            "The uploaded file is no longer kept, so its rows cannot be listed; upload it again."
        )
    errors = session.execute(
        select(R.line, R.error)
        .where(R.import_id == mapping_import.id, R.outcome == RowOutcome.ERROR)
        .order_by(R.id)
        .execution_options(yield_per=5_000)
    )
    width = len(mapping_import.header)
    return csv_lines(
        [*mapping_import.header, "error"],
        (
            [*(record + [""] * (width - len(record)))[:width], error]
            for record, error in _rejected(path, errors)
        ),
    )


def _rejected(path: Path, errors) -> Iterator[tuple[list[str], str]]:
    """The file's records whose line has an error, with it: both come in line order."""
    records = iter_records(path)
    next(records, None)  # the header
    line, record = 0, None
    for error_line, error in errors:
        while line < error_line:
            line, record = next(records, (math.inf, None))
        if line == error_line:
            yield record, error


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
