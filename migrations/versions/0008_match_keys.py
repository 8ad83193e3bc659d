"""Matching keys kept on both catalogs, and the staging table of auto-map's decisions

Auto-map matches in the database: each SKU keeps its normalized SKU and barcode (`sku_key`,
`barcode_key`, filled here for the rows already stored), and partial indexes on the store's
live entries answer each rule without reading the table. `automap_decisions` holds one run's
decisions while they are written to the links.

Columns are added in place (no batch rebuild), so the triggers of 0006 and 0007 stay.

Revision ID: 8e4a2c6f0b37
Revises: 7d1f3b5a8c24
Create Date: 2026-12-01 18:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

from webapp.catalog.models import match_keys

revision = "8e4a2c6f0b37"
down_revision = "7d1f3b5a8c24"
branch_labels = None
depends_on = None

BATCH = 10_000
# table: the column its SKU is in
CATALOGS = {"marketplace_skus": "seller_sku", "store_skus": "sku"}
LIVE_KEY_INDEXES = {
    "ix_store_skus_live_sku": "sku",
    "ix_store_skus_live_sku_key": "sku_key",
    "ix_store_skus_live_barcode_key": "barcode_key",
}


def _fill_keys(table: str, sku_column: str) -> None:
    connection = op.get_bind()
    update = sa.text(
        f"UPDATE {table} SET sku_key = :sku_key, barcode_key = :barcode_key WHERE id = :id"
    )
    after = 0
    while True:
        rows = connection.execute(
            sa.text(
                f"SELECT id, {sku_column}, barcode FROM {table} WHERE id > :after"
                " ORDER BY id LIMIT :limit"
            ),
            {"after": after, "limit": BATCH},
        ).all()
        if not rows:
            return
        connection.execute(update, [{"id": row[0], **match_keys(row[1], row[2])} for row in rows])
        after = rows[-1][0]


def upgrade():
    for table, sku_column in CATALOGS.items():
        op.add_column(
            table, sa.Column("sku_key", sa.String(255), nullable=False, server_default="")
        )
        op.add_column(
            table, sa.Column("barcode_key", sa.String(14), nullable=False, server_default="")
        )
        _fill_keys(table, sku_column)
    for name, column in LIVE_KEY_INDEXES.items():
        op.create_index(
            name,
            "store_skus",
            ["store_id", column, "is_parent"],
            sqlite_where=sa.text("gone_at IS NULL"),
            postgresql_where=sa.text("gone_at IS NULL"),
        )
    op.create_table(
        "automap_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_key", sa.BigInteger(), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.BigInteger(), nullable=True),
        sa.Column("failure_reason", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_automap_decisions_run_key", "automap_decisions", ["run_key", "id"], unique=False
    )


def downgrade():
    op.drop_index("ix_automap_decisions_run_key", table_name="automap_decisions")
    op.drop_table("automap_decisions")
    for name in LIVE_KEY_INDEXES:
        op.drop_index(name, table_name="store_skus")
    for table in CATALOGS:
        op.drop_column(table, "barcode_key")
        op.drop_column(table, "sku_key")
