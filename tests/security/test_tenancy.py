"""Organizations are kept apart: every route that takes an id answers 404 to a user of
another organization, for every id it takes and every method it accepts, and ids of another
organization sent in a form are refused; nothing is written or queued either way. The JSON
API's routes are walked the same way with a token of the other organization."""

from __future__ import annotations

import pytest
from flask import url_for
from sqlalchemy import select

from tests.builders import PASSWORD, import_shop, make_user
from webapp.api.tokens import create_api_token
from webapp.api.views import bp as api
from webapp.catalog.models import StoreSku
from webapp.extensions import db
from webapp.linking.models import Link, LinkState
from webapp.tenancy import PUBLIC_ENDPOINTS


@pytest.fixture
def intruder(app_ctx, client, run_jobs):
    """The owner of another organization, with a shop and store of its own and an API token,
    logged in."""
    owner = make_user("owner@intruder.test", organization="Intruder Shop")
    _, account = import_shop(owner, run_jobs, shop_index=1)
    token = create_api_token(
        db.session, organization_id=owner.organization_id, name="Intruder ERP", actor=owner
    )
    db.session.commit()
    client.login(owner.email, PASSWORD)
    client.refresh_csrf("/")
    return owner, account, token.secret


def test_every_route_answers_404_for_every_id_of_another_organization(
    app, victim, intruder, client, fingerprint
):
    api_headers = {"Authorization": f"Bearer {intruder[2]}"}
    victim_store_sku = db.session.scalar(
        select(StoreSku.sku).where(StoreSku.store_id == victim["store_id"]).limit(1)
    )
    before = fingerprint()
    tried = []
    for rule in app.url_map.iter_rules():
        if not rule.arguments or rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        unknown = rule.arguments - victim.keys()
        assert not unknown, f"{rule.rule}: give the victim fixture an object for {unknown}"
        with app.test_request_context():
            url = url_for(rule.endpoint, **{name: victim[name] for name in rule.arguments})
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if rule.endpoint.startswith(f"{api.name}."):  # a token, JSON, no form or htmx
                body = {"store_sku": victim_store_sku} if method == "PUT" else None
                response = client.open(url, method=method, json=body, headers=api_headers)
                assert response.status_code == 404, (method, url, response.status_code)
                tried.append((method, url))
                continue
            for htmx in (False, True):
                headers = {"HX-Request": "true", "X-CSRFToken": client.csrf_token} if htmx else {}
                response = client.open(
                    url, method=method, data={"csrf_token": client.csrf_token}, headers=headers
                )
                assert response.status_code == 404, (method, url, htmx, response.status_code)
                tried.append((method, url))
    assert fingerprint() == before
    assert len({url for _, url in tried}) >= 20, "the walk found fewer routes than there are"


def _other_links(account_id: int, state: LinkState | None = None) -> list[int]:
    statement = select(Link.id).where(Link.account_id == account_id).order_by(Link.id)
    if state is not None:
        statement = statement.where(Link.state == state)
    return list(db.session.scalars(statement.limit(3)))


def test_ids_of_another_organization_in_forms_are_refused(
    app, victim, intruder, client, run_jobs, fingerprint
):
    _, account, _ = intruder
    own_link = db.session.scalar(
        select(Link.id).where(Link.account_id == account.id, Link.state == LinkState.NOT_LINKED)
    )
    victim_sku = db.session.scalar(
        select(StoreSku.id).where(StoreSku.store_id == victim["store_id"]).limit(1)
    )
    victim_links = _other_links(victim["account_id"])
    before = fingerprint()

    answers = {
        "choose their account": client.post_form(
            "/accounts/select", {"account_id": victim["account_id"]}
        ),
        "sell from their store": client.post_form(
            f"/accounts/{account.id}/store", {"store_id": victim["store_id"]}
        ),
        "assign their rows": client.post_form("/bulk/assign", {"link_id": victim_links}, htmx=True),
        "unlink their rows": client.post_form("/bulk/unlink", {"link_id": victim_links}, htmx=True),
        "link a row to their store SKU": client.post_form(
            f"/links/{own_link}",
            {"version": 1, "store_sku_id": victim_sku, "quantity": 1},
            htmx=True,
        ),
        "add their store SKU to a kit": client.get(
            f"/links/{own_link}/part?store_sku_id={victim_sku}&quantity=1",
            headers={"HX-Request": "true"},
        ),
    }
    run_jobs()

    for what, response in answers.items():
        assert response.status_code in (404, 409, 422), (what, response.status_code)
    assert fingerprint() == before
