"""An index on job_runs (organization_id, id): the Jobs list reads an organization's runs
newest first

Revision ID: a6c1e9f3b5d8
Revises: f4b8d2e6a1c7
Create Date: 2026-12-02 10:40:00.000000

Scheduled syncs add a run every few minutes per account. The Jobs list and its filters read
an organization's runs from the newest down and stop after a page; without this index each
page sorted every run the organization ever had.
"""

from alembic import op

revision = "a6c1e9f3b5d8"
down_revision = "f4b8d2e6a1c7"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_job_runs_org_id", "job_runs", ["organization_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_job_runs_org_id", table_name="job_runs")
