"""Progress everywhere a job runs, in headless Chromium: a job's progress is there again when
its page is opened again, and when it is over a toast says so on whatever page its starter has
open, with a link to the job."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.pages import assert_no_reload, set_marker
from webapp.extensions import db
from webapp.jobs.models import JobKind, JobRun, JobStatus
from webapp.jobs.services import record_job_run
from webapp.linking.grid import status_counts
from webapp.linking.jobs import start_automap


def test_a_job_left_behind_is_shown_again_and_its_end_raises_a_toast_elsewhere(
    page, logged_in, owner, shop, run_jobs, save_screenshot
):
    logged_in(owner.email)
    page.goto("/stores/")
    page.get_by_role("button", name="Refresh catalog").click()
    card = page.locator(".job-slot .job-progress")
    expect(card).to_contain_text("Store catalog refresh")
    expect(card).to_contain_text("waiting for a worker")
    run_id = int(card.get_attribute("id").removeprefix("job-"))

    page.goto("/orders/")  # leave it: no worker has taken it yet
    page.goto("/stores/")  # and come back: it is still there
    expect(page.locator(f"#job-{run_id}")).to_contain_text("waiting for a worker")

    page.get_by_role("link", name="Orders", exact=True).click()
    expect(page.locator("#job-watch")).to_have_attribute(
        "hx-trigger", "every 3s, jobStarted from:body"
    )
    run_jobs()
    toast = page.locator("#toasts .toast-success")
    expect(toast).to_contain_text("Store catalog refresh finished.")
    save_screenshot("job-over-toast")
    toast.get_by_role("link", name=f"Open job {run_id}").click()
    expect(page.get_by_role("heading", name=f"Job {run_id}: Store catalog refresh")).to_be_visible()
    expect(page.locator(f"#job-{run_id}")).to_contain_text("done")

    page.reload()  # told once
    page.wait_for_timeout(500)
    expect(page.locator("#toasts .toast")).to_have_count(0)
    db.session.expire_all()
    assert db.session.get(JobRun, run_id).announced_at is not None


def test_the_overview_reads_its_figures_again_when_ones_job_is_over(
    page, logged_in, owner, shop, run_jobs
):
    logged_in(owner.email)
    start_automap(db.session, shop, [], owner)
    page.goto("/overview/")
    states = page.get_by_role("table").filter(has_text="Mapped")
    expect(states.get_by_role("row", name="Mapped")).to_contain_text("0")
    page.wait_for_load_state("load")

    run_jobs()
    expect(page.locator("#toasts")).to_contain_text("Auto-map finished.")
    mapped = status_counts(db.session, shop.id)["mapped"]
    assert mapped > 0
    expect(states.get_by_role("row", name="Mapped")).to_contain_text(f"{mapped:,}")


def test_the_jobs_list_shows_only_failed_runs_when_asked(page, logged_in, owner):
    for status in (JobStatus.FAILED, JobStatus.FINISHED, JobStatus.FINISHED):
        run = record_job_run(
            db.session, kind=JobKind.SYNC, organization_id=owner.organization_id, actor=None
        )
        run.status = status
        run.error = "TikTok Shop refused the call." if status is JobStatus.FAILED else ""
    db.session.commit()
    logged_in(owner.email)
    page.goto("/jobs/")
    rows = page.get_by_role("region", name="Job runs").locator("tbody tr")
    expect(rows).to_have_count(3)
    set_marker(page)

    page.get_by_label("Show").select_option(label="Failed or interrupted")

    expect(page).to_have_url(re.compile(r"[?&]status=failed(&|$)"))
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("TikTok Shop refused the call.")
    expect(rows.first.get_by_role("button", name=re.compile("Retry"))).to_be_visible()
    assert_no_reload(page)
