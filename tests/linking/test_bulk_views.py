"""Grid-level link actions through the views: bulk assign / unlink, Assign Products, the
Auto-map preview and Map, the first-import question and the auto-link setting."""

from __future__ import annotations

import json
import re

import pytest
from flask import g
from sqlalchemy import func, select

from tests.builders import PASSWORD, make_account, make_store, make_user, unique_variants
from webapp.accounts.models import MarketplaceAccount, UserRole
from webapp.audit import AuditEvent
from webapp.catalog.jobs import start_marketplace_import
from webapp.catalog.models import StoreSku
from webapp.extensions import db, utcnow
from webapp.jobs.models import JobKind, JobRun, JobStatus
from webapp.linking.automap import preview_automap
from webapp.linking.jobs import start_assign
from webapp.linking.models import Link, LinkState
from webapp.linking.services import Target, set_link_target


@pytest.fixture
def shop(shop, client):
    client.login(shop[0].email, PASSWORD)
    return shop


def _mapped(owner, store, n: int) -> list[Link]:
    links = db.session.scalars(select(Link).order_by(Link.id).limit(n)).all()
    for link, variant in zip(links, unique_variants(store.id, n), strict=True):
        set_link_target(db.session, link, [Target(variant.id)], expected_version=None, actor=owner)
    db.session.commit()
    return links


def _state(link_id: int) -> LinkState:
    return db.session.get(Link, link_id).state


def _toast(response) -> dict:
    return json.loads(response.headers["HX-Trigger"])["showMessage"]


LINK_JOBS = [JobKind.AUTOMAP, JobKind.ASSIGN, JobKind.BULK_UNLINK, JobKind.UNDO]


def _runs() -> int:
    """Bulk link jobs started (the fixture's imports are not counted)."""
    return db.session.scalar(select(func.count(JobRun.id)).where(JobRun.kind.in_(LINK_JOBS)))


def _started(response) -> JobRun:
    assert response.status_code == 200, response.get_data(as_text=True)
    run_id = int(re.search(r'id="job-(\d+)"', response.get_data(as_text=True)).group(1))
    return db.session.get(JobRun, run_id)


# --- bulk assign / unlink ---------------------------------------------------------------------


def test_the_grid_has_the_bulk_bar_and_the_grid_level_buttons(shop, client):
    page = client.get("/").get_data(as_text=True)
    assert 'id="bulk-form"' in page and "Select all on this page" in page
    assert "Assign selected" in page and "Unlink selected" in page
    assert "inventory, price and order sync stop" in page.lower()
    assert ">Auto-map</a>" in page and "Assign Products" in page
    assert 'id="job-progress"' in page and "bulk.js" in page
    grid = client.hx_get("/", target="linking-grid").get_data(as_text=True)
    assert 'id="bulk-form"' in grid


def test_assign_selected_links_only_the_chosen_rows(shop, client, run_jobs):
    owner, store, _ = shop
    a, b, c = _mapped(owner, store, 3)

    response = client.post_form("/bulk/assign", {"link_id": [a.id, b.id]}, htmx=True)

    run = _started(response)
    assert run.kind is JobKind.ASSIGN and run.params == {"link_ids": [a.id, b.id]}
    assert "Assign Products" in response.get_data(as_text=True)  # the progress component
    assert _toast(response)["message"] == "Assigning 2 selected rows…"
    run_jobs()
    assert [_state(a.id), _state(b.id), _state(c.id)] == [
        LinkState.LINKED,
        LinkState.LINKED,
        LinkState.MAPPED,
    ]
    card = client.hx_get(f"/jobs/{run.id}").get_data(as_text=True)
    assert "linked: <strong>2</strong>" in card


def test_unlink_selected_stops_the_chosen_rows(shop, client, run_jobs):
    owner, store, _ = shop
    a, b, c = _mapped(owner, store, 3)

    response = client.post_form("/bulk/unlink", {"link_id": [str(a.id), str(c.id)]}, htmx=True)

    assert _started(response).kind is JobKind.BULK_UNLINK
    run_jobs()
    assert [_state(a.id), _state(b.id), _state(c.id)] == [
        LinkState.NOT_LINKED,
        LinkState.MAPPED,
        LinkState.NOT_LINKED,
    ]


@pytest.mark.parametrize("url", ["/bulk/assign", "/bulk/unlink"])
def test_no_rows_selected_says_so_and_starts_nothing(shop, client, url):
    response = client.post_form(url, {}, htmx=True)

    assert response.status_code == 422
    assert "No rows are selected" in response.get_data(as_text=True)
    assert _toast(response)["level"] == "error"
    assert response.headers["HX-Retarget"] == "#flash"
    assert _runs() == 0


def test_selection_without_mapped_rows_cannot_be_assigned(shop, client):
    ids = db.session.scalars(select(Link.id).order_by(Link.id).limit(2)).all()
    response = client.post_form("/bulk/assign", {"link_id": ids}, htmx=True)
    assert response.status_code == 422
    assert "only Mapped rows can be assigned" in response.get_data(as_text=True)
    assert _runs() == 0


@pytest.mark.parametrize("bad", ["abc", "-1", "1e3", "9" * 30])
def test_non_numeric_ids_are_refused_in_words(shop, client, bad):
    owner, store, _ = shop
    (link,) = _mapped(owner, store, 1)
    response = client.post_form("/bulk/assign", {"link_id": [link.id, bad]}, htmx=True)
    assert response.status_code == 422
    assert "row ids are numbers" in response.get_data(as_text=True)
    assert _runs() == 0 and _state(link.id) is LinkState.MAPPED


def test_rows_of_another_organization_are_refused(shop, client, run_jobs):
    owner, store, _ = shop
    (mine,) = _mapped(owner, store, 1)
    other = make_user("other@shop.test", organization="Shop Two")
    other_store = make_store(other.organization)
    other_account = make_account(other.organization, other, shop_index=1, store=other_store)
    start_marketplace_import(db.session, other_account, other)
    run_jobs()
    theirs = db.session.scalar(select(Link.id).where(Link.account_id == other_account.id))
    runs_before = _runs()

    for url in ("/bulk/assign", "/bulk/unlink"):
        response = client.post_form(url, {"link_id": [mine.id, theirs]}, htmx=True)
        assert response.status_code == 422
        assert "1 of the selected rows are not rows of" in response.get_data(as_text=True)
    response = client.post_form("/automap", {"excluded_link_id": [theirs]}, htmx=True)
    assert response.status_code == 422

    assert _runs() == runs_before
    assert _state(mine.id) is LinkState.MAPPED
    assert _state(theirs) is LinkState.NOT_LINKED


def test_without_htmx_a_refusal_redirects_back_with_the_message(shop, client):
    response = client.post_form("/bulk/unlink", {}, follow_redirects=True)
    assert "No rows are selected" in response.get_data(as_text=True)


# --- Assign Products --------------------------------------------------------------------------


def test_assign_products_assigns_every_mapped_row_and_reports_failures(shop, client, run_jobs):
    owner, store, account = shop
    a, b, gone = _mapped(owner, store, 3)
    db.session.get(StoreSku, gone.store_sku_id).gone_at = utcnow()  # deleted in the store
    db.session.commit()

    response = client.post_form("/assign-products", {}, htmx=True)

    run = _started(response)
    assert run.params == {"link_ids": None}
    assert f"Assigning every Mapped row of {account.name}" in _toast(response)["message"]
    run_jobs()
    assert [_state(a.id), _state(b.id), _state(gone.id)] == [
        LinkState.LINKED,
        LinkState.LINKED,
        LinkState.FAILED,
    ]
    assert db.session.get(Link, gone.id).failure_reason
    card = client.hx_get(f"/jobs/{run.id}")
    assert "jobFinished" in card.headers["HX-Trigger"]
    body = card.get_data(as_text=True)
    assert "linked: <strong>2</strong>" in body and "failed: <strong>1</strong>" in body
    grid = client.hx_get("/?status=failed", target="linking-grid").get_data(as_text=True)
    assert f'id="link-{gone.id}"' in grid


def test_assign_products_with_nothing_mapped_says_so(shop, client):
    response = client.post_form("/assign-products", {}, htmx=True)
    assert response.status_code == 422
    assert "No rows are Mapped" in response.get_data(as_text=True)
    assert _runs() == 0


# --- Auto-map ---------------------------------------------------------------------------------


def test_automap_preview_partial_shows_rule_counts_ambiguous_rows_and_ticked_pairs(shop, client):
    _, _, account = shop
    preview = preview_automap(db.session, account)
    assert preview.proposals and preview.ambiguous

    response = client.hx_get("/automap")

    body = response.get_data(as_text=True)
    assert "<html" not in body and 'id="automap-preview"' in body
    for rule, count in preview.by_rule.items():
        assert f"{rule.label} <strong>{count}</strong>" in body
    assert f"Ambiguous <strong>{preview.ambiguous_total}</strong>" in body
    assert f"Unmatched <strong>{preview.unmatched}</strong>" in body
    ticked = re.findall(r'name="map_link_id" value="(\d+)" checked', body)
    listed = [p.link_id for p in preview.proposals]
    assert sorted(map(int, ticked)) == sorted(listed)
    for row in preview.ambiguous:
        assert f'<code>{row.marketplace_sku}</code> <span class="badge badge-refused">' in body
        for candidate in row.candidates:
            assert f"<code>{candidate.sku}</code>" in body
    assert "never mapped" in body


def test_automap_page_without_htmx_is_a_full_page(shop, client):
    body = client.get("/automap").get_data(as_text=True)
    assert "<html" in body and "Auto-map preview" in body and "← Linking" in body


def test_automap_preview_lists_200_per_rule_and_counts_the_rest(shop, client, monkeypatch):
    monkeypatch.setattr("webapp.linking.automap.PREVIEW_LIMIT", 5)
    _, _, account = shop
    preview = preview_automap(db.session, account)
    body = client.hx_get("/automap").get_data(as_text=True)
    for rule, count in preview.by_rule.items():
        if count > 5:
            assert f"… and {count - 5} more {rule.label} pairs" in body
    assert body.count('name="map_link_id"') == sum(min(5, n) for n in preview.by_rule.values())


@pytest.mark.parametrize(
    ("breakage", "message"),
    [("no_store", "has no store yet"), ("empty_catalog", "is empty")],
)
def test_automap_without_a_store_catalog_says_why_in_the_page(shop, client, breakage, message):
    _, store, account = shop
    if breakage == "no_store":
        account.store_id = None
    else:
        for sku in db.session.scalars(select(StoreSku).where(StoreSku.store_id == store.id)):
            sku.gone_at = utcnow()
    db.session.commit()

    body = client.hx_get("/automap").get_data(as_text=True)

    assert message in body and 'role="alert"' in body
    assert "map_link_id" not in body


def test_map_leaves_the_unticked_pair_not_linked_and_lists_failures(shop, client, run_jobs):
    _, _, account = shop
    preview = preview_automap(db.session, account)
    unticked, *ticked = preview.proposals

    response = client.post_form(
        "/automap",
        {
            "proposed_link_id": [p.link_id for p in preview.proposals],
            "map_link_id": [p.link_id for p in ticked],
        },
        htmx=True,
    )

    run = _started(response)
    assert run.kind is JobKind.AUTOMAP and run.params == {"excluded_link_ids": [unticked.link_id]}
    assert "1 unticked pairs are left out" in _toast(response)["message"]
    run_jobs()
    db.session.refresh(run)
    assert run.status is JobStatus.FINISHED
    link = db.session.get(Link, unticked.link_id)
    assert (link.state, link.store_sku_id) == (LinkState.NOT_LINKED, None)
    assert all(_state(p.link_id) is LinkState.MAPPED for p in ticked)

    card = client.hx_get(f"/jobs/{run.id}").get_data(as_text=True)
    assert f"mapped: <strong>{preview.matched - 1}</strong>" in card
    failed = preview.ambiguous_total + preview.parent_only_total + preview.unmatched
    assert f"failed: <strong>{failed}</strong>" in card
    assert "could not be mapped, and why" in card
    assert "{&#39;" not in card and "failures:" not in card  # not the raw dict
    for row in preview.ambiguous:
        assert f"<code>{row.marketplace_sku}</code>" in card
    assert "SKU is ambiguous: 2 store products share it" in card
    mapped_tab = client.hx_get("/", target="linking-grid").get_data(as_text=True)
    assert re.search(rf"Mapped <span class=\"count\">{preview.matched - 1}</span>", mapped_tab)


def test_map_accepts_excluded_link_ids_directly(shop, client, run_jobs):
    _, _, account = shop
    first = preview_automap(db.session, account).proposals[0]
    response = client.post_form("/automap", {"excluded_link_id": [first.link_id]}, htmx=True)
    assert _started(response).params == {"excluded_link_ids": [first.link_id]}
    run_jobs()
    assert _state(first.link_id) is LinkState.NOT_LINKED


def test_map_with_bad_ids_starts_nothing(shop, client):
    response = client.post_form("/automap", {"excluded_link_id": ["x1"]}, htmx=True)
    assert response.status_code == 422 and _runs() == 0


# --- first-import question and the auto-link setting ------------------------------------------

QUESTION = "Link new products automatically from now on?"


def test_the_question_is_asked_once_after_the_first_import(shop, client):
    _, _, account = shop
    assert account.auto_link_new_products is None
    assert QUESTION in client.get("/").get_data(as_text=True)

    response = client.post_form(
        f"/accounts/{account.id}/auto-link",
        {"enabled": "1"},
        htmx=True,
        headers={"HX-Target": "auto-link-question"},
    )

    assert response.status_code == 200 and response.get_data(as_text=True) == ""
    assert "linked automatically" in _toast(response)["message"]
    db.session.expire_all()
    assert db.session.get(MarketplaceAccount, account.id).auto_link_new_products is True
    assert QUESTION not in client.get("/").get_data(as_text=True)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action.like("account.auto%")))
    assert event.action == "account.auto_link_on" and event.target == f"account:{account.id}"


def test_no_question_before_any_import(app_ctx, client):
    owner = make_user()
    make_account(owner.organization, owner, store=make_store(owner.organization))
    client.login(owner.email, PASSWORD)
    assert QUESTION not in client.get("/").get_data(as_text=True)


def test_answering_no_keeps_linking_by_hand(shop, client):
    _, _, account = shop
    client.post_form(
        f"/accounts/{account.id}/auto-link",
        {"enabled": "0"},
        htmx=True,
        headers={"HX-Target": "auto-link-question"},
    )
    db.session.expire_all()
    assert db.session.get(MarketplaceAccount, account.id).auto_link_new_products is False
    assert QUESTION not in client.get("/").get_data(as_text=True)


def test_the_accounts_page_toggles_auto_link(shop, client):
    _, _, account = shop
    page = client.get("/accounts/").get_data(as_text=True)
    assert "Auto-link new products: <strong>Not chosen (off)</strong>" in page

    response = client.post_form(f"/accounts/{account.id}/auto-link", {"enabled": "1"}, htmx=True)

    body = response.get_data(as_text=True)
    assert f'id="auto-link-{account.id}"' in body and "<strong>On</strong>" in body
    assert "Turn off" in body and "<html" not in body
    response = client.post_form(f"/accounts/{account.id}/auto-link", {"enabled": "0"}, htmx=True)
    assert "<strong>Off</strong>" in response.get_data(as_text=True)


def test_auto_link_refuses_bad_values_other_organizations_and_staff(shop, client):
    _, _, account = shop
    url = f"/accounts/{account.id}/auto-link"
    assert client.post_form(url, {"enabled": "maybe"}, htmx=True).status_code == 400
    assert client.post_form("/accounts/999999/auto-link", {"enabled": "1"}).status_code == 404

    staff = make_user("staff@shop.test", role=UserRole.STAFF, organization="Shop One")
    # Requests share the test's app context, and so its g: forget the owner and their token.
    for cached in ("_login_user", "csrf_token"):
        g.pop(cached, None)
    staff_client = client.application.test_client()
    staff_client.login(staff.email, PASSWORD)
    assert QUESTION not in staff_client.get("/").get_data(as_text=True)
    assert staff_client.post_form(url, {"enabled": "1"}, htmx=True).status_code == 403
    db.session.expire_all()
    assert db.session.get(MarketplaceAccount, account.id).auto_link_new_products is None


def test_another_organizations_account_setting_is_a_404(shop, client):
    other = make_user("other@shop.test", organization="Shop Two")
    theirs = make_account(other.organization, other, shop_index=1)
    response = client.post_form(f"/accounts/{theirs.id}/auto-link", {"enabled": "1"}, htmx=True)
    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(MarketplaceAccount, theirs.id).auto_link_new_products is None


def test_a_second_selection_while_one_assign_runs_gets_its_own_job(shop, client):
    owner, store, account = shop
    a, b = _mapped(owner, store, 2)
    running = start_assign(db.session, account, [b.id], owner)  # no worker picks it up

    response = client.post_form("/bulk/assign", {"link_id": [a.id]}, htmx=True)
    again = client.post_form("/bulk/assign", {"link_id": [a.id]}, htmx=True)

    assert f'id="job-{running.id}"' not in response.get_data(as_text=True)
    assert _runs() == 2  # the same selection twice is one job
    assert again.get_data(as_text=True).count('class="job-progress') == 1
