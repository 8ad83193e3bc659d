"""Store connections: add, validate, test connection, credentials encrypted at rest."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from tests.builders import PASSWORD, make_store, make_user
from webapp.accounts.models import Store
from webapp.audit import AuditEvent
from webapp.extensions import db
from webapp.redis_server import free_port


@pytest.fixture
def owner(app_ctx, client):
    user = make_user()
    client.login(user.email, PASSWORD)
    return user


def test_add_a_magento_store(owner, client, sandbox):
    response = client.post_form(
        "/stores/new",
        {
            "platform": "magento",
            "name": "Main store",
            "base_url": sandbox.url("magento") + "/",
            "magento-access_token": sandbox.settings.magento_token,
        },
    )
    assert response.status_code == 302
    store = db.session.scalar(select(Store))
    assert store.base_url == sandbox.url("magento")
    assert store.credentials == {"access_token": sandbox.settings.magento_token}
    raw = db.session.execute(text("SELECT credentials FROM stores")).scalar_one()
    assert sandbox.settings.magento_token not in raw


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (
            {"platform": "magento", "name": "", "base_url": "https://x.test"},
            "Give the store a name",
        ),
        ({"platform": "magento", "name": "S", "base_url": "ftp://x"}, "must start with https://"),
        (
            {"platform": "nope", "name": "S", "base_url": "https://x.test"},
            "Choose a store platform",
        ),
        ({"platform": "magento", "name": "S", "base_url": "https://x.test"}, "needs: Integration"),
    ],
)
def test_bad_store_input_is_refused_in_the_page(owner, client, form, message):
    response = client.post_form("/stores/new", form)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(Store)) is None


def test_test_connection_ok(owner, client):
    store = make_store(owner.organization)
    response = client.post_form(f"/stores/{store.id}/test", htmx=True)
    assert response.status_code == 200
    assert "Connected" in response.get_data(as_text=True)
    assert '"level": "success"' in response.headers["HX-Trigger"]
    assert db.session.get(Store, store.id).last_check_ok is True


def test_test_connection_with_a_refused_token_says_so(owner, client):
    store = make_store(owner.organization, token="wrong-token")
    response = client.post_form(f"/stores/{store.id}/test", htmx=True)
    assert "Not connected" in response.get_data(as_text=True)
    assert '"level": "error"' in response.headers["HX-Trigger"]
    db.session.expire_all()
    assert db.session.get(Store, store.id).last_check_ok is False


def test_test_connection_to_an_unreachable_store(owner, client):
    store = make_store(owner.organization)
    store.base_url = f"http://127.0.0.1:{free_port()}"
    db.session.commit()
    response = client.post_form(f"/stores/{store.id}/test", htmx=True)
    assert "Not connected" in response.get_data(as_text=True)


def test_the_stores_page_shows_what_the_catalog_refresh_brought_in(
    owner, client, sandbox, run_jobs
):
    store = make_store(owner.organization)
    client.post_form(f"/catalog/stores/{store.id}/refresh", htmx=True)
    run_jobs()
    catalog = sandbox.catalog.store_products
    parents = sum(1 for p in catalog if p.type_id == "configurable")
    page = client.get("/stores/").get_data(as_text=True)
    assert f"{len(catalog) - parents:,} variants · {parents:,} parent products" in page
    assert "Refreshed " in page


def test_connection_tests_are_audited(owner, client):
    store = make_store(owner.organization)
    client.post_form(f"/stores/{store.id}/test", htmx=True)
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "store.connection_tested")
    )
    assert event.actor_id == owner.id and event.detail == {"ok": True}


def test_a_shopify_store_is_added_and_given_its_webhook_url(owner, client, sandbox):
    settings = sandbox.settings
    response = client.post_form(
        "/stores/new",
        {
            "platform": "shopify",
            "name": "Shopify store",
            "base_url": sandbox.url("shopify"),
            "shopify-access_token": settings.shopify_access_token,
            "shopify-client_secret": settings.shopify_webhook_secret,
            "magento-access_token": "typed before switching platform",
        },
    )
    assert response.status_code == 302
    store = db.session.scalar(select(Store))
    assert store.platform == "shopify"
    assert store.credentials == {
        "access_token": settings.shopify_access_token,
        "client_secret": settings.shopify_webhook_secret,
    }

    page = client.get("/stores/").get_data(as_text=True)
    assert f"http://localhost/webhooks/stores/{store.id}" in page
    assert "inventory_levels/update" in page


def test_a_store_without_webhooks_shows_no_webhook_url(owner, client):
    make_store(owner.organization)
    assert "/webhooks/stores/" not in client.get("/stores/").get_data(as_text=True)
