"""Emulated Shopify Admin GraphQL API (`POST /admin/api/<version>/graphql.json`) over the demo
store catalog.

The catalog's configurable parents become products with `Color` and `Size` options and one variant
per child; a product without a parent becomes a product with Shopify's single "Default Title"
variant. Old listings (the duplicated SKUs of the catalog) are archived and do not track inventory.
The product type is the catalog category; collections are the category plus "Sale", "New
Arrivals" and "Bestsellers" for products tagged so; no taxonomy `category` is set. One location
holds all stock. The state is a `ShopifyStore` on `app.extensions["shopify_store"]` (its
`operations` counts the root fields served), the bucket on `app.extensions["shopify_bucket"]`.

What it serves, in Shopify's own wire format (a small GraphQL parser and executor for the part of
the Admin schema below; variables, aliases, inline fragments, named fragments, @include / @skip):

- `shop`, `location` (no id: the primary location), `locations`.
- `products`, `product`, `productVariants`, `productVariant`, `inventoryItem`, `orders`, `order`:
  connections page with `first` / `after` (or `last` / `before`, at most 250) and opaque cursors;
  `query:` takes Shopify's search syntax (`field:value`, quoted values, `*` prefixes, `-` to
  negate; unknown fields are ignored, as Shopify does).
- `nodes(ids:)` (at most 250; ids the shop does not have come back as null) and `node(id:)`.
- Mutations `inventorySetQuantities`, `productVariantsBulkUpdate` (one product; all-or-nothing
  unless `allowPartialUpdates`), `orderCreate` (with `OrderCreateOptionsInput.inventoryBehaviour`),
  `orderCancel` (2025-01 arguments: `reason`, `refund`, `restock` are required).

Faithful details a client must cope with:

- Auth is `X-Shopify-Access-Token`; anything else is HTTP 401
  `{"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}`.
  Any path but the GraphQL endpoint is a 404 `{"errors": "Not Found"}`.
- Query cost, as Shopify computes it before running a query: scalars and enums 0, objects 1,
  connections 2 plus `first` times the cost of one node, `nodes(ids:)` the cost of one node per id,
  mutations 10. A query above 1000 is refused (`MAX_COST_EXCEEDED`). Every answer carries
  `extensions.cost {requestedQueryCost, actualQueryCost, throttleStatus {maximumAvailable,
  currentlyAvailable, restoreRate}}`; the actual cost counts what was returned and the difference
  is given back to the bucket.
- The leaky bucket holds `settings.shopify_bucket_size` points and restores
  `settings.shopify_restore_rate` a second (either at 0 turns throttling off). A query costing more
  than is available is not run: HTTP 200 with `errors: [{message: "Throttled", extensions: {code:
  "THROTTLED"}}]` and `actualQueryCost: null`.
- Errors in the query come back with HTTP 200 and `errors` (`undefinedField`,
  `missingRequiredArguments`, parse errors, invalid variables); refusals of a mutation's input come
  back in its `userErrors` (`orderCancelUserErrors` for `orderCancel`) with the input path in
  `field`.
- Money is a decimal string ("19.99"); ids are global ids (`gid://shopify/ProductVariant/…`).

Injected faults: an error is Shopify's `INTERNAL_SERVER_ERROR` (HTTP 200, as Shopify answers most
of its own failures on GraphQL), a rate limit is the `THROTTLED` answer.

Control endpoints for tests and demos (no auth), JSON in and out:
- `POST /__sandbox__/shopify/variants {id, quantity?, price?}` — a merchant edits a variant in the
  admin (id: a variant gid or its number); answers the variant.
- `GET  /__sandbox__/shopify/orders` — `{orders: [...]}`, the orders created so far.
- `POST /__sandbox__/shopify/webhooks {url, topic, variant_ids, wrong_signature?, deliver_twice?}`
  — delivers `products/update` (one delivery per product) or `inventory_levels/update` (one per
  variant) to `url`, signed with `settings.shopify_webhook_secret`; answers `{deliveries:
  [{webhook_id, topic, status}]}`.
- `POST /__sandbox__/shopify/bucket {available}` — sets what the bucket holds now (points spent by
  another worker of the same app), answers the throttle status.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import itertools
import json
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import requests
from flask import Flask, Response, jsonify, request

from webapp.sandbox.catalog import DemoCatalog, StoreProduct
from webapp.sandbox.faults import FaultInjector
from webapp.sandbox.settings import SandboxSettings


def names(text: str) -> frozenset[str]:
    """A set of names written as one whitespace-separated string."""
    return frozenset(text.split())


API_VERSION = "2025-01"
API_VERSIONS = re.compile(r"^(\d{4}-\d{2}|unstable)$")
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
RATE_LIMITS_DOCS = "https://shopify.dev/api/usage/rate-limits"
MAX_QUERY_COST = 1000
MAX_PAGE_SIZE = 250
MUTATION_COST = 10
DISABLED_BUCKET_SIZE = 1000  # what throttleStatus reports when throttling is off
DISABLED_RESTORE_RATE = 50.0
MAX_INVENTORY_QUANTITY = 1_000_000_000

SHOP_NAME = "Demo Outfitters"
SHOP_DOMAIN = "demo-outfitters.myshopify.com"
SHOP_CURRENCY = "USD"
VENDOR = "Demo Outfitters"
LOCATION_NAME = "Demo Outfitters Warehouse"
FIRST_ORDER_NUMBER = 1001
OLD_LISTING_SUFFIX = "(old listing)"  # how the demo catalog names its duplicated listings
TAG_COLLECTIONS = {"new": "New Arrivals", "bestseller": "Bestsellers", "sale": "Sale"}
DEFAULT_VARIANT_TITLE = "Default Title"

# Numbers in the ranges real shops' ids fall in, derived from the catalog's ids.
PRODUCT_ID_BASE = 8_100_000_000_000
VARIANT_ID_BASE = 44_100_000_000_000
INVENTORY_ITEM_ID_BASE = 46_200_000_000_000
COLLECTION_ID_BASE = 480_000_000_000
ORDER_ID_BASE = 5_900_000_000_000
LINE_ITEM_ID_BASE = 14_800_000_000_000
LOCATION_ID = 71_300_000_001

ACTIVE, DRAFT, ARCHIVED = "ACTIVE", "DRAFT", "ARCHIVED"
INVENTORY_NAMES = ("available", "on_hand")
INVENTORY_REASONS = names(
    "correction cycle_count_available damaged movement_created movement_updated movement_received "
    "movement_canceled other promotion quality_control received reservation_created "
    "reservation_deleted reservation_updated restock safety_stock shrinkage"
)
INVENTORY_BEHAVIOURS = ("BYPASS", "DECREMENT_IGNORING_POLICY", "DECREMENT_OBEYING_POLICY")
CANCEL_REASONS = ("CUSTOMER", "DECLINED", "FRAUD", "INVENTORY", "OTHER", "STAFF")
FINANCIAL_STATUSES = (
    "AUTHORIZED",
    "EXPIRED",
    "PAID",
    "PARTIALLY_PAID",
    "PARTIALLY_REFUNDED",
    "PENDING",
    "REFUNDED",
    "VOIDED",
)
RESERVED_SOURCE_NAMES = frozenset({"web", "pos", "shopify_draft_order", "iphone", "android"})
CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")
COUNTRY_CODE = re.compile(r"^[A-Z]{2}$")
GLOBAL_ID = re.compile(r"^gid://shopify/([A-Za-z]+)/(\d+)(\?.*)?$")

# Input object fields Shopify accepts (2025-01); any other field is refused as undefined.
VARIANT_BULK_INPUT = names(
    "id price compareAtPrice barcode taxable inventoryPolicy inventoryItem inventoryQuantities "
    "mediaId mediaSrc metafields optionValues requiresComponents taxCode"
)
ORDER_INPUT = names(
    "billingAddress buyerAcceptsMarketing closedAt companyLocationId currency customAttributes "
    "customer customerId discountCode email financialStatus fulfillment fulfillmentStatus "
    "lineItems metafields name note phone poNumber presentmentCurrency processedAt referringSite "
    "shippingAddress shippingLines sourceIdentifier sourceName sourceUrl tags taxesIncluded "
    "taxLines test transactions userId"
)
ORDER_LINE_INPUT = names(
    "variantId quantity priceSet title sku vendor taxable taxLines requiresShipping giftCard "
    "properties weight fulfillmentService productId"
)
ADDRESS_INPUT = names(
    "address1 address2 city company countryCode firstName lastName phone provinceCode zip country "
    "province"
)
OPTIONS_INPUT = names("inventoryBehaviour sendReceipt sendFulfillmentReceipt")


def iso_time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def money(amount: Decimal) -> str:
    return str(amount.quantize(Decimal("0.01")))


def global_id(type_name: str, number: int) -> str:
    return f"gid://shopify/{type_name}/{number}"


def parse_gid(gid: Any) -> tuple[str, int]:
    """(type, number) of a global id such as `gid://shopify/ProductVariant/123`; a malformed id
    is a query error, as Shopify refuses it."""
    parsed = GLOBAL_ID.match(gid) if isinstance(gid, str) else None
    if not parsed:
        raise GraphQLError(
            f"Invalid global id '{gid}'",
            code="argumentLiteralsIncompatible",
            typeName="CoercionError",
        )
    return parsed.group(1), int(parsed.group(2))


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# --- GraphQL: parsing ----------------------------------------------------------------------


class GraphQLError(Exception):
    """An entry of the answer's top-level `errors`."""

    def __init__(
        self,
        message: str,
        *,
        locations: list[dict[str, int]] | None = None,
        path: list[Any] | None = None,
        **extensions: Any,
    ):
        super().__init__(message)
        self.body: dict[str, Any] = {"message": message}
        if locations:
            self.body["locations"] = locations
        if path:
            self.body["path"] = path
        if extensions:
            self.body["extensions"] = extensions


@dataclass(frozen=True)
class Variable:
    name: str


@dataclass(frozen=True)
class EnumValue:
    name: str


@dataclass
class Field:
    name: str
    alias: str | None
    arguments: dict[str, Any]
    directives: dict[str, dict[str, Any]]
    selections: list[Any]
    location: dict[str, int]

    @property
    def key(self) -> str:
        return self.alias or self.name


@dataclass
class InlineFragment:
    type_condition: str | None
    directives: dict[str, dict[str, Any]]
    selections: list[Any]


@dataclass
class FragmentSpread:
    name: str
    directives: dict[str, dict[str, Any]]
    location: dict[str, int]


@dataclass
class Operation:
    kind: str  # "query" or "mutation"
    name: str | None
    variables: dict[str, tuple[str, Any]]  # name -> (type, default)
    selections: list[Any]


@dataclass
class Document:
    operations: list[Operation]
    fragments: dict[str, InlineFragment]


_TOKEN = re.compile(
    r"""
      (?P<skip>[\s,\ufeff]+|\#[^\n\r]*)
    | (?P<block>\"\"\"(?:[^"\\]|\\.|"(?!""))*\"\"\")
    | (?P<string>"(?:[^"\\\n\r]|\\.)*")
    | (?P<spread>\.\.\.)
    | (?P<punct>[!$&():=@\[\]{}|])
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
    | (?P<name>[_A-Za-z][_0-9A-Za-z]*)
    """,
    re.VERBOSE,
)


class Parser:
    """A recursive-descent parser for executable GraphQL documents."""

    def __init__(self, source: str):
        self.source = source
        self.tokens: list[tuple[str, str, int]] = []
        position = 0
        while position < len(source):
            match = _TOKEN.match(source, position)
            if not match:
                raise self.error_at(position, source[position])
            if match.lastgroup != "skip":
                self.tokens.append((match.lastgroup or "", match.group(), position))
            position = match.end()
        self.index = 0

    def location(self, offset: int) -> dict[str, int]:
        line = self.source.count("\n", 0, offset) + 1
        return {"line": line, "column": offset - (self.source.rfind("\n", 0, offset) + 1) + 1}

    def error_at(self, offset: int, text: str) -> GraphQLError:
        where = self.location(offset)
        shown = "end of file" if text == "" else f'"{text}"'
        return GraphQLError(
            f"Parse error on {shown} at [{where['line']}, {where['column']}]",
            locations=[where],
        )

    def peek(self, text: str | None = None, kind: str | None = None) -> bool:
        if self.index >= len(self.tokens):
            return False
        token_kind, token_text, _ = self.tokens[self.index]
        return (text is None or token_text == text) and (kind is None or token_kind == kind)

    def take(self, text: str | None = None, kind: str | None = None) -> tuple[str, str, int]:
        if not self.peek(text, kind):
            if self.index >= len(self.tokens):
                raise self.error_at(len(self.source), "")
            raise self.error_at(self.tokens[self.index][2], self.tokens[self.index][1])
        token = self.tokens[self.index]
        self.index += 1
        return token

    def document(self) -> Document:
        operations, fragments = [], {}
        if not self.tokens:
            raise self.error_at(0, "")
        while self.index < len(self.tokens):
            if self.peek("{"):
                operations.append(Operation("query", None, {}, self.selection_set()))
            elif self.peek("fragment"):
                self.take()
                name = self.take(kind="name")[1]
                self.take("on")
                condition = self.take(kind="name")[1]
                fragments[name] = InlineFragment(condition, self.directives(), self.selection_set())
            else:
                operations.append(self.operation())
        return Document(operations, fragments)

    def operation(self) -> Operation:
        kind = self.take(kind="name")[1]
        if kind not in ("query", "mutation", "subscription"):
            raise self.error_at(self.tokens[self.index - 1][2], kind)
        name = self.take(kind="name")[1] if self.peek(kind="name") else None
        variables: dict[str, tuple[str, Any]] = {}
        if self.peek("("):
            self.take("(")
            while not self.peek(")"):
                self.take("$")
                variable = self.take(kind="name")[1]
                self.take(":")
                type_ref = self.type_ref()
                default = None
                if self.peek("="):
                    self.take("=")
                    default = self.value()
                variables[variable] = (type_ref, default)
            self.take(")")
        self.directives()
        return Operation(kind, name, variables, self.selection_set())

    def type_ref(self) -> str:
        if self.peek("["):
            self.take("[")
            inner = self.type_ref()
            self.take("]")
            text = f"[{inner}]"
        else:
            text = self.take(kind="name")[1]
        if self.peek("!"):
            self.take("!")
            text += "!"
        return text

    def selection_set(self) -> list[Any]:
        self.take("{")
        selections = []
        while not self.peek("}"):
            selections.append(self.selection())
        self.take("}")
        return selections

    def selection(self) -> Any:
        if self.peek(kind="spread"):
            offset = self.take()[2]
            if self.peek("on") or self.peek("{") or self.peek("@"):
                condition = None
                if self.peek("on"):
                    self.take("on")
                    condition = self.take(kind="name")[1]
                return InlineFragment(condition, self.directives(), self.selection_set())
            name = self.take(kind="name")[1]
            return FragmentSpread(name, self.directives(), self.location(offset))
        _, name, offset = self.take(kind="name")
        alias = None
        if self.peek(":"):
            self.take(":")
            alias, name = name, self.take(kind="name")[1]
        arguments = self.arguments()
        directives = self.directives()
        selections = self.selection_set() if self.peek("{") else []
        return Field(name, alias, arguments, directives, selections, self.location(offset))

    def arguments(self) -> dict[str, Any]:
        arguments: dict[str, Any] = {}
        if self.peek("("):
            self.take("(")
            while not self.peek(")"):
                name = self.take(kind="name")[1]
                self.take(":")
                arguments[name] = self.value()
            self.take(")")
        return arguments

    def directives(self) -> dict[str, dict[str, Any]]:
        directives = {}
        while self.peek("@"):
            self.take("@")
            name = self.take(kind="name")[1]
            directives[name] = self.arguments()
        return directives

    def value(self) -> Any:
        kind, text, _ = self.take()
        if text == "$" and kind == "punct":
            return Variable(self.take(kind="name")[1])
        if text == "[":
            items = []
            while not self.peek("]"):
                items.append(self.value())
            self.take("]")
            return items
        if text == "{":
            fields = {}
            while not self.peek("}"):
                name = self.take(kind="name")[1]
                self.take(":")
                fields[name] = self.value()
            self.take("}")
            return fields
        if kind == "string":
            return json.loads(text)
        if kind == "block":
            return text[3:-3].replace('\\"""', '"""')
        if kind == "number":
            return float(text) if any(c in text for c in ".eE") else int(text)
        if kind == "name":
            return {"true": True, "false": False, "null": None}.get(text, EnumValue(text))
        raise self.error_at(self.tokens[self.index - 1][2], text)


# --- GraphQL: the schema served -------------------------------------------------------------


@dataclass(frozen=True)
class Returns:
    kind: str  # "object", "list" (of objects), "connection", "node" (interface), "nodes"
    type: str


SCALAR = None


def one(type_name: str) -> Returns:
    return Returns("object", type_name)


def many(type_name: str) -> Returns:
    return Returns("list", type_name)


def paged(type_name: str) -> Returns:
    return Returns("connection", type_name)


def _fields(field_names: str) -> dict[str, Returns | None]:
    """Scalar fields, named in one whitespace-separated string."""
    return dict.fromkeys(field_names.split(), SCALAR)


USER_ERROR = _fields("code field message")
SCHEMA: dict[str, dict[str, Returns | None]] = {
    "QueryRoot": {
        "shop": one("Shop"),
        "products": paged("Product"),
        "product": one("Product"),
        "productVariants": paged("ProductVariant"),
        "productVariant": one("ProductVariant"),
        "inventoryItem": one("InventoryItem"),
        "location": one("Location"),
        "locations": paged("Location"),
        "orders": paged("Order"),
        "order": one("Order"),
        "node": Returns("node", "Node"),
        "nodes": Returns("nodes", "Node"),
    },
    "Mutation": {
        "inventorySetQuantities": one("InventorySetQuantitiesPayload"),
        "productVariantsBulkUpdate": one("ProductVariantsBulkUpdatePayload"),
        "orderCreate": one("OrderCreatePayload"),
        "orderCancel": one("OrderCancelPayload"),
    },
    "Node": _fields("id"),
    "Shop": {
        **_fields("id name email currencyCode myshopifyDomain ianaTimezone"),
        "primaryDomain": one("Domain"),
    },
    "Domain": _fields("id host url sslEnabled"),
    "Product": {
        **_fields(
            "id legacyResourceId title handle status vendor productType tags createdAt updatedAt "
            "hasOnlyDefaultVariant totalInventory tracksInventory"
        ),
        "category": one("TaxonomyCategory"),
        "options": many("ProductOption"),
        "collections": paged("Collection"),
        "variants": paged("ProductVariant"),
    },
    "ProductOption": _fields("id name position values"),
    "TaxonomyCategory": _fields("id name fullName"),
    "Collection": _fields("id legacyResourceId title handle"),
    "ProductVariant": {
        **_fields(
            "id legacyResourceId title displayName sku barcode price compareAtPrice position "
            "inventoryQuantity availableForSale createdAt updatedAt"
        ),
        "selectedOptions": many("SelectedOption"),
        "inventoryItem": one("InventoryItem"),
        "product": one("Product"),
    },
    "SelectedOption": _fields("name value"),
    "InventoryItem": {
        **_fields("id legacyResourceId sku tracked"),
        "variant": one("ProductVariant"),
    },
    "Location": _fields("id legacyResourceId name isActive fulfillsOnlineOrders"),
    "Order": {
        **_fields(
            "id legacyResourceId name email note tags sourceName sourceIdentifier createdAt "
            "cancelledAt cancelReason closed currencyCode displayFinancialStatus "
            "displayFulfillmentStatus test"
        ),
        "totalPriceSet": one("MoneyBag"),
        "shippingAddress": one("MailingAddress"),
        "lineItems": paged("LineItem"),
    },
    "MoneyBag": {"shopMoney": one("MoneyV2"), "presentmentMoney": one("MoneyV2")},
    "MoneyV2": _fields("amount currencyCode"),
    "MailingAddress": _fields(
        "name firstName lastName address1 address2 city province provinceCode zip country "
        "countryCodeV2 phone"
    ),
    "LineItem": {
        **_fields("id title variantTitle sku quantity"),
        "variant": one("ProductVariant"),
        "originalUnitPriceSet": one("MoneyBag"),
    },
    "InventorySetQuantitiesPayload": {
        "inventoryAdjustmentGroup": one("InventoryAdjustmentGroup"),
        "userErrors": many("InventorySetQuantitiesUserError"),
    },
    "InventoryAdjustmentGroup": {
        **_fields("id createdAt reason"),
        "changes": many("InventoryChange"),
    },
    "InventoryChange": {
        **_fields("name delta quantityAfterChange"),
        "item": one("InventoryItem"),
        "location": one("Location"),
    },
    "InventorySetQuantitiesUserError": USER_ERROR,
    "ProductVariantsBulkUpdatePayload": {
        "product": one("Product"),
        "productVariants": many("ProductVariant"),
        "userErrors": many("ProductVariantsBulkUpdateUserError"),
    },
    "ProductVariantsBulkUpdateUserError": USER_ERROR,
    "OrderCreatePayload": {"order": one("Order"), "userErrors": many("OrderCreateUserError")},
    "OrderCreateUserError": USER_ERROR,
    "OrderCancelPayload": {
        "job": one("Job"),
        "orderCancelUserErrors": many("OrderCancelUserError"),
        "userErrors": many("UserError"),
    },
    "OrderCancelUserError": USER_ERROR,
    "UserError": _fields("field message"),
    "Job": _fields("id done"),
    "PageInfo": _fields("hasNextPage hasPreviousPage startCursor endCursor"),
}


def _add_connection_types(schema: dict[str, dict[str, Returns | None]]) -> None:
    """Each connection's `XConnection {edges, nodes, pageInfo}` and `XEdge {cursor, node}`."""
    node_types = {
        returns.type
        for fields in schema.values()
        for returns in fields.values()
        if returns is not None and returns.kind == "connection"
    }
    for node_type in node_types:
        schema[f"{node_type}Connection"] = {
            "edges": many(f"{node_type}Edge"),
            "nodes": many(node_type),
            "pageInfo": one("PageInfo"),
        }
        schema[f"{node_type}Edge"] = {"cursor": SCALAR, "node": one(node_type)}


_add_connection_types(SCHEMA)
NODE_TYPES = ("Product", "ProductVariant", "InventoryItem", "Location", "Order", "Collection")
REQUIRED_ARGUMENTS = {
    ("QueryRoot", "product"): ("id",),
    ("QueryRoot", "productVariant"): ("id",),
    ("QueryRoot", "inventoryItem"): ("id",),
    ("QueryRoot", "order"): ("id",),
    ("QueryRoot", "node"): ("id",),
    ("QueryRoot", "nodes"): ("ids",),
    ("Mutation", "inventorySetQuantities"): ("input",),
    ("Mutation", "productVariantsBulkUpdate"): ("productId", "variants"),
    ("Mutation", "orderCreate"): ("order",),
    ("Mutation", "orderCancel"): ("orderId", "reason", "refund", "restock"),
}


def is_free(type_name: str) -> bool:
    """Connection wrappers cost nothing of their own: the connection's 2 points cover them."""
    return type_name == "PageInfo" or type_name.endswith(("Edge", "Connection"))


def scope_of(returns: Returns) -> str:
    if returns.kind == "connection":
        return f"{returns.type}Connection"
    return returns.type


# --- GraphQL: validation, cost and execution ------------------------------------------------


class Execution:
    """One operation of a document, with its variables: validated, costed, then run."""

    def __init__(self, document: Document, operation_name: str | None, variables: Any):
        self.fragments = document.fragments
        self.operation = self._pick(document.operations, operation_name)
        if variables is not None and not isinstance(variables, dict):
            raise GraphQLError("Variables must be a JSON object")
        self.variables = self._coerce_variables(variables or {})
        self.root_type = "Mutation" if self.operation.kind == "mutation" else "QueryRoot"
        self.path_root = " ".join(filter(None, (self.operation.kind, self.operation.name)))
        self.actual = 0

    @staticmethod
    def _pick(operations: list[Operation], name: str | None) -> Operation:
        if name:
            for operation in operations:
                if operation.name == name:
                    return operation
            raise GraphQLError(f'No operation named "{name}"')
        if len(operations) != 1:
            raise GraphQLError("An operation name is required")
        if operations[0].kind == "subscription":
            raise GraphQLError("Subscriptions are not supported by the Admin API")
        return operations[0]

    def _coerce_variables(self, provided: dict[str, Any]) -> dict[str, Any]:
        values = {}
        for name, (type_ref, default) in self.operation.variables.items():
            value = provided.get(name, default)
            if value is None and type_ref.endswith("!"):
                raise GraphQLError(
                    f"Variable ${name} of type {type_ref} was provided invalid value",
                    value=None,
                    problems=[{"path": [], "explanation": "Expected value to not be null"}],
                )
            values[name] = value
        return values

    # -- values --------------------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        if isinstance(value, Variable):
            if value.name not in self.variables:
                raise GraphQLError(
                    f"Variable ${value.name} is used but not declared",
                    code="variableNotDefined",
                    variableName=value.name,
                )
            return self.variables[value.name]
        if isinstance(value, EnumValue):
            return value.name
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if isinstance(value, dict):
            return {key: self.resolve(item) for key, item in value.items()}
        return value

    def arguments(self, field_: Field, type_name: str, path: list[Any]) -> dict[str, Any]:
        arguments = {name: self.resolve(value) for name, value in field_.arguments.items()}
        required = REQUIRED_ARGUMENTS.get((type_name, field_.name), ())
        missing = [name for name in required if arguments.get(name) is None]
        if missing:
            raise GraphQLError(
                f"Field '{field_.name}' is missing required arguments: {', '.join(missing)}",
                locations=[field_.location],
                path=path,
                code="missingRequiredArguments",
                className="Field",
                name=field_.name,
                arguments=", ".join(missing),
            )
        return arguments

    def included(self, directives: dict[str, dict[str, Any]]) -> bool:
        if "skip" in directives and self.resolve(directives["skip"].get("if")):
            return False
        return not ("include" in directives and not self.resolve(directives["include"].get("if")))

    # -- selections ----------------------------------------------------------------------

    def fragment_of(self, selection: InlineFragment | FragmentSpread) -> InlineFragment:
        if isinstance(selection, InlineFragment):
            return selection
        fragment = self.fragments.get(selection.name)
        if fragment is None:
            raise GraphQLError(
                f"Fragment {selection.name} was used, but not defined",
                locations=[selection.location],
                code="useAndDefineFragment",
                fragmentName=selection.name,
            )
        return fragment

    def collect(self, selections: list[Any], runtime_type: str) -> dict[str, list[Field]]:
        """The fields selected on an object of `runtime_type`, by response key."""
        fields: dict[str, list[Field]] = {}
        for selection in selections:
            if not self.included(selection.directives):
                continue
            if isinstance(selection, Field):
                fields.setdefault(selection.key, []).append(selection)
                continue
            fragment = self.fragment_of(selection)
            condition = fragment.type_condition
            if condition in (None, runtime_type) or (
                condition == "Node" and runtime_type in NODE_TYPES
            ):
                for key, more in self.collect(fragment.selections, runtime_type).items():
                    fields.setdefault(key, []).extend(more)
        return fields

    @staticmethod
    def children(same_key: list[Field]) -> list[Any]:
        return [selection for field_ in same_key for selection in field_.selections]

    def validate(self, selections: list[Any] | None = None, scope: str = "", path=None) -> None:
        """Refuse fields the schema does not have, as Shopify does before running anything."""
        if selections is None:
            selections, scope, path = self.operation.selections, self.root_type, [self.path_root]
        for selection in selections:
            if isinstance(selection, Field):
                self._validate_field(selection, scope, path)
                continue
            fragment = self.fragment_of(selection)
            condition = fragment.type_condition or scope
            if condition not in SCHEMA:
                raise GraphQLError(
                    f"No such type {condition}, so it can't be a fragment condition",
                    code="undefinedType",
                    typeName=condition,
                )
            if not (
                condition == scope
                or (scope == "Node" and condition in NODE_TYPES)
                or (condition == "Node" and scope in NODE_TYPES)
            ):
                raise GraphQLError(
                    f"Fragment on {condition} can't be spread inside {scope}",
                    path=path,
                    code="fragmentSpreadImpossible",
                )
            self.validate(fragment.selections, condition, path)

    def _validate_field(self, selection: Field, scope: str, path: list[Any]) -> None:
        if selection.name == "__typename":
            return
        here = [*path, selection.key]
        fields = SCHEMA[scope]
        if selection.name not in fields:
            raise GraphQLError(
                f"Field '{selection.name}' doesn't exist on type '{scope}'",
                locations=[selection.location],
                path=here,
                code="undefinedField",
                typeName=scope,
                fieldName=selection.name,
            )
        returns = fields[selection.name]
        if returns is None:
            if selection.selections:
                raise GraphQLError(
                    f"Selections can't be made on scalars (field '{selection.name}' returns a "
                    "scalar but has selections)",
                    locations=[selection.location],
                    path=here,
                    code="selectionMismatch",
                    nodeName=f"field '{selection.name}'",
                )
            return
        if not selection.selections:
            raise GraphQLError(
                f"Field must have selections (field '{selection.name}' returns "
                f"{scope_of(returns)} but has no selections. Did you mean "
                f"'{selection.name} {{ ... }}'?)",
                locations=[selection.location],
                path=here,
                code="selectionMismatch",
                nodeName=f"field '{selection.name}'",
            )
        self.validate(selection.selections, scope_of(returns), here)

    def requested_cost(self) -> int:
        if self.root_type == "Mutation":
            return MUTATION_COST * len(self.collect(self.operation.selections, self.root_type))
        return self.cost(self.operation.selections, self.root_type, [self.path_root])

    def cost(self, selections: list[Any], scope: str, path: list[Any]) -> int:
        if scope == "Node":
            return max(self._fields_cost(selections, node_type, path) for node_type in NODE_TYPES)
        return self._fields_cost(selections, scope, path)

    def _fields_cost(self, selections: list[Any], runtime_type: str, path: list[Any]) -> int:
        total = 0
        for key, same_key in self.collect(selections, runtime_type).items():
            field_ = same_key[0]
            returns = SCHEMA[runtime_type].get(field_.name)
            if returns is None:
                continue
            here = [*path, key]
            children = self.children(same_key)
            arguments = self.arguments(field_, runtime_type, here)
            if returns.kind == "connection":
                node = self._node_cost(children, returns.type, here)
                total += 2 + page_size(arguments, here) * node
            elif returns.kind == "nodes":
                ids = arguments.get("ids") or []
                total += len(ids) * (1 + self.cost(children, "Node", here))
            elif is_free(returns.type):
                total += self.cost(children, returns.type, here)
            else:
                total += 1 + self.cost(children, scope_of(returns), here)
        return total

    def _node_cost(self, selections: list[Any], node_type: str, path: list[Any]) -> int:
        cost = 0
        for same_key in self.collect(selections, f"{node_type}Connection").values():
            if same_key[0].name == "nodes":
                cost = max(cost, 1 + self.cost(self.children(same_key), node_type, path))
            elif same_key[0].name == "edges":
                edge = self.collect(self.children(same_key), f"{node_type}Edge")
                for node_key in edge.values():
                    if node_key[0].name == "node":
                        node_cost = self.cost(self.children(node_key), node_type, path)
                        cost = max(cost, 1 + node_cost)
        return cost

    def run(self, root: dict[str, Any]) -> dict[str, Any]:
        data = self.complete_object(root, self.operation.selections, [self.path_root])
        if self.root_type == "Mutation":
            self.actual = MUTATION_COST * len(data)
        return data

    def complete_object(
        self, value: dict[str, Any], selections: list[Any], path: list[Any]
    ) -> dict[str, Any]:
        runtime_type = value["__typename"]
        out: dict[str, Any] = {}
        for key, same_key in self.collect(selections, runtime_type).items():
            field_ = same_key[0]
            if field_.name == "__typename":
                out[key] = runtime_type
                continue
            here = [*path, key]
            raw = value.get(field_.name)
            if callable(raw):
                raw = raw(self.arguments(field_, runtime_type, here))
            out[key] = self.complete(SCHEMA[runtime_type][field_.name], raw, same_key, here)
        return out

    def complete(
        self, returns: Returns | None, raw: Any, same_key: list[Field], path: list[Any]
    ) -> Any:
        if returns is None:
            return money(raw) if isinstance(raw, Decimal) else raw
        if raw is None:
            return None
        children = self.children(same_key)
        if returns.kind in ("list", "nodes"):
            item_returns = Returns("object", returns.type)
            return [
                self.complete(item_returns, item, same_key, [*path, index])
                for index, item in enumerate(raw)
            ]
        if returns.kind == "connection":
            self.actual += 2
        elif not is_free(raw["__typename"]):
            self.actual += 1
        return self.complete_object(raw, children, path)


def page_size(arguments: Mapping[str, Any], path: list[Any]) -> int:
    first, last = arguments.get("first"), arguments.get("last")
    if first is None and last is None:
        raise GraphQLError("you must provide one of first or last", path=path)
    size = first if first is not None else last
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise GraphQLError(f"Argument 'first' must be a whole number, got {size!r}", path=path)
    if size > MAX_PAGE_SIZE:
        raise GraphQLError(
            f"The first and last arguments cannot exceed {MAX_PAGE_SIZE}. To query larger amounts "
            "of data with fewer limits, bulk operations should be used instead.",
            path=path,
        )
    return size


def encode_cursor(number: int) -> str:
    return base64.b64encode(json.dumps({"last_id": number, "last_value": number}).encode()).decode()


def decode_cursor(cursor: str) -> int:
    try:
        return int(json.loads(base64.b64decode(cursor, validate=True))["last_id"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise GraphQLError("Invalid cursor for current pagination sort.") from None


def paginate(
    arguments: Mapping[str, Any],
    records: list[Any],
    number_of: Callable[[Any], int],
    view: Callable[[Any], dict[str, Any]],
    type_name: str,
) -> dict[str, Any]:
    """A connection page over `records` (already in the connection's order)."""
    size = page_size(arguments, [])
    if arguments.get("reverse"):
        records = records[::-1]
    numbers = [number_of(record) for record in records]
    start, end = 0, len(records)
    if arguments.get("after"):
        after = decode_cursor(arguments["after"])
        start = next((i + 1 for i, n in enumerate(numbers) if n == after), len(records))
    if arguments.get("before"):
        before = decode_cursor(arguments["before"])
        end = next((i for i, n in enumerate(numbers) if n == before), len(records))
    window = list(range(start, max(start, end)))
    if arguments.get("first") is not None:
        chosen = window[:size]
        has_next, has_previous = len(window) > size, start > 0
    else:
        chosen = window[len(window) - size :] if size else []
        has_next, has_previous = end < len(records), len(window) > size
    items = [view(records[i]) for i in chosen]
    cursors = [encode_cursor(numbers[i]) for i in chosen]
    return {
        "__typename": f"{type_name}Connection",
        "nodes": items,
        "edges": [
            {"__typename": f"{type_name}Edge", "cursor": cursor, "node": item}
            for cursor, item in zip(cursors, items, strict=True)
        ],
        "pageInfo": {
            "__typename": "PageInfo",
            "hasNextPage": has_next,
            "hasPreviousPage": has_previous,
            "startCursor": cursors[0] if cursors else None,
            "endCursor": cursors[-1] if cursors else None,
        },
    }


# --- Shopify's search syntax ----------------------------------------------------------------

_SEARCH_TERM = re.compile(r"""(-?)(?:([A-Za-z_]+):)?("(?:[^"\\]|\\.)*"|'[^']*'|\S+)""")


def search_terms(query: str | None) -> list[tuple[bool, str | None, str]]:
    """(negated, field or None, value) for each term of a search query; terms are AND-ed."""
    terms = []
    for negated, name, raw in _SEARCH_TERM.findall(query or ""):
        if raw == "AND" and not name:
            continue
        value = raw
        if raw.startswith('"'):
            value = json.loads(raw)
        elif raw.startswith("'"):
            value = raw[1:-1]
        terms.append((bool(negated), name.lower() if name else None, value))
    return terms


def matches_search(query: str | None, values: Mapping[str, Iterable[str | None]]) -> bool:
    """Whether a record with these searchable `values` ({filter name: values}, the record's
    default text under "default") passes every term. Unknown filters are ignored, as Shopify
    ignores them."""
    for negated, name, wanted in search_terms(query):
        key = name or "default"
        if key not in values:
            continue
        hit = any(_search_hit(str(value), wanted) for value in values[key] if value is not None)
        if hit == negated:
            return False
    return True


def _search_hit(value: str, wanted: str) -> bool:
    if wanted.endswith("*"):
        return value.casefold().startswith(wanted[:-1].casefold())
    if " " in value and " " not in wanted:  # free text: any word
        return wanted.casefold() in value.casefold().split()
    return value.casefold() == wanted.casefold()


# --- the store --------------------------------------------------------------------------------


@dataclass
class ShopCollection:
    id: int
    title: str

    @property
    def gid(self) -> str:
        return global_id("Collection", self.id)


@dataclass
class ShopVariant:
    id: int
    position: int
    sku: str
    title: str
    options: tuple[tuple[str, str], ...]
    price: Decimal
    barcode: str | None
    quantity: int
    tracked: bool
    inventory_item_id: int
    updated_at: float
    product: ShopProduct = field(repr=False)

    @property
    def gid(self) -> str:
        return global_id("ProductVariant", self.id)

    @property
    def inventory_item_gid(self) -> str:
        return global_id("InventoryItem", self.inventory_item_id)


@dataclass
class ShopProduct:
    id: int
    title: str
    handle: str
    status: str
    product_type: str
    tags: tuple[str, ...]
    collections: tuple[ShopCollection, ...]
    options: tuple[tuple[str, tuple[str, ...]], ...]
    created_at: float
    updated_at: float
    variants: list[ShopVariant] = field(default_factory=list)

    @property
    def gid(self) -> str:
        return global_id("Product", self.id)


@dataclass
class ShopLineItem:
    id: int
    variant: ShopVariant
    quantity: int
    unit_price: Decimal


@dataclass
class ShopOrder:
    id: int
    number: int
    currency: str
    line_items: list[ShopLineItem]
    shipping_address: dict[str, Any] | None
    email: str | None
    note: str | None
    tags: tuple[str, ...]
    source_name: str | None
    source_identifier: str | None
    financial_status: str
    inventory_claimed: bool
    created_at: float
    cancelled_at: float | None = None
    cancel_reason: str | None = None

    @property
    def gid(self) -> str:
        return global_id("Order", self.id)

    @property
    def name(self) -> str:
        return f"#{self.number}"


def variant_gid(product: StoreProduct) -> str:
    """The id the sandbox serves for a sellable catalog product."""
    return global_id("ProductVariant", VARIANT_ID_BASE + product.id)


def product_gid(product: StoreProduct) -> str:
    """The id the sandbox serves for the Shopify product holding this catalog product: its
    configurable parent's, or its own when it has none."""
    return global_id("Product", PRODUCT_ID_BASE + (product.parent_id or product.id))


class CostBucket:
    """Shopify's leaky bucket of query cost points for one app on one shop."""

    def __init__(self, size: int, restore_rate: float, clock: Callable[[], float]):
        self.size = size
        self.restore_rate = restore_rate
        self.clock = clock
        self.available = float(size)
        self.updated = clock()
        self.lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.size > 0 and self.restore_rate > 0

    def _restore(self) -> None:
        now = self.clock()
        self.available = min(self.size, self.available + (now - self.updated) * self.restore_rate)
        self.updated = now

    def take(self, points: int) -> bool:
        """Spend `points` if the bucket holds them; a throttled call spends nothing."""
        if not self.enabled:
            return True
        with self.lock:
            self._restore()
            if points > self.available:
                return False
            self.available -= points
            return True

    def give_back(self, points: float) -> None:
        if self.enabled and points > 0:
            with self.lock:
                self._restore()
                self.available = min(self.size, self.available + points)

    def set_available(self, points: float) -> None:
        with self.lock:
            self._restore()
            self.available = max(0.0, min(float(self.size), points))

    def status(self) -> dict[str, Any]:
        if not self.enabled:
            size = float(self.size or DISABLED_BUCKET_SIZE)
            return {
                "maximumAvailable": size,
                "currentlyAvailable": int(size),
                "restoreRate": float(self.restore_rate or DISABLED_RESTORE_RATE),
            }
        with self.lock:
            self._restore()
            return {
                "maximumAvailable": float(self.size),
                "currentlyAvailable": int(self.available),
                "restoreRate": float(self.restore_rate),
            }


def user_error(path: Iterable[Any], message: str, code: str | None, type_name: str) -> dict:
    return {
        "__typename": type_name,
        "field": [str(part) for part in path],
        "message": message,
        "code": code,
    }


class ShopifyStore:
    """The emulated shop: products and variants in Shopify's shape, one location, orders."""

    def __init__(self, catalog: DemoCatalog, clock: Callable[[], float] = time.time):
        self.clock = clock
        self.lock = threading.RLock()
        self.products: list[ShopProduct] = self._build_products(catalog.store_products)
        self.products_by_gid = {p.gid: p for p in self.products}
        self.variants = {v.gid: v for p in self.products for v in p.variants}
        self.inventory_items = {v.inventory_item_gid: v for v in self.variants.values()}
        self.collections_by_gid = {c.gid: c for p in self.products for c in p.collections}
        self.orders: list[ShopOrder] = []
        self.orders_by_gid: dict[str, ShopOrder] = {}
        self.order_numbers = itertools.count(FIRST_ORDER_NUMBER)
        self.line_item_ids = itertools.count(LINE_ITEM_ID_BASE + 1)
        self.adjustment_groups = itertools.count(1)
        self.operations: Counter[str] = Counter()  # root fields served, for tests

    # -- building ------------------------------------------------------------------------

    @staticmethod
    def _build_products(catalog: Iterable[StoreProduct]) -> list[ShopProduct]:
        by_id = {product.id: product for product in catalog}
        collections: dict[str, ShopCollection] = {}

        def collection(title: str) -> ShopCollection:
            if title not in collections:
                collections[title] = ShopCollection(
                    COLLECTION_ID_BASE + len(collections) + 1, title
                )
            return collections[title]

        products = []
        for source in sorted(by_id.values(), key=lambda p: p.id):
            if source.parent_id is not None:
                continue  # a child: served as a variant of its parent
            children = [by_id[i] for i in source.children_ids if i in by_id]
            if source.type_id == "configurable" and not children:
                continue  # Shopify has no product without a variant
            products.append(_shop_product(source, children, collection))
        return products

    # -- lookups -------------------------------------------------------------------------

    def lookup(self, gid: Any, type_name: str) -> Any:
        """The record of `type_name` a global id names; None when the shop has none (or the id
        names another type). A malformed id is a query error."""
        kind, number = parse_gid(gid)
        if kind != type_name:
            return None
        return self.records[type_name].get(global_id(kind, number))

    def node_view(self, gid: Any, type_name: str | None = None) -> dict[str, Any] | None:
        kind, number = parse_gid(gid)
        if (type_name and kind != type_name) or kind not in self.records:
            return None
        record = self.records[kind].get(global_id(kind, number))
        return None if record is None else self.views[kind](record)

    @property
    def records(self) -> dict[str, dict[str, Any]]:
        return {
            "Product": self.products_by_gid,
            "ProductVariant": self.variants,
            "InventoryItem": self.inventory_items,
            "Order": self.orders_by_gid,
            "Collection": self.collections_by_gid,
            "Location": {global_id("Location", LOCATION_ID): LOCATION_ID},
        }

    @property
    def views(self) -> dict[str, Callable[[Any], dict[str, Any]]]:
        return {
            "Product": self.product_view,
            "ProductVariant": self.variant_view,
            "InventoryItem": self.inventory_item_view,
            "Order": self.order_view,
            "Collection": self.collection_view,
            "Location": lambda _: self.location_view(),
        }

    def variant_by_id(self, number_or_gid: Any) -> ShopVariant:
        """A variant named by its gid or its number (control endpoints)."""
        gid = str(number_or_gid)
        if not gid.startswith("gid://"):
            gid = global_id("ProductVariant", int(gid))
        variant = self.variants.get(gid)
        if variant is None:
            raise LookupError(f"The shop has no variant {gid}")
        return variant

    # -- views (objects as the executor reads them) --------------------------------------

    def shop_view(self) -> dict[str, Any]:
        return {
            "__typename": "Shop",
            "id": global_id("Shop", 60_000_000_001),
            "name": SHOP_NAME,
            "email": "owner@demo-outfitters.test",
            "currencyCode": SHOP_CURRENCY,
            "myshopifyDomain": SHOP_DOMAIN,
            "ianaTimezone": "America/Chicago",
            "primaryDomain": {
                "__typename": "Domain",
                "id": global_id("Domain", 70_000_000_001),
                "host": SHOP_DOMAIN,
                "url": f"https://{SHOP_DOMAIN}",
                "sslEnabled": True,
            },
        }

    def location_view(self) -> dict[str, Any]:
        return {
            "__typename": "Location",
            "id": global_id("Location", LOCATION_ID),
            "legacyResourceId": str(LOCATION_ID),
            "name": LOCATION_NAME,
            "isActive": True,
            "fulfillsOnlineOrders": True,
        }

    def collection_view(self, collection: ShopCollection) -> dict[str, Any]:
        return {
            "__typename": "Collection",
            "id": collection.gid,
            "legacyResourceId": str(collection.id),
            "title": collection.title,
            "handle": slug(collection.title),
        }

    def product_view(self, product: ShopProduct) -> dict[str, Any]:
        tracked = [v for v in product.variants if v.tracked]
        return {
            "__typename": "Product",
            "id": product.gid,
            "legacyResourceId": str(product.id),
            "title": product.title,
            "handle": product.handle,
            "status": product.status,
            "vendor": VENDOR,
            "productType": product.product_type,
            "tags": list(product.tags),
            "createdAt": iso_time(product.created_at),
            "updatedAt": iso_time(product.updated_at),
            "hasOnlyDefaultVariant": product.options == (("Title", (DEFAULT_VARIANT_TITLE,)),),
            "totalInventory": sum(v.quantity for v in tracked),
            "tracksInventory": bool(tracked),
            "category": None,  # the demo shop has not set taxonomy categories
            "options": [
                {
                    "__typename": "ProductOption",
                    "id": global_id("ProductOption", product.id * 10 + position),
                    "name": name,
                    "position": position,
                    "values": list(values),
                }
                for position, (name, values) in enumerate(product.options, start=1)
            ],
            "collections": lambda args: paginate(
                args, list(product.collections), _id, self.collection_view, "Collection"
            ),
            "variants": lambda args: paginate(
                args, product.variants, _id, self.variant_view, "ProductVariant"
            ),
        }

    def variant_view(self, variant: ShopVariant) -> dict[str, Any]:
        product = variant.product
        return {
            "__typename": "ProductVariant",
            "id": variant.gid,
            "legacyResourceId": str(variant.id),
            "title": variant.title,
            "displayName": f"{product.title} - {variant.title}",
            "sku": variant.sku,
            "barcode": variant.barcode,
            "price": variant.price,
            "compareAtPrice": None,
            "position": variant.position,
            "inventoryQuantity": variant.quantity,
            "availableForSale": product.status == ACTIVE
            and (not variant.tracked or variant.quantity > 0),
            "createdAt": iso_time(product.created_at),
            "updatedAt": iso_time(variant.updated_at),
            "selectedOptions": [
                {"__typename": "SelectedOption", "name": name, "value": value}
                for name, value in variant.options
            ],
            "inventoryItem": lambda _: self.inventory_item_view(variant),
            "product": lambda _: self.product_view(product),
        }

    def inventory_item_view(self, variant: ShopVariant) -> dict[str, Any]:
        return {
            "__typename": "InventoryItem",
            "id": variant.inventory_item_gid,
            "legacyResourceId": str(variant.inventory_item_id),
            "sku": variant.sku,
            "tracked": variant.tracked,
            "variant": lambda _: self.variant_view(variant),
        }

    def order_view(self, order: ShopOrder) -> dict[str, Any]:
        total = sum((line.unit_price * line.quantity for line in order.line_items), Decimal(0))
        return {
            "__typename": "Order",
            "id": order.gid,
            "legacyResourceId": str(order.id),
            "name": order.name,
            "email": order.email,
            "note": order.note,
            "tags": list(order.tags),
            "sourceName": order.source_name,
            "sourceIdentifier": order.source_identifier,
            "createdAt": iso_time(order.created_at),
            "cancelledAt": iso_time(order.cancelled_at) if order.cancelled_at else None,
            "cancelReason": order.cancel_reason,
            "closed": order.cancelled_at is not None,
            "currencyCode": order.currency,
            "displayFinancialStatus": order.financial_status,
            "displayFulfillmentStatus": "UNFULFILLED",
            "test": False,
            "totalPriceSet": money_bag(total, order.currency),
            "shippingAddress": (
                {"__typename": "MailingAddress", **order.shipping_address}
                if order.shipping_address
                else None
            ),
            "lineItems": lambda args: paginate(
                args,
                order.line_items,
                _id,
                lambda line: self.line_item_view(line, order),
                "LineItem",
            ),
        }

    def line_item_view(self, line: ShopLineItem, order: ShopOrder) -> dict[str, Any]:
        return {
            "__typename": "LineItem",
            "id": global_id("LineItem", line.id),
            "title": line.variant.product.title,
            "variantTitle": line.variant.title,
            "sku": line.variant.sku,
            "quantity": line.quantity,
            "variant": lambda _: self.variant_view(line.variant),
            "originalUnitPriceSet": money_bag(line.unit_price, order.currency),
        }

    # -- roots ---------------------------------------------------------------------------

    def query_root(self) -> dict[str, Any]:
        return {
            "__typename": "QueryRoot",
            "shop": lambda _: self.shop_view(),
            "products": self.resolve_products,
            "product": lambda args: self.node_view(args["id"], "Product"),
            "productVariants": self.resolve_product_variants,
            "productVariant": lambda args: self.node_view(args["id"], "ProductVariant"),
            "inventoryItem": lambda args: self.node_view(args["id"], "InventoryItem"),
            "location": self.resolve_location,
            "locations": lambda args: paginate(
                args, [LOCATION_ID], lambda n: n, lambda _: self.location_view(), "Location"
            ),
            "orders": self.resolve_orders,
            "order": lambda args: self.node_view(args["id"], "Order"),
            "node": lambda args: self.node_view(args["id"]),
            "nodes": self.resolve_nodes,
        }

    def mutation_root(self) -> dict[str, Any]:
        return {
            "__typename": "Mutation",
            "inventorySetQuantities": self.inventory_set_quantities,
            "productVariantsBulkUpdate": self.product_variants_bulk_update,
            "orderCreate": self.order_create,
            "orderCancel": self.order_cancel,
        }

    def resolve_products(self, args: Mapping[str, Any]) -> dict[str, Any]:
        self.operations["products"] += 1
        records = [
            p
            for p in self.products
            if matches_search(
                args.get("query"),
                {
                    "default": [p.title, *p.tags],
                    "title": [p.title],
                    "status": [p.status],
                    "tag": p.tags,
                    "product_type": [p.product_type],
                    "sku": [v.sku for v in p.variants],
                    "barcode": [v.barcode for v in p.variants],
                    "id": [str(p.id)],
                },
            )
        ]
        return paginate(args, records, _id, self.product_view, "Product")

    def resolve_product_variants(self, args: Mapping[str, Any]) -> dict[str, Any]:
        self.operations["productVariants"] += 1
        records = [
            v
            for v in self.variants.values()
            if matches_search(
                args.get("query"),
                {
                    "default": [v.sku, v.title, v.product.title],
                    "sku": [v.sku],
                    "barcode": [v.barcode],
                    "product_id": [str(v.product.id)],
                    "title": [v.title],
                    "id": [str(v.id)],
                },
            )
        ]
        records.sort(key=_id)
        return paginate(args, records, _id, self.variant_view, "ProductVariant")

    def resolve_location(self, args: Mapping[str, Any]) -> dict[str, Any] | None:
        self.operations["location"] += 1
        if args.get("id") is None:
            return self.location_view()  # no id: the shop's primary location
        return self.node_view(args["id"], "Location")

    def resolve_orders(self, args: Mapping[str, Any]) -> dict[str, Any]:
        self.operations["orders"] += 1
        records = [
            o
            for o in self.orders
            if matches_search(
                args.get("query"),
                {
                    "default": [o.name, o.email, o.source_identifier],
                    "name": [o.name, str(o.number)],
                    "source_identifier": [o.source_identifier],
                    "source_name": [o.source_name],
                    "tag": o.tags,
                    "email": [o.email],
                    "status": ["cancelled" if o.cancelled_at else "open"],
                    "id": [str(o.id)],
                },
            )
        ]
        return paginate(args, records, _id, self.order_view, "Order")

    def resolve_nodes(self, args: Mapping[str, Any]) -> list[dict[str, Any] | None]:
        self.operations["nodes"] += 1
        ids = args["ids"]
        if not isinstance(ids, list):
            ids = [ids]
        if len(ids) > MAX_PAGE_SIZE:
            raise GraphQLError(
                f"The ids argument accepts at most {MAX_PAGE_SIZE} ids, got {len(ids)}",
                code="MAX_INPUT_SIZE_EXCEEDED",
            )
        return [self.node_view(gid) for gid in ids]

    # -- mutations -----------------------------------------------------------------------

    def inventory_set_quantities(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """Absolute quantities at a location; one refused quantity refuses the whole call."""
        self.operations["inventorySetQuantities"] += 1
        given = args["input"]
        kind = "InventorySetQuantitiesUserError"
        problems = []
        if given.get("name") not in INVENTORY_NAMES:
            problems.append(
                (
                    ["input", "name"],
                    "The quantity name must be either 'available' or 'on_hand'.",
                    "INVALID_NAME",
                )
            )
        if given.get("reason") not in INVENTORY_REASONS:
            problems.append(
                (["input", "reason"], "The specified reason is invalid.", "INVALID_REASON")
            )
        changes = []
        for index, entry in enumerate(given.get("quantities") or []):
            problem = self._quantity_problem(entry, bool(given.get("ignoreCompareQuantity")))
            if problem:
                field_name, message, code = problem
                problems.append((["input", "quantities", index, field_name], message, code))
            else:
                changes.append((self.inventory_items[entry["inventoryItemId"]], entry["quantity"]))
        errors = [user_error(path, message, code, kind) for path, message, code in problems]
        payload = {"__typename": "InventorySetQuantitiesPayload", "userErrors": errors}
        if errors:
            return {**payload, "inventoryAdjustmentGroup": None}
        return {**payload, "inventoryAdjustmentGroup": self._adjust(given, changes)}

    def _quantity_problem(
        self, entry: Mapping[str, Any], ignore_compare: bool
    ) -> tuple[str, str, str] | None:
        """(input field, message, code) of what Shopify refuses in one quantity, or None."""
        variant = self.inventory_items.get(entry.get("inventoryItemId"))
        quantity = entry.get("quantity")
        compare = entry.get("compareQuantity")
        if variant is None:
            return (
                "inventoryItemId",
                "The specified inventory item could not be found.",
                "INVALID_INVENTORY_ITEM",
            )
        if entry.get("locationId") != global_id("Location", LOCATION_ID):
            return "locationId", "The specified location could not be found.", "INVALID_LOCATION"
        if not isinstance(quantity, int) or isinstance(quantity, bool):
            return "quantity", "The quantity must be a whole number.", "INVALID"
        if quantity < 0:
            return "quantity", "The quantity can't be negative.", "INVALID_QUANTITY_NEGATIVE"
        if quantity > MAX_INVENTORY_QUANTITY:
            return (
                "quantity",
                "The total quantity can't be higher than 1,000,000,000.",
                "INVALID_QUANTITY_TOO_HIGH",
            )
        if not ignore_compare and compare is None:
            return (
                "compareQuantity",
                "The compareQuantity argument must be given to each quantity or ignored using "
                "ignoreCompareQuantity.",
                "COMPARE_QUANTITY_REQUIRED",
            )
        if not ignore_compare and compare != variant.quantity:
            return (
                "compareQuantity",
                "The compareQuantity value does not match persisted value.",
                "COMPARE_QUANTITY_STALE",
            )
        return None

    def _adjust(
        self, given: Mapping[str, Any], changes: list[tuple[ShopVariant, int]]
    ) -> dict[str, Any]:
        """Apply the quantities; the InventoryAdjustmentGroup that records them."""
        now = self.clock()
        change_views = []
        for variant, quantity in changes:
            change_views.append(
                {
                    "__typename": "InventoryChange",
                    "name": given["name"],
                    "delta": quantity - variant.quantity,
                    "quantityAfterChange": quantity,
                    "item": self.inventory_item_view(variant),
                    "location": self.location_view(),
                }
            )
            variant.quantity = quantity
            variant.updated_at = now
        return {
            "__typename": "InventoryAdjustmentGroup",
            "id": global_id("InventoryAdjustmentGroup", next(self.adjustment_groups)),
            "createdAt": iso_time(now),
            "reason": given["reason"],
            "changes": change_views,
        }

    def product_variants_bulk_update(self, args: Mapping[str, Any]) -> dict[str, Any]:
        self.operations["productVariantsBulkUpdate"] += 1
        kind = "ProductVariantsBulkUpdateUserError"
        payload = {"__typename": "ProductVariantsBulkUpdatePayload"}
        product = self.lookup(args["productId"], "Product")
        if product is None:
            error = user_error(
                ["productId"], "Product does not exist", "PRODUCT_DOES_NOT_EXIST", kind
            )
            return {**payload, "product": None, "productVariants": None, "userErrors": [error]}
        errors, accepted = [], []
        for index, given in enumerate(args["variants"] or []):
            unknown = sorted(set(given) - VARIANT_BULK_INPUT)
            if unknown:
                raise GraphQLError(
                    f"Variable $variants of type [ProductVariantsBulkInput!]! was provided invalid "
                    f"value for {index}.{unknown[0]} (Field is not defined on "
                    "ProductVariantsBulkInput)",
                    code="INVALID_VARIABLE",
                )
            problem = self._variant_input_problem(product, index, given)
            if problem:
                errors.append(problem)
            else:
                accepted.append(given)
        if errors and not args.get("allowPartialUpdates"):
            accepted = []
        updated = [self._apply_variant_input(given) for given in accepted]
        return {
            **payload,
            "product": self.product_view(product),
            "productVariants": [self.variant_view(v) for v in updated] if updated else None,
            "userErrors": errors,
        }

    def _variant_input_problem(
        self, product: ShopProduct, index: int, given: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        kind = "ProductVariantsBulkUpdateUserError"
        variant = self.variants.get(given.get("id"))
        if variant is None or variant.product is not product:
            return user_error(
                ["variants", index, "id"],
                "Product variant does not exist",
                "PRODUCT_VARIANT_DOES_NOT_EXIST",
                kind,
            )
        if "inventoryQuantities" in given:
            return user_error(
                ["variants", index, "inventoryQuantities"],
                "Inventory quantities can only be provided during create. To update inventory "
                "for existing variants, use inventoryAdjustQuantities.",
                "NO_INVENTORY_QUANTITIES_ON_VARIANTS_UPDATE",
                kind,
            )
        if "price" in given:
            price = _decimal_or_none(given["price"])
            if price is None:
                return user_error(
                    ["variants", index, "price"], "Price is invalid", "INVALID_INPUT", kind
                )
            if price < 0:
                return user_error(
                    ["variants", index, "price"],
                    "Price must be greater than or equal to 0",
                    "GREATER_THAN_OR_EQUAL_TO",
                    kind,
                )
        return None

    def _apply_variant_input(self, given: Mapping[str, Any]) -> ShopVariant:
        variant = self.variants[given["id"]]
        if "price" in given:
            variant.price = _decimal_or_none(given["price"]) or Decimal(0)
        if "barcode" in given:
            variant.barcode = given["barcode"] or None
        variant.updated_at = self.clock()
        return variant

    def order_create(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """A new order; with a decrementing `inventoryBehaviour` it claims the stock."""
        self.operations["orderCreate"] += 1
        given, options = args["order"], args.get("options") or {}
        _refuse_undefined_order_fields(given, options)
        behaviour = options.get("inventoryBehaviour") or "BYPASS"
        errors, lines = self._order_lines(given, behaviour)
        errors += self._order_problems(given, behaviour)
        payload = {"__typename": "OrderCreatePayload"}
        if errors:
            return {**payload, "order": None, "userErrors": errors}
        claims = behaviour != "BYPASS"
        if claims:
            for line in lines:
                if line.variant.tracked:
                    line.variant.quantity -= line.quantity
        order = ShopOrder(
            id=ORDER_ID_BASE + len(self.orders) + 1,
            number=next(self.order_numbers),
            currency=given.get("currency") or SHOP_CURRENCY,
            line_items=lines,
            shipping_address=_mailing_address(given.get("shippingAddress")),
            email=given.get("email"),
            note=given.get("note"),
            tags=tuple(_tags(given.get("tags"))),
            source_name=given.get("sourceName"),
            source_identifier=given.get("sourceIdentifier"),
            financial_status=given.get("financialStatus") or "PENDING",
            inventory_claimed=claims,
            created_at=self.clock(),
        )
        self.orders.append(order)
        self.orders_by_gid[order.gid] = order
        return {**payload, "order": self.order_view(order), "userErrors": []}

    def _order_lines(
        self, given: Mapping[str, Any], behaviour: str
    ) -> tuple[list[dict[str, Any]], list[ShopLineItem]]:
        kind = "OrderCreateUserError"
        errors, lines = [], []
        if not given.get("lineItems"):
            errors.append(
                user_error(["order", "lineItems"], "Line items can't be blank", "BLANK", kind)
            )
        for index, line in enumerate(given.get("lineItems") or []):
            path = ["order", "lineItems", index]
            variant = self.variants.get(line.get("variantId"))
            quantity = line.get("quantity")
            amount = _decimal_or_none(
                ((line.get("priceSet") or {}).get("shopMoney") or {}).get("amount")
            )
            if variant is None:
                errors.append(
                    user_error([*path, "variantId"], "Variant does not exist", "INVALID", kind)
                )
            elif not isinstance(quantity, int) or quantity < 1:
                errors.append(
                    user_error(
                        [*path, "quantity"], "Quantity must be greater than 0", "INVALID", kind
                    )
                )
            elif line.get("priceSet") is not None and (amount is None or amount < 0):
                errors.append(user_error([*path, "priceSet"], "Price is invalid", "INVALID", kind))
            elif (
                behaviour == "DECREMENT_OBEYING_POLICY"
                and variant.tracked
                and variant.quantity < quantity
            ):
                errors.append(
                    user_error(
                        [*path, "quantity"],
                        f"{variant.product.title} - {variant.title} is out of stock",
                        "INVALID",
                        kind,
                    )
                )
            else:
                price = amount if amount is not None else variant.price
                lines.append(ShopLineItem(next(self.line_item_ids), variant, quantity, price))
        return errors, lines

    @staticmethod
    def _order_problems(given: Mapping[str, Any], behaviour: str) -> list[dict[str, Any]]:
        kind = "OrderCreateUserError"
        problems = []
        if behaviour not in INVENTORY_BEHAVIOURS:
            raise GraphQLError(
                f"Variable $options was provided invalid value for inventoryBehaviour (Expected "
                f'"{behaviour}" to be one of: {", ".join(INVENTORY_BEHAVIOURS)})',
                code="INVALID_VARIABLE",
            )
        currency = given.get("currency")
        if currency is not None and not CURRENCY_CODE.match(str(currency)):
            problems.append(
                user_error(["order", "currency"], "Currency is invalid", "INVALID", kind)
            )
        status = given.get("financialStatus")
        if status is not None and status not in FINANCIAL_STATUSES:
            problems.append(
                user_error(
                    ["order", "financialStatus"], "Financial status is invalid", "INVALID", kind
                )
            )
        if str(given.get("sourceName") or "").lower() in RESERVED_SOURCE_NAMES:
            problems.append(
                user_error(
                    ["order", "sourceName"],
                    f"Source name {given['sourceName']} is reserved for Shopify's own channels",
                    "INVALID",
                    kind,
                )
            )
        address = given.get("shippingAddress") or {}
        if address.get("countryCode") and not COUNTRY_CODE.match(str(address["countryCode"])):
            problems.append(
                user_error(
                    ["order", "shippingAddress", "countryCode"],
                    "Country code is invalid",
                    "INVALID",
                    kind,
                )
            )
        return problems

    def order_cancel(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """Cancels at once (Shopify runs it as a job; the job is reported done)."""
        self.operations["orderCancel"] += 1
        if args["reason"] not in CANCEL_REASONS:
            raise GraphQLError(
                f"Argument 'reason' on Field 'orderCancel' has an invalid value "
                f"({args['reason']}). Expected type 'OrderCancelReason!'.",
                code="argumentLiteralsIncompatible",
                typeName="Field",
                argumentName="reason",
            )
        order = self.lookup(args["orderId"], "Order")
        problem = None
        if order is None:
            problem = ("Order does not exist", "NOT_FOUND")
        elif order.cancelled_at is not None:
            problem = ("Cannot cancel an order that has already been cancelled", "INVALID")
        payload = {"__typename": "OrderCancelPayload"}
        if problem:
            message, code = problem
            return {
                **payload,
                "job": None,
                "orderCancelUserErrors": [
                    user_error(["orderId"], message, code, "OrderCancelUserError")
                ],
                "userErrors": [
                    {"__typename": "UserError", "field": ["orderId"], "message": message}
                ],
            }
        order.cancelled_at = self.clock()
        order.cancel_reason = args["reason"]
        if args["restock"] and order.inventory_claimed:
            for line in order.line_items:
                if line.variant.tracked:
                    line.variant.quantity += line.quantity
        job = {"__typename": "Job", "id": global_id("Job", uuid.uuid4().int % 10**12), "done": True}
        return {**payload, "job": job, "orderCancelUserErrors": [], "userErrors": []}

    # -- merchant actions (control endpoints) --------------------------------------------

    def edit_variant(self, number_or_gid: Any, quantity: Any, price: Any) -> ShopVariant:
        variant = self.variant_by_id(number_or_gid)
        if quantity is not None:
            variant.quantity = int(quantity)
        if price is not None:
            new_price = _decimal_or_none(price)
            if new_price is None or new_price < 0:
                raise ValueError(f"not a price: {price!r}")
            variant.price = new_price
        variant.updated_at = self.clock()
        return variant

    def order_summary(self, order: ShopOrder) -> dict[str, Any]:
        return {
            "id": order.gid,
            "name": order.name,
            "sourceName": order.source_name,
            "sourceIdentifier": order.source_identifier,
            "tags": list(order.tags),
            "email": order.email,
            "note": order.note,
            "currencyCode": order.currency,
            "financialStatus": order.financial_status,
            "cancelled": order.cancelled_at is not None,
            "cancelReason": order.cancel_reason,
            "shippingAddress": order.shipping_address,
            "lineItems": [
                {
                    "variantId": line.variant.gid,
                    "sku": line.variant.sku,
                    "quantity": line.quantity,
                    "price": money(line.unit_price),
                }
                for line in order.line_items
            ],
        }


def _shop_product(
    source: StoreProduct,
    children: list[StoreProduct],
    collection: Callable[[str], ShopCollection],
) -> ShopProduct:
    """A catalog entry as a Shopify product: a configurable parent with one variant per child
    (options Color and Size), or a product of its own with the "Default Title" variant."""
    tag_titles = [TAG_COLLECTIONS[tag] for tag in source.tags if tag in TAG_COLLECTIONS]
    old_listing = source.name.endswith(OLD_LISTING_SUFFIX)
    options: tuple[tuple[str, tuple[str, ...]], ...] = (("Title", (DEFAULT_VARIANT_TITLE,)),)
    if children:
        options = (
            ("Color", tuple(dict.fromkeys(c.color or "" for c in children))),
            ("Size", tuple(dict.fromkeys(c.size or "" for c in children))),
        )
    product = ShopProduct(
        id=PRODUCT_ID_BASE + source.id,
        title=source.name,
        handle=f"{slug(source.name)}-{source.id}",
        status=ARCHIVED if old_listing else ACTIVE if source.status == 1 else DRAFT,
        product_type=source.categories[0] if source.categories else "",
        tags=source.tags,
        collections=tuple(collection(t) for t in dict.fromkeys([*source.categories, *tag_titles])),
        options=options,
        created_at=source.updated_at - 86_400,
        updated_at=source.updated_at,
    )
    for position, item in enumerate(children or [source], start=1):
        chosen = (
            (("Color", item.color or ""), ("Size", item.size or ""))
            if children
            else (("Title", DEFAULT_VARIANT_TITLE),)
        )
        product.variants.append(
            ShopVariant(
                id=VARIANT_ID_BASE + item.id,
                position=position,
                sku=item.sku,
                title=" / ".join(value for _, value in chosen),
                options=chosen,
                price=item.price,
                barcode=item.barcode,
                quantity=0 if old_listing else item.quantity,
                tracked=not old_listing,  # old listings no longer track inventory
                inventory_item_id=INVENTORY_ITEM_ID_BASE + item.id,
                updated_at=item.updated_at,
                product=product,
            )
        )
    return product


def _refuse_undefined_order_fields(given: Mapping[str, Any], options: Mapping[str, Any]) -> None:
    """Shopify refuses a variable whose input object has a field its type does not define."""
    inputs = [
        ("OrderCreateOrderInput", ORDER_INPUT, given),
        ("OrderCreateOptionsInput", OPTIONS_INPUT, options),
        ("MailingAddressInput", ADDRESS_INPUT, given.get("shippingAddress") or {}),
    ]
    inputs += [
        ("OrderCreateLineItemInput", ORDER_LINE_INPUT, line)
        for line in given.get("lineItems") or []
    ]
    for type_name, allowed, value in inputs:
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise GraphQLError(
                f"Variable $order was provided invalid value for {unknown[0]} (Field is not "
                f"defined on {type_name})",
                code="INVALID_VARIABLE",
            )


def _id(record: Any) -> int:
    return record.id


def _decimal_or_none(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _tags(value: Any) -> list[str]:
    """Tags as Shopify stores them: a list, or one comma-separated string."""
    if isinstance(value, str):
        value = value.split(",")
    return [str(tag).strip() for tag in value or [] if str(tag).strip()]


def _mailing_address(given: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not given:
        return None
    first, last = given.get("firstName") or "", given.get("lastName") or ""
    return {
        "name": " ".join(part for part in (first, last) if part),
        "firstName": first or None,
        "lastName": last or None,
        "address1": given.get("address1"),
        "address2": given.get("address2"),
        "city": given.get("city"),
        "province": given.get("province") or given.get("provinceCode"),
        "provinceCode": given.get("provinceCode"),
        "zip": given.get("zip"),
        "country": given.get("country") or given.get("countryCode"),
        "countryCodeV2": given.get("countryCode"),
        "phone": given.get("phone"),
    }


def money_bag(amount: Decimal, currency: str) -> dict[str, Any]:
    one_money = {"__typename": "MoneyV2", "amount": amount, "currencyCode": currency}
    return {"__typename": "MoneyBag", "shopMoney": one_money, "presentmentMoney": one_money}


# --- webhooks ---------------------------------------------------------------------------------


def sign_webhook(secret: str, body: bytes) -> str:
    """`X-Shopify-Hmac-Sha256`: base64 of the HMAC-SHA256 of the raw body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def rest_variant(variant: ShopVariant) -> dict[str, Any]:
    """A variant as webhook payloads carry it (the REST Admin shape)."""
    values = [value for _, value in variant.options] + [None] * 3
    return {
        "admin_graphql_api_id": variant.gid,
        "id": variant.id,
        "product_id": variant.product.id,
        "title": variant.title,
        "price": money(variant.price),
        "position": variant.position,
        "inventory_policy": "deny",
        "compare_at_price": None,
        "option1": values[0],
        "option2": values[1],
        "option3": values[2],
        "created_at": iso_time(variant.product.created_at),
        "updated_at": iso_time(variant.updated_at),
        "taxable": True,
        "barcode": variant.barcode,
        "sku": variant.sku,
        "inventory_item_id": variant.inventory_item_id,
        "inventory_quantity": variant.quantity,
        "old_inventory_quantity": variant.quantity,
        "image_id": None,
    }


def products_update_body(product: ShopProduct) -> dict[str, Any]:
    return {
        "admin_graphql_api_id": product.gid,
        "id": product.id,
        "title": product.title,
        "body_html": "",
        "vendor": VENDOR,
        "product_type": product.product_type,
        "handle": product.handle,
        "created_at": iso_time(product.created_at),
        "updated_at": iso_time(product.updated_at),
        "published_at": iso_time(product.created_at),
        "published_scope": "global",
        "status": product.status.lower(),
        "tags": ", ".join(product.tags),
        "variants": [rest_variant(v) for v in product.variants],
        "options": [
            {"name": name, "position": position, "values": list(values)}
            for position, (name, values) in enumerate(product.options, start=1)
        ],
        "images": [],
        "image": None,
    }


def inventory_level_body(variant: ShopVariant) -> dict[str, Any]:
    return {
        "inventory_item_id": variant.inventory_item_id,
        "location_id": LOCATION_ID,
        "available": variant.quantity,
        "updated_at": iso_time(variant.updated_at),
        "admin_graphql_api_id": (
            f"gid://shopify/InventoryLevel/{LOCATION_ID}?inventory_item_id="
            f"{variant.inventory_item_id}"
        ),
    }


WEBHOOK_TOPICS = {"products/update", "inventory_levels/update"}


def webhook_bodies(topic: str, variants: list[ShopVariant]) -> list[dict[str, Any]]:
    if topic == "products/update":
        products = list({id(v.product): v.product for v in variants}.values())
        return [products_update_body(product) for product in products]
    return [inventory_level_body(variant) for variant in variants]


def deliver_webhooks(
    settings: SandboxSettings,
    url: str,
    topic: str,
    bodies: list[dict[str, Any]],
    *,
    wrong_signature: bool,
    deliver_twice: bool,
) -> list[dict[str, Any]]:
    secret = settings.shopify_webhook_secret + ("-wrong" if wrong_signature else "")
    deliveries = []
    for payload in bodies:
        raw = json.dumps(payload).encode()
        webhook_id = str(uuid.uuid4())
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": sign_webhook(secret, raw),
            "X-Shopify-Shop-Domain": SHOP_DOMAIN,
            "X-Shopify-API-Version": API_VERSION,
            "X-Shopify-Webhook-Id": webhook_id,
            "X-Shopify-Event-Id": str(uuid.uuid4()),
            "X-Shopify-Triggered-At": datetime.now(UTC).isoformat(),
        }
        for _ in range(2 if deliver_twice else 1):
            try:
                status: int | str = requests.post(
                    url, data=raw, headers=headers, timeout=5
                ).status_code
            except requests.RequestException as error:
                status = f"not delivered: {error.__class__.__name__}"
            deliveries.append({"webhook_id": webhook_id, "topic": topic, "status": status})
    return deliveries


# --- the app ----------------------------------------------------------------------------------


def graphql_answer(body: dict[str, Any], cost: dict[str, Any] | None = None) -> Response:
    if cost is not None:
        body = {**body, "extensions": {"cost": cost}}
    return jsonify(body)


def throttled(requested: int, bucket: CostBucket, *, drained: bool = False) -> Response:
    status = bucket.status()
    if drained:
        status["currentlyAvailable"] = 0
    error = {
        "message": "Throttled",
        "extensions": {"code": "THROTTLED", "documentation": RATE_LIMITS_DOCS},
    }
    cost = {"requestedQueryCost": requested, "actualQueryCost": None, "throttleStatus": status}
    return graphql_answer({"errors": [error]}, cost)


def create_shopify_sandbox(settings: SandboxSettings, catalog: DemoCatalog) -> Flask:
    app = Flask(__name__)
    app.json.sort_keys = False
    store = ShopifyStore(catalog)
    bucket = CostBucket(settings.shopify_bucket_size, settings.shopify_restore_rate, time.monotonic)
    app.extensions["shopify_store"] = store
    app.extensions["shopify_bucket"] = bucket
    faults = FaultInjector(seed=settings.seed)
    app.extensions["sandbox_faults"] = faults

    def internal_error() -> Response:
        request_id = str(uuid.uuid4())
        error = {
            "message": "Internal error. Looks like something went wrong on our end.\n"
            f"Request ID: {request_id} (include this in support requests).",
            "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
        }
        return graphql_answer({"errors": [error]})

    def injected_throttle() -> Response:
        return throttled(requested_cost_of(request.get_json(silent=True)), bucket, drained=True)

    faults.install(app, on_error=internal_error, on_rate_limit=injected_throttle)

    @app.post("/admin/api/<version>/graphql.json")
    def graphql(version: str) -> Response:
        if not API_VERSIONS.match(version):
            return not_found()
        if request.headers.get("X-Shopify-Access-Token") != settings.shopify_access_token:
            response = jsonify({"errors": INVALID_TOKEN})
            response.status_code = 401
            return response
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            response = jsonify({"errors": {"query": "Required parameter missing or invalid"}})
            response.status_code = 400
            return response
        try:
            execution = Execution(
                Parser(body["query"]).document(), body.get("operationName"), body.get("variables")
            )
            execution.validate()
            requested = execution.requested_cost()
        except GraphQLError as error:
            return graphql_answer({"errors": [error.body]})
        if requested > MAX_QUERY_COST:
            return graphql_answer({"errors": [cost_exceeded(requested)]})
        if not bucket.take(requested):
            return throttled(requested, bucket)
        try:
            with store.lock:
                root = (
                    store.mutation_root()
                    if execution.root_type == "Mutation"
                    else store.query_root()
                )
                data = execution.run(root)
        except GraphQLError as error:
            bucket.give_back(requested)
            return graphql_answer({"errors": [error.body]}, cost_of(requested, 0, bucket))
        bucket.give_back(requested - execution.actual)
        answer = graphql_answer({"data": data}, cost_of(requested, execution.actual, bucket))
        answer.headers["X-Shopify-API-Version"] = API_VERSION
        return answer

    control = "/__sandbox__/shopify/"

    @app.post(control + "variants")
    def control_edit_variant() -> Response | tuple[Response, int]:
        """A merchant edits a variant's stock or price in the admin."""
        given = request.get_json(force=True) or {}
        try:
            with store.lock:
                variant = store.edit_variant(
                    given.get("id"), given.get("quantity"), given.get("price")
                )
        except (LookupError, TypeError, ValueError) as error:
            return jsonify({"error": str(error)}), 400
        return jsonify(rest_variant(variant))

    @app.get(control + "orders")
    def control_orders() -> Response:
        with store.lock:
            return jsonify({"orders": [store.order_summary(o) for o in store.orders]})

    @app.post(control + "webhooks")
    def control_webhooks() -> Response | tuple[Response, int]:
        given = request.get_json(force=True) or {}
        topic = given.get("topic")
        if topic not in WEBHOOK_TOPICS or not given.get("url"):
            topics = ", ".join(sorted(WEBHOOK_TOPICS))
            return jsonify({"error": f"give a url and a topic: {topics}"}), 400
        with store.lock:
            try:
                variants = [store.variant_by_id(n) for n in given.get("variant_ids") or []]
            except (LookupError, TypeError, ValueError) as error:
                return jsonify({"error": str(error)}), 400
            bodies = webhook_bodies(topic, variants)
        deliveries = deliver_webhooks(
            settings,
            given["url"],
            topic,
            bodies,
            wrong_signature=bool(given.get("wrong_signature")),
            deliver_twice=bool(given.get("deliver_twice")),
        )
        return jsonify({"deliveries": deliveries})

    @app.post(control + "bucket")
    def control_bucket() -> Response:
        given = request.get_json(force=True) or {}
        if given.get("available") is not None:
            bucket.set_available(float(given["available"]))
        return jsonify(bucket.status())

    @app.errorhandler(404)
    def not_found(_error: Exception | None = None) -> Response:
        response = jsonify({"errors": "Not Found"})
        response.status_code = 404
        return response

    @app.errorhandler(405)
    def wrong_method(_error: Exception) -> Response:
        return not_found()

    return app


def cost_of(requested: int, actual: int, bucket: CostBucket) -> dict[str, Any]:
    return {
        "requestedQueryCost": requested,
        "actualQueryCost": actual,
        "throttleStatus": bucket.status(),
    }


def cost_exceeded(requested: int) -> dict[str, Any]:
    return {
        "message": f"Query cost is {requested}, which exceeds the single query max cost limit "
        f"({MAX_QUERY_COST}).",
        "extensions": {
            "code": "MAX_COST_EXCEEDED",
            "cost": requested,
            "maxCost": MAX_QUERY_COST,
            "documentation": RATE_LIMITS_DOCS,
        },
    }


def requested_cost_of(body: Any) -> int:
    """What a request body's query would cost; 1 when it cannot be read."""
    try:
        execution = Execution(
            Parser(body["query"]).document(), body.get("operationName"), body.get("variables")
        )
        return execution.requested_cost()
    except (GraphQLError, KeyError, TypeError):
        return 1
