"""Mapping import rows without their cells as uploaded, and with one index

The error report reads the rejected rows from the stored file again, so staged rows no longer
keep a JSON copy of their cells; matching no longer needs indexes on the staged SKUs, and
one index on (import_id, id) serves both the file's order and the apply's ranges of ids.

Revision ID: 6d2f0a9c4e1b
Revises: bc74dbb0505f
Create Date: 2026-11-23 19:40:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "6d2f0a9c4e1b"
down_revision = "bc74dbb0505f"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("mapping_import_rows") as batch_op:
        batch_op.drop_index("ix_mapping_import_rows_import_key")
        batch_op.drop_index("ix_mapping_import_rows_import_store_sku")
        batch_op.drop_index("ix_mapping_import_rows_import_line")
        batch_op.drop_column("raw")
        batch_op.create_index("ix_mapping_import_rows_import_id", ["import_id", "id"], unique=False)


def downgrade():
    with op.batch_alter_table("mapping_import_rows") as batch_op:
        batch_op.drop_index("ix_mapping_import_rows_import_id")
        batch_op.create_index(
            "ix_mapping_import_rows_import_line", ["import_id", "line"], unique=False
        )
        batch_op.add_column(sa.Column("raw", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.create_index(
            "ix_mapping_import_rows_import_store_sku", ["import_id", "store_sku"], unique=False
        )
        batch_op.create_index(
            "ix_mapping_import_rows_import_key", ["import_id", "marketplace_key"], unique=False
        )
