"""The production shape, started as `docs/deploy/Procfile` writes it: the release step migrates
a fresh database, gunicorn serves the dashboard with its health and readiness answers, and two
workers on one queue share its jobs, each job run exactly once, their log lines naming the
job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import requests
from rq.job import Job

from config import BASE_DIR, TestConfig
from tests.builders import make_store, make_user
from webapp import create_app
from webapp.catalog.jobs import start_store_catalog_refresh
from webapp.extensions import db
from webapp.jobs.models import JobRun, JobStatus
from webapp.jobs.queue import redis_connection
from webapp.redis_server import free_port

PROCFILE = BASE_DIR / "docs" / "deploy" / "Procfile"
JOBS = 8
T = TypeVar("T")


def procfile() -> dict[str, str]:
    lines = [line for line in PROCFILE.read_text().splitlines() if line.strip()]
    return dict(line.split(": ", 1) for line in lines)


def wait_until(condition: Callable[[], T], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Deployment:
    """The Procfile's processes on this machine, each in a session of its own (gunicorn and RQ
    start children), their output in log files."""

    def __init__(self, env: dict[str, str], logs: Path):
        self.env = env
        self.logs = logs
        self.started: list[subprocess.Popen] = []

    def run(self, name: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["sh", "-c", procfile()[name]], cwd=BASE_DIR, env=self.env, capture_output=True
        )

    def start(self, name: str) -> Path:
        log = self.logs / f"{name}-{len(self.started)}.log"
        with log.open("wb") as out:
            self.started.append(
                subprocess.Popen(
                    ["sh", "-c", f"exec {procfile()[name]}"],
                    cwd=BASE_DIR,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        return log

    def stop(self) -> None:
        for process in self.started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


@pytest.fixture
def deployment(sandbox, redis_url, tmp_path) -> Iterator[tuple[Deployment, object, str]]:
    """A fresh SQLite database and a Redis database of their own, the environment every
    process reads, and an app in this process on the same database and Redis."""
    database = f"sqlite:///{tmp_path / 'production.db'}"
    redis = redis_url.rsplit("/", 1)[0] + "/7"
    port = free_port()
    env = dict(
        os.environ,
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        DATABASE_URL=database,
        REDIS_URL=redis,
        INSTANCE_DIR=str(tmp_path / "instance"),
        SECRET_KEY=TestConfig.SECRET_KEY,
        FERNET_KEYS=TestConfig.FERNET_KEYS,
        SANDBOX_MAGENTO_URL=sandbox.url("magento"),
        PORT=str(port),
        WEB_CONCURRENCY="2",
        LOG_FORMAT="json",
        PYTHONUNBUFFERED="1",
    )
    app = create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI=database,
        REDIS_URL=redis,
        SANDBOX_MAGENTO_URL=sandbox.url("magento"),
    )
    processes = Deployment(env, tmp_path)
    try:
        yield processes, app, f"http://127.0.0.1:{port}"
    finally:
        processes.stop()
        with app.app_context():
            redis_connection().flushdb()
            db.engine.dispose()


def test_the_procfile_deploys_and_two_workers_share_one_queue(deployment):
    processes, app, base = deployment
    release = processes.run("release")
    assert release.returncode == 0, release.stderr.decode()[-2000:]

    processes.start("web")
    ready = wait_until(lambda: _answer(f"{base}/readyz"), 60, "gunicorn to be ready")
    assert ready.json() == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "ok", "schema": "ok"},
    }
    assert ready.headers["X-Request-ID"]
    assert requests.get(f"{base}/login", timeout=10).status_code == 200

    logs = [processes.start("worker-imports") for _ in range(2)]  # two workers, one queue
    with app.app_context():
        owner = make_user()
        runs = [
            start_store_catalog_refresh(db.session, make_store(owner.organization), owner)
            for _ in range(JOBS)
        ]
        ids = [run.id for run in runs]

        def finished() -> list[JobRun] | None:
            db.session.expire_all()
            done = [db.session.get(JobRun, run_id) for run_id in ids]
            return done if all(run.status.is_over for run in done) else None

        done = wait_until(finished, 90, "the workers to finish every job")
        assert [run.status for run in done] == [JobStatus.FINISHED] * JOBS, [
            run.error for run in done
        ]
        takers = Counter(
            Job.fetch(run.rq_job_id, connection=redis_connection()).worker_name for run in done
        )
    assert len(takers) == 2 and sum(takers.values()) == JOBS, takers  # both worked, none twice

    lines = [json.loads(line) for log in logs for line in log.read_text().splitlines()]
    by_run = Counter(line["job_run_id"] for line in lines if line.get("job_run_id"))
    assert set(by_run) == set(ids)  # every job's lines name it, in whichever worker ran it


def _answer(url: str) -> requests.Response | None:
    try:
        response = requests.get(url, timeout=5)
    except requests.RequestException:  # not listening yet, or its workers still starting
        return None
    return response if response.status_code == 200 else None


def test_the_worker_says_how_it_is_used_and_refuses_an_unknown_queue(tmp_path):
    def worker(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "worker.py", *arguments],
            cwd=BASE_DIR,
            env={**os.environ, "INSTANCE_DIR": str(tmp_path), "REDIS_URL": "redis://127.0.0.1:1"},
            capture_output=True,
            text=True,
            timeout=60,
        )

    usage = worker("--help")
    assert usage.returncode == 0 and "usage: worker.py [-h] [QUEUE ...]" in usage.stdout
    refused = worker("imports", "bogus")
    assert refused.returncode != 0
    assert "unknown queue bogus (the queues are imports, sync, orders)" in refused.stderr
