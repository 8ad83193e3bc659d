"""Progress everywhere a job runs: the rate and time left of a run, its progress on the page
that started it when that page is opened again, and a toast wherever its starter is when it
is over (the job watcher every page carries)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import update

from tests.builders import PASSWORD, make_account, make_store, make_user
from webapp.catalog.jobs import start_marketplace_import, start_store_catalog_refresh
from webapp.extensions import db, utcnow
from webapp.formatting import per_second, time_left
from webapp.jobs import services
from webapp.jobs.models import JobKind, JobRun, JobStatus
from webapp.jobs.services import ProgressRecorder, record_job_run, watch_own_runs
from webapp.orders.jobs import start_orders
from webapp.sync.jobs import start_sync


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(services.time, "monotonic", clock)
    return clock


def _running_run(owner) -> JobRun:
    run = record_job_run(
        db.session,
        kind=JobKind.ASSIGN,
        organization_id=owner.organization_id,
        actor=owner,
    )
    run.status = JobStatus.RUNNING
    db.session.commit()
    return run


def test_the_rate_is_the_current_phases_and_gives_the_time_left(app_ctx, clock):
    run = _running_run(make_user())
    progress = ProgressRecorder(db.session, run)
    progress.update(done=0, total=1000, force=True)
    clock.now += 0.5
    progress.update(done=40)
    assert run.rate is None  # half a second says little

    clock.now += 4.5
    progress.update(done=500, force=True)
    assert run.rate == pytest.approx(100.0)
    assert run.seconds_left == pytest.approx(5.0)

    # A new phase (another total, the count back at zero) measures afresh.
    progress.update(done=0, total=20_000, force=True)
    assert run.rate is None and run.seconds_left is None
    clock.now += 2
    progress.update(done=6000, force=True)
    assert run.rate == pytest.approx(3000.0)
    assert run.seconds_left == pytest.approx(14000 / 3000)
    db.session.expire_all()
    assert db.session.get(JobRun, run.id).rate == pytest.approx(3000.0)  # stored, for the web


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (None, ""),
        (0.2, "about 1 s left"),
        (42, "about 42 s left"),
        (185, "about 3 min left"),
        (3600 + 20 * 60, "about 1 h 20 min left"),
    ],
)
def test_time_left_is_said_in_words(seconds, said):
    assert time_left(seconds) == said


def test_rates_are_said_per_second():
    assert per_second(None) == ""
    assert per_second(12_345.6) == "12,346 a second"
    assert per_second(0.42) == "0.4 a second"


def test_the_progress_card_shows_done_of_total_the_rate_and_the_time_left(app_ctx, client):
    owner = make_user()
    run = _running_run(owner)
    run.total, run.done, run.rate, run.message = 120_000, 30_000, 1500.0, "Writing links…"
    db.session.commit()
    client.login(owner.email, PASSWORD)

    card = client.hx_get(f"/jobs/{run.id}").get_data(as_text=True)
    assert 'value="30000"' in card and 'max="120000"' in card
    assert "30,000 / 120,000 (25%) · 1,500 a second · about 1 min left · Writing links…" in card


def _watch(client):
    response = client.hx_get("/jobs/watch")
    assert response.status_code == 200
    events = json.loads(response.headers.get("HX-Trigger", "{}"))
    return response.get_data(as_text=True), events.get("jobsOver", {}).get("runs", [])


def test_the_watcher_announces_each_of_ones_own_runs_once_when_it_is_over(
    app_ctx, client, run_jobs
):
    owner = make_user()
    store = make_store(owner.organization)
    run = start_store_catalog_refresh(db.session, store, owner)
    client.login(owner.email, PASSWORD)

    watcher, over = _watch(client)
    assert over == [] and "every 3s" in watcher  # it polls while a run is under way

    run_jobs()
    watcher, over = _watch(client)
    assert over == [
        {
            "message": "Store catalog refresh finished.",
            "level": "success",
            "url": f"/jobs/{run.id}",
            "link_text": f"Open job {run.id}",
        }
    ]
    assert "every 3s" not in watcher and "jobStarted from:body" in watcher

    assert _watch(client)[1] == []  # told once
    assert db.session.get(JobRun, run.id).announced_at is not None


def test_a_failed_run_is_announced_as_an_error_with_its_reason(app_ctx, client, run_jobs):
    owner = make_user()
    store = make_store(owner.organization, token="wrong-token")
    run = start_store_catalog_refresh(db.session, store, owner)
    run_jobs()
    client.login(owner.email, PASSWORD)

    [told] = _watch(client)[1]
    assert told["level"] == "error"
    assert told["message"].startswith("Store catalog refresh failed: ")
    assert db.session.get(JobRun, run.id).error in told["message"]


def test_the_watcher_tells_only_of_ones_own_recent_runs(app_ctx, client, run_jobs):
    owner = make_user()
    colleague = make_user("colleague@shop.test")  # the same organization
    store = make_store(owner.organization)
    account = make_account(owner.organization, owner, store=store)
    start_store_catalog_refresh(db.session, store, colleague)  # someone else's
    start_sync(db.session, account, None)  # the schedule's
    old = start_marketplace_import(db.session, account, owner)
    run_jobs()
    db.session.execute(
        update(JobRun)
        .where(JobRun.id == old.id)
        .values(finished_at=utcnow() - services.ANNOUNCE_WITHIN - timedelta(minutes=1))
    )
    db.session.commit()
    client.login(owner.email, PASSWORD)

    assert _watch(client)[1] == []
    assert [run.id for run in watch_own_runs(db.session, colleague, owner.organization_id).over]


def test_starting_a_job_wakes_the_watcher(app_ctx, client):
    owner = make_user()
    make_store(owner.organization)
    client.login(owner.email, PASSWORD)
    store_id = owner.organization.stores[0].id

    response = client.post_form(f"/catalog/stores/{store_id}/refresh", htmx=True)
    assert response.status_code == 200
    assert "jobStarted" in json.loads(response.headers["HX-Trigger"])
    page = client.get("/stores/").get_data(as_text=True)
    assert 'id="job-watch"' in page and "load, jobStarted from:body" in page


def test_pages_that_start_jobs_show_them_again_when_reopened(app_ctx, client):
    owner = make_user()
    store = make_store(owner.organization)
    account = make_account(owner.organization, owner, store=store)
    refresh = start_store_catalog_refresh(db.session, store, owner)
    sync = start_sync(db.session, account, owner)
    orders = start_orders(db.session, account, owner)
    client.login(owner.email, PASSWORD)

    for url, run in [
        ("/stores/", refresh),
        (f"/sync/accounts/{account.id}/settings", sync),
        ("/orders/", orders),
    ]:
        page = client.get(url).get_data(as_text=True)
        assert f'id="job-{run.id}"' in page, url
        assert "waiting for a worker" in page, url


def test_the_jobs_list_follows_runs_under_way_and_offers_retry(app_ctx, client, run_jobs):
    owner = make_user()
    failing = make_store(owner.organization, token="wrong-token")
    failed = start_store_catalog_refresh(db.session, failing, owner)
    run_jobs()
    working = make_store(owner.organization)
    queued = start_store_catalog_refresh(db.session, working, owner)
    client.login(owner.email, PASSWORD)

    page = client.get("/jobs/").get_data(as_text=True)
    row = page[page.index(f'id="job-row-{queued.id}"') :].split("</tr>")[0]
    assert 'hx-trigger="every 2s"' in row
    row = page[page.index(f'id="job-row-{failed.id}"') :].split("</tr>")[0]
    assert "hx-trigger" not in row and f'action="/jobs/{failed.id}/retry"' in row

    run_jobs()
    row = client.hx_get(f"/jobs/{queued.id}", target=f"job-row-{queued.id}").get_data(as_text=True)
    assert row.lstrip().startswith(f'<tr id="job-row-{queued.id}"') and "Finished" in row
    assert "hx-trigger" not in row  # over: it stops polling
