"""The JSON API's endpoints through the test client against the real database: accounts, a
page of links, one link by marketplace SKU, linking and unlinking it; refusals as problem
documents; changes recorded as the dashboard's are."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from tests.api.conftest import bearer
from tests.builders import PASSWORD, import_shop, make_user
from webapp.catalog.models import MarketplaceSku
from webapp.extensions import db
from webapp.linking.models import Link, LinkEvent, LinkState
from webapp.linking.services import Target, assign_links, set_link_target
from webapp.linking.signals import links_stopped

PROBLEM = "application/problem+json"


def link_url(account_id: int, key: str) -> str:
    return f"/api/v1/accounts/{account_id}/links/{quote(key, safe='')}"


def _events(link: Link) -> list[LinkEvent]:
    db.session.expire_all()
    return db.session.scalars(
        select(LinkEvent).where(LinkEvent.link_id == link.id).order_by(LinkEvent.id)
    ).all()


def _assert_problem(response, status: int, detail_part: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert body["status"] == status and body["type"] == "about:blank" and body["title"]
    assert detail_part in body["detail"], body["detail"]
    return body


# --- reading ----------------------------------------------------------------------------------


def test_accounts_of_the_tokens_organization_only(shop, api, run_jobs):
    _, _, account = shop
    other = make_user("owner@other.test", organization="Other Shop")
    import_shop(other, run_jobs, shop_index=1)

    response = api("GET", "/api/v1/accounts")

    assert response.status_code == 200 and response.mimetype == "application/json"
    items = response.get_json()["items"]
    assert [(a["id"], a["name"], a["status"]) for a in items] == [
        (account.id, account.name, "active")
    ]
    assert items[0]["store_id"] == account.store_id


def test_links_page_by_cursor_covers_every_link_once(shop, api):
    _, _, account = shop
    total = db.session.scalar(select(func.count()).where(Link.account_id == account.id))
    seen, after, pages = [], None, 0
    while True:
        query = {"limit": 150} | ({"after": after} if after is not None else {})
        page = api("GET", f"/api/v1/accounts/{account.id}/links", query_string=query).get_json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        after = page["next_after"]
        if after is None:
            break
    assert seen == sorted(set(seen)) and len(seen) == total
    assert pages == -(-total // 150)


def test_a_link_item_says_everything_the_grid_does(shop, api, picks):
    owner, _, account = shop
    link = picks.links[0]
    a, b = picks.variants[:2]
    set_link_target(
        db.session, link, [Target(a.id, 2), Target(b.id, 3)], expected_version=None, actor=owner
    )
    db.session.commit()

    response = api("GET", f"/api/v1/accounts/{account.id}/links", query_string={"state": "mapped"})

    [item] = response.get_json()["items"]
    sku = link.marketplace_sku
    assert item["marketplace_sku"] == {
        "sku_id": sku.sku_id,
        "seller_sku": sku.seller_sku,
        "product_id": sku.product_id,
    }
    assert (item["product_title"], item["variant"]) == (sku.product_title, sku.variant)
    assert (item["state"], item["store_sku"], item["quantity"]) == ("mapped", a.sku, 2)
    assert item["kit_parts"] == [{"store_sku": b.sku, "quantity": 3}]
    assert (item["version"], item["failure_reason"], item["linked_at"]) == (2, "", None)
    assert item["mapped_at"] and item["updated_at"]


def test_list_refuses_a_limit_above_the_maximum_and_an_unknown_state(shop, api):
    _, _, account = shop
    url = f"/api/v1/accounts/{account.id}/links"
    too_many = api("GET", url, query_string={"limit": 501})
    body = _assert_problem(too_many, 422, "limit")
    assert "limit" in body["errors"]["query"]
    _assert_problem(api("GET", url, query_string={"state": "done"}), 422, "state")


def test_one_link_by_seller_sku_or_by_tiktok_sku_id(shop, api, picks):
    _, _, account = shop
    link = picks.links[0]
    sku = link.marketplace_sku
    by_seller_sku = api("GET", link_url(account.id, sku.seller_sku))
    by_sku_id = api("GET", link_url(account.id, sku.sku_id))
    assert by_seller_sku.status_code == by_sku_id.status_code == 200
    assert by_seller_sku.get_json() == by_sku_id.get_json()
    assert by_sku_id.get_json()["id"] == link.id


def test_an_unknown_sku_is_a_404_that_says_what_to_do(shop, api):
    _, _, account = shop
    response = api("GET", link_url(account.id, "NO-SUCH-SKU"))
    _assert_problem(response, 404, "Import the shop's products if it is new")


def test_a_seller_sku_shared_by_several_tiktok_skus_asks_for_the_sku_id(shop, api, picks):
    _, _, account = shop
    first, second = (link.marketplace_sku for link in picks.links[:2])
    second.seller_sku = first.seller_sku
    db.session.commit()

    response = api("GET", link_url(account.id, first.seller_sku))

    body = _assert_problem(response, 409, "name one by its TikTok SKU ID")
    assert sorted(body["sku_ids"]) == sorted([first.sku_id, second.sku_id])
    assert api("GET", link_url(account.id, second.sku_id)).status_code == 200


# --- tenancy ----------------------------------------------------------------------------------


def test_another_organizations_account_and_skus_are_404(shop, api, run_jobs):
    _, _, account = shop
    other = make_user("owner@other.test", organization="Other Shop")
    _, other_account = import_shop(other, run_jobs, shop_index=1)
    other_sku = db.session.scalar(
        select(MarketplaceSku)
        .where(MarketplaceSku.account_id == other_account.id)
        .order_by(MarketplaceSku.id)
    )
    own_sku_ids = set(
        db.session.scalars(
            select(MarketplaceSku.sku_id).where(MarketplaceSku.account_id == account.id)
        )
    )
    assert other_sku.sku_id not in own_sku_ids
    before = db.session.scalar(select(func.sum(Link.version)))

    answers = [
        api("GET", f"/api/v1/accounts/{other_account.id}/links"),
        api("GET", link_url(other_account.id, other_sku.sku_id)),
        api("PUT", link_url(other_account.id, other_sku.sku_id), json={"store_sku": "X"}),
        api("DELETE", link_url(other_account.id, other_sku.sku_id)),
        api("GET", link_url(account.id, other_sku.sku_id)),
        api("DELETE", link_url(account.id, other_sku.sku_id)),
    ]

    for response in answers:
        _assert_problem(response, 404, "")
    assert db.session.scalar(select(func.sum(Link.version))) == before


# --- changing ---------------------------------------------------------------------------------


def test_put_links_like_the_dashboard_and_twice_changes_nothing_more(shop, api, picks):
    owner, _, account = shop
    link, variant = picks.links[0], picks.variants[0]
    url = link_url(account.id, link.marketplace_sku.seller_sku)

    first = api("PUT", url, json={"store_sku": variant.sku, "quantity": 2, "version": 1})
    again = api("PUT", url, json={"store_sku": variant.sku, "quantity": 2, "version": 1})

    assert first.status_code == again.status_code == 200
    assert first.get_json() == again.get_json()
    assert (first.get_json()["state"], first.get_json()["version"]) == ("mapped", 2)
    [event] = _events(link)
    assert (event.action, event.actor_id, event.job_run_id) == ("link", owner.id, None)
    assert event.before["state"] == "not_linked"
    assert event.after == {
        "state": "mapped",
        "store_sku_id": variant.id,
        "quantity": 2,
        "components": [],
        "failure_reason": "",
        "version": 2,
    }


def test_an_api_change_is_in_the_history_as_a_dashboard_edit_is(shop, api, client, picks):
    owner, _, account = shop
    by_api, by_dashboard = picks.links[:2]
    variant = picks.variants[0]
    api("PUT", link_url(account.id, by_api.marketplace_sku.sku_id), json={"store_sku": variant.sku})
    client.login(owner.email, PASSWORD)
    client.post_form(
        f"/links/{by_dashboard.id}",
        {"store_sku_id": str(variant.id), "quantity": "1", "version": "1"},
        htmx=True,
    )

    [api_event], [dashboard_event] = _events(by_api), _events(by_dashboard)

    def shape(event: LinkEvent) -> tuple:
        return event.action, event.actor_id, event.job_run_id, event.before, event.after

    assert shape(api_event) == shape(dashboard_event)


def test_put_a_kit_and_a_multipack(shop, api, picks):
    _, _, account = shop
    link = picks.links[0]
    a, b, c = picks.variants[:3]
    body = {
        "store_sku": a.sku,
        "quantity": 1,
        "kit_parts": [{"store_sku": b.sku, "quantity": 2}, {"store_sku": c.sku}],
    }
    response = api("PUT", link_url(account.id, link.marketplace_sku.sku_id), json=body)

    assert response.status_code == 200
    assert response.get_json()["kit_parts"] == [
        {"store_sku": b.sku, "quantity": 2},
        {"store_sku": c.sku, "quantity": 1},
    ]
    db.session.expire_all()
    assert [(p.store_sku_id, p.quantity) for p in link.components] == [(b.id, 2), (c.id, 1)]


def test_put_of_the_target_a_linked_row_has_keeps_it_linked(shop, api, picks):
    owner, _, account = shop
    link, variant = picks.links[0], picks.variants[0]
    set_link_target(db.session, link, [Target(variant.id)], expected_version=None, actor=owner)
    assign_links(db.session, account, [link], actor=owner, batch=None)
    db.session.commit()
    version = link.version

    response = api("PUT", link_url(account.id, link.marketplace_sku.sku_id), json={
        "store_sku": variant.sku, "version": 1})  # fmt: skip

    assert response.status_code == 200
    assert (response.get_json()["state"], response.get_json()["version"]) == ("linked", version)


def test_put_of_another_target_stops_a_linked_rows_sync(shop, api, picks):
    owner, _, account = shop
    link, (first, second) = picks.links[0], picks.variants[:2]
    set_link_target(db.session, link, [Target(first.id)], expected_version=None, actor=owner)
    assign_links(db.session, account, [link], actor=owner, batch=None)
    db.session.commit()
    stopped = []

    def record(account_id, link_ids):
        stopped.append((account_id, link_ids))

    links_stopped.connect(record)
    try:
        response = api(
            "PUT", link_url(account.id, link.marketplace_sku.sku_id), json={"store_sku": second.sku}
        )
    finally:
        links_stopped.disconnect(record)

    assert response.status_code == 200 and response.get_json()["state"] == "mapped"
    assert stopped == [(account.id, [link.id])]


def test_a_stale_version_is_a_409_with_the_link_as_it_is(shop, api, picks):
    owner, _, account = shop
    link, (theirs, mine) = picks.links[0], picks.variants[:2]
    set_link_target(db.session, link, [Target(theirs.id)], expected_version=1, actor=owner)
    db.session.commit()

    response = api(
        "PUT",
        link_url(account.id, link.marketplace_sku.sku_id),
        json={"store_sku": mine.sku, "version": 1},
    )

    body = _assert_problem(response, 409, "changed since version 1: it is version 2")
    assert (body["link"]["store_sku"], body["link"]["version"]) == (theirs.sku, 2)
    assert len(_events(link)) == 1
    stale_delete = api(
        "DELETE", link_url(account.id, link.marketplace_sku.sku_id), query_string={"version": 1}
    )
    _assert_problem(stale_delete, 409, "version 2")
    db.session.expire_all()
    assert link.state is LinkState.MAPPED


def test_delete_unlinks_and_twice_is_safe(shop, api, picks):
    owner, _, account = shop
    link, variant = picks.links[0], picks.variants[0]
    set_link_target(db.session, link, [Target(variant.id)], expected_version=None, actor=owner)
    db.session.commit()
    url = link_url(account.id, link.marketplace_sku.seller_sku)

    first = api("DELETE", url, query_string={"version": 2})
    again = api("DELETE", url, query_string={"version": 2})

    assert first.status_code == again.status_code == 200
    assert first.get_json() == again.get_json()
    assert (first.get_json()["state"], first.get_json()["store_sku"]) == ("not_linked", None)
    assert [event.action for event in _events(link)] == ["link", "unlink"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"store_sku": "NO-SUCH-STORE-SKU"}, "is not in this account's store catalog"),
        ({"store_sku": "PARENT"}, "parent (configurable) product"),
        ({"store_sku": "SHARED"}, "is ambiguous: 2 store products share it"),
        ({"store_sku": "VARIANT", "quantity": 0}, "quantity: Must be greater than or equal to 1"),
        ({"store_sku": "VARIANT", "quantity": 1000}, "quantity"),
        ({"store_sku": "VARIANT", "quantity": "2"}, "quantity: Not a valid integer"),
        ({"store_sku": "VARIANT", "quantity": 2.5}, "quantity: Not a valid integer"),
        ({"store_sku": "VARIANT", "quantity": True}, "quantity: Not a valid integer"),
        ({"store_sku": 17}, "store_sku: Not a valid string"),
        ({"store_sku": ""}, "store_sku"),
        ({"store_sku": "A\x00B"}, "Control characters"),
        ({"quantity": 2}, "store_sku: Missing data for required field"),
        ({"store_sku": "VARIANT", "colour": "red"}, "colour: Unknown field"),
        ({"store_sku": "VARIANT", "version": "1"}, "version: Not a valid integer"),
        ({"store_sku": "VARIANT", "kit_parts": [{"quantity": 2}]}, "kit_parts.0.store_sku"),
        ({"store_sku": "VARIANT", "kit_parts": [{"store_sku": "VARIANT"}]}, "only once in a kit"),
        (["VARIANT"], "Invalid input type"),
    ],
)
def test_invalid_bodies_are_422_and_change_nothing(shop, api, picks, body, detail):
    _, _, account = shop
    link = picks.links[0]
    names = {
        "PARENT": picks.parent.sku,
        "SHARED": picks.shared_store_sku,
        "VARIANT": picks.variants[0].sku,
    }

    def named(value):
        if isinstance(value, dict):
            return {key: named(inner) for key, inner in value.items()}
        if isinstance(value, list):
            return [named(inner) for inner in value]
        return names.get(value, value) if isinstance(value, str) else value

    response = api("PUT", link_url(account.id, link.marketplace_sku.sku_id), json=named(body))

    _assert_problem(response, 422, detail)
    assert _events(link) == []


def test_a_body_that_is_not_json_is_a_400(shop, api, picks):
    _, _, account = shop
    response = api(
        "PUT",
        link_url(account.id, picks.links[0].marketplace_sku.sku_id),
        data="{not json",
        content_type="application/json",
    )
    _assert_problem(response, 400, "not valid JSON")


def test_an_account_without_a_store_is_told_to_choose_one(shop, api, picks):
    _, _, account = shop
    account.store_id = None
    db.session.commit()
    response = api(
        "PUT", link_url(account.id, picks.links[0].marketplace_sku.sku_id), json={"store_sku": "A"}
    )
    _assert_problem(response, 422, "choose its store on the Accounts page")


def test_unknown_api_urls_and_methods_answer_problem_documents(shop, api):
    _, _, account = shop
    _assert_problem(api("GET", "/api/v1/nothing-here"), 404, "")
    _assert_problem(api("POST", f"/api/v1/accounts/{account.id}/links"), 405, "")


def test_bearer_header_is_case_insensitive_in_its_scheme(shop, client, token):
    response = client.get("/api/v1/accounts", headers={"Authorization": f"bearer {token}"})
    assert response.status_code == 200


def test_requests_without_a_valid_token_are_401(shop, client, token):
    cases = {
        "no header": {},
        "basic": {"Authorization": "Basic b3duZXI6cGFzcw=="},
        "empty bearer": {"Authorization": "Bearer "},
        "made up": bearer("skb_" + "A" * 43),
        "no prefix": bearer("not-a-token"),
        "cut short": bearer(token[:-3]),
    }
    for what, headers in cases.items():
        response = client.get("/api/v1/accounts", headers=headers)
        body = _assert_problem(response, 401, "")
        assert response.headers["WWW-Authenticate"].startswith("Bearer"), what
        assert "token" in body["detail"], what


def test_ids_past_what_an_id_column_holds_are_refused_before_the_database(shop, api):
    """PostgreSQL's INTEGER ids end at 2**31 - 1: a larger account id is a 404 and a larger
    cursor a 422, never the database's "integer out of range"."""
    _, _, account = shop
    assert api("GET", f"/api/v1/accounts/{2**31}/links").status_code == 404
    assert api("GET", link_url(2**31, "X")).status_code == 404
    cursor = api("GET", f"/api/v1/accounts/{account.id}/links", query_string={"after": 2**31})
    _assert_problem(cursor, 422, "after")
