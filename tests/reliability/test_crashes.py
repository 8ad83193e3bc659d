"""Crashes: a worker killed with SIGKILL in the middle of a TikTok Shop import, a mapping file
apply, a sync push and an order pull, and the web process killed in the middle of an upload.

Each job runs in a real worker (`worker.py`, in a process of its own, on the suite's Redis and
database), slowed down the way real platforms and files slow it (sandbox latency, a larger
catalog, a larger file). Once its run shows progress, the worker and its work-horse are killed
as a dying machine would kill them. Then: the dashboard shows the run as interrupted within
seconds (the job's page, the Jobs page, the Linking page), never a live one; *Retry* is pressed
as the dashboard presses it and a fresh worker finishes the work; and the final state is
exactly what one uninterrupted run makes (worked out independently: from the sandbox's own
catalog and orders, from the file, or from an uninterrupted run of the same job elsewhere).
"""

from __future__ import annotations

import http.client
import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
from flask import Flask
from rq import Worker
from sqlalchemy import func, select

from config import BASE_DIR
from tests.builders import (
    PASSWORD,
    kept_counts_agree,
    links_of,
    make_account,
    make_store,
    make_user,
    serve_sandbox,
)
from tests.conftest import CSRF_PATTERN
from webapp import devserver
from webapp.accounts.models import MarketplaceAccount, Store, User
from webapp.catalog.jobs import start_marketplace_import, start_store_catalog_refresh
from webapp.catalog.models import MarketplaceSku, StoreSku, match_keys
from webapp.csvio.models import MappingImport, MappingImportRow, MappingImportStatus
from webapp.csvio.uploads import upload_dir
from webapp.dbutil import insert_many, refresh_planner_statistics
from webapp.extensions import db, utcnow
from webapp.jobs.models import JobKind, JobRun, JobStatus
from webapp.jobs.queue import AppJob, redis_connection
from webapp.linking.models import Link, LinkEvent, LinkState
from webapp.linking.services import Target, assign_links, set_link_target
from webapp.orders.jobs import start_orders
from webapp.orders.models import Order, OrderState
from webapp.redis_server import free_port
from webapp.sandbox.magento import create_magento_sandbox
from webapp.sandbox.tiktok import create_tiktok_sandbox
from webapp.sync.models import LinkSync, SyncSettings

HEARTBEAT_SECONDS = 2  # the workers' JOB_HEARTBEAT_SECONDS here: a dead one is seen in ~6 s
SHOWN_WITHIN = 20.0  # seconds from the kill until the dashboard must say "interrupted"
PROGRESS_WITHIN = 60.0
FINISHED_WITHIN = 120.0
INTERRUPTED_TEXT = "the worker running it stopped"
T = TypeVar("T")


# --- processes --------------------------------------------------------------------------------


class Processes:
    """The workers and web servers a test starts, each in a session of its own, on the app's
    database, Redis and sandboxes; whatever is still running at the end is killed."""

    def __init__(self, app: Flask, logs: Path):
        self.app = app
        self.logs = logs
        self.started: list[subprocess.Popen] = []
        self.kills = 0

    def env(self) -> dict[str, str]:
        config = self.app.config
        names = (
            "REDIS_URL",
            "SECRET_KEY",
            "FERNET_KEYS",
            "TIKTOK_API_BASE_URL",
            "TIKTOK_AUTH_BASE_URL",
            "SANDBOX_MAGENTO_URL",
            "TIKTOK_CALLS_PER_SECOND",
            "STORE_CALLS_PER_SECOND",
        )
        return dict(
            os.environ,
            DATABASE_URL=config["SQLALCHEMY_DATABASE_URI"],
            INSTANCE_DIR=self.app.instance_path,
            JOB_HEARTBEAT_SECONDS=str(HEARTBEAT_SECONDS),
            PYTHONUNBUFFERED="1",
            **{name: str(config[name]) for name in names},
        )

    def start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = (self.logs / f"{name}-{len(self.started)}.log").open("wb")
        with log:
            process = subprocess.Popen(
                args,
                cwd=BASE_DIR,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append(process)
        return process

    def worker(self, *queues: str) -> subprocess.Popen:
        return self.start("worker", [sys.executable, "worker.py", *queues])

    def kill_worker_of(self, run: JobRun) -> None:
        """SIGKILL the worker running this run's RQ job and its work-horse, parent first, as
        when the machine dies (the parent gets no chance to notice its horse's death)."""
        connection = redis_connection()
        job = AppJob.fetch(run.rq_job_id, connection=connection)
        worker = Worker.find_by_key(
            Worker.redis_worker_namespace_prefix + job.worker_name, connection=connection
        )
        assert worker is not None and worker.pid in {p.pid for p in self.started}
        horses = children_of(worker.pid)
        assert horses, "the worker has no work-horse: the job is not running"
        for pid in [worker.pid, *horses]:
            os.kill(pid, signal.SIGKILL)
            self.kills += 1
        for process in self.started:
            if process.pid == worker.pid:
                process.wait(timeout=10)
        for pid in horses:
            wait_until(lambda pid=pid: not pid_alive(pid), 10, f"horse {pid} to die")

    def stop(self, process: subprocess.Popen) -> None:
        """A warm stop (SIGTERM), as a deploy stops a worker or a web server."""
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def close(self) -> None:
        for process in self.started:
            pids = [process.pid, *children_of(process.pid)]
            for pid in pids:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            process.wait(timeout=10)
            for pid in pids[1:]:
                wait_until(lambda pid=pid: not pid_alive(pid), 10, f"process {pid} to die")

    def tails(self) -> str:
        return "\n".join(
            f"--- {path.name}\n" + path.read_text(errors="replace")[-3000:]
            for path in sorted(self.logs.glob("*.log"))
        )


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid` (a worker's work-horses, gunicorn's workers)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            children.append(int(stat.parent.name))
    return children


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def processes(app, tmp_path):
    started = Processes(app, tmp_path)
    yield started
    started.close()
    print(started.tails())  # shown when the test failed


# --- waiting and looking ----------------------------------------------------------------------


def wait_until(condition: Callable[[], T], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.05)


def fresh(run_id: int) -> JobRun:
    """The run as the database has it now (a new transaction: SQLite's reads are snapshots)."""
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(JobRun, run_id)


def wait_for_progress(run: JobRun, at_least: int = 1) -> JobRun:
    def half_way() -> JobRun | None:
        now = fresh(run.id)
        assert not now.status.is_over, f"run {run.id} ended before it was caught: {now.error}"
        return now if now.status is JobStatus.RUNNING and now.done >= at_least else None

    return wait_until(half_way, PROGRESS_WITHIN, f"run {run.id} to show progress")


def wait_for_end(run_id: int) -> JobRun:
    run = wait_until(
        lambda: (r := fresh(run_id)).status.is_over and r, FINISHED_WITHIN, f"run {run_id}"
    )
    assert run.status is JobStatus.FINISHED, run.error
    return run


def never_interrupted(client, run: JobRun) -> bool:
    """The run's page, which looks for a stopped worker each time, does not say it stopped."""
    body = client.get(f"/jobs/{run.id}").get_data(as_text=True)
    assert INTERRUPTED_TEXT not in body, f"live run {run.id} was shown interrupted"
    return True


def shown_interrupted(
    client, run: JobRun, killed_at: float, *, alive: JobRun | None = None
) -> float:
    """Poll the job's page as the dashboard's progress card does until it says the worker
    stopped; returns how long that took. Until then it must say running, and so must the
    page of `alive`, a run whose worker lives."""

    def page() -> str | None:
        if alive is not None:
            never_interrupted(client, alive)
        body = client.get(f"/jobs/{run.id}").get_data(as_text=True)
        if INTERRUPTED_TEXT in body:
            return body
        assert "· running" in body, body
        return None

    body = wait_until(page, SHOWN_WITHIN, f"run {run.id} to be shown interrupted")
    waited = time.monotonic() - killed_at
    assert "· interrupted" in body and "press Retry to finish the work" in body
    assert f'action="/jobs/{run.id}/retry"' in body
    assert fresh(run.id).status is JobStatus.INTERRUPTED
    jobs_page = client.get("/jobs/").get_data(as_text=True)
    assert re.search(rf'/jobs/{run.id}">{run.id}</a>.*?Interrupted', jobs_page, re.S)
    return waited


def press_retry(client, run: JobRun) -> JobRun:
    """Retry on the job's card, as the dashboard's htmx form posts it."""
    answer = client.post_form(f"/jobs/{run.id}/retry", htmx=True)
    assert answer.status_code == 200, answer.status_code
    again = db.session.scalar(select(JobRun).order_by(JobRun.id.desc()).limit(1))
    assert again.id > run.id and (again.kind, again.params) == (run.kind, run.params)
    assert again.account_id == run.account_id
    return again


def set_latency(url: str, milliseconds: int) -> None:
    requests.post(
        f"{url}/__sandbox__/faults", json={"latency_ms": milliseconds}, timeout=10
    ).raise_for_status()


def events_of(account_id: int) -> Counter[tuple[str, str]]:
    """How many changes each SKU's link had, by action."""
    return Counter(
        db.session.execute(
            select(MarketplaceSku.sku_id, LinkEvent.action)
            .join(Link, Link.id == LinkEvent.link_id)
            .join(MarketplaceSku, MarketplaceSku.id == Link.marketplace_sku_id)
            .where(Link.account_id == account_id)
        ).all()
    )


# --- the TikTok Shop product import -----------------------------------------------------------

# Three search pages of products, each product's detail read: long enough to catch half-way.
BIG_CATALOG = dict(tiktok_skus=900, products=260)


@pytest.fixture
def big_sandbox(app, sandbox, monkeypatch):
    """TikTok Shop and Magento sandboxes over a larger catalog, for this test's app config."""
    settings = replace(sandbox.settings, **BIG_CATALOG)
    with (
        serve_sandbox(create_tiktok_sandbox, settings) as (tiktok_url, _, catalog),
        serve_sandbox(create_magento_sandbox, settings) as (magento_url, _, _),
    ):
        monkeypatch.setitem(app.config, "TIKTOK_API_BASE_URL", tiktok_url)
        monkeypatch.setitem(app.config, "TIKTOK_AUTH_BASE_URL", tiktok_url)
        monkeypatch.setitem(app.config, "SANDBOX_MAGENTO_URL", magento_url)
        yield tiktok_url, catalog


def _auto_linking_shop(owner: User, run_jobs) -> tuple[Store, MarketplaceAccount]:
    store = make_store(owner.organization)
    account = make_account(owner.organization, owner, store=store)
    account.auto_link_new_products = True
    db.session.commit()
    start_store_catalog_refresh(db.session, store, owner)
    run_jobs()
    return store, account


def test_an_import_killed_half_way_is_shown_interrupted_and_retry_finishes_it(
    app_ctx, big_sandbox, processes, client, run_jobs
):
    tiktok_url, catalog = big_sandbox
    owner = make_user()
    _, account = _auto_linking_shop(owner, run_jobs)
    other = make_user("reference@shop.test", organization="Shop Two")
    _, reference = _auto_linking_shop(other, run_jobs)
    # Slow enough that the reference import outlasts three heartbeats with room to spare
    # (at 20 ms a call it once took 6.2 s, under the 7 s the check below needs).
    set_latency(tiktok_url, 30)

    # Two workers on the imports queue: one runs the import that will be killed, the other
    # an uninterrupted import of the same shop for another organization (the reference).
    run = start_marketplace_import(db.session, account, owner)
    reference_run = start_marketplace_import(db.session, reference, other)
    survivors = processes.worker("imports"), processes.worker("imports")
    caught = wait_for_progress(run)
    wait_for_progress(reference_run)
    client.login(owner.email, PASSWORD)
    processes.kill_worker_of(caught)
    waited = shown_interrupted(client, run, time.monotonic(), alive=reference_run)
    linking = client.get("/").get_data(as_text=True)
    assert f'id="job-{run.id}"' in linking and INTERRUPTED_TEXT in linking

    # The other worker's import, slow as it is, is never taken for interrupted, though it
    # runs longer than a stopped worker takes to be noticed.
    reference_run = wait_until(
        lambda: (
            never_interrupted(client, reference_run)
            and fresh(reference_run.id).status.is_over
            and fresh(reference_run.id)
        ),
        FINISHED_WITHIN,
        "the reference import",
    )
    assert reference_run.status is JobStatus.FINISHED, reference_run.error
    lasted = (reference_run.finished_at - reference_run.started_at).total_seconds()
    assert lasted > 3 * HEARTBEAT_SECONDS + 1
    for process in survivors:
        processes.stop(process)

    half = fresh(run.id)
    assert 0 < half.done < half.total
    retried = press_retry(client, run)
    processes.worker("imports")
    wait_for_end(retried.id)

    shop = catalog.shops[0]
    expected_skus = {sku.id for product in shop.products for sku in product.skus}
    mine, theirs = links_of(account.id), links_of(reference.id)
    assert set(mine) == expected_skus
    assert mine == theirs  # the same SKUs, links and targets as the uninterrupted import
    assert sum(state is LinkState.MAPPED for _, _, _, _, _, _, state, *_ in mine.values()) > 0
    assert events_of(account.id) == events_of(reference.id)
    kept_counts_agree(account.id)
    print(f"import: interrupted shown {waited:.1f} s after the kill")


# --- the mapping file apply -------------------------------------------------------------------

MAPPING_ROWS = 70_000  # a chunk of the apply's 50,000 rows, and 20,000 more


def _bulk_catalog(account: MarketplaceAccount, store: Store, rows: int) -> None:
    """`rows` TikTok SKUs and store SKUs of the same numbers, each SKU with its Not Linked
    row: a big shop, written straight to the tables (as the benchmarks write theirs)."""
    now = utcnow()
    if db.engine.dialect.name == "sqlite":
        now = now.strftime("%Y-%m-%d %H:%M:%S.%f")  # as SQLAlchemy stores it there
    insert_many(
        db.session,
        StoreSku.__table__,
        ("store_id", "remote_id", "sku", "sku_key", "name", "variant", "is_parent",
         "categories", "tags", "enabled", "updated_at"),
        [
            (store.id, f"R{i}", f"ST-{i:07d}", match_keys(f"ST-{i:07d}", None)["sku_key"],
             f"Store product {i}", "", False, "[]", "[]", True, now)
            for i in range(rows)
        ],
    )  # fmt: skip
    insert_many(
        db.session,
        MarketplaceSku.__table__,
        ("account_id", "product_id", "sku_id", "seller_sku", "sku_key", "product_title",
         "variant", "product_status", "currency", "quantity", "inventory", "remote_updated_at",
         "created_at", "updated_at"),
        [
            (account.id, f"P{i // 4}", f"{10**17 + i}", f"TT-{i:07d}",
             match_keys(f"TT-{i:07d}", None)["sku_key"], f"Product {i // 4}", "", "ACTIVATE",
             "USD", 0, "[]", 0, now, now)
            for i in range(rows)
        ],
    )  # fmt: skip
    sku_ids = db.session.scalars(
        select(MarketplaceSku.id).where(MarketplaceSku.account_id == account.id)
    ).all()
    insert_many(
        db.session,
        Link.__table__,
        ("account_id", "marketplace_sku_id", "quantity", "state", "failure_reason", "version",
         "updated_at"),
        [(account.id, sku_id, 1, LinkState.NOT_LINKED.value, "", 1, now) for sku_id in sku_ids],
    )  # fmt: skip
    db.session.commit()
    refresh_planner_statistics(db.session)


def test_a_mapping_apply_killed_half_way_is_shown_interrupted_and_retry_finishes_it(
    app_ctx, processes, client, run_jobs
):
    owner = make_user()
    store = make_store(owner.organization)
    account = make_account(owner.organization, owner, store=store, shop_index=1)
    _bulk_catalog(account, store, MAPPING_ROWS)
    quantity_of = {i: 1 + i % 3 for i in range(MAPPING_ROWS)}
    text = "Seller SKU,Store SKU,Quantity\n" + "".join(
        f"TT-{i:07d},ST-{i:07d},{quantity_of[i]}\n" for i in range(MAPPING_ROWS)
    )
    client.login(owner.email, PASSWORD)
    upload = {"file": (io.BytesIO(text.encode()), "big.csv")}
    client.post_form("/mappings/imports", upload, content_type="multipart/form-data")
    run_jobs()  # the dry run
    mapping_import = db.session.scalar(select(MappingImport))
    assert mapping_import.status is MappingImportStatus.CHECKED
    assert mapping_import.summary["new"] == MAPPING_ROWS

    client.post_form(f"/mappings/imports/{mapping_import.id}/apply")
    run = db.session.get(JobRun, mapping_import.apply_job_id)
    processes.worker("imports")
    caught = wait_for_progress(run)
    processes.kill_worker_of(caught)
    killed_at = time.monotonic()
    waited = shown_interrupted(client, run, killed_at)

    half = fresh(run.id)
    written = db.session.scalar(select(func.count()).where(LinkEvent.job_run_id == run.id))
    assert 0 < half.done == written < MAPPING_ROWS  # some links were written, not all
    retried = press_retry(client, run)
    processes.worker("imports")
    wait_for_end(retried.id)

    mapping_import = db.session.get(MappingImport, mapping_import.id)
    assert mapping_import.status is MappingImportStatus.APPLIED
    assert mapping_import.apply_job_id == retried.id
    page = client.get(f"/mappings/imports/{mapping_import.id}").get_data(as_text=True)
    assert f"/jobs/{retried.id}" in page
    links = links_of(account.id)
    assert len(links) == MAPPING_ROWS
    for seller_sku, *_, state, store_sku, quantity, reason in links.values():
        i = int(seller_sku[3:])
        assert (state, store_sku, quantity, reason) == (
            LinkState.MAPPED,
            f"ST-{i:07d}",
            quantity_of[i],
            "",
        )
    # One change a link, each made by one of the two runs: nothing written twice or missed.
    events = db.session.execute(
        select(LinkEvent.job_run_id, func.count(), func.count(LinkEvent.link_id.distinct()))
        .join(Link, Link.id == LinkEvent.link_id)
        .where(Link.account_id == account.id)
        .group_by(LinkEvent.job_run_id)
    ).all()
    by_run = {job_run_id: (count, distinct) for job_run_id, count, distinct in events}
    assert set(by_run) == {run.id, retried.id}
    assert by_run[run.id][0] == by_run[run.id][1] == written
    assert by_run[retried.id][0] == by_run[retried.id][1] == MAPPING_ROWS - written
    staged = select(func.count()).where(MappingImportRow.import_id == mapping_import.id)
    assert db.session.scalar(staged) == MAPPING_ROWS  # one staged row a line, none added
    kept_counts_agree(account.id)
    print(f"mapping apply: interrupted shown {waited:.1f} s after the kill, {written} written")


# --- the sync push ----------------------------------------------------------------------------


def _link_and_assign(owner: User, store: Store, account: MarketplaceAccount, n: int):
    """Link and assign the first `n` SKUs that have a seller SKU to unique store variants."""
    skus = db.session.scalars(
        select(MarketplaceSku)
        .where(MarketplaceSku.account_id == account.id, MarketplaceSku.seller_sku != "")
        .order_by(MarketplaceSku.id)
        .limit(n)
    ).all()
    shared = (
        select(StoreSku.sku)
        .where(StoreSku.store_id == store.id)
        .group_by(StoreSku.sku)
        .having(func.count() > 1)
    )
    variants = db.session.scalars(
        select(StoreSku)
        .where(
            StoreSku.store_id == store.id,
            StoreSku.is_parent.is_(False),
            StoreSku.sku.not_in(shared),
        )
        .order_by(StoreSku.id)
        .limit(n)
    ).all()
    links = []
    for sku, variant in zip(skus, variants, strict=True):
        link = db.session.scalar(select(Link).where(Link.marketplace_sku_id == sku.id))
        set_link_target(
            db.session, link, [Target(variant.id, 1)], expected_version=None, actor=owner
        )
        links.append(link)
    assign_links(db.session, account, links, actor=owner, batch=None)
    db.session.commit()
    return list(zip(skus, variants, strict=True))


def _set_store_quantity(sandbox, variant: StoreSku, quantity: int) -> int:
    """Set the variant's stock in its default source, as a merchant would; returns the
    quantity the store now has (summed over its sources)."""
    answer = requests.post(
        f"{sandbox.url('magento')}/__sandbox__/magento/products/{variant.remote_id}",
        json={"quantity": quantity},
        timeout=10,
    )
    answer.raise_for_status()
    return answer.json()["quantity"]


def test_a_sync_killed_half_way_is_shown_interrupted_and_retry_finishes_it(
    shop, sandbox, processes, client, run_jobs
):
    owner, store, account = shop
    settings = SyncSettings.defaults(account.id)
    settings.orders = False  # the schedule's sweep, which a sync worker runs, pulls nothing
    db.session.add(settings)
    db.session.commit()
    pairs = _link_and_assign(owner, store, account, 160)
    run_jobs()  # the first push
    new_quantity = {
        sku.sku_id: _set_store_quantity(sandbox, variant, 3 + i % 40)
        for i, (sku, variant) in enumerate(pairs)
    }
    set_latency(sandbox.url("tiktok"), 80)

    client.login(owner.email, PASSWORD)
    client.post_form(f"/sync/accounts/{account.id}/run", htmx=True)
    run = db.session.scalar(
        select(JobRun).where(JobRun.kind == JobKind.SYNC).order_by(JobRun.id.desc())
    )
    processes.worker("sync")
    caught = wait_for_progress(run, at_least=12)
    processes.kill_worker_of(caught)
    waited = shown_interrupted(client, run, time.monotonic())

    assert 0 < fresh(run.id).done < len(pairs)
    retried = press_retry(client, run)
    processes.worker("sync")
    wait_for_end(retried.id)

    state = sandbox.apps["tiktok"].extensions["tiktok_sandbox"].state
    assert set(state.inventory) == {sku.sku_id for sku, _ in pairs}  # nothing else written
    for sku, _ in pairs:
        warehouses = [entry[0] for entry in sku.inventory]
        expected = ((warehouses[0], new_quantity[sku.sku_id]),) + tuple(
            (warehouse, 0) for warehouse in warehouses[1:]
        )
        assert state.inventory[sku.sku_id] == expected, sku.sku_id
        link = db.session.scalar(select(Link).where(Link.marketplace_sku_id == sku.id))
        record = db.session.get(LinkSync, link.id)
        assert (record.quantity, record.store_quantity, record.error) == (
            new_quantity[sku.sku_id],
            new_quantity[sku.sku_id],
            "",
        )
    kept_counts_agree(account.id)
    print(f"sync: interrupted shown {waited:.1f} s after the kill")


# --- the order pull ---------------------------------------------------------------------------

ORDERS = 40


def _place_order(sandbox, account: MarketplaceAccount, items: list[tuple[str, int]]) -> str:
    body = {
        "shop_cipher": account.shop_cipher,
        "items": [{"sku_id": sku_id, "quantity": quantity} for sku_id, quantity in items],
        "buyer": {"name": "Ada Buyer", "address_line1": "1 Main St", "city": "Austin"},
    }
    response = requests.post(
        f"{sandbox.url('tiktok')}/__sandbox__/tiktok/orders", json=body, timeout=10
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_an_order_pull_killed_half_way_is_shown_interrupted_and_retry_finishes_it(
    shop, sandbox, processes, client, run_jobs
):
    owner, store, account = shop
    pairs = _link_and_assign(owner, store, account, 8)
    run_jobs()  # the first push
    wanted: dict[str, Counter[str]] = {}
    for i in range(ORDERS):
        (a, x), (b, y) = pairs[i % 8], pairs[(i + 3) % 8]
        order_id = _place_order(sandbox, account, [(a.sku_id, 1 + i % 2), (b.sku_id, 1)])
        wanted[order_id] = Counter({x.sku: 1 + i % 2}) + Counter({y.sku: 1})
    set_latency(sandbox.url("magento"), 40)

    run = start_orders(db.session, account, owner)
    processes.worker("orders")
    caught = wait_for_progress(run, at_least=5)
    client.login(owner.email, PASSWORD)
    processes.kill_worker_of(caught)
    waited = shown_interrupted(client, run, time.monotonic())

    assert 0 < fresh(run.id).done < ORDERS
    retried = press_retry(client, run)
    processes.worker("orders")
    wait_for_end(retried.id)

    created = requests.get(f"{sandbox.url('magento')}/__sandbox__/magento/orders", timeout=10)
    store_orders = created.json()["orders"]
    assert Counter(o["ext_order_id"] for o in store_orders) == Counter(set(wanted))  # once each
    for store_order in store_orders:
        lines = Counter()
        for item in store_order["items"]:
            lines[item["sku"]] += item["qty_ordered"]
        assert lines == wanted[store_order["ext_order_id"]]
    db.session.expire_all()
    orders = db.session.scalars(select(Order).where(Order.account_id == account.id)).all()
    assert sorted(o.tiktok_order_id for o in orders) == sorted(wanted)
    for order in orders:
        assert (order.state, order.claim) == (OrderState.CREATED, None), order.reason
        assert order.store_order_id and len(order.items) == sum(
            wanted[order.tiktok_order_id].values()
        )
    print(f"orders: interrupted shown {waited:.1f} s after the kill")


# --- the web process stopped in the middle of an upload ----------------------------------------


@contextmanager
def gunicorn(processes: Processes) -> Iterator[tuple[int, subprocess.Popen]]:
    """The dashboard under gunicorn, as production runs it; yields its port."""
    port = free_port()
    server = processes.start(
        "gunicorn",
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "1",
            "--bind",
            f"127.0.0.1:{port}",
            "webapp:create_app()",
        ],
    )

    def answers() -> bool:
        assert server.poll() is None, "gunicorn exited"
        try:
            return requests.get(f"http://127.0.0.1:{port}/login", timeout=5).ok
        except requests.RequestException:
            return False

    wait_until(answers, 60, "gunicorn to answer")
    yield port, server
    processes.stop(server)


def _logged_in(port: int, email: str) -> tuple[requests.Session, str]:
    browser = requests.Session()
    base = f"http://127.0.0.1:{port}"
    token = CSRF_PATTERN.search(browser.get(f"{base}/login", timeout=10).text)
    form = {"email": email, "password": PASSWORD, "csrf_token": token.group(1) or token.group(2)}
    assert (
        browser.post(f"{base}/login", data=form, allow_redirects=False, timeout=10).status_code
        == 302
    )
    token = CSRF_PATTERN.search(browser.get(f"{base}/mappings/", timeout=10).text)
    return browser, token.group(1) or token.group(2)


def _multipart(token: str, content: bytes) -> tuple[str, bytes]:
    boundary = "----crash-test-boundary-7f3a"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return f"multipart/form-data; boundary={boundary}", body


def _database_rows() -> dict[str, Any]:
    db.session.rollback()
    return {
        "links": db.session.execute(
            select(Link.id, Link.state, Link.store_sku_id, Link.version).order_by(Link.id)
        ).all(),
        "runs": db.session.execute(
            select(JobRun.id, JobRun.status, JobRun.done).order_by(JobRun.id)
        ).all(),
        "imports": db.session.scalar(select(func.count()).select_from(MappingImport)),
        "staged": db.session.scalar(select(func.count()).select_from(MappingImportRow)),
    }


def test_make_run_stopping_a_busy_worker_stops_its_work_horse_too(
    app_ctx, app, big_sandbox, processes, monkeypatch
):
    """Ctrl-C under `make run` while a job runs: the worker is asked to stop, waits for its
    job, is asked again (RQ's cold shutdown) and takes its work-horse down with it. The horse
    has a process group of its own: killing the worker instead once left it running."""
    owner = make_user()
    store = make_store(owner.organization)
    set_latency(app.config["SANDBOX_MAGENTO_URL"], 1000)  # a refresh of many seconds
    run = start_store_catalog_refresh(db.session, store, owner)
    worker = processes.worker("imports")
    wait_for_progress(run)  # well under way: the worker's scheduler has started too
    started = children_of(worker.pid)  # the work-horse, and the worker's scheduler
    assert started
    monkeypatch.setattr(devserver, "STOP_TIMEOUT", 1.0)

    devserver._terminate(devserver.Child("import worker", worker))

    assert worker.poll() is not None
    # At once, not when the job would have ended: it had many slow pages to go.
    for pid in started:
        wait_until(lambda pid=pid: not pid_alive(pid), 3, f"process {pid} to stop")
    assert not fresh(run.id).status.is_over  # it was stopped, not finished


def test_the_web_process_killed_mid_upload_loses_nothing_and_the_upload_goes_through_after(
    shop, processes, run_jobs
):
    owner, store, account = shop
    pairs = _link_and_assign(owner, store, account, 20)
    run_jobs()
    before = _database_rows()
    uploads = upload_dir()
    uploads.mkdir(parents=True, exist_ok=True)
    files_before = set(uploads.iterdir())
    rows = "".join(f"{sku.seller_sku},{variant.sku},1\n" for sku, variant in pairs)
    content = ("Seller SKU,Store SKU,Quantity\n" + rows * 4000).encode()  # about 3 MB
    assert len(content) > 2_000_000

    with gunicorn(processes) as (port, server):
        browser, token = _logged_in(port, owner.email)
        content_type, body = _multipart(token, content)
        connection = http_client(port)
        connection.putrequest("POST", "/mappings/imports")
        cookie = "; ".join(f"{c.name}={c.value}" for c in browser.cookies)
        for name, value in (
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cookie", cookie),
        ):
            connection.putheader(name, value)
        connection.endheaders()
        half = len(body) // 2
        for start in range(0, half, 64 * 1024):
            connection.send(body[start : min(start + 64 * 1024, half)])
        os.killpg(server.pid, signal.SIGKILL)  # the web process dies mid-upload
        processes.kills += 1
        server.wait(timeout=10)
        with pytest.raises((OSError, http.client.HTTPException)):
            connection.send(body[half:])
            connection.getresponse()
        connection.close()

    assert _database_rows() == before  # nothing committed lost, nothing half-made
    assert set(uploads.iterdir()) == files_before  # no partial upload left behind

    with gunicorn(processes) as (port, _):
        browser, token = _logged_in(port, owner.email)
        answer = browser.post(
            f"http://127.0.0.1:{port}/mappings/imports",
            data={"csrf_token": token},
            files={"file": ("big.csv", content, "text/csv")},
            allow_redirects=False,
            timeout=60,
        )
    assert answer.status_code == 302 and "/mappings/imports/" in answer.headers["Location"]
    run_jobs()  # its dry run
    mapping_import = db.session.scalar(select(MappingImport))
    assert mapping_import.status is MappingImportStatus.CHECKED, mapping_import.refusal
    assert mapping_import.summary["rows"] == len(pairs) * 4000
    assert mapping_import.summary["unchanged"] == len(pairs)
    assert (uploads / mapping_import.stored_name).read_bytes() == content
    after = _database_rows()
    assert after["links"] == before["links"] and after["imports"] == 1


def http_client(port: int) -> http.client.HTTPConnection:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.connect()
    connection.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    return connection
