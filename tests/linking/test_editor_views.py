"""The inline link editor's partials: edit, candidates, cancel, save (single, multi-pack, kit),
parents refused, conflicts, unlink, bad input and other organizations' rows."""

from __future__ import annotations

import html
import json
import re

import pytest
from sqlalchemy import func, select, update

from tests.builders import PASSWORD, make_account, make_store, make_user, unique_variants
from webapp.accounts.models import UserRole
from webapp.catalog.jobs import start_marketplace_import
from webapp.catalog.models import MarketplaceSku, StoreSku
from webapp.extensions import db
from webapp.linking.models import Link, LinkEvent, LinkState
from webapp.linking.services import Target, set_link_target

PAGE_URL = "http://localhost/?status=not_linked&q="


@pytest.fixture
def shop(shop, client):
    client.login(shop[0].email, PASSWORD)
    return shop


def _parent(store_id: int) -> StoreSku:
    return db.session.scalars(
        select(StoreSku).where(StoreSku.store_id == store_id, StoreSku.is_parent.is_(True))
    ).first()


def _link_for(store_sku: StoreSku) -> Link:
    """The link of the TikTok SKU sold under exactly this store SKU."""
    return db.session.scalars(
        select(Link)
        .join(MarketplaceSku, MarketplaceSku.id == Link.marketplace_sku_id)
        .where(MarketplaceSku.seller_sku == store_sku.sku)
    ).one()


def _events() -> int:
    return db.session.scalar(select(func.count()).select_from(LinkEvent))


def _trigger(response) -> dict:
    return json.loads(response.headers["HX-Trigger"])


def _save(client, link: Link, pairs: list[tuple[object, object]], version: object = None):
    data = {
        "store_sku_id": [str(sku_id) for sku_id, _ in pairs],
        "quantity": [str(quantity) for _, quantity in pairs],
        "version": str(link.version if version is None else version),
    }
    return client.post_form(
        f"/links/{link.id}", data, htmx=True, headers={"HX-Current-URL": PAGE_URL}
    )


def _tab_count(body: str, value: str) -> int:
    match = re.search(rf'class="tab tab-{value}"[^>]*>\s*[^<]+<span class="count">(\d+)<', body)
    assert match, f"no {value} tab in the response"
    return int(match.group(1))


# --- display row actions ----------------------------------------------------------------------


def test_rows_offer_link_or_change_and_unlink_named_by_their_sku(shop, client):
    owner, store, _ = shop
    mapped_target, unlinked_target = unique_variants(store.id, 2, sku_like="TS-%")
    mapped, unlinked = _link_for(mapped_target), _link_for(unlinked_target)
    set_link_target(db.session, mapped, [Target(mapped_target.id)], expected_version=1, actor=owner)
    db.session.commit()

    unlinked_row = client.hx_get(f"/links/{unlinked.id}").get_data(as_text=True)
    mapped_row = client.hx_get(f"/links/{mapped.id}").get_data(as_text=True)

    assert f'aria-label="Link {unlinked_target.sku}"' in unlinked_row
    assert "Unlink" not in unlinked_row
    assert f'aria-label="Change {mapped_target.sku}"' in mapped_row
    assert f'aria-label="Unlink {mapped_target.sku}"' in mapped_row
    assert (
        f'hx-confirm="Unlink {mapped_target.sku}? Inventory, price and order sync stop for '
        'this SKU at once."' in mapped_row
    )
    assert '"version": "2"' in mapped_row


# --- the editor and its candidates -----------------------------------------------------------


def test_edit_replaces_the_row_with_the_editor_and_ranked_suggestions(shop, client):
    _, store, _ = shop
    target = unique_variants(store.id, 1, sku_like="TS-%")[0]
    link = _link_for(target)

    response = client.hx_get(f"/links/{link.id}/edit")

    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert f'<tr id="link-{link.id}" class="editor-row"' in body and 'colspan="8"' in body
    assert f"Link <code>{target.sku}</code>" in body
    assert f'name="version" value="{link.version}"' in body
    assert 'role="listbox"' in body and 'role="option"' in body
    # The exact match comes first, with its rule and score.
    first_option = body.index('role="option"')
    assert body.index(f'data-store-sku-id="{target.id}"') < body.index("</div>", first_option)
    assert "Exact SKU · 100" in body
    assert "Store units per TikTok unit" in body and 'name="quantity"' in body
    assert 'hx-trigger="input changed delay:250ms, search"' in body
    assert ">T-Shirts</option>" in body  # categories from the store catalog
    assert "Add to kit" in body and f'hx-get="/links/{link.id}"' in body  # Cancel


def test_change_opens_the_editor_with_the_current_target_chosen(shop, client):
    owner, store, _ = shop
    target = unique_variants(store.id, 1, sku_like="TS-%")[0]
    link = _link_for(target)
    set_link_target(db.session, link, [Target(target.id, 3)], expected_version=1, actor=owner)
    db.session.commit()

    body = client.hx_get(f"/links/{link.id}/edit").get_data(as_text=True)

    assert "Change the link of" in body
    assert f'name="store_sku_id" value="{target.id}"' in body
    assert 'name="quantity" min="1" max="999"' in body and 'value="3"' in body


def test_changing_a_kit_lists_its_parts(shop, client):
    owner, store, _ = shop
    first, second = unique_variants(store.id, 2, sku_like="TS-%")
    link = _link_for(first)
    targets = [Target(first.id, 1), Target(second.id, 2)]
    set_link_target(db.session, link, targets, expected_version=1, actor=owner)
    db.session.commit()

    body = client.hx_get(f"/links/{link.id}/edit").get_data(as_text=True)

    assert body.count('class="kit-part"') == 2
    assert f'aria-label="Units of {second.sku}"' in body
    assert f'id="chosen-{link.id}"' in body and 'name="store_sku_id" value=""' in body


def test_an_account_without_a_store_says_so_in_the_editor(shop, client):
    _, store, account = shop
    link = _link_for(unique_variants(store.id, 1, sku_like="TS-%")[0])
    account.store_id = None
    db.session.commit()

    edit = client.hx_get(f"/links/{link.id}/edit")
    save = _save(client, link, [(1, 1)])

    assert edit.status_code == 200 and "This account has no store yet" in edit.get_data(
        as_text=True
    )
    assert save.status_code == 422 and "This account has no store yet" in save.get_data(
        as_text=True
    )
    db.session.expire_all()
    assert link.version == 1


def test_candidates_search_by_sku_or_name(shop, client):
    _, store, _ = shop
    target, other = unique_variants(store.id, 2, sku_like="TS-%")
    link = _link_for(target)

    by_sku = client.hx_get(f"/links/{link.id}/candidates?q={other.sku.lower()}")
    by_name = client.hx_get(f"/links/{link.id}/candidates", query_string={"q": other.name})

    for response in (by_sku, by_name):
        body = response.get_data(as_text=True)
        assert response.status_code == 200 and "<html" not in body
        assert body.lstrip().startswith('<div class="candidates"')
        assert f'data-store-sku-id="{other.id}"' in body
        assert "Search results" in body or "Suggested" in body


def test_candidates_narrow_the_suggestions_to_the_search(shop, client):
    _, store, _ = shop
    target = unique_variants(store.id, 1, sku_like="TS-%")[0]
    link = _link_for(target)

    body = client.hx_get(f"/links/{link.id}/candidates?q=zz-no-such-sku").get_data(as_text=True)

    assert 'role="option"' not in body
    assert "No store SKU matches “zz-no-such-sku”." in body


@pytest.mark.parametrize(("facet", "field"), [("category", "categories"), ("tag", "tags")])
def test_candidates_filter_by_category_or_tag(shop, client, facet, field):
    _, store, _ = shop
    sale = db.session.scalars(
        select(StoreSku.id).where(StoreSku.store_id == store.id, StoreSku.sku.like("HD-%")).limit(3)
    ).all()
    db.session.execute(update(StoreSku).where(StoreSku.id.in_(sale)).values(tags=["sale"]))
    db.session.commit()
    value = {"category": "Hoodies", "tag": "sale"}[facet]
    link = _link_for(unique_variants(store.id, 1, sku_like="TS-%")[0])

    body = client.hx_get(f"/links/{link.id}/candidates", query_string={facet: value}).get_data(
        as_text=True
    )
    editor = client.hx_get(f"/links/{link.id}/edit").get_data(as_text=True)

    assert re.search(rf'<option value="{value}"\s*>{value}</option>', editor)
    ids = [int(i) for i in re.findall(r'data-store-sku-id="(\d+)"', body)]
    assert ids and (facet == "category" or sorted(ids) == sorted(sale))
    for store_sku_id in ids:
        assert value in getattr(db.session.get(StoreSku, store_sku_id), field)


def test_cancel_returns_the_display_row(shop, client):
    _, store, _ = shop
    link = _link_for(unique_variants(store.id, 1, sku_like="TS-%")[0])

    body = client.hx_get(f"/links/{link.id}").get_data(as_text=True)

    assert body.count("<tr") == 1 and f'<tr id="link-{link.id}" class="state-not_linked' in body
    assert "Not Linked" in body and "editor-row" not in body


# --- saving -----------------------------------------------------------------------------------


def test_link_returns_the_mapped_row_the_tabs_out_of_band_and_a_toast(shop, client):
    _, store, account = shop
    target = unique_variants(store.id, 1, sku_like="TS-%")[0]
    link = _link_for(target)
    not_linked = db.session.scalar(
        select(func.count()).select_from(Link).where(Link.account_id == account.id)
    )

    response = _save(client, link, [(target.id, 1)])

    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'<tr id="link-{link.id}" class="state-mapped' in body
    assert f"<code>{target.sku}</code>" in body and ">Mapped</span>" in body
    assert 'id="status-tabs"' in body and 'hx-swap-oob="true"' in body
    assert _tab_count(body, "mapped") == 1
    assert _tab_count(body, "not_linked") == not_linked - 1
    assert re.search(r'class="tab tab-not_linked"\s+aria-current="page"', body)
    toast = _trigger(response)["showMessage"]
    assert toast == {"message": f"Linked {target.sku} to {target.sku}.", "level": "success"}
    db.session.expire_all()
    assert (link.state, link.store_sku_id, link.version) == (LinkState.MAPPED, target.id, 2)


def test_staff_may_link(shop, client):
    _, store, _ = shop
    staff = make_user("staff@shop.test", role=UserRole.STAFF, organization="Shop One")
    client.post_form("/logout")
    client.csrf_token = None
    client.login(staff.email, PASSWORD)
    target = unique_variants(store.id, 1, sku_like="TS-%")[0]
    link = _link_for(target)

    assert _save(client, link, [(target.id, 1)]).status_code == 200


def test_a_multi_pack_quantity_shows_in_the_row(shop, client):
    _, store, _ = shop
    target = unique_variants(store.id, 1, sku_like="TS-%")[0]
    link = _link_for(target)

    response = _save(client, link, [(target.id, 3)])

    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'<code>{target.sku}</code> <span class="badge">× 3</span>' in body
    toast = _trigger(response)["showMessage"]["message"]
    assert toast == f"Linked {target.sku} to 3 × {target.sku}."


def test_a_kit_of_two_parts_shows_both_in_the_row(shop, client):
    _, store, _ = shop
    first, second = unique_variants(store.id, 2, sku_like="TS-%")
    link = _link_for(first)

    response = _save(client, link, [(first.id, 1), (second.id, 2), ("", 1)])  # "" = chosen slot

    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f"<code>{first.sku}</code>" in body
    assert f'+ <code>{second.sku}</code> <span class="badge">× 2</span>' in body
    db.session.expire_all()
    assert [(c.store_sku_id, c.quantity) for c in link.components] == [(second.id, 2)]


def test_add_to_kit_returns_the_part_and_empties_the_chosen_slot(shop, client):
    _, store, _ = shop
    target = unique_variants(store.id, 1, sku_like="TS-%")[0]
    link = _link_for(target)

    response = client.hx_get(
        f"/links/{link.id}/part", query_string={"store_sku_id": target.id, "quantity": 2}
    )

    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert body.count('class="kit-part"') == 1
    assert f'name="store_sku_id" value="{target.id}"' in body and 'value="2"' in body
    assert f'id="chosen-{link.id}" hx-swap-oob="true"' in body
    assert 'name="store_sku_id" value=""' in body


def test_add_to_kit_refuses_a_parent_in_the_message_slot(shop, client):
    _, store, _ = shop
    parent = _parent(store.id)
    link = _link_for(unique_variants(store.id, 1, sku_like="TS-%")[0])

    response = client.hx_get(
        f"/links/{link.id}/part", query_string={"store_sku_id": parent.id, "quantity": 1}
    )

    assert response.status_code == 422
    assert response.headers["HX-Retarget"] == f"#editor-message-{link.id}"
    assert "is a parent (configurable) product" in response.get_data(as_text=True)


def test_a_parent_is_refused_with_its_message_and_nothing_changes(shop, client):
    _, store, _ = shop
    parent = _parent(store.id)
    link = _link_for(unique_variants(store.id, 1, sku_like="TS-%")[0])

    response = _save(client, link, [(parent.id, 1)])

    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'class="editor-row"' in body and 'role="alert"' in body
    assert "is a parent (configurable) product, not a sellable variant" in body
    assert f'name="store_sku_id" value="{parent.id}"' in body  # still shown as chosen
    db.session.expire_all()
    assert (link.state, link.store_sku_id, link.version) == (LinkState.NOT_LINKED, None, 1)
    assert _events() == 0


def test_a_stale_version_is_a_conflict_showing_the_fresh_row(shop, client):
    owner, store, _ = shop
    theirs, mine = unique_variants(store.id, 2, sku_like="TS-%")
    link = _link_for(theirs)
    set_link_target(db.session, link, [Target(theirs.id, 2)], expected_version=1, actor=owner)
    db.session.commit()

    response = _save(client, link, [(mine.id, 1)], version=1)

    body = response.get_data(as_text=True)
    assert response.status_code == 409
    assert f'<tr id="link-{link.id}" class="state-mapped' in body
    assert f"<code>{theirs.sku}</code>" in body and "× 2" in body
    assert "Someone else changed this row a moment ago" in body  # inline notice
    assert 'id="status-tabs"' in body
    toast = _trigger(response)["showMessage"]
    assert toast["level"] == "error" and toast["message"].startswith("Someone else changed")
    db.session.expire_all()
    assert (link.store_sku_id, link.version) == (theirs.id, 2)


# --- unlink -----------------------------------------------------------------------------------


def test_unlink_returns_the_row_to_not_linked_with_tabs_and_toast(shop, client):
    owner, store, _ = shop
    target = unique_variants(store.id, 1, sku_like="TS-%")[0]
    link = _link_for(target)
    set_link_target(db.session, link, [Target(target.id)], expected_version=1, actor=owner)
    db.session.commit()

    response = client.post_form(
        f"/links/{link.id}/unlink",
        {"version": "2"},
        htmx=True,
        headers={"HX-Current-URL": "http://localhost/?status=mapped"},
    )

    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'<tr id="link-{link.id}" class="state-not_linked' in body
    assert f'aria-label="Link {target.sku}"' in body
    assert _tab_count(body, "mapped") == 0
    assert re.search(r'class="tab tab-mapped"\s+aria-current="page"', body)
    assert _trigger(response)["showMessage"]["message"].startswith(f"Unlinked {target.sku}")
    db.session.expire_all()
    assert (link.state, link.store_sku_id) == (LinkState.NOT_LINKED, None)


def test_unlink_with_a_stale_version_is_a_conflict(shop, client):
    owner, store, _ = shop
    target = unique_variants(store.id, 1, sku_like="TS-%")[0]
    link = _link_for(target)
    set_link_target(db.session, link, [Target(target.id)], expected_version=1, actor=owner)
    db.session.commit()

    response = client.post_form(f"/links/{link.id}/unlink", {"version": "1"}, htmx=True)

    assert response.status_code == 409
    assert "Someone else changed this row" in response.get_data(as_text=True)
    db.session.expire_all()
    assert link.state is LinkState.MAPPED


@pytest.mark.parametrize("version", ["", "abc", "-1"])
def test_unlink_with_a_bad_version_says_so(shop, client, version):
    owner, store, _ = shop
    target = unique_variants(store.id, 1, sku_like="TS-%")[0]
    link = _link_for(target)
    set_link_target(db.session, link, [Target(target.id)], expected_version=1, actor=owner)
    db.session.commit()

    response = client.post_form(f"/links/{link.id}/unlink", {"version": version}, htmx=True)

    assert response.status_code == 422
    assert "lost track of the row's version" in _trigger(response)["showMessage"]["message"]
    db.session.expire_all()
    assert link.state is LinkState.MAPPED


# --- bad input --------------------------------------------------------------------------------


def _other_store_sku(shop) -> int:
    owner = make_user("other@shop.test", organization="Shop Two")
    other_store = make_store(owner.organization)
    other = StoreSku(store_id=other_store.id, remote_id="x-1", sku="OTHER-1", name="Other")
    db.session.add(other)
    db.session.commit()
    return other.id


@pytest.mark.parametrize(
    ("pairs", "version", "message"),
    [
        ([], None, "Choose a store SKU to link to."),
        ([("", 1)], None, "Choose a store SKU to link to."),
        ([("abc", 1)], None, "is not a store SKU"),
        ([("9" * 30, 1)], None, "is not a store SKU"),
        ([(str(2**31), 1)], None, "is not a store SKU"),  # past PostgreSQL's INTEGER
        ([("²", 1)], None, "is not a store SKU"),
        ([("{target}", 2**31)], None, "Quantities"),
        ([("{target}", 0)], None, "Quantities go from 1 to 999."),
        ([("{target}", 5000)], None, "Quantities go from 1 to 999."),
        ([("{target}", "two")], None, "Quantities are whole numbers"),
        ([("{target}", "")], None, "Quantities are whole numbers"),
        ([("{target}", 1), ("{target}", 2)], None, "only once in a kit"),
        ([("{other}", 1)], None, "not in this account's store catalog"),
        ([("99999999", 1)], None, "not in this account's store catalog"),
        ([("{target}", 1)], "abc", "lost track of the row's version"),
        ([("{target}", 1)], "", "lost track of the row's version"),
    ],
)
def test_bad_input_is_a_message_in_the_editor_and_changes_nothing(
    shop, client, pairs, version, message
):
    _, store, _ = shop
    target = unique_variants(store.id, 1, sku_like="TS-%")[0]
    other = _other_store_sku(shop) if any(p[0] == "{other}" for p in pairs) else None
    link = _link_for(target)
    pairs = [
        (str(sku_id).format(target=target.id, other=other), quantity) for sku_id, quantity in pairs
    ]

    response = _save(client, link, pairs, version=version)

    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'class="editor-row"' in body and message in html.unescape(body)
    db.session.expire_all()
    assert (link.state, link.store_sku_id, link.version) == (LinkState.NOT_LINKED, None, 1)
    assert _events() == 0


def test_mismatched_field_counts_are_refused(shop, client):
    _, store, _ = shop
    target = unique_variants(store.id, 1, sku_like="TS-%")[0]
    link = _link_for(target)

    response = client.post_form(
        f"/links/{link.id}",
        {"store_sku_id": [str(target.id)], "quantity": ["1", "2"], "version": "1"},
        htmx=True,
    )

    assert response.status_code == 422
    assert "Each store SKU needs its own quantity." in response.get_data(as_text=True)


# --- tenancy ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/links/{id}"),
        ("get", "/links/{id}/edit"),
        ("get", "/links/{id}/history"),
        ("get", "/links/{id}/candidates?q=TS"),
        ("get", "/links/{id}/part?store_sku_id=1&quantity=1"),
        ("post", "/links/{id}"),
        ("post", "/links/{id}/unlink"),
    ],
)
def test_another_organizations_link_is_a_404(shop, client, run_jobs, method, path):
    stranger = make_user("stranger@elsewhere.test", organization="Elsewhere")
    their_account = make_account(stranger.organization, stranger, shop_index=1)
    start_marketplace_import(db.session, their_account, stranger)
    run_jobs()
    theirs = db.session.scalars(select(Link).where(Link.account_id == their_account.id)).first()
    url = path.format(id=theirs.id)

    if method == "get":
        response = client.hx_get(url)
    else:
        response = client.post_form(url, {"store_sku_id": "1", "quantity": "1", "version": "1"})

    assert response.status_code == 404
    db.session.expire_all()
    assert theirs.version == 1


@pytest.mark.parametrize("path", ["/links/{big}", "/links/{big}/edit", "/links/{big}/candidates"])
def test_an_id_beyond_any_row_is_a_404_not_a_500(shop, client, path):
    assert client.hx_get(path.format(big="9" * 25)).status_code == 404
