"""Mapping CSV files as operations people upload them: a corpus of good, odd and bad files, each
with the exact outcome expected. Every file is written by the test itself into tmp_path."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webapp.csvio.mapping_file import MappingRow, open_mapping_file
from webapp.csvio.reader import CsvRefused
from webapp.csvio.writer import MAPPING_HEADER, csv_lines, mapping_template

DAMAGED = "looks damaged by a spreadsheet (scientific notation): re-export the column as text."
MISSING_STORE = (
    "Missing column: store SKU (also accepted: Magento SKU, Shopify SKU, WooCommerce SKU, "
    "BigCommerce SKU, PrestaShop SKU, Etsy SKU, Amazon SKU, Variant SKU, ERP SKU)."
)
MISSING_MARKETPLACE = (
    "Missing column: marketplace SKU (also accepted: Seller SKU, TikTok SKU, TikTok Seller SKU, "
    "SKU ID, TikTok SKU ID)."
)


def write(tmp_path: Path, data: str | bytes, encoding: str = "utf-8") -> Path:
    path = tmp_path / "mapping.csv"
    path.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
    return path


def read(tmp_path: Path, data: str | bytes, *, max_rows: int = 100) -> list[MappingRow]:
    return list(open_mapping_file(write(tmp_path, data), max_rows=max_rows).rows())


def refusal(tmp_path: Path, data: str | bytes) -> str:
    with pytest.raises(CsvRefused) as refused:
        read(tmp_path, data)
    return str(refused.value)


def row(line, marketplace_sku, store_sku, quantity=None, action="link", raw=None, **rest):
    raw = raw if raw is not None else [marketplace_sku, store_sku]
    return MappingRow(
        line,
        marketplace_sku,
        store_sku,
        quantity,
        action,
        raw,
        rest.get("error"),
        rest.get("warnings", ()),
    )


# --- the header ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "marketplace",
    [
        "marketplace_sku",
        "Marketplace SKU",
        "Seller SKU",
        "TikTok SKU",
        "TikTok Seller SKU",
        "SKU ID",
        "TikTok SKU ID",
        "sku_id",
        "SELLER-SKU",
        "  seller sku  ",
        "Seller SKU:",
        "TikTok_Seller.SKU",
    ],
)
@pytest.mark.parametrize(
    "store",
    [
        "store_sku",
        "Store SKU",
        "Magento SKU",
        "Shopify SKU",
        "WooCommerce SKU",
        "BigCommerce SKU",
        "Variant SKU",
        "ERP SKU",
        "erp-sku",
    ],
)
def test_header_aliases_people_write(tmp_path, marketplace, store):
    mapping = open_mapping_file(write(tmp_path, f"{marketplace},{store}\nA,B\n"), max_rows=10)

    assert mapping.columns == {"marketplace_sku": 0, "store_sku": 1}
    assert mapping.header == [marketplace, store]


@pytest.mark.parametrize("quantity", ["quantity", "Quantity", "Qty", "Pack size", "Units"])
def test_quantity_aliases(tmp_path, quantity):
    data = f"Price,Note,Seller SKU,Magento SKU,{quantity},ACTION\n"
    mapping = open_mapping_file(write(tmp_path, data + "1,2,A,B,3,link\n"), max_rows=10)

    assert mapping.columns == {"marketplace_sku": 2, "store_sku": 3, "quantity": 4, "action": 5}


def test_store_units_is_a_quantity_alias(tmp_path):
    mapping = open_mapping_file(
        write(tmp_path, "Seller SKU,ERP SKU,Store Units\nA,B,2\n"), max_rows=1
    )

    assert mapping.columns == {"marketplace_sku": 0, "store_sku": 1, "quantity": 2}
    assert list(mapping.rows()) == [row(2, "A", "B", 2, raw=["A", "B", "2"])]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Seller SKU,Price\n", f'{MISSING_STORE} Found: "Seller SKU", "Price".'),
        ("Price;Magento SKU\n", f'{MISSING_MARKETPLACE} Found: "Price", "Magento SKU".'),
        (
            "SKU,Title,,\n",
            "Missing columns: marketplace SKU (also accepted: Seller SKU, TikTok SKU, "
            "TikTok Seller SKU, SKU ID, TikTok SKU ID); store SKU (also accepted: Magento SKU, "
            "Shopify SKU, WooCommerce SKU, BigCommerce SKU, PrestaShop SKU, Etsy SKU, Amazon SKU,"
            ' Variant SKU, ERP SKU). Found: "SKU", "Title". The first line must name the columns.',
        ),
        (
            "TS-1,MAG-1\n",
            "Missing columns: marketplace SKU (also accepted: Seller SKU, TikTok SKU, "
            "TikTok Seller SKU, SKU ID, TikTok SKU ID); store SKU (also accepted: Magento SKU, "
            "Shopify SKU, WooCommerce SKU, BigCommerce SKU, PrestaShop SKU, Etsy SKU, Amazon SKU,"
            ' Variant SKU, ERP SKU). Found: "TS-1", "MAG-1". The first line must name the columns.',
        ),
        (
            "Seller SKU,SKU ID,Magento SKU\n",
            'Two columns could be the marketplace SKU: "Seller SKU" and "SKU ID"; keep one. '
            'Found: "Seller SKU", "SKU ID", "Magento SKU".',
        ),
        (
            "\n,,\n Seller SKU,Price\n",
            f'{MISSING_STORE} Found: "Seller SKU", "Price".',
        ),
    ],
    ids=["no-store", "no-marketplace", "neither", "no-header", "two-marketplace", "blank-first"],
)
def test_a_header_without_the_required_columns_refuses_the_file(tmp_path, header, message):
    assert refusal(tmp_path, header + "A,B,C\n") == message


def test_a_wide_export_lists_the_first_twenty_columns_found(tmp_path):
    header = ",".join(f"Col {n}" for n in range(1, 31))

    message = refusal(tmp_path, header + "\nA\n")

    shown = ", ".join(f'"Col {n}"' for n in range(1, 21))
    assert message.endswith(f"Found: {shown} and 10 more. The first line must name the columns.")


# --- whole files refused ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"\r\n\r\n", "The file is empty."),
        (
            b"marketplace_sku,store_sku,quantity,action\r\n",
            "The file has column names but no rows.",
        ),
        (b"Seller SKU;Magento SKU\r\n\r\n;\r\n ; \r\n", "The file has column names but no rows."),
        (
            b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00b\xee\x9dh^\x01\x00\x00\x90\x04",
            "This looks like an Excel workbook; save it as CSV (File › Save As › CSV UTF-8) "
            "and upload that.",
        ),
        (b"\x00\x01\x02\x03binary\x00", "This is not a text file; save it as CSV and upload that."),
    ],
    ids=["empty", "blank-lines", "header-only", "header-and-blank-rows", "xlsx", "binary"],
)
def test_files_that_change_nothing(tmp_path, data, message):
    assert refusal(tmp_path, data) == message


def test_a_header_only_file_names_no_missing_column_when_its_columns_are_wrong(tmp_path):
    assert refusal(tmp_path, "Seller SKU,Price\n").startswith("Missing column: store SKU")


# --- encodings, delimiters, line endings ----------------------------------------------------

GOOD = [
    ["Seller SKU", "Magento SKU", "Qty"],
    ["0017", "Café-“1”", "2"],
    ["TS-2", "MAG-é", ""],
]


@pytest.mark.parametrize(
    "encoding",
    ["utf-8", "utf-8+bom", "utf-16-le+bom", "utf-16-be+bom", "utf-16-le", "cp1252"],
)
@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
@pytest.mark.parametrize("newline", ["\r\n", "\n"])
def test_mapping_files_in_every_encoding_delimiter_and_line_ending(
    tmp_path, encoding, delimiter, newline
):
    text = newline.join(delimiter.join(cells) for cells in GOOD) + newline
    boms = {"utf-8+bom": codecs.BOM_UTF8, "utf-16-le+bom": codecs.BOM_UTF16_LE}
    boms["utf-16-be+bom"] = codecs.BOM_UTF16_BE
    data = boms.get(encoding, b"") + text.encode(encoding.removesuffix("+bom"))

    rows = read(tmp_path, data)

    assert rows == [
        row(2, "0017", "Café-“1”", 2, raw=GOOD[1]),
        row(3, "TS-2", "MAG-é", raw=GOOD[2]),
    ]


def test_quoted_multi_line_cells_in_other_columns_keep_line_numbers(tmp_path):
    data = 'Seller SKU,Name,Magento SKU\r\nA,"two\r\nlines",B\r\n"C",D,"E"\r\n'

    assert read(tmp_path, data) == [
        row(2, "A", "B", raw=["A", "two\r\nlines", "B"]),
        row(4, "C", "E", raw=["C", "D", "E"]),
    ]


def test_blank_lines_and_empty_rows_are_skipped(tmp_path):
    data = "marketplace_sku,store_sku\n\nA,B\n,\n  ,  \n\n\nC,D\n\n"

    assert read(tmp_path, data) == [row(3, "A", "B"), row(8, "C", "D")]


def test_trailing_empty_columns_and_short_rows(tmp_path):
    data = "Seller SKU;Magento SKU;Qty;;;\nA;B;2;;;\nC;D\nE\n"

    assert read(tmp_path, data) == [
        row(2, "A", "B", 2, raw=["A", "B", "2", "", "", ""]),
        row(3, "C", "D"),
        row(
            4,
            "E",
            "",
            raw=["E"],
            error="Store SKU is empty; to remove a link, set the action to unlink.",
        ),
    ]


def test_duplicate_rows_are_passed_through(tmp_path):
    data = "marketplace_sku,store_sku\nA,B\nA,B\nA,C\n"

    assert read(tmp_path, data) == [row(2, "A", "B"), row(3, "A", "B"), row(4, "A", "C")]


def test_cells_are_stripped_but_stay_text(tmp_path):
    data = "marketplace_sku,store_sku,quantity,action\n  0017 ,\t00.10\u00a0, 002 , Unlink \n"

    assert read(tmp_path, data) == [
        row(
            2,
            "0017",
            "00.10",
            action="unlink",
            raw=["  0017 ", "\t00.10\u00a0", " 002 ", " Unlink "],
            warnings=("Quantity is ignored on an unlink row.",),
        )
    ]


# --- row errors and warnings ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        ("A,B,,", dict(quantity=None, action="link")),
        ("A,B,1,link", dict(quantity=1, action="link")),
        ("A,B,999,LINK", dict(quantity=999, action="link")),
        ("A,B,2.0,", dict(quantity=2)),
        ("A,B,007,", dict(quantity=7)),
        ("A,,,unlink", dict(store_sku="", action="unlink")),
        ("A,B,,Unlink", dict(action="unlink")),
        ("A,B,0,", dict(error='Quantity "0" is not a whole number from 1 to 999.')),
        ("A,B,1000,", dict(error='Quantity "1000" is not a whole number from 1 to 999.')),
        ("A,B,-1,", dict(error='Quantity "-1" is not a whole number from 1 to 999.')),
        ("A,B,1.5,", dict(error='Quantity "1.5" is not a whole number from 1 to 999.')),
        ("A,B,two,", dict(error='Quantity "two" is not a whole number from 1 to 999.')),
        ("A,B,²,", dict(error='Quantity "²" is not a whole number from 1 to 999.')),
        (
            "A,B,,delete",
            dict(action="delete", error='Action "delete" is not one of: link, unlink.'),
        ),
        (",B,,", dict(marketplace_sku="", error="Marketplace SKU is empty.")),
        (
            "A,,,",
            dict(
                store_sku="",
                error="Store SKU is empty; to remove a link, set the action to unlink.",
            ),
        ),
        (
            ",,5,remove",
            dict(
                marketplace_sku="",
                store_sku="",
                action="remove",
                error='Action "remove" is not one of: link, unlink. Marketplace SKU is empty.',
            ),
        ),
        (
            "3.65275E+11,B,,",
            dict(marketplace_sku="3.65275E+11", error=f'Marketplace SKU "3.65275E+11" {DAMAGED}'),
        ),
        ("A,1.2E+5,,", dict(store_sku="1.2E+5", error=f'Store SKU "1.2E+5" {DAMAGED}')),
        ('A,"3,65E+12",,', dict(store_sku="3,65E+12", error=f'Store SKU "3,65E+12" {DAMAGED}')),
        ("A,1e+10,,", dict(store_sku="1e+10", error=f'Store SKU "1e+10" {DAMAGED}')),
        (
            "#####,B,,",
            dict(
                marketplace_sku="#####",
                error='Marketplace SKU "#####" looks damaged by a spreadsheet (the column was too '
                "narrow): re-export the column as text.",
            ),
        ),
        ("A,B+C,,", dict(store_sku="B+C")),
        ("A,E+5,,", dict(store_sku="E+5")),
        ("#12,B,,", dict(marketplace_sku="#12")),
        (
            '"A\nB",C,,',
            dict(
                marketplace_sku="A\nB",
                store_sku="C",
                error="Marketplace SKU contains a line break or control character (U+000A); "
                'check for a quote (") that is not closed.',
            ),
        ),
        (
            "A\u200b,B,,",
            dict(
                marketplace_sku="A\u200b",
                warnings=("Marketplace SKU contains an invisible character (U+200B).",),
            ),
        ),
        (
            "A,,3,unlink",
            dict(
                store_sku="",
                action="unlink",
                warnings=("Quantity is ignored on an unlink row.",),
            ),
        ),
        ("'=A,'-B,,", dict(marketplace_sku="=A", store_sku="-B")),
        ("'@A,'+1,,", dict(marketplace_sku="@A", store_sku="+1")),
        ("'A,B's,,", dict(marketplace_sku="'A", store_sku="B's")),
    ],
)
def test_row_outcomes(tmp_path, cells, expected):
    data = f"marketplace_sku,store_sku,quantity,action\n{cells}\nNEXT,OK,,\n"

    first, following = read(tmp_path, data)

    outcome = dict(
        marketplace_sku="A", store_sku="B", quantity=None, action="link", error=None, warnings=()
    )
    outcome.update(expected)
    if outcome["error"]:
        outcome["quantity"] = None
    got = {name: getattr(first, name) for name in outcome}
    assert got == outcome
    assert following.marketplace_sku == "NEXT" and following.error is None


def test_the_raw_cells_are_the_record_as_uploaded(tmp_path):
    data = 'Seller SKU,Magento SKU,Note\n 3.65275E+11 ,B,"a, b"\n'

    (rejected,) = read(tmp_path, data)

    assert rejected.raw == [" 3.65275E+11 ", "B", "a, b"]
    assert rejected.line == 2


# --- the row limit and streaming ------------------------------------------------------------


def test_the_row_limit_counts_data_rows_only(tmp_path):
    data = "marketplace_sku,store_sku\n\nA,B\n\nC,D\n,\nE,F\n"

    assert [r.marketplace_sku for r in read(tmp_path, data, max_rows=3)] == ["A", "C", "E"]


def test_the_row_after_the_limit_refuses_the_file_while_streaming(tmp_path):
    data = "marketplace_sku,store_sku\n" + "".join(f"A{n},B{n}\n" for n in range(1_500))
    mapping = open_mapping_file(write(tmp_path, data), max_rows=1_000)

    seen = []
    with pytest.raises(CsvRefused) as refused:
        for mapping_row in mapping.rows():
            seen.append(mapping_row.line)
    assert str(refused.value) == (
        "The file has more than 1,000 rows; split it into smaller files "
        "or ask us to raise the limit."
    )
    assert seen == list(range(2, 1_002))


def test_rows_can_be_read_twice_and_stream(tmp_path):
    data = "marketplace_sku,store_sku\n" + "".join(f"A{n},B{n}\n" for n in range(100))
    mapping = open_mapping_file(write(tmp_path, data), max_rows=100)

    stream = mapping.rows()
    assert next(stream) == row(2, "A0", "B0")
    stream.close()
    assert list(mapping.rows()) == list(mapping.rows())
    assert len(list(mapping.rows())) == 100


# --- round trips with our own writer ---------------------------------------------------------


def test_the_template_reads_back_without_errors(tmp_path):
    rows = read(tmp_path, mapping_template())

    assert [(r.marketplace_sku, r.store_sku, r.quantity, r.action, r.error) for r in rows] == [
        ("TS-TEE-RED-M", "MAG-TEE-RED-M", 1, "link", None),
        ("TS-TEE-RED-M-3PACK", "MAG-TEE-RED-M", 3, "link", None),
        ("TS-MUG-OLD", "", None, "unlink", None),
        ("0017", "0017-BLUE", 1, "link", None),
    ]


skus = (
    st.text(
        alphabet=st.characters(exclude_categories=["Cs", "Cc", "Cf", "Zl", "Zp", "Co", "Cn"]),
        min_size=1,
        max_size=20,
    )
    .map(str.strip)
    .filter(lambda sku: sku and "+" not in sku and sku.strip("#") and not sku.startswith("'"))
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    links=st.lists(
        st.tuples(skus, skus, st.integers(1, 999), st.sampled_from(["link", "unlink"])),
        min_size=1,
        max_size=10,
    )
)
def test_export_then_import_gives_back_every_link(tmp_path, links):
    exported = [[m, s, str(q), a] for m, s, q, a in links]
    text = "".join(csv_lines(MAPPING_HEADER, exported))

    rows = read(tmp_path, text)

    assert [(r.marketplace_sku, r.store_sku, r.action, r.error) for r in rows] == [
        (m, s, a, None) for m, s, _, a in links
    ]
    assert [r.quantity for r in rows] == [q if a == "link" else None for _, _, q, a in links]
