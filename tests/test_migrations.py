"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from webapp.extensions import db
from webapp.linking.search import include_in_migrations


def test_migrations_match_the_models(app_ctx):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": False, "include_object": include_in_migrations}
        )
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_staged_mapping_rows_leave_room_to_be_updated_in_place(app_ctx):
    """PostgreSQL updates a row within its page (no new index entry) only if the page has
    room: a mapping file's check updates every staged row twice (migration 0014)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no fillfactor")
    options = db.session.scalar(
        text("SELECT reloptions FROM pg_class WHERE relname = 'mapping_import_rows'")
    )
    assert "fillfactor=40" in options
