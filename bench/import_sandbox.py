"""Benchmark: a first import of N TikTok Shop SKUs on P products from the sandbox over HTTP.

    python bench/import_sandbox.py [--skus 100000] [--products 20000]

The sandbox runs in a process of its own (no rate limit). The baseline, in the same run, reads
the same pages and product details through the same client without writing anything; the
measured import is the dashboard's own (`import_marketplace_products`, as its job runs it)
into a fresh SQLite database. Target (issue 6): the import ≤ 1.5 × the baseline.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from sandbox_process import start_sandbox, stop_sandbox  # noqa: E402

TARGET_RATIO = 1.5


def fetch_only(app, account_id: int) -> tuple[float, int]:
    """Read every search page and every product's detail, as a first import does; write
    nothing. Returns the seconds and the SKUs read."""
    from webapp.accounts.models import MarketplaceAccount
    from webapp.accounts.services import TikTokApp, account_client
    from webapp.extensions import db

    with app.app_context():
        account = db.session.get(MarketplaceAccount, account_id)
        client = account_client(db.session, TikTokApp.from_config(app.config), account)
        started, skus = time.perf_counter(), 0
        try:
            for page in client.iter_products():
                for product in page.products:
                    skus += len(client.get_product(product.id).skus)
        finally:
            client.close()
        return time.perf_counter() - started, skus


def imported(app, account_id: int) -> tuple[float, dict]:
    from webapp.accounts.models import MarketplaceAccount
    from webapp.accounts.services import TikTokApp
    from webapp.catalog.imports import import_marketplace_products
    from webapp.extensions import db
    from webapp.jobs.models import JobKind
    from webapp.jobs.services import ProgressRecorder, record_job_run

    with app.app_context():
        account = db.session.get(MarketplaceAccount, account_id)
        run = record_job_run(
            db.session,
            kind=JobKind.MARKETPLACE_IMPORT,
            organization_id=account.organization_id,
            account_id=account.id,
            actor=None,
        )
        db.session.commit()
        started = time.perf_counter()
        result = import_marketplace_products(
            db.session,
            TikTokApp.from_config(app.config),
            account,
            run,
            ProgressRecorder(db.session, run, interval=1.0),
        )
        return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skus", type=int, default=100_000)
    parser.add_argument("--products", type=int, default=20_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="skubridge-bench-import-"))
    common.use_instance(workdir)
    from webapp.accounts.services import TikTokApp
    from webapp.demo import connect_demo_shop
    from webapp.extensions import db
    from webapp.models import User

    sandbox, urls = start_sandbox(args.skus, args.products)
    try:
        app = common.migrated_app(
            SQLALCHEMY_DATABASE_URI=f"sqlite:///{workdir / 'bench.db'}",
            TIKTOK_API_BASE_URL=urls["tiktok"],
            TIKTOK_AUTH_BASE_URL=urls["tiktok"],
        )
        with app.app_context():
            owner = db.session.query(User).one()
            account = connect_demo_shop(TikTokApp.from_config(app.config), 1, owner)
            db.session.commit()
            account_id = account.id
        print(f"Reading {args.skus:,} SKUs on {args.products:,} products, twice…", flush=True)
        baseline, read = fetch_only(app, account_id)
        seconds, result = imported(app, account_id)
    finally:
        stop_sandbox(sandbox)
        shutil.rmtree(workdir, ignore_errors=True)
    ratio = round(seconds / baseline, 3)
    common.record_result(
        "import_from_sandbox",
        figures={
            "skus": result["skus"],
            "products": result["products"],
            "seconds": round(seconds, 2),
        },
        baseline={"fetch_only_seconds": round(baseline, 2), "skus_read": read},
        ratio=ratio,
        target={"ratio": TARGET_RATIO, "at_skus": 100_000},
        passed=ratio <= TARGET_RATIO and result["skus"] == read,
        at_target_size=args.skus >= 100_000,
    )
    print(
        f"import from the sandbox: {result['skus']:,} SKUs in {seconds:.1f} s; fetching the "
        f"same pages without writing {baseline:.1f} s; ratio {ratio} (target ≤ {TARGET_RATIO})"
    )


if __name__ == "__main__":
    main()
