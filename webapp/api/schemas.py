"""What the JSON API takes and gives, as marshmallow schemas: they validate requests and write
the OpenAPI document."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from webapp.accounts.models import AccountStatus, MarketplaceAccount
from webapp.api.links import MAX_KIT_PARTS
from webapp.dbutil import MAX_ID
from webapp.linking.models import Link, LinkState
from webapp.linking.services import MAX_PACK_QUANTITY

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500
STORE_SKU_LENGTH = 255


def _printable(text: str) -> None:
    if any(ord(character) < 32 for character in text):
        raise ValidationError("Control characters (NUL, tabs, line breaks) are not allowed here.")


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


# --- responses --------------------------------------------------------------------------------


class ProblemSchema(Schema):
    """RFC 9457 problem details."""

    type = fields.String(required=True, metadata={"description": "`about:blank`"})
    title = fields.String(required=True, metadata={"description": "The status's own title"})
    status = fields.Integer(required=True)
    detail = fields.String(required=True, metadata={"description": "What to do about it"})
    errors = fields.Dict(
        metadata={"description": "422: the messages for each invalid field or parameter"}
    )
    sku_ids = fields.List(
        fields.String(),
        metadata={"description": "409 for a shared seller SKU: the TikTok SKU IDs sharing it"},
    )


class AccountSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    shop_id = fields.String(required=True, metadata={"description": "TikTok Shop shop id"})
    region = fields.String(required=True)
    status = fields.Enum(AccountStatus, by_value=True, required=True)
    status_reason = fields.String(required=True)
    store_id = fields.Integer(allow_none=True, required=True)
    last_import_at = fields.DateTime(allow_none=True, required=True)


class AccountListSchema(Schema):
    items = fields.List(fields.Nested(AccountSchema), required=True)


class MarketplaceSkuSchema(Schema):
    sku_id = fields.String(required=True, metadata={"description": "TikTok SKU ID"})
    seller_sku = fields.String(required=True, metadata={"description": "May be empty"})
    product_id = fields.String(required=True, metadata={"description": "TikTok product id"})


class KitPartSchema(Schema):
    store_sku = fields.String(required=True)
    quantity = fields.Integer(required=True)


class LinkSchema(Schema):
    id = fields.Integer(required=True)
    marketplace_sku = fields.Nested(MarketplaceSkuSchema, required=True)
    product_title = fields.String(required=True)
    variant = fields.String(required=True)
    state = fields.Enum(LinkState, by_value=True, required=True)
    store_sku = fields.String(
        allow_none=True, required=True, metadata={"description": "null when not linked"}
    )
    quantity = fields.Integer(
        required=True, metadata={"description": "Store units per TikTok unit (multi-packs)"}
    )
    kit_parts = fields.List(
        fields.Nested(KitPartSchema),
        required=True,
        metadata={"description": "Further store SKUs of a kit, beyond `store_sku`"},
    )
    failure_reason = fields.String(required=True, metadata={"description": "Why Map failed"})
    version = fields.Integer(
        required=True, metadata={"description": "Send it back to refuse a stale change"}
    )
    mapped_at = fields.DateTime(allow_none=True, required=True)
    linked_at = fields.DateTime(allow_none=True, required=True)
    updated_at = fields.DateTime(required=True)


class LinkPageSchema(Schema):
    items = fields.List(fields.Nested(LinkSchema), required=True)
    next_after = fields.Integer(
        allow_none=True,
        required=True,
        metadata={"description": "Pass as `after` for the next page; null on the last page"},
    )


class ConflictSchema(ProblemSchema):
    link = fields.Nested(LinkSchema, metadata={"description": "The link as it is now"})


# --- requests ---------------------------------------------------------------------------------


class LinkListQuerySchema(Schema):
    state = fields.Enum(LinkState, by_value=True, metadata={"description": "Only this state"})
    after = fields.Integer(
        validate=validate.Range(0, MAX_ID),
        metadata={"description": "Cursor: links with a larger id (`next_after` of a page)"},
    )
    limit = fields.Integer(
        load_default=DEFAULT_PAGE_SIZE, validate=validate.Range(1, MAX_PAGE_SIZE)
    )


class VersionQuerySchema(Schema):
    version = fields.Integer(
        validate=validate.Range(1, MAX_ID),
        metadata={"description": "Refuse (409) if the link's version is no longer this one"},
    )


def _store_sku_field(**kwargs: Any) -> fields.String:
    return fields.String(
        required=True,
        validate=[validate.Length(1, STORE_SKU_LENGTH), _printable],
        metadata={"description": "The store SKU, as text, exactly as in the store"},
        **kwargs,
    )


def _quantity_field(description: str) -> fields.Integer:
    return fields.Integer(
        strict=True,
        load_default=1,
        validate=validate.Range(1, MAX_PACK_QUANTITY),
        metadata={"description": description},
    )


class KitPartInSchema(StrictSchema):
    store_sku = _store_sku_field()
    quantity = _quantity_field("Store units of this SKU per TikTok unit")


class LinkTargetSchema(StrictSchema):
    store_sku = _store_sku_field()
    quantity = _quantity_field("Store units per TikTok unit: 2 for a two-pack")
    kit_parts = fields.List(
        fields.Nested(KitPartInSchema),
        load_default=list,
        validate=validate.Length(max=MAX_KIT_PARTS),
        metadata={"description": "Further store SKUs, for a kit; [] or absent for none"},
    )
    version = fields.Integer(
        strict=True,
        validate=validate.Range(1, MAX_ID),
        metadata={"description": "Refuse (409) if the link's version is no longer this one"},
    )


# --- documents --------------------------------------------------------------------------------


def account_document(account: MarketplaceAccount) -> dict[str, Any]:
    return {
        "id": account.id,
        "name": account.name,
        "shop_id": account.shop_id,
        "region": account.region,
        "status": account.status,
        "status_reason": account.status_reason,
        "store_id": account.store_id,
        "last_import_at": account.last_import_at,
    }


def link_document(link: Link) -> dict[str, Any]:
    sku = link.marketplace_sku
    return {
        "id": link.id,
        "marketplace_sku": {
            "sku_id": sku.sku_id,
            "seller_sku": sku.seller_sku,
            "product_id": sku.product_id,
        },
        "product_title": sku.product_title,
        "variant": sku.variant,
        "state": link.state,
        "store_sku": link.store_sku.sku if link.store_sku is not None else None,
        "quantity": link.quantity,
        "kit_parts": [
            {"store_sku": part.store_sku.sku, "quantity": part.quantity} for part in link.components
        ],
        "failure_reason": link.failure_reason,
        "version": link.version,
        "mapped_at": link.mapped_at,
        "linked_at": link.linked_at,
        "updated_at": link.updated_at,
    }
