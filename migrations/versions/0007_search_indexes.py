"""Trigram indexes for the grid's search: FTS5 tables on SQLite, pg_trgm on PostgreSQL

Revision ID: 7d1f3b5a8c24
Revises: 4c8e2a6b9d13
Create Date: 2026-12-01 16:05:00.000000

On SQLite the FTS5 tables take their text from marketplace_skus and store_skus (external
content) and triggers keep them in step. A later migration that rebuilds one of those tables
(Alembic's batch mode on SQLite copies a table to change it) must create these triggers again;
the search tests fail if it does not.
"""

from alembic import op

revision = "7d1f3b5a8c24"
down_revision = "4c8e2a6b9d13"
branch_labels = None
depends_on = None

# (FTS table, content table, indexed columns)
SQLITE_INDEXES = [
    ("marketplace_sku_search", "marketplace_skus", ("seller_sku", "product_title", "variant")),
    ("store_sku_search", "store_skus", ("sku",)),
]


def _sqlite_statements(index: str, table: str, columns: tuple[str, ...]) -> list[str]:
    names = ", ".join(columns)

    def values(row: str) -> str:
        return ", ".join(f"{row}.{name}" for name in columns)

    insert = f"INSERT INTO {index} (rowid, {names}) VALUES (NEW.id, {values('NEW')});"
    delete = (
        f"INSERT INTO {index} ({index}, rowid, {names}) VALUES ('delete', OLD.id, {values('OLD')});"
    )
    return [
        f"CREATE VIRTUAL TABLE {index} USING fts5({names}, content='{table}',"
        " content_rowid='id', tokenize='trigram')",
        f"INSERT INTO {index} ({index}) VALUES ('rebuild')",
        f"CREATE TRIGGER {index}_insert AFTER INSERT ON {table} BEGIN {insert} END",
        f"CREATE TRIGGER {index}_delete AFTER DELETE ON {table} BEGIN {delete} END",
        f"CREATE TRIGGER {index}_update AFTER UPDATE OF {names} ON {table}"
        f" BEGIN {delete} {insert} END",
    ]


POSTGRESQL_STATEMENTS = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX ix_marketplace_skus_search ON marketplace_skus USING gin"
    " (seller_sku gin_trgm_ops, product_title gin_trgm_ops, variant gin_trgm_ops)",
    "CREATE INDEX ix_store_skus_search ON store_skus USING gin (sku gin_trgm_ops)",
]


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRESQL_STATEMENTS:
            op.execute(statement)
        return
    for index, table, columns in SQLITE_INDEXES:
        for statement in _sqlite_statements(index, table, columns):
            op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_store_skus_search")
        op.execute("DROP INDEX IF EXISTS ix_marketplace_skus_search")
        return
    for index, _, _ in SQLITE_INDEXES:
        for suffix in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS {index}_{suffix}")
        op.execute(f"DROP TABLE IF EXISTS {index}")
