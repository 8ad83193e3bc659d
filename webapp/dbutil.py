"""Set-based writes that work the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

# SQLite allows 32,766 bound parameters a statement; keep batches well below it.
MAX_PARAMETERS = 30_000


def upsert(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    key: Iterable[str],
    update: Iterable[str],
) -> None:
    """INSERT … ON CONFLICT (key) DO UPDATE SET update-columns, in batches."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}[dialect]
    key, update = list(key), list(update)
    batch_size = max(1, MAX_PARAMETERS // max(1, len(rows[0])))
    for start in range(0, len(rows), batch_size):
        statement = insert(table).values(list(rows[start : start + batch_size]))
        statement = statement.on_conflict_do_update(
            index_elements=key, set_={name: statement.excluded[name] for name in update}
        )
        session.execute(statement)


def contains_text(text: str, *columns: Any) -> ColumnElement[bool]:
    """Any of `columns` contains `text`, case-insensitively, with LIKE's `%` and `_` taken
    as the characters they are."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return or_(*(column.ilike(f"%{escaped}%", escape="\\") for column in columns))


def chunked(items: Sequence[Any], size: int = 900) -> Iterable[Sequence[Any]]:
    """Slices small enough for an IN (...) list on any database."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
