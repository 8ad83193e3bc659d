"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from webapp.extensions import db
from webapp.linking.search import include_in_migrations


def test_migrations_match_the_models(app_ctx):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": False, "include_object": include_in_migrations}
        )
        differences = compare_metadata(context, db.metadata)
    assert differences == []
