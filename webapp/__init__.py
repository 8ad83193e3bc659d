"""SKU Bridge: link TikTok Shop SKUs to store SKUs, and keep them in sync."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.routing import IntegerConverter

from config import BASE_DIR, INSTANCE_DIR, Config
from webapp.dbutil import MAX_ID
from webapp.extensions import csrf, db, limiter, login_manager, migrate
from webapp.security import configure_encryption


def create_app(config_class: type[Config] = Config, **overrides: object) -> Flask:
    app = Flask(
        __name__,
        instance_path=str(INSTANCE_DIR),
        template_folder=str(BASE_DIR / "templates"),
        static_folder=str(BASE_DIR / "static"),
    )
    app.url_map.converters["int"] = DatabaseIdConverter
    app.config.from_object(config_class)
    app.config.update(overrides)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # A database server may drop a connection while it waits in the pool; a SQLite file
        # cannot, so its requests skip the test query before their first statement.
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            **app.config["SQLALCHEMY_ENGINE_OPTIONS"],
            "pool_pre_ping": False,
        }
    _load_instance_secrets(app)
    configure_encryption(app.config["FERNET_KEYS"])

    db.init_app(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"), render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"])
    limiter.init_app(app)

    from webapp import formatting, htmx, http_security, logs, models, tenancy  # noqa: F401  (models: the schema)
    from webapp.accounts.views import bp as accounts_bp
    from webapp.api import openapi as api_openapi
    from webapp.api.token_views import bp as api_tokens_bp
    from webapp.auth.cli import users_cli
    from webapp.auth.views import bp as auth_bp
    from webapp.catalog.cli import catalog_cli
    from webapp.catalog.views import bp as catalog_bp
    from webapp.csvio.cli import mappings_cli
    from webapp.csvio.views import bp as mappings_bp
    from webapp.errors import register_error_handlers
    from webapp.health import bp as health_bp
    from webapp.jobs.views import bp as jobs_bp
    from webapp.linking.views import bp as linking_bp
    from webapp.orders.views import bp as orders_bp
    from webapp.overview.views import bp as overview_bp
    from webapp.stores.views import bp as stores_bp
    from webapp.sync.views import bp as sync_bp
    from webapp.webhooks import bp as webhooks_bp

    logs.init_app(app)  # first: every later hook's records name the request
    htmx.init_app(app)
    http_security.init_app(app)
    formatting.init_app(app)
    tenancy.init_app(app)
    register_error_handlers(app)
    for blueprint in (
        auth_bp,
        accounts_bp,
        stores_bp,
        catalog_bp,
        linking_bp,
        mappings_bp,
        jobs_bp,
        sync_bp,
        orders_bp,
        overview_bp,
        webhooks_bp,
        health_bp,
        api_tokens_bp,
    ):
        app.register_blueprint(blueprint)
    api_openapi.init_app(app)
    app.cli.add_command(users_cli)
    app.cli.add_command(catalog_cli)
    app.cli.add_command(mappings_cli)
    return app


class DatabaseIdConverter(IntegerConverter):
    """`<int:…>` in every route matches only ids a database column can hold: a larger number
    is a 404 like any unknown id, never an overflow deep in the driver."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def _load_instance_secrets(app: Flask) -> None:
    """Without SECRET_KEY / FERNET_KEYS in the environment, keep generated ones in instance/
    so that sessions and encrypted tokens survive a restart of `make run`."""
    if app.config.get("SECRET_KEY") and app.config.get("FERNET_KEYS"):
        return
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _read_or_create(
            instance / "secret_key", lambda: secrets.token_hex(32)
        )
    if not app.config.get("FERNET_KEYS"):
        app.config["FERNET_KEYS"] = _read_or_create(
            instance / "fernet_key", lambda: Fernet.generate_key().decode()
        )


def _read_or_create(path: Path, make: Callable[[], str]) -> str:
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    """SQLite as an embedded production database: WAL, enforced foreign keys, patient locks."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
