"""Job runs keep their rate of progress and whether their end was announced to their starter

Revision ID: e3a9c6d1f8b4
Revises: d7f2b9e4a6c3
Create Date: 2026-12-02 07:00:00.000000

`rate` is the items a second of the run's current phase, written by the worker with its
progress, so every page can say how long is left. `announced_at` is when the person who started
the run was told it was over (a toast on whatever page they had open). Both are new nullable
columns: nothing existing is rebuilt on PostgreSQL; SQLite's batch mode copies `job_runs`,
which is small.
"""

import sqlalchemy as sa
from alembic import op

revision = "e3a9c6d1f8b4"
down_revision = "d7f2b9e4a6c3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rate", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("announced_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_job_runs_created_by_finished", ["created_by_id", "finished_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_job_runs_created_by_finished")
        batch_op.drop_column("announced_at")
        batch_op.drop_column("rate")
