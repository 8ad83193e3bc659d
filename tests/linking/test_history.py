"""A row's history, opened from the link editor: every change, newest first, in words, with
who made it and the job it was part of."""

from __future__ import annotations

from sqlalchemy import select

from tests.builders import PASSWORD, unique_variants
from webapp.extensions import db
from webapp.linking.history import link_history
from webapp.linking.jobs import start_automap
from webapp.linking.models import Link, LinkState
from webapp.linking.services import Target, mark_failed, set_link_target, unlink


def _first_link(account_id: int) -> Link:
    return db.session.scalar(select(Link).where(Link.account_id == account_id).order_by(Link.id))


def test_each_change_is_told_newest_first_with_who_made_it(shop):
    owner, store, account = shop
    link = _first_link(account.id)
    first, second = unique_variants(store.id, 2)
    set_link_target(
        db.session,
        link,
        [Target(first.id, 2), Target(second.id, 1)],
        expected_version=link.version,
        actor=owner,
    )
    reason = "SKU is ambiguous: 2 store products share it."
    mark_failed(db.session, link, reason, actor=None)
    unlink(db.session, link, expected_version=None, actor=owner)
    db.session.commit()

    entries = link_history(db.session, link.id)

    mapped = f"Mapped: {first.sku} ×2 + {second.sku}"
    failed = (
        f"Map failed: {first.sku} ×2 + {second.sku} (SKU is ambiguous: 2 store products share it.)"
    )

    assert [(e.action, e.before, e.after, e.actor) for e in entries] == [
        (
            "Unlinked",
            failed,
            "Not Linked",
            owner.display_name,
        ),
        (
            "Mapping refused",
            mapped,
            failed,
            "System",
        ),
        (
            "Store SKU set",
            "Not Linked",
            f"Mapped: {first.sku} ×2 + {second.sku}",
            owner.display_name,
        ),
    ]
    assert all(entry.job_run_id is None for entry in entries)


def test_a_change_made_by_a_job_names_the_job(shop, run_jobs):
    owner, _, account = shop
    run = start_automap(db.session, account, excluded_link_ids=[], actor=owner)
    run_jobs()
    mapped = db.session.scalar(
        select(Link).where(Link.account_id == account.id, Link.state == LinkState.MAPPED)
    )

    [entry] = link_history(db.session, mapped.id)

    assert entry.action == "Store SKU set" and entry.before == "Not Linked"
    assert entry.after.startswith("Mapped: ")
    assert (entry.actor, entry.job_run_id, entry.job_kind.label) == (
        owner.display_name,
        run.id,
        "Auto-map",
    )


def test_the_editor_opens_the_rows_history(shop, client):
    owner, store, account = shop
    link = _first_link(account.id)
    target = unique_variants(store.id, 1)[0]
    set_link_target(
        db.session, link, [Target(target.id)], expected_version=link.version, actor=owner
    )
    db.session.commit()
    client.login(owner.email, PASSWORD)

    editor = client.hx_get(f"/links/{link.id}/edit").get_data(as_text=True)
    assert f'hx-get="/links/{link.id}/history"' in editor and "History of this row" in editor
    history = client.hx_get(f"/links/{link.id}/history").get_data(as_text=True)
    assert f"Mapped: {target.sku}" in history and owner.display_name in history
    untouched = _first_link(account.id).id + 1
    assert "No change has been made" in client.hx_get(f"/links/{untouched}/history").get_data(
        as_text=True
    )
