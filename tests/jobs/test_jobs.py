"""Job runs: failures are recorded with a readable reason, interrupted jobs are noticed."""

from __future__ import annotations

from sqlalchemy import select

from tests.builders import PASSWORD, make_account, make_store, make_user
from webapp.catalog.jobs import start_marketplace_import, start_store_catalog_refresh
from webapp.extensions import db
from webapp.jobs.models import JobKind, JobRun, JobStatus
from webapp.jobs.queue import get_queue
from webapp.jobs.services import record_job_run
from webapp.redis_server import free_port


def test_a_failing_job_records_why(app_ctx, run_jobs):
    owner = make_user()
    store = make_store(owner.organization, token="wrong-token")
    run = start_store_catalog_refresh(db.session, store, owner)
    run_jobs()
    db.session.expire_all()
    run = db.session.get(JobRun, run.id)
    assert run.status is JobStatus.FAILED
    assert "refused" in run.error.lower() or "authoriz" in run.error.lower()
    assert get_queue("imports").failed_job_registry.count == 1  # RQ saw the failure too


def test_an_unreachable_platform_fails_the_job_in_words(app_ctx, app, run_jobs):
    owner = make_user()
    store = make_store(owner.organization)
    store.base_url = f"http://127.0.0.1:{free_port()}"
    db.session.commit()
    run = start_store_catalog_refresh(db.session, store, owner)
    run_jobs()
    db.session.expire_all()
    assert "Could not connect" in db.session.get(JobRun, run.id).error


def test_a_vanished_job_is_shown_as_interrupted_and_can_be_started_again(app_ctx, client):
    owner = make_user()
    account = make_account(owner.organization, owner, store=make_store(owner.organization))
    run = start_marketplace_import(db.session, account, owner)
    get_queue("imports").empty()  # the queue lost it (a Redis flush, a crash…)
    client.login(owner.email, PASSWORD)

    body = client.hx_get(f"/jobs/{run.id}").get_data(as_text=True)
    assert "stopped before it finished" in body
    again = start_marketplace_import(db.session, account, owner)
    assert again.id != run.id


def test_jobs_page_lists_runs(app_ctx, client, run_jobs):
    owner = make_user()
    store = make_store(owner.organization)
    start_store_catalog_refresh(db.session, store, owner)
    run_jobs()
    client.login(owner.email, PASSWORD)
    page = client.get("/jobs/").get_data(as_text=True)
    assert "Store catalog refresh" in page and "Finished" in page
    assert db.session.scalar(select(JobRun.status)) is JobStatus.FINISHED


def _runs(owner, statuses: list[tuple[JobKind, JobStatus]]) -> list[int]:
    ids = []
    for kind, status in statuses:
        run = record_job_run(
            db.session, kind=kind, organization_id=owner.organization_id, actor=None
        )
        run.status = status
        ids.append(run.id)
    db.session.commit()
    return ids


def _listed(body: str) -> list[int]:
    return [int(row.split('"', 1)[0]) for row in body.split('<tr id="job-row-')[1:]]


def test_the_jobs_list_filters_by_status_and_kind_and_pages_back_in_time(app_ctx, client):
    """Scheduled syncs run every few minutes: yesterday's failed import must stay findable."""
    owner = make_user()
    failed_import = _runs(owner, [(JobKind.MARKETPLACE_IMPORT, JobStatus.FAILED)])[0]
    syncs = _runs(owner, [(JobKind.SYNC, JobStatus.FINISHED)] * 54)
    interrupted = _runs(owner, [(JobKind.ORDERS, JobStatus.INTERRUPTED)])[0]
    _runs(
        make_user(email="other@shop.test", organization="Other Shop"),
        [(JobKind.SYNC, JobStatus.FAILED)],
    )
    client.login(owner.email, PASSWORD)

    first = client.get("/jobs/").get_data(as_text=True)
    assert _listed(first) == [interrupted, *reversed(syncs[5:])]  # 50, newest first
    older = client.hx_get(f"/jobs/?before={syncs[5]}", target="job-list").get_data(as_text=True)
    assert "<html" not in older and "← Newest runs" in older and "Older runs" not in older
    assert _listed(older) == [*reversed(syncs[:5]), failed_import]

    failed = client.hx_get("/jobs/?status=failed", target="job-list").get_data(as_text=True)
    assert _listed(failed) == [interrupted, failed_import]  # never another organization's
    imports = client.get("/jobs/?status=failed&kind=marketplace_import").get_data(as_text=True)
    assert _listed(imports) == [failed_import]
    running = client.get("/jobs/?status=running").get_data(as_text=True)
    assert _listed(running) == [] and "No run matches these filters" in running
    for bad in ("status=bogus", "kind=bogus", "before=x"):
        body = client.get(f"/jobs/?{bad}").get_data(as_text=True)
        assert "does not exist" in body or "not valid" in body, bad
        assert len(_listed(body)) == 50


def test_retry_starts_a_failed_job_again(app_ctx, client, run_jobs):
    owner = make_user()
    store = make_store(owner.organization, token="wrong-token")
    failed = start_store_catalog_refresh(db.session, store, owner)
    run_jobs()
    client.login(owner.email, PASSWORD)
    assert "Retry" in client.hx_get(f"/jobs/{failed.id}").get_data(as_text=True)

    store.credentials = {"access_token": "sandbox-magento-token"}
    db.session.commit()
    response = client.post_form(f"/jobs/{failed.id}/retry", htmx=True)
    assert response.status_code == 200
    run_jobs()
    db.session.expire_all()
    runs = db.session.scalars(select(JobRun).order_by(JobRun.id)).all()
    assert [r.status for r in runs] == [JobStatus.FAILED, JobStatus.FINISHED]
    assert runs[1].store_id == store.id
