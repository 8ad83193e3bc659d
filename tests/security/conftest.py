"""What the security suites share: an organization with one object of every kind a route
takes by id, and a fingerprint of the database and the queues to show that nothing changed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.builders import import_shop, make_user
from webapp.accounts.models import PendingAuthorization
from webapp.api.tokens import create_api_token
from webapp.catalog.models import MarketplaceSku
from webapp.csvio.models import MappingImport, MappingImportStatus
from webapp.extensions import db, utcnow
from webapp.jobs.models import JobKind, JobRun, JobStatus
from webapp.jobs.queue import get_queue
from webapp.linking.models import Link
from webapp.orders.models import Order

VICTIM_EMAIL = "owner@victim.test"


@pytest.fixture
def victim(app_ctx, run_jobs) -> dict[str, int]:
    """An organization with one object of every kind a route takes by id; returns the ids by
    the name of the route argument that takes them."""
    owner = make_user(VICTIM_EMAIL, organization="Victim Shop")
    store, account = import_shop(owner, run_jobs)
    organization_id = owner.organization_id
    run = JobRun(
        organization_id=organization_id, kind=JobKind.MARKETPLACE_IMPORT, status=JobStatus.FAILED
    )
    pending = PendingAuthorization(
        organization_id=organization_id,
        created_by_id=owner.id,
        access_token="victim-access",
        refresh_token="victim-refresh",
        access_token_expires_at=utcnow() + timedelta(days=1),
        refresh_token_expires_at=utcnow() + timedelta(days=30),
        shops=[],
    )
    upload = MappingImport(
        organization_id=organization_id,
        account_id=account.id,
        filename="victim.csv",
        stored_name="victim.csv",
        status=MappingImportStatus.REFUSED,
        refusal="The file has no Seller SKU column.",
    )
    order = Order(
        organization_id=organization_id,
        account_id=account.id,
        tiktok_order_id="576000000000000001",
        tiktok_status="AWAITING_SHIPMENT",
    )
    db.session.add_all([run, pending, upload, order])
    api_token = create_api_token(
        db.session, organization_id=organization_id, name="Victim ERP", actor=owner
    )
    db.session.commit()
    link_id, sku_id = db.session.execute(
        select(Link.id, MarketplaceSku.sku_id)
        .join(MarketplaceSku, MarketplaceSku.id == Link.marketplace_sku_id)
        .where(Link.account_id == account.id)
        .order_by(Link.id)
        .limit(1)
    ).one()
    return {
        "organization_id": organization_id,
        "account_id": account.id,
        "store_id": store.id,
        "run_id": run.id,
        "pending_id": pending.id,
        "import_id": upload.id,
        "order_id": order.id,
        "link_id": link_id,
        "marketplace_sku": sku_id,  # the JSON API's links are named by it
        "token_id": api_token.token.id,
        "api_token": api_token.secret,  # not a route argument: what the JSON API takes
    }


@pytest.fixture
def fingerprint(app) -> Callable[[], dict[str, int]]:
    """Rows in every table, the links' versions summed, and the jobs waiting in each queue."""

    def take() -> dict[str, int]:
        db.session.expire_all()
        counts = {
            table.name: db.session.scalar(select(func.count()).select_from(table))
            for table in db.metadata.sorted_tables
        }
        counts["link versions"] = db.session.scalar(select(func.sum(Link.version)))
        for name in app.config["RQ_QUEUES"]:
            counts[f"queue {name}"] = get_queue(name).count
        return counts

    return take
