"""Benchmark: the push of N linked SKUs on P TikTok products to TikTok Shop, every quantity changed.

    python bench/sync_push.py [--skus 100000] [--products 20000] [--rate 50]

The sandbox APIs run in a process of their own, serving a generated catalog of N SKUs on P
products with TikTok Shop's rate limit set to --rate calls a second (per app and shop, as the
real API counts them). SKU Bridge's limiter is given the same rate. The database (SQLite, in a
temporary folder) holds the account with every TikTok SKU linked to its store SKU and last
pushed with other quantities, so every quantity has changed and no price or status has.

The push then runs as the sync job does, through a real RQ worker on a Redis. The sandbox's own
statistics give the calls it answered and the rate-limit refusals it sent. Targets (issue 5):
exactly one inventory call per product, zero refusals, wall time ≤ 1.2 × calls ÷ rate. Results
are printed and added to bench/results.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from sandbox_process import start_sandbox, stop_sandbox  # noqa: E402

INVENTORY_CALL = "POST /product/202309/products/{product_id}/inventory/update"
TARGET_WALL_FACTOR = 1.2


def prepare(app, args: argparse.Namespace) -> tuple[int, int, int]:
    """The bench organization, its Magento store and TikTok Shop account (connected through the
    sandbox's consent page, as a seller would), and every SKU of the catalog linked and last
    pushed with a quantity other than the store's. Returns (account id, links, products)."""
    from flask_migrate import upgrade
    from sqlalchemy import insert

    from webapp.accounts.services import TikTokApp
    from webapp.auth.services import create_user
    from webapp.catalog.models import MarketplaceSku, StoreSku
    from webapp.demo import connect_demo_shop
    from webapp.extensions import db, utcnow
    from webapp.linking.models import Link, LinkState
    from webapp.models import UserRole
    from webapp.sandbox.catalog import catalog_for
    from webapp.sandbox.settings import SandboxSettings
    from webapp.stores.services import create_store
    from webapp.sync.models import LinkSync

    catalog = catalog_for(
        SandboxSettings(tiktok_skus=args.skus, products=args.products, catalog_flaws=False)
    )
    shop = catalog.shops[0]
    now = utcnow()
    with app.app_context():
        upgrade()
        owner = create_user(
            db.session,
            email="bench@skubridge.test",
            password="bench-password-1",
            role=UserRole.OWNER,
            organization_name="Bench",
        )
        store = create_store(
            db.session,
            organization_id=owner.organization_id,
            platform="magento",
            name="Bench store",
            base_url=app.config["SANDBOX_MAGENTO_URL"],
            credentials={"access_token": SandboxSettings.magento_token},
            actor=owner,
        )
        account = connect_demo_shop(TikTokApp.from_config(app.config), owner.organization_id, owner)
        account.store_id = store.id
        db.session.commit()

        variants = [p for p in catalog.store_products if p.type_id == "simple"]
        db.session.execute(
            insert(StoreSku),
            [
                {
                    "id": index,
                    "store_id": store.id,
                    "remote_id": str(p.id),
                    "sku": p.sku,
                    "name": p.name,
                    "parent_remote_id": str(p.parent_id) if p.parent_id else None,
                    "price": p.price,
                    "quantity": p.quantity,
                }
                for index, p in enumerate(variants, start=1)
            ],
        )
        variant_of_sku = {p.sku: (index, p) for index, p in enumerate(variants, start=1)}
        marketplace_rows, link_rows, sync_rows = [], [], []
        for product in shop.products:
            for sku in product.skus:
                index = len(marketplace_rows) + 1
                store_index, variant = variant_of_sku[sku.seller_sku]
                marketplace_rows.append(
                    {
                        "id": index,
                        "account_id": account.id,
                        "product_id": product.id,
                        "sku_id": sku.id,
                        "seller_sku": sku.seller_sku,
                        "product_title": product.title,
                        "product_status": product.status,
                        "price": sku.price,
                        "currency": sku.currency,
                        "quantity": sum(q for _, q in sku.inventory),
                        "inventory": [[w, q] for w, q in sku.inventory],
                    }
                )
                link_rows.append(
                    {
                        "id": index,
                        "account_id": account.id,
                        "marketplace_sku_id": index,
                        "store_sku_id": store_index,
                        "state": LinkState.LINKED,
                        "linked_at": now,
                    }
                )
                sync_rows.append(
                    {
                        "link_id": index,
                        "account_id": account.id,
                        "quantity": variant.quantity + 1,  # what was pushed last time
                        "store_quantity": variant.quantity + 1,
                        "price": variant.price,
                        "store_price": variant.price,
                        "active": True,
                        "synced_at": now - timedelta(hours=1),
                    }
                )
        db.session.execute(insert(MarketplaceSku), marketplace_rows)
        db.session.execute(insert(Link), link_rows)
        db.session.execute(insert(LinkSync), sync_rows)
        db.session.commit()
        return account.id, len(link_rows), len(shop.products)


def push(app, account_id: int) -> tuple[float, dict]:
    """Queue the sync job and work it through an RQ worker; its wall time and its result."""
    from rq import SimpleWorker

    from webapp.accounts.models import MarketplaceAccount
    from webapp.extensions import db
    from webapp.jobs.models import JobRun
    from webapp.jobs.queue import AppJob, redis_connection
    from webapp.sync.jobs import QUEUE, start_sync

    with app.app_context():
        account = db.session.get(MarketplaceAccount, account_id)
        run_id = start_sync(db.session, account, None).id
        db.session.commit()
        worker = SimpleWorker([QUEUE], connection=redis_connection(), job_class=AppJob)
        started = time.perf_counter()
        worker.work(burst=True)
        wall = time.perf_counter() - started
        db.session.expire_all()
        run = db.session.get(JobRun, run_id)
        if run.result is None:
            sys.exit(f"The sync job did not finish: {run.status} {run.message}")
        return wall, run.result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skus", type=int, default=100_000)
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=50.0, help="TikTok Shop calls a second")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="skubridge-bench-sync-"))
    common.use_instance(workdir)  # read when the application package is imported
    import requests

    from webapp import create_app
    from webapp.redis_server import OwnedRedis, free_port

    owned_redis = None if os.environ.get("REDIS_URL") else OwnedRedis.start(free_port(), workdir)
    sandbox, urls = start_sandbox(args.skus, args.products, args.rate)
    try:
        app = create_app(
            SQLALCHEMY_DATABASE_URI=f"sqlite:///{workdir / 'bench.db'}",
            REDIS_URL=os.environ.get("REDIS_URL") or owned_redis.url,
            TIKTOK_API_BASE_URL=urls["tiktok"],
            TIKTOK_AUTH_BASE_URL=urls["tiktok"],
            SANDBOX_MAGENTO_URL=urls["magento"],
            TIKTOK_CALLS_PER_SECOND=args.rate,
            STORE_CALLS_PER_SECOND=1000.0,  # the store sandbox is not limited in this bench
        )
        print(f"Preparing {args.skus:,} linked SKUs on {args.products:,} products…", flush=True)
        account_id, links, products = prepare(app, args)
        requests.post(f"{urls['tiktok']}/__sandbox__/reset", timeout=10).raise_for_status()
        print(f"Pushing at {args.rate:g} calls a second…", flush=True)
        wall, result = push(app, account_id)
        stats = requests.get(f"{urls['tiktok']}/__sandbox__/stats", timeout=10).json()
    finally:
        stop_sandbox(sandbox)
        if owned_redis is not None:
            owned_redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    calls = result["calls"]
    ideal = max(calls - 1, 0) / args.rate  # the first call needs no token from the past
    figures = {
        "linked_skus": links,
        "products": products,
        "rate_per_second": args.rate,
        "seconds": round(wall, 2),
        "calls": calls,
        "inventory_calls": stats.get(INVENTORY_CALL, 0),
        "rate_limited": stats.get("rate_limited", 0),
        "ideal_seconds": round(ideal, 2),
        "ratio": round(wall / ideal, 3) if ideal else None,
        "pushed_rows": result["inventory"],
        "failed_rows": result["failed"],
        "limiter_waited_seconds": result.get("waited_seconds"),
    }
    passed = (
        figures["inventory_calls"] == products
        and figures["rate_limited"] == 0
        and figures["pushed_rows"] == links
        and (figures["ratio"] or 0) <= TARGET_WALL_FACTOR
    )
    common.record_result(
        "sync_push",
        figures={k: v for k, v in figures.items() if k not in ("ideal_seconds", "ratio")},
        baseline={"calls_over_rate_seconds": figures["ideal_seconds"]},
        ratio=figures["ratio"],
        target={
            "inventory_calls": "one per product",
            "rate_limited": 0,
            "ratio": TARGET_WALL_FACTOR,
        },
        passed=passed,
    )
    print(
        f"sync push: {links:,} SKUs on {products:,} products in {figures['seconds']} s; "
        f"{figures['inventory_calls']:,} inventory calls of {calls:,}; "
        f"{figures['rate_limited']} rate-limit refusals; "
        f"calls ÷ rate {figures['ideal_seconds']} s; "
        f"ratio {figures['ratio']}; {'PASS' if passed else 'FAIL'} "
        f"(one call per product, no refusals, ratio ≤ {TARGET_WALL_FACTOR})"
    )


if __name__ == "__main__":
    main()
