"""Map failed rows counted by failure kind, kept by triggers on links

Revision ID: 9f5b3d7a1c42
Revises: 8e4a2c6f0b37
Create Date: 2026-12-01 18:40:00.000000

The Map failed tab's filter shows how many rows fail for each kind of reason. Counting them
on each view read every failed row (half a second at 100,000 of them), so they are kept like
the tab counts (0006): row triggers on SQLite, statement triggers with transition tables on
PostgreSQL. A row counts for every kind whose pattern its reason matches, as the filter finds
it. The kinds and their patterns are `webapp.linking.grid.FAILURE_KINDS`; a change to them
needs a migration that creates these triggers again (the grid tests compare the kept counts
with a count over the rows).
"""

import sqlalchemy as sa
from alembic import op

from webapp.linking.grid import FAILURE_KINDS

revision = "9f5b3d7a1c42"
down_revision = "8e4a2c6f0b37"
branch_labels = None
depends_on = None

KINDS = " UNION ALL ".join(
    f"SELECT '{key}' AS kind, '{kind.pattern}' AS pattern" for key, kind in FAILURE_KINDS.items()
)
SQLITE_ADD = f"""
INSERT INTO failure_kind_counts (account_id, kind, count)
SELECT {{row}}.account_id, kinds.kind, 1 FROM ({KINDS}) AS kinds
WHERE {{row}}.state = 'failed' AND lower({{row}}.failure_reason) LIKE kinds.pattern
ON CONFLICT (account_id, kind) DO UPDATE SET count = failure_kind_counts.count + 1;
"""
SQLITE_SUBTRACT = f"""
UPDATE failure_kind_counts SET count = count - 1
WHERE account_id = {{row}}.account_id AND {{row}}.state = 'failed' AND kind IN (
  SELECT kinds.kind FROM ({KINDS}) AS kinds
  WHERE lower({{row}}.failure_reason) LIKE kinds.pattern);
"""
SQLITE_TRIGGERS = [
    "CREATE TRIGGER links_failure_kinds_insert AFTER INSERT ON links"
    f" WHEN NEW.state = 'failed' BEGIN {SQLITE_ADD.format(row='NEW')} END",
    "CREATE TRIGGER links_failure_kinds_delete AFTER DELETE ON links"
    f" WHEN OLD.state = 'failed' BEGIN {SQLITE_SUBTRACT.format(row='OLD')} END",
    "CREATE TRIGGER links_failure_kinds_update"
    " AFTER UPDATE OF state, account_id, failure_reason ON links"
    " WHEN (OLD.state = 'failed' OR NEW.state = 'failed') AND (OLD.state IS NOT NEW.state"
    " OR OLD.account_id IS NOT NEW.account_id OR OLD.failure_reason IS NOT NEW.failure_reason)"
    f" BEGIN {SQLITE_SUBTRACT.format(row='OLD')} {SQLITE_ADD.format(row='NEW')} END",
]


def _grouped(rows: str) -> str:
    return (
        f"SELECT r.account_id, kinds.kind, count(*) AS n FROM {rows} AS r"
        f" JOIN ({KINDS}) AS kinds ON r.failure_reason ILIKE kinds.pattern"
        " WHERE r.state = 'failed' GROUP BY 1, 2"
    )


POSTGRESQL_FUNCTION = f"""
CREATE FUNCTION count_failure_kinds() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE failure_kind_counts AS c SET count = c.count - o.n
    FROM ({_grouped("old_rows")}) AS o
    WHERE c.account_id = o.account_id AND c.kind = o.kind;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    INSERT INTO failure_kind_counts (account_id, kind, count)
    SELECT account_id, kind, n FROM ({_grouped("new_rows")}) AS fresh
    ON CONFLICT (account_id, kind)
    DO UPDATE SET count = failure_kind_counts.count + EXCLUDED.count;
  END IF;
  RETURN NULL;
END $$
"""
POSTGRESQL_TRIGGERS = [
    "CREATE TRIGGER links_failure_kinds_insert AFTER INSERT ON links"
    " REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_failure_kinds()",
    "CREATE TRIGGER links_failure_kinds_update AFTER UPDATE ON links"
    " REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION count_failure_kinds()",
    "CREATE TRIGGER links_failure_kinds_delete AFTER DELETE ON links"
    " REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION count_failure_kinds()",
]
TRIGGER_NAMES = [f"links_failure_kinds_{event}" for event in ("insert", "update", "delete")]


def upgrade():
    op.create_table(
        "failure_kind_counts",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["marketplace_accounts.id"],
            name=op.f("fk_failure_kind_counts_account_id_marketplace_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "kind", name=op.f("pk_failure_kind_counts")),
    )
    op.execute(
        "INSERT INTO failure_kind_counts (account_id, kind, count)"
        f" SELECT links.account_id, kinds.kind, count(*) FROM links JOIN ({KINDS}) AS kinds"
        " ON lower(links.failure_reason) LIKE kinds.pattern WHERE links.state = 'failed'"
        " GROUP BY links.account_id, kinds.kind"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRESQL_FUNCTION)
        for statement in POSTGRESQL_TRIGGERS:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    for name in TRIGGER_NAMES:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON links" if postgres else ""))
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS count_failure_kinds()")
    op.drop_table("failure_kind_counts")
