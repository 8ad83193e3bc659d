"""Sync settings per account, what was last pushed per link, and orders

Revision ID: 9b3e5c7d1f20
Revises: 6d2f0a9c4e1b
Create Date: 2026-11-23 20:10:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "9b3e5c7d1f20"
down_revision = "6d2f0a9c4e1b"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "sync_settings",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("inventory", sa.Boolean(), nullable=False),
        sa.Column("price", sa.Boolean(), nullable=False),
        sa.Column("status", sa.Boolean(), nullable=False),
        sa.Column("orders", sa.Boolean(), nullable=False),
        sa.Column("interval_minutes", sa.Integer(), nullable=False),
        sa.Column("safety_stock", sa.Integer(), nullable=False),
        sa.Column("reserve_percent", sa.Integer(), nullable=False),
        sa.Column("out_of_stock_threshold", sa.Integer(), nullable=False),
        sa.Column("store_overwrites", sa.Boolean(), nullable=False),
        sa.Column("last_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_full_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("orders_pulled_until", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "interval_minutes BETWEEN 5 AND 1440", name=op.f("ck_sync_settings_interval_range")
        ),
        sa.CheckConstraint(
            "safety_stock >= 0", name=op.f("ck_sync_settings_safety_stock_positive")
        ),
        sa.CheckConstraint(
            "reserve_percent BETWEEN 0 AND 100", name=op.f("ck_sync_settings_reserve_range")
        ),
        sa.CheckConstraint(
            "out_of_stock_threshold >= 0", name=op.f("ck_sync_settings_threshold_positive")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["marketplace_accounts.id"],
            name=op.f("fk_sync_settings_account_id_marketplace_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_sync_settings")),
    )
    op.create_table(
        "link_syncs",
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=True),
        sa.Column("price", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=True),
        sa.Column("store_quantity", sa.Integer(), nullable=True),
        sa.Column("store_price", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=False),
        sa.Column("has_error", sa.Boolean(), nullable=False),
        sa.Column("error_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["marketplace_accounts.id"],
            name=op.f("fk_link_syncs_account_id_marketplace_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["link_id"], ["links.id"], name=op.f("fk_link_syncs_link_id_links"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("link_id", name=op.f("pk_link_syncs")),
    )
    op.create_index(
        "ix_link_syncs_account_error", "link_syncs", ["account_id", "has_error"], unique=False
    )

    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("tiktok_order_id", sa.String(length=64), nullable=False),
        sa.Column("tiktok_status", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("recipient", sa.JSON(), nullable=False),
        sa.Column("buyer_email", sa.String(length=254), nullable=False),
        sa.Column("buyer_message", sa.String(length=1000), nullable=False),
        sa.Column("created_time", sa.BigInteger(), nullable=False),
        sa.Column("update_time", sa.BigInteger(), nullable=False),
        sa.Column("store_order_id", sa.String(length=128), nullable=True),
        sa.Column("store_order_number", sa.String(length=64), nullable=False),
        sa.Column("claim", sa.String(length=32), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["marketplace_accounts.id"],
            name=op.f("fk_orders_account_id_marketplace_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_orders_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("account_id", "tiktok_order_id", name=op.f("uq_orders_account_id")),
    )
    op.create_index("ix_orders_account_state", "orders", ["account_id", "state", "id"])
    op.create_table(
        "order_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("line_item_id", sa.String(length=64), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("sku_id", sa.String(length=64), nullable=False),
        sa.Column("seller_sku", sa.String(length=255), nullable=False),
        sa.Column("product_name", sa.String(length=500), nullable=False),
        sa.Column("sku_name", sa.String(length=255), nullable=False),
        sa.Column("sale_price", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_items_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_items")),
        sa.UniqueConstraint("order_id", "line_item_id", name=op.f("uq_order_items_order_id")),
    )
    op.create_index("ix_order_items_sku", "order_items", ["sku_id"])


def downgrade():
    op.drop_index("ix_order_items_sku", table_name="order_items")
    op.drop_table("order_items")
    op.drop_index("ix_orders_account_state", table_name="orders")
    op.drop_table("orders")
    op.drop_index("ix_link_syncs_account_error", table_name="link_syncs")
    op.drop_table("link_syncs")
    op.drop_table("sync_settings")
