"""Login, CSRF, protected pages, support access and the users CLI."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.builders import PASSWORD, make_account, make_organization, make_store, make_user
from webapp.accounts.models import MarketplaceAccount, Store, User, UserRole
from webapp.audit import AuditEvent
from webapp.extensions import db
from webapp.jobs.models import JobRun
from webapp.tenancy import PUBLIC_ENDPOINTS


def test_login_page_renders_without_a_session(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert "Log in to SKU Bridge" in response.get_data(as_text=True)


def test_wrong_password_is_refused_in_the_page(app_ctx, client):
    make_user()
    response = client.login("owner@shop.test", "not-the-password")
    assert response.status_code == 422
    assert "Email or password is not right." in response.get_data(as_text=True)


def test_login_lands_on_the_linking_page(app_ctx, client):
    make_user()
    response = client.login("OWNER@shop.test ", PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert "Linking" in client.get("/").get_data(as_text=True)


def test_login_never_redirects_off_site(app_ctx, client):
    make_user()
    client.get("/login")
    response = client.post_form(
        "/login?next=//evil.example/steal", {"email": "owner@shop.test", "password": PASSWORD}
    )
    assert response.headers["Location"] == "/"


def test_posts_without_a_csrf_token_are_refused(app_ctx, client):
    make_user()
    response = client.post("/login", data={"email": "owner@shop.test", "password": PASSWORD})
    assert response.status_code == 400
    assert "session expired" in response.get_data(as_text=True)


def test_htmx_posts_carry_the_token_in_a_header(app_ctx, client):
    owner = make_user()
    make_account(owner.organization, owner)
    client.login(owner.email, PASSWORD)
    token = client.refresh_csrf("/")
    refused = client.post("/catalog/import", headers={"HX-Request": "true"})
    accepted = client.post("/catalog/import", headers={"HX-Request": "true", "X-CSRFToken": token})
    assert refused.status_code == 400
    assert accepted.status_code == 200


def _routes_needing_login(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS:  # webhooks check their platform's signature
            continue
        url = rule.rule.replace("<int:", "<").replace("<", "").replace(">", "")
        for argument in rule.arguments:
            url = url.replace(argument.replace("int:", ""), "1")
        method = "GET" if "GET" in rule.methods else "POST"
        yield method, url


def test_every_page_but_login_requires_a_session(app, client):
    routes = list(_routes_needing_login(app))
    assert len(routes) > 10
    for method, url in routes:
        response = client.open(url, method=method)
        if url.startswith("/api/"):  # the JSON API asks for its bearer token instead
            assert response.status_code == 401, (method, url, response.status_code)
            continue
        assert response.status_code in (302, 400), (method, url, response.status_code)
        if response.status_code == 302:
            assert response.headers["Location"].startswith("/login"), url


def test_htmx_requests_without_a_session_are_sent_to_login(client):
    response = client.get("/", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login")


@pytest.fixture
def two_shops(app_ctx):
    """Two organizations, each with its owner, store, account and a job run."""
    shops = {}
    for name in ("Shop One", "Shop Two"):
        owner = make_user(f"owner@{name.split()[1].lower()}.test", organization=name)
        store = make_store(owner.organization)
        account = make_account(owner.organization, owner, store=store)
        run = JobRun(organization_id=owner.organization_id, kind="store_catalog_refresh")
        db.session.add(run)
        db.session.commit()
        shops[name] = (owner, store, account, run)
    return shops


def test_a_user_never_sees_another_organizations_data(two_shops, client):
    owner, *_ = two_shops["Shop One"]
    _, other_store, other_account, other_run = two_shops["Shop Two"]
    client.login(owner.email, PASSWORD)

    assert client.get(f"/jobs/{other_run.id}").status_code == 404
    assert client.post_form(f"/stores/{other_store.id}/test").status_code == 404
    assert client.post_form(f"/catalog/stores/{other_store.id}/refresh").status_code == 404
    assert (
        client.post_form(f"/accounts/{other_account.id}/active", {"active": "0"}).status_code == 404
    )
    assert client.post_form("/accounts/select", {"account_id": other_account.id}).status_code == 404
    for page in ("/", "/accounts/", "/stores/", "/jobs/"):
        text = client.get(page).get_data(as_text=True)
        assert "Shop Two" not in text, page
    db.session.expire_all()
    assert db.session.get(MarketplaceAccount, other_account.id).is_usable


def test_support_opens_any_organization_and_it_is_recorded(two_shops, client):
    support = make_user("help@skubridge.test", role=UserRole.SUPPORT)
    _, store, _, _ = two_shops["Shop Two"]
    client.login(support.email, PASSWORD)

    assert client.get("/").headers["Location"] == "/organizations"
    listing = client.get("/organizations").get_data(as_text=True)
    assert "Shop One" in listing and "Shop Two" in listing
    client.post_form(f"/organizations/{store.organization_id}/open")
    assert "Shop Two Magento" in client.get("/stores/").get_data(as_text=True)
    client.post_form(f"/stores/{store.id}/test", htmx=True)

    actions = db.session.scalars(
        select(AuditEvent.action).where(
            AuditEvent.actor_id == support.id,
            AuditEvent.organization_id == store.organization_id,
        )
    ).all()
    assert "support.open_organization" in actions


def test_members_cannot_open_the_organization_picker(app_ctx, client):
    owner = make_user()
    client.login(owner.email, PASSWORD)
    assert client.get("/organizations").status_code == 404


def test_staff_cannot_manage_stores(app_ctx, client):
    organization = make_organization()
    staff = make_user("staff@shop.test", role=UserRole.STAFF, organization=organization.name)
    client.login(staff.email, PASSWORD)
    response = client.post_form(
        "/stores/new", {"platform": "magento", "name": "x", "base_url": "https://x.test"}
    )
    assert response.status_code == 403
    assert db.session.scalar(select(Store)) is None


def test_users_create_command(app, app_ctx):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["users", "create", "new@shop.test", "--org", "New Shop", "--password", "s3cret-pass"]
    )
    assert result.exit_code == 0, result.output
    assert "Created owner new@shop.test in New Shop" in result.output
    user = db.session.scalar(select(User).where(User.email == "new@shop.test"))
    assert user.check_password("s3cret-pass")
    assert user.password_hash != "s3cret-pass"

    again = runner.invoke(
        args=["users", "create", "new@shop.test", "--org", "New Shop", "--password", "s3cret-pass"]
    )
    assert again.exit_code != 0
    assert "already exists" in again.output
    no_org = runner.invoke(args=["users", "create", "b@shop.test", "--password", "s3cret-pass"])
    assert "needs an organization" in no_org.output


def test_ids_too_large_for_the_database_are_a_404(app_ctx, client):
    owner = make_user()
    client.login(owner.email, PASSWORD)
    for url in ("/jobs/99999999999999999999999", "/links/99999999999999999999999/edit"):
        assert client.get(url).status_code == 404
