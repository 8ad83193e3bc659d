"""The linking grid: tabs with counts, search, keyset pages, full page or partial."""

from __future__ import annotations

import pytest
from flask import url_for
from sqlalchemy import delete, func, select, text, update

from tests.builders import PASSWORD, make_account, make_user, unique_variants
from webapp.accounts.models import User
from webapp.catalog.models import MarketplaceSku, StoreSku
from webapp.extensions import db
from webapp.linking.grid import (
    FAILURE_KINDS,
    GridQuery,
    failure_counts,
    grid_page,
    page_statement,
    status_counts,
)
from webapp.linking.jobs import start_automap
from webapp.linking.models import Link, LinkState
from webapp.linking.search import merge_pending_search_entries
from webapp.linking.services import Target, assign_links, mark_failed, set_link_target, unlink
from webapp.sync.models import LinkSync
from webapp.urls import url_for_each


@pytest.fixture
def imported(shop, client):
    client.login(shop[0].email, PASSWORD)
    return shop[2]


def _all_ids(account_id: int, **filters) -> list[int]:
    ids, after = [], None
    while True:
        page = grid_page(db.session, GridQuery(account_id=account_id, after=after, **filters))
        ids += [row.id for row in page.rows]
        if not page.has_next:
            return ids
        after = page.last_id


def test_keyset_pages_cover_every_row_once(imported):
    ids = _all_ids(imported.id, page_size=7)
    assert ids == sorted(set(ids))
    assert len(ids) == status_counts(db.session, imported.id)["all"]


def test_previous_page_is_the_page_before(imported):
    first = grid_page(db.session, GridQuery(account_id=imported.id, page_size=5))
    second = grid_page(
        db.session, GridQuery(account_id=imported.id, page_size=5, after=first.last_id)
    )
    back = grid_page(
        db.session, GridQuery(account_id=imported.id, page_size=5, before=second.first_id)
    )
    assert [r.id for r in back.rows] == [r.id for r in first.rows]
    assert back.has_next and not back.has_previous


@pytest.mark.parametrize("status", [None, *LinkState], ids=lambda s: s.value if s else "all")
def test_every_tab_reads_its_page_in_id_order_without_sorting_the_account(imported, status):
    """Each tab's page walks an index in id order and stops after a page; sorting every row of
    the account first is what made the All tab take seconds at a million links."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's planner sorts a table this small whatever the indexes")
    for cursor in ({}, {"after": 3}, {"before": 9}):
        query = GridQuery(account_id=imported.id, status=status, **cursor)
        sql = page_statement(db.session, query).compile(
            db.engine, compile_kwargs={"literal_binds": True}
        )
        plan = db.session.execute(text(f"EXPLAIN QUERY PLAN {sql}")).all()
        steps = [step[-1] for step in plan]
        assert any(step.startswith("SEARCH links USING") for step in steps), (cursor, steps)
        assert not any("TEMP B-TREE" in step for step in steps), (cursor, steps)


def test_tabs_count_each_state(imported):
    ids = db.session.scalars(select(Link.id).order_by(Link.id).limit(3)).all()
    db.session.execute(
        update(Link)
        .where(Link.id == ids[0])
        .values(state=LinkState.FAILED, failure_reason="SKU not found")
    )
    target = db.session.scalar(select(StoreSku.id).where(StoreSku.is_parent.is_(False)).limit(1))
    db.session.execute(
        update(Link).where(Link.id.in_(ids[1:])).values(state=LinkState.MAPPED, store_sku_id=target)
    )
    db.session.commit()
    counts = status_counts(db.session, imported.id)
    assert counts["failed"] == 1 and counts["mapped"] == 2
    assert counts["all"] == counts["not_linked"] + 3
    failed = grid_page(db.session, GridQuery(account_id=imported.id, status=LinkState.FAILED))
    assert [row.failure_reason for row in failed.rows] == ["SKU not found"]


def _counted(account_id: int) -> dict[str, int]:
    """The tab counts as a GROUP BY over the links gives them."""
    rows = db.session.execute(
        select(Link.state, func.count()).where(Link.account_id == account_id).group_by(Link.state)
    )
    counts = {state.value: 0 for state in LinkState} | {s.value: n for s, n in rows}
    return counts | {"all": sum(counts.values())}


def _counted_failures(account_id: int) -> dict[str, int]:
    """The failure filter's counts as the filter itself finds the rows."""
    return {
        key: db.session.scalar(
            select(func.count()).where(
                Link.account_id == account_id,
                Link.state == LinkState.FAILED,
                Link.failure_reason.ilike(kind.pattern),
            )
        )
        for key, kind in FAILURE_KINDS.items()
    }


def _kept_counts_hold(account_id: int) -> bool:
    return status_counts(db.session, account_id) == _counted(account_id) and failure_counts(
        db.session, account_id
    ) == _counted_failures(account_id)


def test_kept_counts_follow_every_kind_of_change(imported, run_jobs):
    account_id = imported.id
    assert _kept_counts_hold(account_id)  # after the import

    owner = db.session.scalar(select(User).where(User.organization_id == imported.organization_id))
    start_automap(db.session, imported, [], owner)  # set-based writes of many rows
    run_jobs()
    assert _kept_counts_hold(account_id)
    assert status_counts(db.session, account_id)["mapped"] > 0
    assert failure_counts(db.session, account_id)["not_found"] > 0
    assert failure_counts(db.session, account_id)["ambiguous"] > 0

    mapped = db.session.scalars(
        select(Link).where(Link.account_id == account_id, Link.state == LinkState.MAPPED).limit(5)
    ).all()
    assign_links(db.session, imported, mapped[:3], actor=owner, batch=None)
    unlink(db.session, mapped[3], expected_version=mapped[3].version, actor=owner)
    db.session.commit()
    assert _kept_counts_hold(account_id)

    failed = db.session.scalars(
        select(Link).where(Link.account_id == account_id, Link.state == LinkState.FAILED).limit(3)
    ).all()
    mark_failed(db.session, failed[0], "A parent product, not a variant.", actor=owner)
    unlink(db.session, failed[1], expected_version=failed[1].version, actor=owner)
    db.session.commit()
    assert _kept_counts_hold(account_id)

    db.session.execute(delete(Link).where(Link.id.in_([mapped[4].id, failed[2].id])))
    db.session.commit()
    assert _kept_counts_hold(account_id)


def test_search_matches_sku_and_title_and_treats_wildcards_as_text(imported):
    page = grid_page(db.session, GridQuery(account_id=imported.id, search="HD-", page_size=500))
    assert page.rows and all("HD-" in row.marketplace_sku.upper() for row in page.rows)
    assert grid_page(db.session, GridQuery(account_id=imported.id, search="%")).rows == []
    titled = grid_page(db.session, GridQuery(account_id=imported.id, search="hoodie"))
    assert titled.rows and all("hoodie" in row.name.lower() for row in titled.rows)


def _found(account_id: int, search: str) -> set[int]:
    return {row.id for row in _rows(account_id, search)}


def _rows(account_id: int, search: str):
    query = GridQuery(account_id=account_id, search=search, page_size=5000)
    return grid_page(db.session, query).rows


def _scanned(account_id: int, search: str) -> set[int]:
    """What a search must find, worked out row by row in Python."""
    needle = search.casefold()
    rows = db.session.execute(
        select(Link.id, MarketplaceSku.seller_sku, MarketplaceSku.product_title,
               MarketplaceSku.variant, MarketplaceSku.sku_id, StoreSku.sku)
        .join(MarketplaceSku, MarketplaceSku.id == Link.marketplace_sku_id)
        .outerjoin(StoreSku, StoreSku.id == Link.store_sku_id)
        .where(Link.account_id == account_id)
    )  # fmt: skip
    return {
        link_id
        for link_id, seller_sku, title, variant, sku_id, store_sku in rows
        if any(
            needle in (text or "").casefold() for text in (seller_sku, title, variant, store_sku)
        )
        or sku_id == search
    }


@pytest.mark.parametrize("search", ["sh-0", "Sky Blue", "Es", "-XL", "zz-none", "_", '"'])
def test_search_finds_what_reading_every_row_finds(imported, search):
    assert _found(imported.id, search) == _scanned(imported.id, search)


def test_search_finds_store_skus_sku_ids_and_follows_changes(imported):
    sku = db.session.scalar(
        select(MarketplaceSku).where(MarketplaceSku.account_id == imported.id).limit(1)
    )
    link = db.session.scalar(select(Link).where(Link.marketplace_sku_id == sku.id))
    target = db.session.scalar(
        select(StoreSku).where(StoreSku.is_parent.is_(False)).order_by(StoreSku.id.desc())
    )
    link.store_sku_id, link.state = target.id, LinkState.MAPPED
    sku.seller_sku = "RENAMED-QX7"
    db.session.commit()

    assert link.id in _found(imported.id, target.sku.lower())
    assert _found(imported.id, sku.sku_id) == {link.id}
    assert _found(imported.id, "qx7") == {link.id}
    counts = status_counts(db.session, imported.id, "qx7")
    assert counts["all"] == 1 and counts["mapped"] == 1

    sku.seller_sku = "AGAIN-RENAMED"
    db.session.commit()
    assert _found(imported.id, "qx7") == set()


def test_bulk_jobs_leave_no_entries_pending_in_the_search_indexes(imported):
    """PostgreSQL's trigram indexes take new rows into a pending list that every search reads
    through; the import that made `imported` merged it when it finished. Rows written since
    are pending again until the next bulk job."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's FTS5 search tables keep no pending list")
    assert merge_pending_search_entries(db.session) == 0
    sku = db.session.scalar(select(MarketplaceSku).where(MarketplaceSku.account_id == imported.id))
    sku.seller_sku = "PENDING-QX8"
    db.session.commit()
    assert merge_pending_search_entries(db.session) > 0
    assert _found(imported.id, "qx8") == {
        db.session.scalar(select(Link.id).where(Link.marketplace_sku_id == sku.id))
    }


def test_full_page_and_partial_from_one_url(imported, client):
    full = client.get("/?status=not_linked")
    partial = client.hx_get("/?status=not_linked", target="linking-grid")
    assert "<html" in full.get_data(as_text=True)
    body = partial.get_data(as_text=True)
    assert "<html" not in body and 'id="linking-grid"' in body
    assert 'aria-current="page"' in body and "Not Linked" in body
    assert "HX-Request" in partial.headers["Vary"]


def test_partial_shows_the_columns_and_pager(imported, client):
    body = client.hx_get("/", target="linking-grid").get_data(as_text=True)
    for column in ("ID", "Account ID", "Marketplace SKU", "Store SKU", "Name", "Status"):
        assert f'<th scope="col">{column}</th>' in body
    assert "Next →" in body and "← Previous" not in body
    assert body.count('<tr id="link-') == 20  # GRID_PAGE_SIZE in tests


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("status=bogus", "There is no status"),
        ("after=abc", "That page link was not valid"),
        ("after=99999999999999999999999", "That page link was not valid"),
        ("q=" + "x" * 300, "Search was cut"),
    ],
)
def test_bad_grid_parameters_get_a_message_not_an_error(imported, client, query, message):
    response = client.get(f"/?{query}")
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)


def test_empty_state_before_the_first_import(app_ctx, client):
    owner = make_user()
    make_account(owner.organization, owner)
    client.login(owner.email, PASSWORD)
    assert "No products imported yet" in client.get("/").get_data(as_text=True)


def test_map_failed_rows_filter_by_reason(imported, client):
    ids = db.session.scalars(select(Link.id).order_by(Link.id).limit(3)).all()
    reasons = [
        "Store SKU not found: no store product has SKU X.",
        "SKU is ambiguous: 2 store products share it.",
        "Store SKU not found: no store product has SKU Y.",
    ]
    for link_id, reason in zip(ids, reasons, strict=True):
        db.session.execute(
            update(Link)
            .where(Link.id == link_id)
            .values(state=LinkState.FAILED, failure_reason=reason)
        )
    db.session.commit()

    tab = client.hx_get("/?status=failed", target="linking-grid").get_data(as_text=True)
    assert "Store SKU not found (2)" in tab and "Ambiguous SKU (1)" in tab
    body = client.hx_get("/?status=failed&failure=ambiguous", target="linking-grid")
    rows = body.get_data(as_text=True)
    assert rows.count('<tr id="link-') == 1 and "is ambiguous" in rows
    assert "failure=ambiguous" in rows  # the self-refresh keeps the filter
    assert "does not exist" in client.get("/?status=failed&failure=bogus").get_data(as_text=True)


def test_linked_rows_filter_by_a_refused_push(imported, client):
    """Support staff open the Linked rows whose last push was refused (the Overview links
    here), fix each and see the list shrink; a refusal kept by a row no longer Linked is not
    counted."""
    ids = db.session.scalars(select(Link.id).order_by(Link.id).limit(4)).all()
    target = unique_variants(imported.store_id, 1)[0]
    db.session.execute(
        update(Link).where(Link.id.in_(ids)).values(state=LinkState.LINKED, store_sku_id=target.id)
    )
    pushes = [("TikTok Shop refused the quantity.", True), ("", False), ("Store said 404.", True)]
    for link_id, (error, refused) in zip(ids, pushes, strict=False):
        db.session.add(
            LinkSync(link_id=link_id, account_id=imported.id, error=error, has_error=refused)
        )
    db.session.add(LinkSync(link_id=ids[3], account_id=imported.id, error="Old.", has_error=True))
    db.session.execute(update(Link).where(Link.id == ids[3]).values(state=LinkState.MAPPED))
    db.session.commit()

    tab = client.hx_get("/?status=linked", target="linking-grid").get_data(as_text=True)
    assert "Refused (2)" in tab and tab.count('<tr id="link-') == 3
    filtered = client.hx_get("/?status=linked&sync=refused", target="linking-grid")
    rows = filtered.get_data(as_text=True)
    assert [f'<tr id="link-{i}"' in rows for i in ids] == [True, False, True, False]
    assert "Last sync: TikTok Shop refused the quantity." in rows
    assert "sync=refused" in rows  # the self-refresh keeps the filter
    assert "does not exist" in client.get("/?status=linked&sync=bogus").get_data(as_text=True)
    export = client.get("/mappings/export.csv?status=linked&sync=refused").get_data(as_text=True)
    assert len(export.splitlines()) == 1 + 2  # the header and the two refused rows

    db.session.execute(update(LinkSync).values(error="", has_error=False))
    db.session.commit()
    empty = client.hx_get("/?status=linked&sync=refused", target="linking-grid")
    assert "No linked row has a refused push" in empty.get_data(as_text=True)


def test_grid_rows_carry_their_kit_parts_and_their_own_buttons(imported, client):
    """A page builds its rows' button URLs once; each row still gets its own, and only the
    kit's row shows parts."""
    first, second = unique_variants(imported.store_id, 2)
    page = grid_page(db.session, GridQuery(account_id=imported.id, page_size=20))
    kit = db.session.get(Link, page.rows[3].id)
    set_link_target(
        db.session,
        kit,
        [Target(first.id, 1), Target(second.id, 2)],
        expected_version=kit.version,
        actor=None,
    )
    db.session.commit()

    body = client.hx_get("/", target="linking-grid").get_data(as_text=True)

    rows = body.split('<tr id="link-')[1:]
    assert [int(row.split('"', 1)[0]) for row in rows] == [row.id for row in page.rows]
    with client.application.test_request_context():
        for row in rows:
            link_id = int(row.split('"', 1)[0])
            assert f'hx-get="{url_for("linking.edit_link", link_id=link_id)}"' in row
            has_parts = f'+ <code>{second.sku}</code> <span class="badge">× 2</span>' in row
            assert has_parts == (link_id == kit.id)
        kit_row = rows[3]
        assert f"<code>{first.sku}</code>" in kit_row
        assert f'hx-post="{url_for("linking.unlink_link", link_id=kit.id)}"' in kit_row


def test_url_for_each_builds_what_url_for_builds(app):
    with app.test_request_context("/"):
        edit_assign = url_for_each("linking.edit_link", "link_id", then="assign")
        unlink_url = url_for_each("linking.unlink_link", "link_id")
        for link_id in (1, 42, 2**63 - 1):
            assert edit_assign(link_id) == url_for(
                "linking.edit_link", link_id=link_id, then="assign"
            )
            assert unlink_url(link_id) == url_for("linking.unlink_link", link_id=link_id)
