"""Store catalogs from the platforms' own product exports, for stores reached without an API.

Three formats are recognised by their header: a Shopify product export, a Magento catalog export
(the import/export layout, or the shorter sample-data layout) and a WooCommerce product export.
Each is read as a stream of `StoreVariant`s with remote ids that stay the same when the same file
is imported again, so a re-import changes nothing.

Decisions, the same for every format:
- Parents (Shopify products with several variants, Magento configurable and grouped products,
  WooCommerce variable and grouped products) are listed with `is_parent`, so the linking screen can
  refuse them by name; they are never link targets.
- A sellable row without a SKU is kept with `sku=""` when it has a stable id (a Shopify handle and
  options, a WooCommerce ID); the linking screen refuses it with a reason. A row with no stable id
  at all is skipped and counted.
- WooCommerce external (affiliate) products are sold elsewhere: skipped and counted.
- A barcode a spreadsheet turned into scientific notation (`4.6347E+11`) cannot be repaired: it is
  kept as None, never as a wrong barcode, and counted. A damaged SKU is kept as it is (it is what
  the file says) and counted, so the summary can warn.
- Magento rows of another store view (`store_view_code` set) repeat a product already read and are
  ignored; rows repeating an id already read are skipped and counted.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path

from webapp.adapters.base import StoreVariant
from webapp.csvio.reader import CsvRefused, iter_records

SHOPIFY, MAGENTO, WOOCOMMERCE = "shopify", "magento", "woocommerce"
PLATFORM_LABELS = {
    SHOPIFY: "Shopify product export",
    MAGENTO: "Magento catalog export",
    WOOCOMMERCE: "WooCommerce product export",
}
MAX_REMOTE_ID = 64  # StoreSku.remote_id / parent_remote_id column size
MAX_SKU, MAX_NAME, MAX_VARIANT, MAX_BARCODE = 255, 500, 255, 64
SCIENTIFIC = re.compile(r"^[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+$")
MAGENTO_PARENT_TYPES = frozenset({"configurable", "grouped"})
MAGENTO_VARIANT_ORDER = ("color", "size")  # as the Magento adapter shows them: "Black / M"
BARCODE_ATTRIBUTES = ("ean", "gtin", "barcode", "upc")
WOO_BARCODE_COLUMNS = ("gtin, upc, ean, or isbn", "gtin", "ean", "upc", "barcode")
CENT = Decimal("0.01")

Row = dict[str, str]  # header (lower-cased, stripped) → cell (stripped)


def detect_platform(header: Sequence[str]) -> str:
    """Which platform wrote an export with this header: "shopify", "magento" or "woocommerce"."""
    names = {name.strip().lower() for name in header}
    if {"handle", "variant sku"} <= names:
        return SHOPIFY
    if {"sku", "product_type"} <= names or {"sku", "name", "attribute_set", "category"} <= names:
        return MAGENTO
    if {"type", "sku", "parent"} <= names and ("id" in names or "regular price" in names):
        return WOOCOMMERCE
    found = [name.strip() for name in header if name.strip()]
    shown = ", ".join(found[:12]) + (f", … ({len(found)} columns)" if len(found) > 12 else "")
    raise CsvRefused(
        "This file is not a Shopify product export (Handle, Variant SKU, …), a Magento catalog "
        "export (sku, product_type, …) or a WooCommerce product export (ID, Type, SKU, Parent, …). "
        f"Columns found: {shown or 'none'}."
    )


def detect_file_platform(path: Path) -> str:
    """The platform of an export file, from its header alone (cheap: reads one record)."""
    if not path.is_file():
        raise CsvRefused("The catalog file is no longer there; upload it again.")
    for _, header in iter_records(path):
        return detect_platform(header)
    raise CsvRefused("The file is empty.")


def read_platform_export(
    path: Path, report: Counter[str] | None = None
) -> tuple[str, Iterator[StoreVariant]]:
    """The export's platform and its catalog entries, streaming. The header is checked at once
    (`CsvRefused` before anything is read); `report` counts, as the stream is read,
    `damaged_barcodes`, `damaged_skus` and `skipped` rows."""
    platform = detect_file_platform(path)
    report = report if report is not None else Counter()
    readers: dict[str, Callable[[Path, Counter[str]], Iterator[StoreVariant]]] = {
        SHOPIFY: _shopify,
        MAGENTO: _magento,
        WOOCOMMERCE: _woocommerce,
    }
    return platform, _unique(readers[platform](path, report), report)


# --- reading ---------------------------------------------------------------------------------


def _rows(path: Path) -> Iterator[Row]:
    """Each record after the header as {lower-case column name: stripped cell}."""
    header: list[str] | None = None
    for _, cells in iter_records(path):
        if header is None:
            header = [name.strip().lower() for name in cells]
            continue
        yield {name: cell.strip() for name, cell in zip(header, cells, strict=False) if name}


def _unique(variants: Iterator[StoreVariant], report: Counter[str]) -> Iterator[StoreVariant]:
    seen: set[str] = set()
    for variant in variants:
        if variant.remote_id in seen:
            report["skipped"] += 1
            continue
        seen.add(variant.remote_id)
        yield variant


def _variant(report: Counter[str], **fields) -> StoreVariant | None:
    """A StoreVariant with cells cleaned and sized for the catalog columns; None (and counted as
    skipped) when its SKU is too long to be a SKU."""
    sku = fields["sku"]
    if len(sku) > MAX_SKU:
        report["skipped"] += 1
        return None
    if SCIENTIFIC.match(sku):
        report["damaged_skus"] += 1
    return StoreVariant(
        remote_id=bounded_id(fields["remote_id"]),
        sku=sku,
        name=fields["name"][:MAX_NAME],
        variant=fields.get("variant", "")[:MAX_VARIANT],
        is_parent=fields.get("is_parent", False),
        parent_remote_id=bounded_id(fields["parent_remote_id"])
        if fields.get("parent_remote_id")
        else None,
        price=decimal_or_none(fields.get("price", "")),
        quantity=int_or_none(fields.get("quantity", "")),
        barcode=_barcode(fields.get("barcode", ""), report),
        categories=_distinct(fields.get("categories", ())),
        tags=_distinct(fields.get("tags", ())),
        enabled=fields.get("enabled", True),
    )


def bounded_id(value: str) -> str:
    """An id that fits the remote id column: long ones keep their start and a digest."""
    if len(value) <= MAX_REMOTE_ID:
        return value
    digest = hashlib.sha1(value.encode()).hexdigest()[:16]
    return f"{value[: MAX_REMOTE_ID - 17]}~{digest}"


def decimal_or_none(cell: str) -> Decimal | None:
    try:
        value = Decimal(cell.strip())
    except InvalidOperation:
        return None
    if not value.is_finite() or abs(value) >= 10**10:
        return None
    return value.quantize(CENT)


def int_or_none(cell: str) -> int | None:
    value = decimal_or_none(cell)
    return int(value) if value is not None else None


def _barcode(cell: str, report: Counter[str]) -> str | None:
    cell = cell.strip().lstrip("'")
    if not cell:
        return None
    if SCIENTIFIC.match(cell) or len(cell) > MAX_BARCODE:
        report["damaged_barcodes"] += 1
        return None
    return cell


def _distinct(values) -> tuple[str, ...]:
    return tuple(dict.fromkeys(value.strip() for value in values if value and value.strip()))


def _split(cell: str, separator: str = ",") -> list[str]:
    return [part.strip() for part in cell.split(separator) if part.strip()]


def _leaf(path: str, separator: str) -> str:
    return path.split(separator)[-1].strip()


# --- Shopify ---------------------------------------------------------------------------------

SHOPIFY_PRODUCT_COLUMNS = ("title", "vendor", "type", "tags", "product category", "status")
SHOPIFY_PUBLISHED = ("published",)


def _shopify(path: Path, report: Counter[str]) -> Iterator[StoreVariant]:
    """Rows grouped by Handle: the first row of a product carries Title, Tags, Type…, the next
    ones leave them empty (forward-filled here). A row with a SKU or option values is a variant;
    a row with neither only adds an image. A product with several variants gets a parent."""
    handle, product, group = None, {}, []
    products: dict[str, Row] = {}
    for row in _rows(path):
        if row.get("handle", "") != handle:
            yield from _shopify_product(handle, product, group, report)
            handle, group = row.get("handle", ""), []
            product = products.setdefault(handle, {})
        for column in (*SHOPIFY_PRODUCT_COLUMNS, *SHOPIFY_PUBLISHED):
            if row.get(column) and not product.get(column):
                product[column] = row[column]
        values = [row.get(f"option{n} value", "") for n in (1, 2, 3)]
        values = [value for value in values if value and value != "Default Title"]
        if not handle or not (values or row.get("variant sku")):
            continue  # an image-only row, or a row that names no product
        group.append((values, row))
    yield from _shopify_product(handle, product, group, report)


def _shopify_product(
    handle: str | None, product: Row, group: list[tuple[list[str], Row]], report: Counter[str]
) -> Iterator[StoreVariant]:
    if not handle or not group:
        return
    name = product.get("title") or handle
    category = product.get("product category", "")
    shared = dict(
        name=name,
        categories=(_leaf(category, ">") if category else "", product.get("type", "")),
        tags=_split(product.get("tags", "")),
        enabled=_shopify_enabled(product),
    )
    parent_id = handle if len(group) > 1 else None
    if parent_id:
        parent = _variant(report, remote_id=handle, sku="", is_parent=True, **shared)
        if parent:
            yield parent
    for values, row in group:
        variant = _variant(
            report,
            remote_id=f"{handle}/{'/'.join(values)}" if values else handle,
            sku=row.get("variant sku", ""),
            variant=" / ".join(values),
            parent_remote_id=parent_id,
            price=row.get("variant price", ""),
            quantity=row.get("variant inventory qty", ""),
            barcode=row.get("variant barcode", ""),
            **shared,
        )
        if variant:
            yield variant


def _shopify_enabled(product: Row) -> bool:
    if product.get("status"):
        return product["status"].lower() == "active"
    if product.get("published"):
        return product["published"].upper() == "TRUE"
    return True


# --- Magento ---------------------------------------------------------------------------------


def _magento(path: Path, report: Counter[str]) -> Iterator[StoreVariant]:
    """Children usually come before their configurable parent, so a first pass reads every
    `configurable_variations` cell: child SKU → (parent SKU, its attributes)."""
    children = _magento_children(path)
    for row in _rows(path):
        sku = row.get("sku", "")
        if row.get("store_view_code"):
            continue  # a store view's copy of a product already read
        if not sku:
            report["skipped"] += 1
            continue
        product_type = row.get("product_type", "simple").lower()
        is_parent = product_type in MAGENTO_PARENT_TYPES
        parent_sku, attributes = children.get(sku, (None, {}))
        extra = _magento_attributes(row.get("additional_attributes", ""))
        if not attributes:
            attributes = {code: extra[code] for code in MAGENTO_VARIANT_ORDER if extra.get(code)}
        variant = _variant(
            report,
            remote_id=sku,
            sku=sku,
            name=row.get("name") or sku,
            variant="" if is_parent else _magento_variant(attributes),
            is_parent=is_parent,
            parent_remote_id=parent_sku,
            price=row.get("price", ""),
            quantity="" if is_parent else row.get("qty", ""),
            barcode=next((extra[code] for code in BARCODE_ATTRIBUTES if extra.get(code)), ""),
            categories=_magento_categories(row),
            enabled=row.get("product_online", "1") != "0",
        )
        if variant:
            yield variant


def _magento_children(path: Path) -> dict[str, tuple[str, dict[str, str]]]:
    children: dict[str, tuple[str, dict[str, str]]] = {}
    for row in _rows(path):
        if not row.get("configurable_variations") or row.get("store_view_code"):
            continue
        for listed in row["configurable_variations"].split("|"):
            attributes = _magento_attributes(listed)
            child = attributes.pop("sku", "")
            if child and child not in children:
                children[child] = (row.get("sku", ""), attributes)
    return children


def _magento_attributes(cell: str) -> dict[str, str]:
    """`code=value,code=value` (as in additional_attributes and configurable_variations); a part
    without `=` belongs to the previous value, which held a comma."""
    attributes: dict[str, str] = {}
    last = None
    for part in cell.split(","):
        code, equals, value = part.partition("=")
        if equals and code.strip():
            last = code.strip().lower()
            attributes[last] = value.strip()
        elif last is not None:
            attributes[last] += "," + part
    return attributes


def _magento_variant(attributes: dict[str, str]) -> str:
    ordered = [code for code in MAGENTO_VARIANT_ORDER if code in attributes]
    ordered += [code for code in attributes if code not in MAGENTO_VARIANT_ORDER]
    return " / ".join(attributes[code] for code in ordered if attributes[code])


def _magento_categories(row: Row) -> list[str]:
    """Import layout: `Default Category/Men/Tops,Default Category/Collections/Eco Friendly` →
    the leaf names, without the bare root. Sample-data layout: one category name per line."""
    if "categories" in row:
        paths = _split(row["categories"])
        return [_leaf(path, "/") for path in paths if "/" in path]
    return _split(row.get("category", ""), "\n")


# --- WooCommerce -----------------------------------------------------------------------------

WOO_PARENT_TYPES = frozenset({"variable", "grouped"})
WOO_TYPES = ("variation", "variable", "grouped", "external", "simple")


def _woocommerce(path: Path, report: Counter[str]) -> Iterator[StoreVariant]:
    """A variation names its parent in `Parent` as `id:741` or by the parent's SKU; a first pass
    collects the variable products so either resolves to the parent's id, name and categories."""
    parents = _woo_parents(path)
    for row in _rows(path):
        product_type = _woo_type(row.get("type", ""))
        if product_type == "external":
            report["skipped"] += 1
            continue
        remote_id = row.get("id") or row.get("sku", "")
        if not remote_id:
            report["skipped"] += 1
            continue
        parent = parents.get(row.get("parent", "")) if product_type == "variation" else None
        parent_ref = (
            row.get("parent", "").removeprefix("id:") if product_type == "variation" else ""
        )
        categories = _split(row.get("categories", ""))
        variant = _variant(
            report,
            remote_id=remote_id,
            sku=row.get("sku", ""),
            name=(parent or {}).get("name") or row.get("name") or remote_id,
            variant=_woo_variant(row) if product_type == "variation" else "",
            is_parent=product_type in WOO_PARENT_TYPES,
            parent_remote_id=(parent or {}).get("id") or parent_ref,
            price=row.get("regular price", "") or row.get("sale price", ""),
            quantity=row.get("stock", ""),
            barcode=next((row[c] for c in WOO_BARCODE_COLUMNS if row.get(c)), ""),
            categories=[_leaf(c, ">") for c in categories] or (parent or {}).get("categories", []),
            tags=_split(row.get("tags", "")),
            enabled=row.get("published", "1") == "1",
        )
        if variant:
            yield variant


def _woo_type(cell: str) -> str:
    """`simple, downloadable, virtual` → `simple`."""
    kinds = {kind.lower() for kind in _split(cell)}
    return next((kind for kind in WOO_TYPES if kind in kinds), "simple")


def _woo_parents(path: Path) -> dict[str, dict]:
    """Variable products by `id:ID` and by SKU → {id, name, categories}."""
    parents: dict[str, dict] = {}
    for row in _rows(path):
        if _woo_type(row.get("type", "")) != "variable":
            continue
        remote_id = row.get("id") or row.get("sku", "")
        parent = {
            "id": remote_id,
            "name": row.get("name", ""),
            "categories": [_leaf(c, ">") for c in _split(row.get("categories", ""))],
        }
        if row.get("id"):
            parents[f"id:{row['id']}"] = parent
        if row.get("sku"):
            parents.setdefault(row["sku"], parent)
    return parents


def _woo_variant(row: Row) -> str:
    values = []
    n = 1
    while f"attribute {n} name" in row:
        values.append(row.get(f"attribute {n} value(s)", ""))
        n += 1
    return " / ".join(value for value in values if value)
