"""What a deployment watches: the health and readiness endpoints, and logs in which every line
names its request or its job."""

from __future__ import annotations

import io
import json
import logging

import flask_migrate
import pytest
from sqlalchemy import text

from config import TestConfig
from webapp import create_app
from webapp.extensions import db
from webapp.jobs.queue import get_queue
from webapp.logs import configure_logging
from webapp.redis_server import free_port


def test_healthz_says_both_parts_answer_without_login_or_cookie(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}
    assert "Set-Cookie" not in response.headers


def test_readyz_wants_the_schema_at_the_newest_migration(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json["checks"] == {"database": "ok", "redis": "ok", "schema": "ok"}


def test_a_part_that_does_not_answer_is_named_with_503(app, tmp_path):
    down = create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'missing' / 'nowhere.db'}",
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
    )

    response = down.test_client().get("/healthz")

    assert response.status_code == 503
    assert response.json == {
        "status": "unavailable",
        "checks": {"database": "not reachable", "redis": "not reachable"},
    }


def test_a_database_behind_on_migrations_is_not_ready_one_ahead_is(app, tmp_path):
    behind = create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'behind.db'}",
        REDIS_URL=app.config["REDIS_URL"],
    )
    with behind.app_context():
        flask_migrate.upgrade()
        flask_migrate.downgrade(revision="-1")
    client = behind.test_client()

    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["schema"] == "migrations pending"
    assert client.get("/healthz").status_code == 200  # alive, just not ready for traffic

    with behind.app_context():
        flask_migrate.upgrade()
    assert client.get("/readyz").status_code == 200

    with behind.app_context():  # the next release migrated first: this code is still served
        db.session.execute(text("UPDATE alembic_version SET version_num = 'f00dfeedbeef'"))
        db.session.commit()
    assert client.get("/readyz").status_code == 200


@pytest.fixture
def json_log(app):
    """The app logging JSON at INFO into a buffer: the lines a log collector would get."""
    logged = create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        REDIS_URL=app.config["REDIS_URL"],
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
    )
    [handler] = [h for h in logging.getLogger().handlers if getattr(h, "skubridge", False)]
    buffer = io.StringIO()
    handler.setStream(buffer)
    yield logged, lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    configure_logging(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])


def test_each_request_is_logged_as_json_with_its_id(json_log):
    logged, lines = json_log
    client = logged.test_client()

    given = client.get("/healthz", headers={"X-Request-ID": "edge-7f3a9c21"})
    made = client.get("/login", headers={"X-Request-ID": "<script>alert(1)</script>"})

    assert given.headers["X-Request-ID"] == "edge-7f3a9c21"
    made_id = made.headers["X-Request-ID"]
    assert len(made_id) == 32 and made_id.isalnum()  # a proxy's id is taken only if it is one
    requests = [line for line in lines() if line["logger"] == "webapp.requests"]
    assert [(r["request_id"], r["method"], r["path"], r["status"]) for r in requests] == [
        ("edge-7f3a9c21", "GET", "/healthz", 200),
        (made_id, "GET", "/login", 200),
    ]
    assert all(r["level"] == "INFO" and r["duration_ms"] >= 0 and r["time"] for r in requests)


def record_something() -> None:
    logging.getLogger("webapp.sync").warning("store answered slowly")


def test_a_jobs_lines_name_the_job(json_log, run_jobs):
    logged, lines = json_log
    with logged.app_context():
        job = get_queue("sync").enqueue(record_something, job_id="jobrun-41")
        run_jobs()

    [line] = [line for line in lines() if line["message"] == "store answered slowly"]
    assert line["job_id"] == job.id == "jobrun-41" and line["job_run_id"] == 41
    assert line["level"] == "WARNING" and line["logger"] == "webapp.sync"
    assert "request_id" not in line


def test_the_development_servers_own_request_lines_are_not_written_twice(json_log):
    _, lines = json_log
    werkzeug = logging.getLogger("werkzeug")
    werkzeug.info('127.0.0.1 - - "GET /healthz HTTP/1.1" 200 -')  # how it logs each request
    werkzeug.warning("port 5000 is in use")
    assert [(line["logger"], line["message"]) for line in lines()] == [
        ("werkzeug", "port 5000 is in use")
    ]
