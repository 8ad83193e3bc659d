"""Link changes: link, kits, parents refused, conflicts, unlink, assign, events and undo."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tests.builders import unique_variants
from webapp.catalog.models import StoreSku
from webapp.extensions import db, utcnow
from webapp.jobs.models import JobKind, JobRun, JobStatus
from webapp.jobs.services import retry_job
from webapp.linking.jobs import start_assign, start_bulk_unlink, start_undo
from webapp.linking.models import Link, LinkEvent, LinkState
from webapp.linking.services import (
    LinkConflict,
    LinkError,
    Target,
    assign_links,
    set_link_target,
    undo_links,
    unlink,
)
from webapp.linking.signals import links_stopped, links_went_live


def _links(n: int) -> list[Link]:
    return db.session.scalars(select(Link).order_by(Link.id).limit(n)).all()


def test_linking_makes_the_row_mapped_and_records_the_event(shop):
    owner, store, _ = shop
    link, variant = _links(1)[0], unique_variants(store.id)[0]
    set_link_target(db.session, link, [Target(variant.id, 2)], expected_version=1, actor=owner)
    db.session.commit()

    assert (link.state, link.store_sku_id, link.quantity, link.version) == (
        LinkState.MAPPED,
        variant.id,
        2,
        2,
    )
    event = db.session.scalar(select(LinkEvent))
    assert event.actor_id == owner.id and event.action == "link"
    assert event.before["state"] == "not_linked" and event.after["store_sku_id"] == variant.id


def test_a_kit_of_several_store_skus(shop):
    owner, store, _ = shop
    link = _links(1)[0]
    a, b = unique_variants(store.id, 2)
    set_link_target(
        db.session, link, [Target(a.id, 1), Target(b.id, 2)], expected_version=None, actor=owner
    )
    db.session.commit()
    assert link.is_kit and [(c.store_sku_id, c.quantity) for c in link.components] == [(b.id, 2)]


def test_parent_products_are_refused_by_name(shop):
    owner, store, _ = shop
    parent = db.session.scalar(select(StoreSku).where(StoreSku.is_parent.is_(True)).limit(1))
    with pytest.raises(LinkError, match="parent \\(configurable\\) product"):
        set_link_target(
            db.session, _links(1)[0], [Target(parent.id)], expected_version=None, actor=owner
        )


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        ([], "Choose a store SKU"),
        ([Target(0, 0)], "Quantities go from 1"),
    ],
)
def test_bad_targets_are_refused(shop, targets, message):
    owner, *_ = shop
    with pytest.raises(LinkError, match=message):
        set_link_target(db.session, _links(1)[0], targets, expected_version=None, actor=owner)


def test_the_second_editor_gets_a_conflict_not_an_overwrite(shop):
    owner, store, _ = shop
    link = _links(1)[0]
    first, second = unique_variants(store.id, 2)
    seen_version = link.version
    set_link_target(
        db.session, link, [Target(first.id)], expected_version=seen_version, actor=owner
    )
    db.session.commit()
    with pytest.raises(LinkConflict) as conflict:
        set_link_target(
            db.session, link, [Target(second.id)], expected_version=seen_version, actor=owner
        )
    assert conflict.value.link.store_sku_id == first.id


def test_a_marketplace_sku_has_one_link_at_most(shop):
    link = _links(1)[0]
    db.session.add(Link(account_id=link.account_id, marketplace_sku_id=link.marketplace_sku_id))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_unlinking_a_linked_row_stops_its_sync(shop):
    owner, store, account = shop
    link = _links(1)[0]
    set_link_target(
        db.session,
        link,
        [Target(unique_variants(store.id)[0].id)],
        expected_version=None,
        actor=owner,
    )
    assign_links(db.session, account, [link], actor=owner, batch=None)
    stopped = []
    with links_stopped.connected_to(lambda sender, link_ids: stopped.extend(link_ids)):
        unlink(db.session, link, expected_version=link.version, actor=owner)
    assert link.state is LinkState.NOT_LINKED and link.store_sku_id is None
    assert stopped == [link.id]


def test_assign_links_valid_rows_and_explains_the_rest(shop):
    owner, store, account = shop
    good, gone, chosen_duplicate = _links(3)
    ok_variant, gone_variant = unique_variants(store.id, 2)
    duplicate_sku = db.session.scalar(
        select(StoreSku.sku)
        .where(StoreSku.store_id == store.id, StoreSku.is_parent.is_(False))
        .group_by(StoreSku.sku)
        .having(func.count() > 1)
        .limit(1)
    )
    duplicate = db.session.scalar(select(StoreSku).where(StoreSku.sku == duplicate_sku).limit(1))
    for link, variant in ((good, ok_variant), (gone, gone_variant), (chosen_duplicate, duplicate)):
        set_link_target(db.session, link, [Target(variant.id)], expected_version=None, actor=owner)
    gone_variant.gone_at = utcnow()

    live = []
    with links_went_live.connected_to(lambda sender, link_ids: live.extend(link_ids)):
        counts = assign_links(
            db.session, account, [good, gone, chosen_duplicate], actor=owner, batch=None
        )
    assert counts == {"linked": 2, "failed": 1}
    assert good.state is LinkState.LINKED and good.linked_at is not None
    assert "no longer in the store catalog" in gone.failure_reason
    # A person chose one of the products sharing the SKU: that is a choice, not a guess.
    assert chosen_duplicate.state is LinkState.LINKED
    assert live == [good.id, chosen_duplicate.id]


def test_assign_job_then_undo_reverts_only_rows_not_changed_since(shop, run_jobs):
    owner, store, account = shop
    links = _links(3)
    for link, variant in zip(links, unique_variants(store.id, 3), strict=True):
        set_link_target(db.session, link, [Target(variant.id)], expected_version=None, actor=owner)
    db.session.commit()
    assign = start_assign(db.session, account, [link.id for link in links], owner)
    run_jobs()
    assert [link.state for link in _links(3)] == [LinkState.LINKED] * 3

    touched = _links(1)[0]
    unlink(db.session, touched, expected_version=None, actor=owner)  # changed since the batch
    db.session.commit()
    undo = start_undo(db.session, db.session.get(JobRun, assign.id), owner)
    run_jobs()

    undo = db.session.get(JobRun, undo.id)
    assert undo.status is JobStatus.FINISHED, undo.error
    assert undo.result == {"reverted": 2, "changed_since": 1}
    assert [link.state for link in _links(3)] == [
        LinkState.NOT_LINKED,
        LinkState.MAPPED,
        LinkState.MAPPED,
    ]
    assert db.session.get(JobRun, assign.id).undone_by_id == undo.id


def test_an_undo_interrupted_half_way_is_finished_by_its_retry(shop, run_jobs, monkeypatch):
    owner, store, account = shop
    links = _links(5)
    for link, variant in zip(links, unique_variants(store.id, 5), strict=True):
        set_link_target(db.session, link, [Target(variant.id)], expected_version=None, actor=owner)
    db.session.commit()
    assign = start_assign(db.session, account, [link.id for link in links], owner)
    run_jobs()

    monkeypatch.setattr("webapp.linking.jobs.BATCH_SIZE", 2)
    first = start_undo(db.session, db.session.get(JobRun, assign.id), owner)
    put_back = []  # the job stops after its first batch (tests/reliability kills real workers)

    def stop_after_a_batch(*args, **kwargs):
        if put_back:
            raise RuntimeError("the worker went away")
        put_back.append(undo_links(*args, **kwargs))
        return put_back[-1]

    monkeypatch.setattr("webapp.linking.jobs.undo_links", stop_after_a_batch)
    run_jobs()
    assert [link.state for link in _links(5)] == [LinkState.MAPPED] * 2 + [LinkState.LINKED] * 3
    first = db.session.get(JobRun, first.id)
    assert first.status is JobStatus.FAILED and (first.done, first.total) == (2, 5)
    assert db.session.get(JobRun, assign.id).undone_by_id is None
    monkeypatch.undo()

    again = retry_job(db.session, first, owner)
    run_jobs()
    again = db.session.get(JobRun, again.id)
    assert again.status is JobStatus.FINISHED, again.error
    assert again.result == {"reverted": 5, "changed_since": 0}
    assert [link.state for link in _links(5)] == [LinkState.MAPPED] * 5
    assert db.session.get(JobRun, assign.id).undone_by_id == again.id


def test_bulk_unlink_is_a_job_that_can_be_undone(shop, run_jobs):
    owner, store, account = shop
    links = _links(2)
    for link, variant in zip(links, unique_variants(store.id, 2), strict=True):
        set_link_target(
            db.session, link, [Target(variant.id, 3)], expected_version=None, actor=owner
        )
    db.session.commit()
    bulk = start_bulk_unlink(db.session, account, [link.id for link in links], owner)
    run_jobs()
    assert db.session.get(JobRun, bulk.id).result == {"unlinked": 2}
    start_undo(db.session, db.session.get(JobRun, bulk.id), owner)
    run_jobs()
    assert [(link.state, link.quantity) for link in _links(2)] == [(LinkState.MAPPED, 3)] * 2


def test_only_bulk_changes_can_be_undone(shop):
    owner, _, account = shop
    run = JobRun(
        organization_id=account.organization_id,
        account_id=account.id,
        kind=JobKind.MARKETPLACE_IMPORT,
        status=JobStatus.FINISHED,
    )
    db.session.add(run)
    db.session.commit()
    with pytest.raises(Exception, match="Only bulk link changes"):
        start_undo(db.session, run, owner)
