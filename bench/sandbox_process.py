"""The sandbox APIs in a process of their own, for benchmarks that talk to them over HTTP
(the dashboard's side then has a core to itself).

    python bench/sandbox_process.py --skus N --products P [--rate R]

prints the platforms' URLs as one JSON line once they listen, and serves until SIGTERM. The
catalog has no flaws: every seller SKU is its store SKU.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def serve(skus: int, products: int, rate: float) -> None:
    from webapp.sandbox.server import SANDBOXES, SandboxServers
    from webapp.sandbox.settings import SandboxSettings

    settings = SandboxSettings(
        tiktok_skus=skus, products=products, rate_limit_per_second=rate, catalog_flaws=False
    )
    sandbox = SandboxServers.start(settings)
    for app in sandbox.apps.values():
        app.logger.disabled = True
    print(json.dumps({name: sandbox.url(name) for name in SANDBOXES}), flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    stopped.wait()
    sandbox.stop()


def start_sandbox(skus: int, products: int, rate: float = 0) -> tuple[subprocess.Popen, dict]:
    """Start the sandbox process; returns it and the platforms' base URLs by name."""
    command = [sys.executable, __file__, "--skus", str(skus), "--products", str(products)]
    command += ["--rate", str(rate)]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    line = process.stdout.readline()
    if not line:
        sys.exit("The sandbox did not start.")
    return process, json.loads(line)


def stop_sandbox(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=30)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skus", type=int, required=True)
    parser.add_argument("--products", type=int, required=True)
    parser.add_argument("--rate", type=float, default=0.0)
    args = parser.parse_args()
    serve(args.skus, args.products, args.rate)
