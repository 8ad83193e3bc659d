"""`make run`: the whole dashboard on one machine, stopped with one Ctrl-C.

Steps: instance/, a Redis (REDIS_URL, one already on 6379, or one of our own), migrations, the
sandbox APIs, demo data, the RQ worker and the web app. Children run in sessions of their own so
that Ctrl-C reaches only this process, which then stops them in reverse order, Redis last.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import config
from webapp.demo import DEMO_USERS
from webapp.redis_server import OwnedRedis, RedisServerError, ensure_redis, port_is_free
from webapp.sandbox.server import SANDBOXES

if TYPE_CHECKING:
    from flask import Flask

HOST = "127.0.0.1"
STOP_TIMEOUT = 10.0
SANDBOX_START_TIMEOUT = 60.0
WORKERS = {"import worker": ("imports",), "sync worker": ("sync", "orders")}
WEB_START_TIMEOUT = 30.0


class Shutdown(Exception):
    """Raised by the SIGTERM handler, so that a stop request unwinds like Ctrl-C."""


class StartupError(Exception):
    """A step could not run; the message says what to do about it."""


@dataclass(frozen=True)
class Ports:
    web: int
    sandboxes: dict[str, int]  # each emulated platform's port, by its name in SANDBOXES

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Ports:
        return cls(
            web=int(environ.get("PORT", 5000)),
            sandboxes={
                name: int(environ.get(_port_variable(name), port))
                for name, (_, port) in SANDBOXES.items()
            },
        )

    @property
    def tiktok(self) -> int:
        return self.sandboxes["tiktok"]

    def named(self) -> dict[str, tuple[int, str]]:
        """Each port with the variable that chooses another."""
        return {"web app": (self.web, "PORT")} | {
            f"{name} sandbox": (port, _port_variable(name)) for name, port in self.sandboxes.items()
        }


def _port_variable(sandbox: str) -> str:
    return f"SANDBOX_{sandbox.upper()}_PORT"


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    log: Path | None = None

    @property
    def see_log(self) -> str:
        return f" (its output is in {self.log})" if self.log else ""


@dataclass
class ManagedProcesses:
    """Child processes started in order and stopped in reverse order."""

    env: dict[str, str]
    children: list[Child] = field(default_factory=list)

    def start(self, name: str, args: list[str], log: Path | None = None) -> Child:
        """Start a child in a session of its own; its output goes to `log`, or to ours."""
        output = log.open("wb") if log else None
        try:
            process = subprocess.Popen(
                args,
                env=self.env,
                cwd=config.BASE_DIR,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT if output else None,
                start_new_session=True,
            )
        finally:
            if output:
                output.close()  # the child holds its own copy
        child = Child(name, process, log)
        self.children.append(child)
        return child

    def first_exited(self) -> Child | None:
        return next((child for child in self.children if child.process.poll() is not None), None)

    def stop_all(self) -> None:
        for child in reversed(self.children):
            if child.process.poll() is None:
                say(f"Stopping the {child.name}…")
                _terminate(child)
        self.children.clear()


def _terminate(child: Child) -> None:
    """Ask the child to stop; an RQ worker busy with a job finishes it first (a warm
    shutdown). After STOP_TIMEOUT ask again: a second request is RQ's cold shutdown, in which
    the worker kills the work-horse running the job and exits. Killing the worker instead
    would leave the horse running on its own (RQ gives it a process group of its own). Only a
    child that still does not stop is killed."""
    child.process.terminate()
    try:
        child.process.wait(timeout=STOP_TIMEOUT)
        return
    except subprocess.TimeoutExpired:
        say(f"The {child.name} did not stop in {STOP_TIMEOUT:.0f} s; stopping it at once.")
    child.process.terminate()
    try:
        child.process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        say(f"The {child.name} did not stop; killing it.")
        child.process.kill()
        child.process.wait()


def say(message: str) -> None:
    print(f"[make run] {message}", flush=True)


def check_ports_free(ports: Ports) -> None:
    for name, (port, variable) in ports.named().items():
        if _accepts_connections(port) or not port_is_free(port, HOST):
            raise StartupError(
                f"Port {port} (the {name}) is already in use by another program. Stop it, or "
                f"choose another port: {variable}={port + 50} make run"
            )


def child_environment(redis_url: str, ports: Ports) -> dict[str, str]:
    """This process's environment plus REDIS_URL and, unless set, where the sandbox listens."""
    env = dict(os.environ, REDIS_URL=redis_url)
    env.setdefault("TIKTOK_API_BASE_URL", f"http://{HOST}:{ports.tiktok}")
    env.setdefault("TIKTOK_AUTH_BASE_URL", f"http://{HOST}:{ports.tiktok}")
    env.setdefault("SANDBOX_MAGENTO_URL", f"http://{HOST}:{ports.sandboxes['magento']}")
    return env


def app_overrides(env: Mapping[str, str]) -> dict[str, str]:
    """config.Config read the environment at import, before we set these: pass them explicitly."""
    names = ("REDIS_URL", "TIKTOK_API_BASE_URL", "TIKTOK_AUTH_BASE_URL", "SANDBOX_MAGENTO_URL")
    return {name: env[name] for name in names}


def wait_for_ports(child: Child, ports: list[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for port in ports:
        while not _accepts_connections(port):
            if child.process.poll() is not None:
                code = child.process.returncode
                raise StartupError(
                    f"The {child.name} exited (code {code}) while starting{child.see_log}."
                )
            if time.monotonic() > deadline:
                raise StartupError(
                    f"The {child.name} did not listen on port {port} in {timeout:.0f} s"
                    f"{child.see_log}."
                )
            time.sleep(0.1)


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def create_dev_app(overrides: dict[str, str]) -> Flask:
    from webapp import create_app

    return create_app(**{"LOG_FORMAT": os.environ["LOG_FORMAT"], **overrides})


def migrate(app: Flask) -> None:
    import flask_migrate

    say("Applying database migrations…")
    with app.app_context():
        flask_migrate.upgrade()


def seed(app: Flask) -> None:
    from webapp.demo import seed_demo_data

    say("Seeding the demo data (the first run takes a moment)…")
    seed_demo_data(app)


def start_sandbox(processes: ManagedProcesses, ports: Ports) -> None:
    redirect_uri = f"http://{HOST}:{ports.web}/accounts/tiktok/callback"
    args = [sys.executable, "-m", "webapp.sandbox", "--redirect-uri", redirect_uri]
    for name, port in ports.sandboxes.items():
        args += [f"--{name}-port", str(port)]
    args += ["--tiktok-skus", str(config.Config.DEMO_TIKTOK_SKUS)]
    args += ["--products", str(config.Config.DEMO_PRODUCTS)]
    log = config.INSTANCE_DIR / "sandbox.log"  # its request log would drown everything else
    listed = ", ".join(f"{name} :{port}" for name, port in ports.sandboxes.items())
    say(f"Starting the sandbox APIs ({listed}), logging to {log}…")
    sandbox = processes.start("sandbox", args, log=log)
    wait_for_ports(sandbox, list(ports.sandboxes.values()), SANDBOX_START_TIMEOUT)


def start_worker_and_web(processes: ManagedProcesses, ports: Ports) -> None:
    # Imports get a worker of their own, so a long import never holds up sync or orders.
    for name, queues in WORKERS.items():
        say(f"Starting the RQ worker for {' and '.join(queues)}…")
        processes.start(name, [sys.executable, "worker.py", *queues])
    say(f"Starting the web app on port {ports.web}…")
    args = [sys.executable, "-m", "flask", "--app", "webapp", "run"]
    args += ["--host", HOST, "--port", str(ports.web), "--no-reload"]
    web = processes.start("web app", args)
    wait_for_ports(web, [ports.web], WEB_START_TIMEOUT)


def print_banner(ports: Ports) -> None:
    logins = "\n".join(f"    {email} / {password}" for email, password, *_ in DEMO_USERS)
    print(
        f"\n  SKU Bridge is running at http://{HOST}:{ports.web}\n"
        f"  Demo logins:\n{logins}\n"
        "  Press Ctrl-C to stop.\n",
        flush=True,
    )


def watch(processes: ManagedProcesses) -> None:
    """Block until a child exits on its own; Ctrl-C and SIGTERM interrupt this by raising."""
    while True:
        child = processes.first_exited()
        if child:
            code = child.process.returncode
            say(
                f"The {child.name} exited unexpectedly (code {code}){child.see_log}; "
                "stopping the rest."
            )
            return
        time.sleep(0.5)


def run() -> int:
    os.environ.setdefault("LOG_FORMAT", "text")  # a terminal, not a log collector
    ports = Ports.from_env(os.environ)
    check_ports_free(ports)
    say(f"Instance folder: {config.INSTANCE_DIR}")
    config.INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    redis_url, owned_redis = ensure_redis(config.INSTANCE_DIR)
    say(f"Redis: {redis_url}" + (" (started for this run)" if owned_redis else ""))
    env = child_environment(redis_url, ports)
    os.environ.update(env)
    processes = ManagedProcesses(env)
    try:
        app = create_dev_app(app_overrides(env))
        migrate(app)
        start_sandbox(processes, ports)
        seed(app)
        start_worker_and_web(processes, ports)
        print_banner(ports)
        watch(processes)
        return 1
    except (KeyboardInterrupt, Shutdown):
        print(flush=True)
        say("Stopping…")
        return 0
    finally:
        _ignore_stop_signals()  # a second Ctrl-C must not cut the clean-up short
        processes.stop_all()
        _stop_redis(owned_redis)


def _stop_redis(owned_redis: OwnedRedis | None) -> None:
    if owned_redis is not None:
        say("Stopping Redis…")
        owned_redis.stop()
    say("Stopped.")


def _ignore_stop_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _raise_shutdown(_signum: int, _frame: object) -> None:
    raise Shutdown


def main() -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored
    signal.signal(signal.SIGTERM, _raise_shutdown)
    try:
        code = run()
    except (StartupError, RedisServerError) as error:
        say(f"Cannot start: {error}")
        code = 1
    except (KeyboardInterrupt, Shutdown):
        code = 0  # stopped before anything needed stopping
    sys.exit(code)


if __name__ == "__main__":
    main()
