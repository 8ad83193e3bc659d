"""Kept counts on PostgreSQL change in one statement, in one order: no deadlock between edits

Revision ID: d7f2b9e4a6c3
Revises: c5e8a2f4b7d1
Create Date: 2026-12-02 05:00:00.000000

The statement triggers of 0006 (tab counts) and 0009 (failure kinds) took away the old rows'
counts in one statement and added the new rows' in another. Two people changing rows at once,
one Not Linked → Mapped and one Mapped → Not Linked, then locked the same two count rows in
opposite orders, and PostgreSQL broke the deadlock by failing one of the edits (the
concurrency test met it). Now each trigger writes every change of a statement in one upsert
ordered by (account, state or kind), so counts are always locked in the same order, and an
update that moves no row from one count to another writes none. SQLite's row triggers are
untouched (SQLite has one writer at a time).
"""

from alembic import op

from webapp.linking.grid import FAILURE_KINDS

revision = "d7f2b9e4a6c3"
down_revision = "c5e8a2f4b7d1"
branch_labels = None
depends_on = None

KINDS = " UNION ALL ".join(
    f"SELECT '{key}' AS kind, '{kind.pattern}' AS pattern" for key, kind in FAILURE_KINDS.items()
)


def _changes(key: str, rows: dict[str, str]) -> str:
    """The count changes of a statement: `rows` maps a transition table to its sign."""
    return " UNION ALL ".join(
        f"SELECT account_id, {key}, {sign}1 AS n FROM {table}" for table, sign in rows.items()
    )


def _function(name: str, table: str, key: str, changes: str) -> str:
    """A trigger function that applies `changes(rows)` to `table` in one ordered upsert."""
    branches = {
        "INSERT": {"new_rows": "+"},
        "DELETE": {"old_rows": "-"},
        "UPDATE": {"old_rows": "-", "new_rows": "+"},
    }
    body = "\n".join(
        f"""  {"IF" if index == 0 else "ELSIF"} TG_OP = '{operation}' THEN
    INSERT INTO {table} (account_id, {key}, count)
    SELECT account_id, {key}, sum(n) FROM ({changes(rows)}) AS d
    GROUP BY 1, 2 HAVING sum(n) <> 0 ORDER BY 1, 2
    ON CONFLICT (account_id, {key}) DO UPDATE SET count = {table}.count + EXCLUDED.count;"""
        for index, (operation, rows) in enumerate(branches.items())
    )
    return (
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"BEGIN\n{body}\n  END IF;\n  RETURN NULL;\nEND $$"
    )


def _failure_kinds(rows: dict[str, str]) -> str:
    return " UNION ALL ".join(
        f"SELECT r.account_id, kinds.kind, {sign}1 AS n FROM {table} AS r"
        f" JOIN ({KINDS}) AS kinds ON r.failure_reason ILIKE kinds.pattern"
        " WHERE r.state = 'failed'"
        for table, sign in rows.items()
    )


ORDERED = [
    _function(
        "count_link_states",
        "link_state_counts",
        "state",
        lambda rows: _changes("state", rows),
    ),
    _function("count_failure_kinds", "failure_kind_counts", "kind", _failure_kinds),
]

# As 0006 and 0009 wrote them, for the downgrade.
PREVIOUS = [
    """CREATE OR REPLACE FUNCTION count_link_states() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE link_state_counts AS c SET count = c.count - o.n
    FROM (SELECT account_id, state, count(*) AS n FROM old_rows GROUP BY 1, 2) AS o
    WHERE c.account_id = o.account_id AND c.state = o.state;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    INSERT INTO link_state_counts (account_id, state, count)
    SELECT account_id, state, count(*) FROM new_rows GROUP BY 1, 2
    ON CONFLICT (account_id, state)
    DO UPDATE SET count = link_state_counts.count + EXCLUDED.count;
  END IF;
  RETURN NULL;
END $$""",
    f"""CREATE OR REPLACE FUNCTION count_failure_kinds() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE failure_kind_counts AS c SET count = c.count - o.n
    FROM (SELECT r.account_id, kinds.kind, count(*) AS n FROM old_rows AS r
          JOIN ({KINDS}) AS kinds ON r.failure_reason ILIKE kinds.pattern
          WHERE r.state = 'failed' GROUP BY 1, 2) AS o
    WHERE c.account_id = o.account_id AND c.kind = o.kind;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    INSERT INTO failure_kind_counts (account_id, kind, count)
    SELECT r.account_id, kinds.kind, count(*) FROM new_rows AS r
    JOIN ({KINDS}) AS kinds ON r.failure_reason ILIKE kinds.pattern
    WHERE r.state = 'failed' GROUP BY 1, 2
    ON CONFLICT (account_id, kind)
    DO UPDATE SET count = failure_kind_counts.count + EXCLUDED.count;
  END IF;
  RETURN NULL;
END $$""",
]


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        for statement in ORDERED:
            op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for statement in PREVIOUS:
            op.execute(statement)
