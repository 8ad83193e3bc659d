"""Empty and error states say what to do next: no account, no store, nothing imported, an
empty tab, nothing to assign, a search that finds nothing, a job that failed."""

from __future__ import annotations

import pytest
from markupsafe import escape

from tests.builders import PASSWORD, make_account, make_store, make_user
from webapp.catalog.jobs import start_store_catalog_refresh
from webapp.extensions import db


@pytest.mark.parametrize("url", ["/", "/orders/", "/mappings/", "/overview/"])
def test_without_an_account_each_page_offers_to_connect_one(app_ctx, client, url):
    owner = make_user()
    client.login(owner.email, PASSWORD)
    page = client.get(url).get_data(as_text=True)
    assert 'class="empty-state"' in page
    assert 'href="/accounts/tiktok/connect"' in page, url


def test_an_account_without_a_store_says_where_to_choose_one(app_ctx, client):
    owner = make_user()
    make_account(owner.organization, owner)
    client.login(owner.email, PASSWORD)
    page = client.get("/").get_data(as_text=True)
    assert "This account has no store yet." in page and 'href="/accounts/"' in page
    assert "No products imported yet" in page and "Initiate Import" in page


def test_an_empty_tab_says_what_fills_it(shop, client):
    owner, _, _ = shop
    client.login(owner.email, PASSWORD)
    mapped = client.get("/?status=mapped").get_data(as_text=True)
    assert "No rows are Mapped." in mapped
    assert "Nothing to assign: no row is Mapped." in mapped
    linked = client.get("/?status=linked").get_data(as_text=True)
    assert "Assign Products links every Mapped row and starts its sync." in linked

    refused = client.post_form("/assign-products", {}, htmx=True)
    assert refused.status_code == 422 and "No rows are Mapped" in refused.get_data(as_text=True)


def test_a_search_that_finds_nothing_offers_to_clear_it(shop, client):
    owner, _, _ = shop
    client.login(owner.email, PASSWORD)
    page = client.get("/?status=not_linked&q=NO-SUCH-THING").get_data(as_text=True)
    assert "Nothing matches “NO-SUCH-THING” in Not Linked." in page
    assert 'href="/?status=not_linked" hx-get="/?status=not_linked"' in page
    assert "Clear the search</a>" in page


def test_an_empty_orders_tab_says_why(shop, client):
    owner, _, _ = shop
    client.login(owner.email, PASSWORD)
    page = client.get("/orders/?tab=held").get_data(as_text=True)
    assert "No order is held: every item of every order is linked" in page


def test_a_failed_job_says_why_and_offers_retry_where_it_shows(app_ctx, client, run_jobs):
    owner = make_user()
    store = make_store(owner.organization, token="wrong-token")
    run = start_store_catalog_refresh(db.session, store, owner)
    run_jobs()
    client.login(owner.email, PASSWORD)
    error = escape(db.session.get(type(run), run.id).error)
    for url in ["/stores/", f"/jobs/{run.id}", "/jobs/"]:
        page = client.get(url).get_data(as_text=True)
        assert error in page, url
        assert f'action="/jobs/{run.id}/retry"' in page, url
