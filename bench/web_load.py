"""Benchmark: the dashboard under gunicorn with many users at once (SQLite).

    python bench/web_load.py [--links 1000000] [--clients 50] [--seconds 60]

Writes a database of N links in every state (bench/common.py), starts the dashboard under
gunicorn (sync workers, 2 × cores + 1) and lets `--clients` simulated users work
on it for `--seconds`: each logs in, then, with a think time of 0.25 to 0.75 s between
requests (a person reading the page), opens a tab's first page or a deep page, searches
for a seller SKU, or links and unlinks a row of its own inline, as the browser's htmx sends
them. The clients run in processes of their own, so the load generator's GIL does not add to
the latencies. The baseline, in the same run, is one client alone for a quarter of the time
(15 s at least): what the same requests cost on an idle server. Reports p50 / p95 / p99 of
every request and the errors (any answer other than 200, or no answer), and the same
percentiles of the time the gunicorn worker spent on each request (its access log): the
difference is time spent waiting for a free worker and for the CPU.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

TARGETS = {"p99_ms": 200.0, "errors": 0}
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|"X-CSRFToken": "([^"]+)"')
THINK_SECONDS = (0.25, 0.75)
STATUSES = ("all", "linked", "mapped", "not_linked", "failed")
# What a user does, and how often: reading the grid most, editing a row now and then.
MIX = (("tab", 35), ("deep", 20), ("search", 20), ("edit", 25))
CLIENTS_PER_PROCESS = 10
TIMED_HEADER = "X-Bench-Timed"  # marks the measured requests in the access log, by run


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(workdir: Path, port: int, workers: int, access_log: Path) -> subprocess.Popen:
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--access-logfile",
            str(access_log),
            "--access-logformat",
            f"%(D)s %({{{TIMED_HEADER.lower()}}}i)s",
            "webapp:create_app()",
        ],
        cwd=common.ROOT,
        env=os.environ | {"INSTANCE_DIR": str(workdir)},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/login", timeout=10).status_code == 200:
                    return server
            except requests.RequestException:  # not listening yet, or starting its workers
                time.sleep(0.2)
        sys.exit("gunicorn did not answer within 60 s")
    except BaseException:
        stop(server)  # never leave it running behind a benchmark that stopped
        raise


def stop(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)


class Client:
    """One user: a logged-in session and the Not Linked rows it edits (its own, so that two
    users never edit the same row and every conflict would be a bug).

    Plain `http.client`, a connection a request (gunicorn's sync workers close each one) and
    the session cookie kept by hand: the load generator shares the server's cores, so it
    should spend as little of them as it can (`requests` cost about 4 ms of CPU a request
    here, a quarter of what the server spends)."""

    def __init__(self, base: str, links: int, rows: list[int]):
        self.address = urlsplit(base).netloc
        self.links, self.rows = links, rows
        self.cookies: dict[str, str] = {}
        self.headers: dict[str, str] = {}
        self.versions = dict.fromkeys(rows, 1)
        self.linked: set[int] = set()
        _, page = self.send("GET", "/login")
        form = {
            "email": common.BENCH_EMAIL,
            "password": common.BENCH_PASSWORD,
            "csrf_token": _token(page),
        }
        status, _ = self.send("POST", "/login", form)
        if status != 302:
            raise RuntimeError(f"login answered {status}")
        _, page = self.send("GET", "/")
        self.headers = {"HX-Request": "true", "HX-Target": "linking-grid"}
        self.headers["X-CSRFToken"] = _token(page)

    def send(self, method: str, path: str, form: dict | None = None) -> tuple[int, str]:
        """One request as the browser sends it; returns the status and the page."""
        headers = self.headers | {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection(self.address, timeout=30)
        try:
            connection.request(method, path, body, headers)
            answer = connection.getresponse()
            page = answer.read()
        finally:
            connection.close()
        for cookie in answer.headers.get_all("Set-Cookie") or ():
            name, _, rest = cookie.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return answer.status, page.decode()

    def request(self, kind: str, chance: random.Random) -> int:
        status = chance.choice(STATUSES)
        if kind == "tab":
            return self.send("GET", f"/?status={status}")[0]
        if kind == "deep":
            after = chance.randrange(self.links // 2, self.links)
            return self.send("GET", f"/?status={status}&after={after}")[0]
        if kind == "search":
            return self.send("GET", f"/?q=TT-{chance.randrange(1, self.links):07d}")[0]
        row = chance.choice(self.rows)
        version = self.versions[row]
        if row in self.linked:
            answer = self.send("POST", f"/links/{row}/unlink", {"version": version})[0]
            self.linked.discard(row)
        else:
            form = {"version": version, "store_sku_id": row, "quantity": 1}
            answer = self.send("POST", f"/links/{row}", form)[0]
            self.linked.add(row)
        self.versions[row] = version + 1
        return answer


def _token(page: str) -> str:
    return next(group for group in CSRF.search(page).groups() if group)


def run_clients(arguments: tuple) -> tuple[list[tuple[str, float, int]], list[str], float]:
    """In a process of its own: some clients in threads, each logging in, waiting for the
    common start, then working until the end. Returns (kind, milliseconds, status) of every
    request made in the window (status 0: no answer), why any client stopped early, and the
    CPU seconds this process used in the window."""
    import threading

    base, links, rows_by_client, start_at, seconds, seed, run = arguments
    samples: list[tuple[str, float, int]] = []
    failures: list[str] = []
    lock = threading.Lock()
    kinds = [kind for kind, weight in MIX for _ in range(weight)]

    def work(number: int, rows: list[int]) -> None:
        try:
            work_until_the_end(number, rows)
        except Exception as error:  # a user who stopped (say, could not log in) is an error too
            with lock:
                failures.append(f"{type(error).__name__}: {error}"[:200])

    def work_until_the_end(number: int, rows: list[int]) -> None:
        chance = random.Random(seed * 1000 + number)
        client = Client(base, links, rows)
        for kind in ("tab", "deep", "search"):  # untimed: templates and caches warm
            client.request(kind, chance)
        client.headers[TIMED_HEADER] = run
        time.sleep(max(0.0, start_at - time.time() + chance.uniform(*THINK_SECONDS)))
        while time.time() < start_at + seconds:
            kind = chance.choice(kinds)
            started = time.perf_counter()
            try:
                status = client.request(kind, chance)
            except (OSError, http.client.HTTPException):  # no answer (a timeout is an OSError)
                status = 0
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                samples.append((kind, elapsed, status))
            time.sleep(chance.uniform(*THINK_SECONDS))

    threads = [
        threading.Thread(target=work, args=(number, rows))
        for number, rows in enumerate(rows_by_client)
    ]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, start_at - time.time()))
    cpu_at_start = time.process_time()
    time.sleep(max(0.0, start_at + seconds - time.time()))
    cpu_in_window = time.process_time() - cpu_at_start
    for thread in threads:
        thread.join()
    return samples, failures, cpu_in_window


def load(
    base: str,
    server: subprocess.Popen,
    links: int,
    clients: int,
    seconds: float,
    first_row: int,
    run: str,
) -> dict:
    """`clients` users for `seconds`; each owns 20 Not Linked rows (digit 7 of the row
    numbers, see common.STATE_OF_DIGIT), starting at row `first_row`."""
    rows = [[first_row + 10 * (20 * c + k) for k in range(20)] for c in range(clients)]
    processes = max(1, -(-clients // CLIENTS_PER_PROCESS))
    start_at = time.time() + 5 + clients * 0.25  # every client logged in by then
    jobs = [(base, links, rows[p::processes], start_at, seconds, p, run) for p in range(processes)]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        waiting = pool.map_async(run_clients, jobs)
        time.sleep(max(0.0, start_at - time.time()))
        server_cpu = cpu_seconds(server.pid)
        time.sleep(max(0.0, start_at + seconds - time.time()))
        server_cpu = cpu_seconds(server.pid) - server_cpu
        parts = waiting.get()
    samples = [sample for part, _, _ in parts for sample in part]
    if not samples:
        sys.exit(f"{run}: no request was answered: {[f for _, failed, _ in parts for f in failed]}")
    result = summarize(samples, [failure for _, failed, _ in parts for failure in failed], seconds)
    requests_made = max(1, len(samples))
    result["cpu_ms_per_request"] = {
        "server": round(server_cpu * 1000 / requests_made, 1),
        "load_generator": round(sum(cpu for _, _, cpu in parts) * 1000 / requests_made, 1),
    }
    result["cpu_cores_busy"] = {
        "server": round(server_cpu / seconds, 2),
        "load_generator": round(sum(cpu for _, _, cpu in parts) / seconds, 2),
        "of": os.cpu_count(),
    }
    return result


def cpu_seconds(master_pid: int) -> float:
    """CPU seconds used so far by gunicorn's master and its workers (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        pid, parent = int(stat.parent.name), int(fields[1])
        if master_pid in (pid, parent):
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def server_times(access_log: Path, run: str) -> dict:
    """Percentiles of the worker's own time on the measured requests of `run`."""
    times = [
        int(micros) / 1000
        for micros, marker in (line.split() for line in access_log.read_text().splitlines())
        if marker == run
    ]
    return {
        f"{name}_ms": round(common.percentile(times, share), 1)
        for name, share in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
    }


def summarize(samples: list[tuple[str, float, int]], failures: list[str], seconds: float) -> dict:
    def figures(times: list[float]) -> dict:
        return {
            "requests": len(times),
            "p50_ms": round(common.percentile(times, 0.5), 1),
            "p95_ms": round(common.percentile(times, 0.95), 1),
            "p99_ms": round(common.percentile(times, 0.99), 1),
            "max_ms": round(max(times), 1),
        }

    errors = [(kind, status) for kind, _, status in samples if status != 200]
    result = figures([ms for _, ms, _ in samples]) | {
        "requests_per_second": round(len(samples) / seconds, 1),
        "errors": len(errors) + len(failures),
        "error_examples": sorted({f"{kind}: {status}" for kind, status in errors})[:5],
        "clients_stopped": len(failures),
        "why_clients_stopped": sorted(set(failures))[:5],
    }
    by_kind = {kind: [ms for k, ms, _ in samples if k == kind] for kind, _ in MIX}
    result["by_kind"] = {kind: figures(times) for kind, times in by_kind.items() if times}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="skubridge-bench-load-"))
    server = None
    common.use_instance(workdir)
    database = common.Database(workdir)
    try:
        database.__enter__()
        common.migrated_app()
        print(f"Writing {args.links:,} links in every state ({database.dialect})…", flush=True)
        common.write_catalog(database, args.links, link_states=True)
        port = free_port()
        access_log = workdir / "access.log"
        server = start_gunicorn(workdir, port, args.workers, access_log)
        base = f"http://127.0.0.1:{port}"
        # Every worker warm (templates compiled, caches filled) before anything is timed.
        load(base, server, args.links, args.workers, 3.0, 7 + 200 * (args.clients + 1), "warm-up")
        alone_seconds = max(args.seconds / 4, 15.0)
        print(f"One client alone for {alone_seconds:g} s (the baseline)…", flush=True)
        alone = load(base, server, args.links, 1, alone_seconds, 7 + 200 * args.clients, "alone")
        print(f"{args.clients} clients for {args.seconds:g} s…", flush=True)
        loaded = load(base, server, args.links, args.clients, args.seconds, 7, "loaded")
        loaded["in_worker"] = server_times(access_log, "loaded")
    finally:
        if server is not None:
            stop(server)
        database.__exit__()
        shutil.rmtree(workdir, ignore_errors=True)
    report(args, alone, loaded)


def report(args, alone: dict, loaded: dict) -> None:
    at_size = args.links >= 1_000_000 and args.clients >= 50 and args.seconds >= 60
    passed = loaded["p99_ms"] <= TARGETS["p99_ms"] and loaded["errors"] == TARGETS["errors"]
    common.record_result(
        "web_under_load",
        figures={
            "links": args.links,
            "clients": args.clients,
            "seconds": args.seconds,
            "gunicorn_workers": args.workers,
            "think_seconds": list(THINK_SECONDS),
        }
        | loaded,
        baseline={
            "one_client_alone": {
                k: alone[k] for k in ("p50_ms", "p95_ms", "p99_ms", "cpu_ms_per_request")
            }
        },
        ratio=round(loaded["p99_ms"] / alone["p99_ms"], 2),
        target=TARGETS | {"at_links": 1_000_000, "at_clients": 50, "at_seconds": 60},
        passed=passed,
        at_target_size=at_size,
    )
    verdict = ("PASS" if passed else "FAIL") if at_size else "no verdict"
    print(
        f"web under load: {args.clients} clients, {loaded['requests']:,} requests in "
        f"{args.seconds:g} s ({loaded['requests_per_second']}/s): p50 {loaded['p50_ms']} ms, "
        f"p99 {loaded['p99_ms']} ms ({loaded['in_worker']['p99_ms']} ms of it in the worker), "
        f"{loaded['errors']} errors; one client alone p99 "
        f"{alone['p99_ms']} ms; {verdict} (targets {TARGETS})"
    )
    print(
        f"CPU a request: server {loaded['cpu_ms_per_request']['server']} ms, load generator "
        f"{loaded['cpu_ms_per_request']['load_generator']} ms; cores busy: "
        f"{loaded['cpu_cores_busy']}"
    )
    print(json.dumps(loaded["by_kind"], indent=2))


if __name__ == "__main__":
    main()
