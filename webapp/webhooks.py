"""Webhooks: what TikTok Shop and the stores tell SKU Bridge, outside any login.

Each delivery is verified the platform's way first (a bad signature is a 401) and remembered
for a day, so a repeated delivery is acknowledged and ignored.
"""

from __future__ import annotations

import hashlib

from flask import Blueprint, abort, current_app, request

from webapp.accounts.lifecycle import (
    accounts_of_shop,
    authorization_expiring,
    seller_deauthorized,
)
from webapp.accounts.models import Store
from webapp.adapters.base import AdapterError, WebhookRefused
from webapp.adapters.tiktok import (
    ORDER_STATUS_CHANGE,
    SELLER_DEAUTHORIZATION,
    UPCOMING_AUTHORIZATION_EXPIRATION,
    parse_webhook,
    verify_webhook,
)
from webapp.extensions import csrf, db
from webapp.jobs.queue import redis_connection
from webapp.orders.jobs import orders_paused, start_orders
from webapp.stores.services import StoreError, store_adapter
from webapp.sync.jobs import push_changed_variants, settings_for

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
MEMORY_SECONDS = 24 * 3600


def _first_delivery(key: str) -> bool:
    return bool(redis_connection().set(f"skubridge:webhook:{key}", 1, nx=True, ex=MEMORY_SECONDS))


@bp.post("/stores/<int:store_id>")
@csrf.exempt
def store_webhook(store_id: int):
    """A store says products changed: push the linked rows that use them. A delivery seen
    before is acknowledged and ignored; a bad signature is a 401."""
    store = db.session.get(Store, store_id)
    if store is None:
        abort(404)
    try:
        delivery = store_adapter(store).parse_webhook(request.headers, request.get_data())
    except (WebhookRefused, StoreError) as error:
        return {"error": str(error)}, 401
    except AdapterError as error:  # the store could not be asked which variants changed
        current_app.logger.warning("Store %s webhook: %s", store.id, error)
        return {"error": "Could not read the change now; deliver it again."}, 503
    if delivery.delivery_id and not _first_delivery(f"store:{store.id}:{delivery.delivery_id}"):
        return {"status": "duplicate"}, 200
    started = push_changed_variants(db.session, store, delivery.remote_ids)
    current_app.logger.info("Store %s webhook: %s pushes started", store.id, started)
    return {"status": "accepted", "pushes": started}, 202


@bp.post("/tiktok")
@csrf.exempt
def tiktok_webhook():
    """TikTok Shop's notifications. A bad signature is a 401; a delivery seen before is
    acknowledged and ignored."""
    body = request.get_data()
    config = current_app.config
    if not verify_webhook(
        config["TIKTOK_APP_KEY"],
        config["TIKTOK_APP_SECRET"],
        body,
        request.headers.get("Authorization"),
    ):
        return {"error": "The signature does not match."}, 401
    try:
        event = parse_webhook(body)
    except AdapterError as error:
        return {"error": str(error)}, 400
    if not _first_delivery(f"tiktok:{event.notification_id or _digest(body)}"):
        return {"status": "duplicate"}, 200
    if event.type == SELLER_DEAUTHORIZATION:
        seller_deauthorized(db.session, event.shop_id, event.timestamp)
    elif event.type == UPCOMING_AUTHORIZATION_EXPIRATION:
        expires = event.data.get("expiration_time") or event.data.get("expire_time")
        authorization_expiring(db.session, event.shop_id, int(expires) if expires else None)
    elif event.type == ORDER_STATUS_CHANGE and event.data.get("order_id"):
        for account in accounts_of_shop(db.session, event.shop_id):
            if orders_paused(account, settings_for(db.session, account.id)) is None:
                start_orders(db.session, account, None, order_ids=[str(event.data["order_id"])])
    return {"status": "accepted"}, 202


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()
