"""Store catalogs from platform exports, read from the platforms' own files in
../shared/fixtures/real/ (never copied into the project; derived copies go to tmp_path)."""

from __future__ import annotations

import csv
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from tests.builders import REAL_EXPORTS, needs_real_exports
from webapp.csvio.platform_exports import (
    MAX_REMOTE_ID,
    detect_file_platform,
    detect_platform,
    read_platform_export,
)
from webapp.csvio.reader import CsvRefused

REAL = REAL_EXPORTS
pytestmark = needs_real_exports
LUMA = REAL / "magento_luma_products.csv"
GEAR_BAGS = REAL / "magento_gear_bags.csv"
SHOPIFY = REAL / "shopify_product_template.csv"
WOO = REAL / "woocommerce_sample_products.csv"


def read(path: Path) -> tuple[str, dict, Counter]:
    report: Counter[str] = Counter()
    platform, variants = read_platform_export(path, report)
    return platform, {v.remote_id: v for v in variants}, report


def rewrite(source: Path, target: Path, edit) -> Path:
    """A copy of `source` with each data row passed through `edit(row) -> row | None`."""
    with source.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
        header = list(rows[0].keys())
    with target.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, header)
        writer.writeheader()
        for row in rows:
            if (row := edit(row)) is not None:
                writer.writerow(row)
    return target


# --- Magento ---------------------------------------------------------------------------------


def test_magento_luma_catalog_has_its_parents_and_variants():
    platform, entries, report = read(LUMA)
    assert platform == "magento"
    parents = {v.remote_id for v in entries.values() if v.is_parent}
    variants = [v for v in entries.values() if not v.is_parent]
    assert (len(entries), len(parents), len(variants)) == (1994, 147, 1847)
    assert all(v.parent_remote_id in parents for v in variants)  # every child lists its parent
    assert report["damaged_barcodes"] == report["skipped"] == 0

    child = entries["MH01-XS-Black"]
    assert (child.sku, child.parent_remote_id, child.variant) == (
        "MH01-XS-Black",
        "MH01",
        "Black / XS",
    )
    assert child.name == "Chaz Kangeroo Hoodie-XS-Black"
    assert (child.price, child.quantity) == (Decimal("52.00"), 100)
    assert child.categories == ("Hoodies & Sweatshirts", "Eco Friendly")  # leaves, no root
    parent = entries["MH01"]
    assert (parent.is_parent, parent.variant, parent.quantity) == (True, "", None)
    assert parent.name == "Chaz Kangeroo Hoodie"
    assert sum(1 for v in variants if v.parent_remote_id == "MH01") == 15


def test_magento_sample_data_layout_is_read_too():
    platform, entries, _ = read(GEAR_BAGS)
    assert platform == "magento"
    assert len(entries) == 14
    assert not any(v.is_parent or v.parent_remote_id for v in entries.values())
    bag = entries["24-MB04"]
    assert (bag.name, bag.price, bag.quantity) == ("Strive Shoulder Pack", Decimal("32.00"), 100)
    assert bag.categories == ("Gear", "Bags", "Collections", "Erin Recommends")


def test_magento_store_view_rows_and_rows_without_sku(tmp_path):
    def edit(row):
        if row["sku"] == "MH01-XS-Gray":
            row["sku"] = ""  # a row that names no product
        return row

    path = rewrite(LUMA, tmp_path / "luma.csv", edit)
    with path.open("a", newline="", encoding="utf-8") as file:  # a French store view's copy
        writer = csv.writer(file)
        writer.writerow(["MH01-XS-Black", "fr", "Top", "simple", "", "base", "Sweat Chaz"])
    _, entries, report = read(path)
    assert len(entries) == 1993
    assert entries["MH01-XS-Black"].name == "Chaz Kangeroo Hoodie-XS-Black"
    assert report["skipped"] == 1


# --- Shopify ---------------------------------------------------------------------------------


def test_shopify_export_forward_fills_products_and_skips_image_rows():
    platform, entries, report = read(SHOPIFY)
    assert platform == "shopify"
    parents = [v for v in entries.values() if v.is_parent]
    variants = [v for v in entries.values() if not v.is_parent]
    assert (len(entries), len(parents), len(variants)) == (18, 2, 16)
    assert {p.remote_id for p in parents} == {"example-shirt", "example-pants"}

    shirts = [v for v in variants if v.parent_remote_id == "example-shirt"]
    assert len(shirts) == 12
    assert {v.name for v in shirts} == {"Example T-Shirt"}  # Title only on the first row
    assert {v.tags for v in shirts} == {("Made to Order", "Shirt Tag")}
    assert {v.categories for v in shirts} == {("T-Shirts", "Shirts")}
    medium = entries["example-shirt/Green/M"]
    assert (medium.sku, medium.variant, medium.price) == ("SRT_COT_122", "Green / M", Decimal(25))

    pants = [v for v in variants if v.parent_remote_id == "example-pants"]
    assert [v.sku for v in pants] == ["PNT_DEN_285", "PNT_DEN_305", "PNT_DEN_405"]  # no image row
    assert [v.quantity for v in pants] == [20, 15, 10]
    assert all(v.sku for v in variants)

    hat = entries["example-hat"]  # one "Default Title" variant: no parent, no variant name
    assert (hat.sku, hat.variant, hat.parent_remote_id, hat.is_parent) == (
        "HAT_GRY_275",
        "",
        None,
        False,
    )
    assert (entries["example-shirt"].enabled, hat.enabled, pants[0].enabled) == (True, False, False)


def test_shopify_barcodes_damaged_by_a_spreadsheet_are_dropped_and_counted(tmp_path):
    _, entries, report = read(SHOPIFY)
    assert all(v.barcode is None for v in entries.values())
    assert report["damaged_barcodes"] == 16

    def repair(row):
        if row["Variant SKU"] == "SRT_COT_111":
            row["Variant Barcode"] = "'036000291452"  # kept as text with a leading apostrophe
        return row

    _, entries, report = read(rewrite(SHOPIFY, tmp_path / "shop.csv", repair))
    assert entries["example-shirt/Green/S"].barcode == "036000291452"
    assert report["damaged_barcodes"] == 15


def test_shopify_remote_ids_are_stable_and_fit_the_column(tmp_path):
    first = [v.remote_id for v in read(SHOPIFY)[1].values()]
    assert first == [v.remote_id for v in read(SHOPIFY)[1].values()]

    def long_handle(row):
        row["Handle"] = row["Handle"] + "-" + "x" * 80
        return row

    _, entries, _ = read(rewrite(SHOPIFY, tmp_path / "long.csv", long_handle))
    assert len(entries) == 18
    assert all(len(v.remote_id) <= MAX_REMOTE_ID for v in entries.values())
    parents = {v.remote_id for v in entries.values() if v.is_parent}
    assert all(v.parent_remote_id in parents for v in entries.values() if v.parent_remote_id)


# --- WooCommerce -----------------------------------------------------------------------------


def test_woocommerce_variations_sit_under_their_variable_parents():
    platform, entries, report = read(WOO)
    assert platform == "woocommerce"
    assert len(entries) == 23  # 24 products less the external one
    assert report["skipped"] == 1 and "872" not in entries
    assert {v.remote_id for v in entries.values() if v.is_parent} == {"741", "742", "871"}

    variations = {v.remote_id: v for v in entries.values() if v.parent_remote_id}
    assert sorted(variations) == ["758", "759", "760", "883", "884", "885", "894", "895", "897"]
    red = entries["758"]  # its Parent cell names the parent by SKU: cc-hoodie
    assert (red.parent_remote_id, red.name, red.variant) == ("742", "Hoodie", "Red / No")
    assert red.categories == ("Hoodies",)  # from the parent
    assert (entries["883"].parent_remote_id, entries["883"].variant) == ("741", "Blue")
    assert entries["745"].price == Decimal("20.00")
    assert entries["871"].name == "Logo Collection"  # grouped: listed, never a link target


def test_woocommerce_skus_are_kept_as_written(tmp_path):
    with WOO.open(newline="", encoding="utf-8") as file:
        written = {row["ID"]: row["SKU"] for row in csv.DictReader(file)}
    _, entries, _ = read(WOO)
    assert {key: v.sku for key, v in entries.items()} == {
        key: sku for key, sku in written.items() if key != "872"
    }

    def edit(row):
        if row["ID"] == "758":
            row["SKU"], row["Parent"] = "CC-Hoodie-RED", "id:742"
        if row["ID"] == "759":
            row["SKU"] = ""  # a variation without its own SKU
        return row

    _, entries, _ = read(rewrite(WOO, tmp_path / "woo.csv", edit))
    assert (entries["758"].sku, entries["758"].parent_remote_id) == ("CC-Hoodie-RED", "742")
    no_sku = entries["759"]  # kept, so the linking screen can say why it cannot be linked
    assert (no_sku.sku, no_sku.variant, no_sku.is_parent) == ("", "Green / No", False)


# --- detection -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "platform"),
    [(LUMA, "magento"), (GEAR_BAGS, "magento"), (SHOPIFY, "shopify"), (WOO, "woocommerce")],
)
def test_the_platform_is_told_by_the_header(path, platform):
    assert detect_file_platform(path) == platform


def test_an_unknown_header_is_refused_naming_the_formats_and_the_columns():
    with pytest.raises(CsvRefused) as refused:
        detect_platform(["Seller SKU", "Magento SKU", "Quantity"])
    message = str(refused.value)
    assert "not a Shopify product export" in message
    assert "a Magento catalog export" in message and "a WooCommerce product export" in message
    assert "Columns found: Seller SKU, Magento SKU, Quantity." in message


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty."),
        (b"PK\x03\x04" + b"\x00" * 64, "Excel workbook"),
        (b"sku,qty\nA-1,3\n", "Columns found: sku, qty."),
    ],
)
def test_files_that_are_no_export_are_refused_before_reading(tmp_path, content, message):
    path = tmp_path / "upload.csv"
    path.write_bytes(content)
    with pytest.raises(CsvRefused, match=message.replace(".", r"\.")):
        read_platform_export(path)
