"""Serve the emulated platforms over HTTP, each on its own port so its paths are the real ones.

Tests start them in threads on free ports (`SandboxServers.start()`); `make run` starts them as one
process (`python -m webapp.sandbox`).
"""

from __future__ import annotations

import argparse
import signal
import threading
from dataclasses import dataclass, field
from importlib import import_module

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from webapp.sandbox.catalog import DemoCatalog, catalog_for
from webapp.sandbox.settings import SandboxSettings

# Each emulated platform: its app factory, and the port `make run` serves it on.
SANDBOXES: dict[str, tuple[str, int]] = {
    "tiktok": ("webapp.sandbox.tiktok:create_tiktok_sandbox", 5001),
    "magento": ("webapp.sandbox.magento:create_magento_sandbox", 5002),
    "shopify": ("webapp.sandbox.shopify:create_shopify_sandbox", 5003),
    "woocommerce": ("webapp.sandbox.woocommerce:create_woocommerce_sandbox", 5004),
    "bigcommerce": ("webapp.sandbox.bigcommerce:create_bigcommerce_sandbox", 5005),
}


def create_sandbox_apps(settings: SandboxSettings, catalog: DemoCatalog) -> dict[str, Flask]:
    apps = {}
    for name, (dotted, _) in SANDBOXES.items():
        module_name, _, factory = dotted.partition(":")
        apps[name] = getattr(import_module(module_name), factory)(settings, catalog)
    return apps


@dataclass
class SandboxServers:
    settings: SandboxSettings
    catalog: DemoCatalog
    apps: dict[str, Flask] = field(default_factory=dict)
    servers: dict[str, BaseWSGIServer] = field(default_factory=dict)
    threads: list[threading.Thread] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        settings: SandboxSettings | None = None,
        *,
        host: str = "127.0.0.1",
        ports: dict[str, int] | None = None,
    ) -> SandboxServers:
        settings = settings or SandboxSettings()
        catalog = catalog_for(settings)
        sandbox = cls(settings=settings, catalog=catalog)
        sandbox.apps = create_sandbox_apps(settings, catalog)
        for name, app in sandbox.apps.items():
            server = make_server(host, (ports or {}).get(name, 0), app, threaded=True)
            sandbox.servers[name] = server
            thread = threading.Thread(target=server.serve_forever, name=f"sandbox-{name}")
            thread.daemon = True
            thread.start()
            sandbox.threads.append(thread)
        return sandbox

    def url(self, name: str) -> str:
        server = self.servers[name]
        return f"http://{server.host}:{server.port}"

    def stop(self) -> None:
        for server in self.servers.values():
            server.shutdown()
            server.server_close()
        for thread in self.threads:
            thread.join(timeout=5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the emulated TikTok Shop and store APIs")
    parser.add_argument("--host", default="127.0.0.1")
    for name, (_, port) in SANDBOXES.items():
        parser.add_argument(f"--{name}-port", type=int, default=port)
    parser.add_argument("--redirect-uri", default=SandboxSettings.redirect_uri)
    parser.add_argument("--tiktok-skus", type=int, default=SandboxSettings.tiktok_skus)
    parser.add_argument("--products", type=int, default=SandboxSettings.products)
    args = parser.parse_args(argv)
    settings = SandboxSettings(
        redirect_uri=args.redirect_uri, tiktok_skus=args.tiktok_skus, products=args.products
    )
    ports = {name: getattr(args, f"{name}_port") for name in SANDBOXES}
    sandbox = SandboxServers.start(settings, host=args.host, ports=ports)
    for name in SANDBOXES:
        print(f"{name} sandbox on {sandbox.url(name)}", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    sandbox.stop()
