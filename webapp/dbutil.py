"""Set-based writes that work the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, or_, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

# The largest id an id column holds: they are INTEGER, a signed 32-bit integer on PostgreSQL
# (64-bit on SQLite). An id beyond it belongs to no row, and must not reach the database, which
# refuses the comparison (PostgreSQL: "integer out of range", found by the API's schemathesis
# run with a page cursor of 2**31).
MAX_ID = 2**31 - 1


def upsert(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    key: Iterable[str],
    update: Iterable[str],
) -> None:
    """INSERT … ON CONFLICT (key) DO UPDATE SET update-columns, one statement compiled once
    and run through the driver's executemany (every row has the same columns)."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}[dialect]
    statement = insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=list(key), set_={name: statement.excluded[name] for name in update}
    )
    session.execute(statement, list(rows))


def insert_many(
    session: Session, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Plain rows into a table straight through the driver, in the session's transaction:
    COPY on PostgreSQL (an INSERT a row costs a round trip there), executemany of one compiled
    INSERT on SQLite. For staging tables filled by the hundred thousand."""
    connection = session.connection()
    names = ", ".join(columns)
    if connection.dialect.name == "postgresql":
        cursor = connection.connection.driver_connection.cursor()
        with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" * len(columns))
    connection.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", rows)


def contains_text(text: str, *columns: Any) -> ColumnElement[bool]:
    """Any of `columns` contains `text`, case-insensitively, with LIKE's `%` and `_` taken
    as the characters they are."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return or_(*(column.ilike(f"%{escaped}%", escape="\\") for column in columns))


def chunked(items: Sequence[Any], size: int = 900) -> Iterable[Sequence[Any]]:
    """Slices small enough for an IN (...) list on any database."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


# Rows SQLite's ANALYZE samples per index: a few tens of milliseconds on a million rows.
ANALYSIS_LIMIT = 1000
# The tables whose statistics matter to the grid and the jobs. Never the whole database: FTS5
# keeps its index in shadow tables whose own statements go wrong with statistics taken when
# they were small (every insert of a later import then reads the index from end to end).
ANALYZED_TABLES = ("links", "marketplace_skus", "store_skus", "link_syncs", "link_components")


def planner_statistics_statements() -> list[str]:
    return [f"PRAGMA analysis_limit = {ANALYSIS_LIMIT}"] + [
        f"ANALYZE {table}" for table in ANALYZED_TABLES
    ]


def refresh_planner_statistics(session: Session) -> None:
    """Let SQLite's query planner know how the tables have grown. Without statistics it takes
    `account_id = ?` for a narrow condition and reads every link of an account rather than the
    few a search found. PostgreSQL's autovacuum keeps its own statistics."""
    if session.get_bind().dialect.name != "sqlite":
        return
    for statement in planner_statistics_statements():
        session.execute(text(statement))
    session.commit()


def analyze_staged(session: Session, table: Table) -> None:
    """Statistics for a staging table just filled, before the statements that join it: on
    PostgreSQL autovacuum would take them only later, after the job. Take them once the
    columns those statements join on are filled. SQLite's planner does well without (and its
    statistics are refreshed when the job ends)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"ANALYZE {table.name}"))
