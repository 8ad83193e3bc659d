"""Undo of bulk link changes from the job's progress component, its page and the jobs list."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from tests.builders import PASSWORD, make_account, make_store, make_user
from webapp.catalog.jobs import start_marketplace_import, start_store_catalog_refresh
from webapp.catalog.models import StoreSku
from webapp.extensions import db
from webapp.jobs.models import JobKind, JobRun, JobStatus
from webapp.linking.jobs import start_assign
from webapp.linking.models import Link, LinkState
from webapp.linking.services import Target, set_link_target


@pytest.fixture
def shop(app_ctx, client, run_jobs):
    owner = make_user()
    store = make_store(owner.organization)
    account = make_account(owner.organization, owner, store=store)
    import_run = start_marketplace_import(db.session, account, owner)
    start_store_catalog_refresh(db.session, store, owner)
    run_jobs()
    client.login(owner.email, PASSWORD)
    return owner, store, account, import_run


@pytest.fixture
def assigned(shop, run_jobs):
    """Two rows mapped by hand, then made Linked by an Assign job that has finished."""
    owner, store, account, _ = shop
    links = db.session.scalars(select(Link).order_by(Link.id).limit(2)).all()
    variants = db.session.scalars(
        select(StoreSku)
        .where(StoreSku.store_id == store.id, StoreSku.is_parent.is_(False))
        .order_by(StoreSku.id.desc())
        .limit(2)
    ).all()
    for link, variant in zip(links, variants, strict=True):
        set_link_target(db.session, link, [Target(variant.id)], expected_version=None, actor=owner)
    db.session.commit()
    run = start_assign(db.session, account, [link.id for link in links], owner)
    run_jobs()
    db.session.refresh(run)
    assert run.status is JobStatus.FINISHED and run.result["linked"] == 2
    return run, [link.id for link in links]


def _states(ids: list[int]) -> list[LinkState]:
    db.session.expire_all()
    return [db.session.get(Link, link_id).state for link_id in ids]


def _runs() -> int:
    return db.session.scalar(select(func.count(JobRun.id)))


def test_the_undo_button_shows_only_for_finished_bulk_link_jobs(shop, assigned, client):
    *_, import_run = shop
    run, _ = assigned

    card = client.hx_get(f"/jobs/{run.id}").get_data(as_text=True)
    assert f'hx-post="/jobs/{run.id}/undo"' in card and "hx-confirm=" in card

    import_card = client.hx_get(f"/jobs/{import_run.id}").get_data(as_text=True)
    assert "/undo" not in import_card
    page = client.get(f"/jobs/{run.id}").get_data(as_text=True)
    assert f'action="/jobs/{run.id}/undo"' in page
    listing = client.get("/jobs/").get_data(as_text=True)
    assert listing.count("/undo") == 2  # action and hx-post of the Assign run's form only


def test_undo_through_the_view_reverts_the_rows(shop, assigned, client, run_jobs):
    run, ids = assigned
    assert _states(ids) == [LinkState.LINKED, LinkState.LINKED]

    response = client.post_form(f"/jobs/{run.id}/undo", htmx=True)

    assert response.status_code == 200
    body = response.get_data(as_text=True)
    undo_run = db.session.scalar(select(JobRun).where(JobRun.kind == JobKind.UNDO))
    assert f'id="job-{undo_run.id}"' in body and f'undoes <a href="/jobs/{run.id}">' in body
    toast = json.loads(response.headers["HX-Trigger"])["showMessage"]
    assert toast["message"] == f"Undoing job {run.id}: Assign Products…"
    run_jobs()
    assert _states(ids) == [LinkState.MAPPED, LinkState.MAPPED]
    db.session.refresh(run)
    assert run.undone_by_id == undo_run.id

    card = client.hx_get(f"/jobs/{run.id}").get_data(as_text=True)
    assert f'Undone by <a href="/jobs/{undo_run.id}">job {undo_run.id}</a>' in card
    assert "/undo" not in card
    undo_card = client.hx_get(f"/jobs/{undo_run.id}").get_data(as_text=True)
    assert "reverted: <strong>2</strong>" in undo_card and "/undo" not in undo_card
    assert "Undone by" in client.get("/jobs/").get_data(as_text=True)


def test_a_second_undo_is_refused(shop, assigned, client, run_jobs):
    run, ids = assigned
    client.post_form(f"/jobs/{run.id}/undo", htmx=True)
    run_jobs()
    runs = _runs()

    response = client.post_form(f"/jobs/{run.id}/undo", htmx=True)

    assert response.status_code == 409
    toast = json.loads(response.headers["HX-Trigger"])["showMessage"]
    assert toast == {"message": "This change was already undone.", "level": "error"}
    assert f'id="job-{run.id}"' in response.get_data(as_text=True)
    assert _runs() == runs
    assert _states(ids) == [LinkState.MAPPED, LinkState.MAPPED]


def test_a_job_that_is_not_a_bulk_link_change_cannot_be_undone(shop, client):
    *_, import_run = shop
    runs = _runs()
    response = client.post_form(f"/jobs/{import_run.id}/undo", htmx=True)
    assert response.status_code == 409
    assert "Only bulk link changes can be undone." in response.headers["HX-Trigger"]
    assert _runs() == runs


def test_a_job_still_under_way_cannot_be_undone(shop, client):
    owner, _, account, _ = shop
    queued = start_assign(db.session, account, None, owner)  # no worker runs it
    response = client.post_form(f"/jobs/{queued.id}/undo", htmx=True)
    assert response.status_code == 409
    assert "Wait until the job has finished" in response.headers["HX-Trigger"]


def test_undo_without_htmx_goes_to_the_undo_jobs_page(shop, assigned, client):
    run, _ = assigned
    response = client.post_form(f"/jobs/{run.id}/undo")
    undo_run = db.session.scalar(select(JobRun).where(JobRun.kind == JobKind.UNDO))
    assert response.status_code == 302
    assert response.headers["Location"] == f"/jobs/{undo_run.id}"


def test_another_organizations_job_is_a_404(shop, assigned, client):
    run, _ = assigned
    other = make_user("other@shop.test", organization="Shop Two")
    theirs = JobRun(kind=JobKind.ASSIGN, organization_id=other.organization_id)
    theirs.status = JobStatus.FINISHED
    db.session.add(theirs)
    db.session.commit()
    runs = _runs()
    assert client.post_form(f"/jobs/{theirs.id}/undo", htmx=True).status_code == 404
    assert client.post_form("/jobs/abc/undo", htmx=True).status_code == 404
    assert _runs() == runs
