"""Link counts per account and state, kept by triggers on links

Revision ID: 4c8e2a6b9d13
Revises: 9b3e5c7d1f20
Create Date: 2026-12-01 16:20:00.000000

SQLite has row triggers only: one small upsert per changed row. PostgreSQL gets statement
triggers with transition tables: one grouped upsert per statement, however many rows it
changed.
"""

import sqlalchemy as sa
from alembic import op

revision = "4c8e2a6b9d13"
down_revision = "9b3e5c7d1f20"
branch_labels = None
depends_on = None

ADD = """
INSERT INTO link_state_counts (account_id, state, count) VALUES ({row}.account_id, {row}.state, 1)
ON CONFLICT (account_id, state) DO UPDATE SET count = link_state_counts.count + 1;
"""
SUBTRACT = """
UPDATE link_state_counts SET count = count - 1
WHERE account_id = {row}.account_id AND state = {row}.state;
"""
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER links_counted_insert AFTER INSERT ON links BEGIN {ADD.format(row='NEW')} END",
    "CREATE TRIGGER links_counted_delete AFTER DELETE ON links"
    f" BEGIN {SUBTRACT.format(row='OLD')} END",
    "CREATE TRIGGER links_counted_update AFTER UPDATE OF state, account_id ON links"
    " WHEN OLD.state IS NOT NEW.state OR OLD.account_id IS NOT NEW.account_id BEGIN"
    f" {SUBTRACT.format(row='OLD')} {ADD.format(row='NEW')} END",
]
POSTGRESQL_FUNCTION = """
CREATE FUNCTION count_link_states() RETURNS trigger LANGUAGE plpgsql AS $$
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
END $$
"""
POSTGRESQL_TRIGGERS = [
    "CREATE TRIGGER links_counted_insert AFTER INSERT ON links"
    " REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_link_states()",
    "CREATE TRIGGER links_counted_update AFTER UPDATE ON links"
    " REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION count_link_states()",
    "CREATE TRIGGER links_counted_delete AFTER DELETE ON links"
    " REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION count_link_states()",
]


def upgrade():
    op.create_table(
        "link_state_counts",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["marketplace_accounts.id"],
            name=op.f("fk_link_state_counts_account_id_marketplace_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "state", name=op.f("pk_link_state_counts")),
    )
    op.execute(
        "INSERT INTO link_state_counts (account_id, state, count)"
        " SELECT account_id, state, count(*) FROM links GROUP BY account_id, state"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRESQL_FUNCTION)
        for statement in POSTGRESQL_TRIGGERS:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade():
    for name in ("links_counted_insert", "links_counted_update", "links_counted_delete"):
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON links")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS count_link_states()")
    op.drop_table("link_state_counts")
