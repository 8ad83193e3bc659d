"""Faults: with the sandboxes failing one call in five, every job that talks to a platform
converges to exactly the state a run without faults reaches.

One pipeline, as a shop owner runs it: read the store's catalog, import the TikTok Shop
products, auto-map, assign every mapped row (its first push goes out), push everything again,
then pull orders placed in TikTok Shop into the store. It runs twice on the same sandboxes:
without faults, then with TikTok Shop and the Magento store injecting 20 % faults of every kind
(server errors, rate limits, timeouts after the call ran, answers cut off, and on TikTok Shop
access tokens expiring mid-run). Adapters retry what is safe; what they give up on fails the
job with its reason, and the owner presses Retry (here: `retry_job`, as the button does) until
the job finishes. The two runs must end in the same state, to the row.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import requests
from sqlalchemy import select

from tests.builders import kept_counts_agree, links_of, make_account, make_store, make_user
from tests.conftest import empty_database_and_queues
from webapp.accounts.models import MarketplaceAccount, User
from webapp.catalog.jobs import start_marketplace_import, start_store_catalog_refresh
from webapp.catalog.models import MarketplaceSku, StoreSku
from webapp.extensions import db
from webapp.jobs.models import JobRun, JobStatus
from webapp.jobs.services import retry_job
from webapp.linking.grid import status_counts
from webapp.linking.jobs import start_assign, start_automap
from webapp.linking.models import Link, LinkState
from webapp.orders.jobs import retry_order, start_orders
from webapp.orders.models import Order, OrderState
from webapp.sync.jobs import start_sync

# One call in five fails, in every way each platform can fail.
TIKTOK_FAULTS = dict(
    error_rate=0.05, rate_limit_rate=0.04, timeout_rate=0.03, truncate_rate=0.05,
    token_expiry_rate=0.03,
)  # fmt: skip
STORE_FAULTS = dict(error_rate=0.07, rate_limit_rate=0.02, timeout_rate=0.04, truncate_rate=0.07)
TIMED_OUT_ANSWER_MS = 1200  # the sandbox holds a timed-out answer this long…
CLIENT_TIMEOUT_SECONDS = 0.5  # …and SKU Bridge waits this long for one
RETRIES = 8  # presses of Retry a job may need before the test gives up on it
ORDERS = 6


@pytest.fixture
def quick_calls(app, monkeypatch):
    """Calls that give up on a held answer in half a second and retry without a long wait."""
    monkeypatch.setitem(app.config, "PLATFORM_TIMEOUT_SECONDS", CLIENT_TIMEOUT_SECONDS)
    monkeypatch.setitem(app.config, "PLATFORM_RETRY_BACKOFF_SECONDS", 0.02)


def _faults(sandbox, name: str):
    return sandbox.apps[name].extensions["sandbox_faults"]


def _inject(sandbox, seed: int) -> None:
    _faults(sandbox, "tiktok").configure(**TIKTOK_FAULTS, timeout_ms=TIMED_OUT_ANSWER_MS, seed=seed)
    _faults(sandbox, "magento").configure(
        **STORE_FAULTS, timeout_ms=TIMED_OUT_ANSWER_MS, seed=seed + 1
    )


def _calm(sandbox) -> None:
    for name in ("tiktok", "magento"):
        _faults(sandbox, name).configure(
            **{f"{fate}_rate": 0.0 for fate in ("error", "rate_limit", "timeout", "truncate")},
            token_expiry_rate=0.0,
        )


def _place_orders(sandbox, account: MarketplaceAccount) -> None:
    """Orders of linked SKUs, placed the way a buyer would (the sandbox's own door, which
    injects no faults)."""
    skus = db.session.scalars(
        select(MarketplaceSku.sku_id)
        .join(Link, Link.marketplace_sku_id == MarketplaceSku.id)
        .where(Link.account_id == account.id, Link.state == LinkState.LINKED)
        .order_by(MarketplaceSku.id)
        .limit(ORDERS * 2)
    ).all()
    assert len(skus) == ORDERS * 2
    for first, second in zip(skus[::2], skus[1::2], strict=True):
        response = requests.post(
            f"{sandbox.url('tiktok')}/__sandbox__/tiktok/orders",
            json={
                "shop_cipher": account.shop_cipher,
                "items": [{"sku_id": first, "quantity": 2}, {"sku_id": second, "quantity": 1}],
            },
            timeout=5,
        )
        assert response.status_code == 201, response.text


class Pipeline:
    """The owner's afternoon, each job pressed Retry on until it finishes."""

    def __init__(self, sandbox, run_jobs):
        self.sandbox = sandbox
        self.run_jobs = run_jobs
        self.retries: Counter[str] = Counter()
        self.failures: list[str] = []

    def run(self) -> dict[str, Any]:
        owner = make_user()
        store = make_store(owner.organization)
        account = make_account(owner.organization, owner, store=store)
        self.until_finished(owner, start_store_catalog_refresh(db.session, store, owner))
        self.until_finished(owner, start_marketplace_import(db.session, account, owner))
        self.until_finished(owner, start_automap(db.session, account, [], owner))
        self.until_finished(owner, start_assign(db.session, account, None, owner))
        self.until_finished(owner, start_sync(db.session, account, owner, full=True))
        _place_orders(self.sandbox, account)
        self.until_finished(owner, start_orders(db.session, account, owner))
        self.until_orders_created(owner, account)
        return snapshot(self.sandbox, account)

    def until_finished(self, owner: User, run: JobRun) -> None:
        for _ in range(RETRIES):
            self.run_jobs()
            db.session.refresh(run)
            if run.status is JobStatus.FINISHED:
                return
            assert run.status is JobStatus.FAILED, run.status
            assert run.error, "a failed job says why"
            self.failures.append(run.error)
            self.retries[run.kind.value] += 1
            run = retry_job(db.session, run, owner)
        raise AssertionError(f"{run.kind.label} never finished: {self.failures[-1]}")

    def until_orders_created(self, owner: User, account: MarketplaceAccount) -> None:
        """An order the store failed stays Failed with its reason; Retry on the Orders page
        sends it again."""
        for _ in range(RETRIES):
            db.session.expire_all()
            failed = db.session.scalars(
                select(Order).where(Order.account_id == account.id, Order.state != "created")
            ).all()
            if not failed:
                return
            for order in failed:
                assert order.state is OrderState.FAILED and order.reason, order.state
                self.retries["order"] += 1
                retry_order(db.session, order, owner)
            self.run_jobs()
        raise AssertionError("orders never all reached the store")


def snapshot(sandbox, account: MarketplaceAccount) -> dict[str, Any]:
    """Everything the pipeline made, without ids or times: the catalogs, every link, what
    TikTok Shop holds, the orders here and in the store."""
    db.session.expire_all()
    store_skus = db.session.execute(
        select(StoreSku.remote_id, StoreSku.sku, StoreSku.is_parent, StoreSku.gone_at.is_(None))
        .where(StoreSku.store_id == account.store_id)
        .order_by(StoreSku.remote_id)
    ).all()
    kept_counts_agree(account.id)
    orders = db.session.execute(
        select(Order.state, Order.reason, Order.total).where(Order.account_id == account.id)
    ).all()
    tiktok = sandbox.apps["tiktok"].extensions["tiktok_sandbox"].state
    store_orders = requests.get(
        f"{sandbox.url('magento')}/__sandbox__/magento/orders", timeout=5
    ).json()["orders"]
    assert len({order["ext_order_id"] for order in store_orders}) == len(store_orders)
    return {
        "store_skus": store_skus,
        "links": links_of(account.id),
        "counts": status_counts(db.session, account.id),
        "tiktok_inventory": sorted(tiktok.inventory.values()),
        "orders": sorted(orders),
        "store_orders": sorted(
            sorted((item["sku"], item["qty_ordered"]) for item in order["items"])
            for order in store_orders
        ),
    }


def fault_counts(sandbox) -> dict[str, Counter[str]]:
    kinds = ("errors", "rate_limited", "timed_out", "truncated", "tokens_expired", "requests")
    return {
        name: Counter({kind: _faults(sandbox, name).stats[kind] for kind in kinds})
        for name in ("tiktok", "magento")
    }


def test_every_job_converges_to_the_state_of_a_run_without_faults(
    app_ctx, sandbox, run_jobs, quick_calls
):
    calm = Pipeline(sandbox, run_jobs)
    expected = calm.run()
    assert calm.failures == [], "without faults every job finishes the first time"
    assert expected["counts"][LinkState.LINKED.value] > 0
    assert len(expected["store_orders"]) == ORDERS

    empty_database_and_queues(app_ctx)
    for name in ("tiktok", "magento"):
        _faults(sandbox, name).reset()
    sandbox.apps["tiktok"].extensions["tiktok_sandbox"].state.reset()
    sandbox.apps["magento"].extensions["magento_store"].reset()
    _inject(sandbox, seed=11)
    faulty = Pipeline(sandbox, run_jobs)
    reached = faulty.run()
    injected = fault_counts(sandbox)
    _calm(sandbox)

    assert reached == expected
    for name, kinds in (
        ("tiktok", ("errors", "rate_limited", "timed_out", "truncated", "tokens_expired")),
        ("magento", ("errors", "rate_limited", "timed_out", "truncated")),
    ):
        for kind in kinds:
            assert injected[name][kind] > 0, f"no {kind} injected on {name}: {injected}"
    print(
        f"\nfaults injected: {dict(injected['tiktok'])} on TikTok Shop, "
        f"{dict(injected['magento'])} on the store; Retry pressed {dict(faulty.retries)}"
    )
