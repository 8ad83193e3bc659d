"""Every state-changing request without a valid CSRF token is refused, on every route that
accepts one, as a form post and as htmx sends it, and changes nothing. Two exceptions:
webhooks, since platforms cannot hold our token, so they prove themselves by signature
(tests/sync/test_store_webhooks.py, tests/orders/test_orders.py); and the JSON API, which takes
no cookie at all, only a bearer token that a browser never sends by itself (cross-site forgery
needs the cookie): the walk checks that the session cookie alone gets 401 there."""

from __future__ import annotations

from flask import url_for

from tests.builders import PASSWORD
from tests.security.conftest import VICTIM_EMAIL
from webapp.api.views import bp as api
from webapp.webhooks import bp as webhooks

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def test_every_state_changing_route_refuses_a_missing_or_wrong_token(
    app, victim, client, fingerprint
):
    client.login(VICTIM_EMAIL, PASSWORD)
    good_token = client.refresh_csrf("/")
    before = fingerprint()
    refused, cookie_only = [], []
    for rule in app.url_map.iter_rules():
        methods = rule.methods & STATE_CHANGING
        if not methods or rule.endpoint.startswith(f"{webhooks.name}."):
            continue
        with app.test_request_context():
            url = url_for(rule.endpoint, **{name: victim[name] for name in rule.arguments})
        if rule.endpoint.startswith(f"{api.name}."):
            for method in methods:  # the cookie, even with a good CSRF token, opens nothing
                response = client.open(
                    url, method=method, json={}, headers={"X-CSRFToken": good_token}
                )
                assert response.status_code == 401, (method, url, response.status_code)
                cookie_only.append((method, url))
            continue
        for method in methods:
            for token in (None, "not-a-token", good_token[:-4] + "AAAA"):
                form = {} if token is None else {"csrf_token": token}
                for headers in ({}, {"HX-Request": "true", "X-CSRFToken": token or ""}):
                    response = client.open(url, method=method, data=form, headers=headers)
                    assert response.status_code == 400, (method, url, token, response.status_code)
                    refused.append(url)
    assert fingerprint() == before
    assert len(set(refused)) >= 25, "the walk found fewer state-changing routes than there are"
    assert len(cookie_only) >= 2, "the walk found fewer API routes than there are"
    # The same session's valid token still works afterwards: the refusals logged nobody out.
    chosen = client.post_form("/accounts/select", {"account_id": victim["account_id"]})
    assert chosen.status_code == 302
