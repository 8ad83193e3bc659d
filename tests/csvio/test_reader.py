"""The one CSV reader, on files saved the ways spreadsheets and ERPs save them. Every file is
written by the test itself into tmp_path."""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from webapp.csvio.reader import (
    SNIFF_BYTES,
    CsvDialect,
    CsvRefused,
    detect_encoding,
    iter_records,
    sniff,
)

HEADER = ["Seller SKU", "Magento SKU", "Name"]
ROWS = [["0017", "MAG-0017", "Café “Noir”"], ["TS-2", "MAG-2", "Crème brûlée"]]


def csv_text(rows: list[list[str]], delimiter: str = ",", lineterminator: str = "\r\n") -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator=lineterminator).writerows(rows)
    return buffer.getvalue()


def encode(text: str, encoding: str) -> bytes:
    """`text` as a program saving in `encoding` writes it; `+bom` adds a byte order mark."""
    boms = {"utf-8+bom": codecs.BOM_UTF8, "utf-16-le+bom": codecs.BOM_UTF16_LE}
    boms["utf-16-be+bom"] = codecs.BOM_UTF16_BE
    if encoding in boms:
        return boms[encoding] + text.encode(encoding.removesuffix("+bom"))
    return text.encode(encoding)


def write(tmp_path: Path, data: bytes | str, name: str = "upload.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def records(path: Path) -> list[tuple[int, list[str]]]:
    return list(iter_records(path))


ENCODINGS = {
    "utf-8": "utf-8",
    "utf-8+bom": "utf-8-sig",
    "utf-16-le+bom": "utf-16",
    "utf-16-be+bom": "utf-16",
    "utf-16-le": "utf-16-le",
    "utf-16-be": "utf-16-be",
    "cp1252": "cp1252",
}


@pytest.mark.parametrize("saved_as", ENCODINGS)
@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_every_encoding_and_delimiter_reads_the_same_cells(tmp_path, saved_as, delimiter):
    path = write(tmp_path, encode(csv_text([HEADER, *ROWS], delimiter), saved_as))

    assert sniff(path) == CsvDialect(encoding=ENCODINGS[saved_as], delimiter=delimiter)
    assert records(path) == [(1, HEADER), (2, ROWS[0]), (3, ROWS[1])]


def test_cp1252_curly_quotes_and_accents_are_not_replaced(tmp_path):
    path = write(tmp_path, "SKU;Name\r\nA1;“Été” – 5 €\r\n".encode("cp1252"))

    assert records(path)[1] == (2, ["A1", "“Été” – 5 €"])


def test_cp1252_after_the_sniffed_part_is_read_as_cp1252(tmp_path):
    ascii_part = csv_text([["SKU", "Name"]] + [[f"A{i}", "plain"] for i in range(8000)])
    assert len(ascii_part) > SNIFF_BYTES
    path = write(tmp_path, ascii_part.encode("ascii") + "Z1,Crème\r\n".encode("cp1252"))

    assert sniff(path).encoding == "utf-8"
    assert records(path)[-1] == (8002, ["Z1", "Crème"])


@pytest.mark.parametrize("character", ["é", "€", "😀"])
def test_a_character_cut_by_the_sniff_boundary_does_not_make_utf8_cp1252(tmp_path, character):
    encoded = character.encode("utf-8")
    prefix = "SKU,Name\n" + "x" * (SNIFF_BYTES - len("SKU,Name\n") - 1)
    path = write(tmp_path, (prefix + character + ",Bée\n").encode("utf-8"))
    assert len(prefix) + len(encoded) > SNIFF_BYTES > len(prefix)

    assert sniff(path) == CsvDialect(encoding="utf-8", delimiter=",")
    assert records(path)[1] == (2, ["x" * (len(prefix) - 9) + character, "Bée"])


def test_a_utf16_surrogate_pair_cut_by_the_sniff_boundary_is_read(tmp_path):
    filler = "x" * ((SNIFF_BYTES - 2) // 2 - len("SKU,Name\n") - 1)
    text = "SKU,Name\n" + filler + "😀,ok\n"
    path = write(tmp_path, encode(text, "utf-16-le+bom"))

    assert sniff(path).encoding == "utf-16"
    assert records(path)[1] == (2, [filler + "😀", "ok"])


def test_a_small_cp1252_file_ending_in_an_accent_is_cp1252(tmp_path):
    assert detect_encoding("SKU\nCafé".encode("cp1252"), whole_file=True) == "cp1252"
    assert detect_encoding("SKU\nCafé".encode("cp1252")[:-1] + b"\xc3") == "utf-8"


def test_crlf_lf_and_cr_line_endings(tmp_path):
    for ending in ("\r\n", "\n", "\r"):
        path = write(tmp_path, csv_text([HEADER, *ROWS], lineterminator=ending))
        assert records(path) == [(1, HEADER), (2, ROWS[0]), (3, ROWS[1])]


def test_quoted_multi_line_cells_keep_their_line_breaks_and_line_numbers(tmp_path):
    path = write(tmp_path, 'SKU,Description\r\nA,"one\r\ntwo\nthree"\r\nB,"x,""y"""\r\n')

    assert records(path) == [
        (1, ["SKU", "Description"]),
        (2, ["A", "one\r\ntwo\nthree"]),
        (5, ["B", 'x,"y"']),
    ]


def test_blank_lines_and_rows_of_empty_cells_are_skipped_with_true_line_numbers(tmp_path):
    path = write(tmp_path, "\r\nSKU,Name\r\n\r\nA,1\r\n,,\r\n  ,\t\r\n\r\nB,2\r\n\r\n")

    assert records(path) == [(2, ["SKU", "Name"]), (4, ["A", "1"]), (8, ["B", "2"])]


def test_trailing_empty_cells_and_ragged_rows_are_kept_as_read(tmp_path):
    path = write(tmp_path, "SKU;Name;;\r\nA;1;;\r\nB\r\nC;3;4;5;6\r\n")

    assert records(path) == [
        (1, ["SKU", "Name", "", ""]),
        (2, ["A", "1", "", ""]),
        (3, ["B"]),
        (4, ["C", "3", "4", "5", "6"]),
    ]


def test_cells_are_text_never_numbers(tmp_path):
    path = write(tmp_path, "SKU,Barcode\n0017,3.65275E+11\n")

    assert records(path)[1] == (2, ["0017", "3.65275E+11"])


def test_a_header_only_file_is_just_its_header(tmp_path):
    path = write(tmp_path, encode("Seller SKU\tStore SKU\r\n", "utf-16-le+bom"))

    assert records(path) == [(1, ["Seller SKU", "Store SKU"])]


def test_a_second_byte_order_mark_is_not_part_of_the_first_cell(tmp_path):
    path = write(tmp_path, codecs.BOM_UTF8 + "\ufeffSKU,Name\nA,1\n".encode())

    assert records(path)[0] == (1, ["SKU", "Name"])


def test_the_delimiter_is_the_one_the_rows_agree_with(tmp_path):
    path = write(tmp_path, "SKU;Name, size;Store SKU\r\nA;Tee, M;M1\r\nB;Tee, L;L1\r\n")

    assert sniff(path).delimiter == ";"
    assert records(path)[1] == (2, ["A", "Tee, M", "M1"])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b" \r\n\r\n\t\n", "The file is empty."),
        (codecs.BOM_UTF8, "The file is empty."),
        (
            b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00[Content_Types].xml",
            "This looks like an Excel workbook; save it as CSV (File › Save As › CSV UTF-8) "
            "and upload that.",
        ),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00\x00",
            "This looks like an Excel workbook; save it as CSV (File › Save As › CSV UTF-8) "
            "and upload that.",
        ),
        (
            b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
            "This is a PDF, not a CSV file; upload the spreadsheet saved as CSV.",
        ),
        (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
            "This is not a text file; save it as CSV and upload that.",
        ),
        (b"SKU,Name\nA\x00B,1\n", "This is not a text file; save it as CSV and upload that."),
    ],
    ids=["empty", "blank", "bom-only", "xlsx", "xls", "pdf", "png", "nul"],
)
def test_files_that_cannot_be_read_are_refused(tmp_path, data, message):
    path = write(tmp_path, data)

    with pytest.raises(CsvRefused) as refused:
        records(path)
    assert str(refused.value) == message


def test_an_unclosed_quote_that_swallows_the_file_is_refused_with_its_line(tmp_path):
    limit = csv.field_size_limit()
    csv.field_size_limit(1000)
    try:
        path = write(tmp_path, 'SKU,Name\nA,1\nB,"oops\n' + "C,3\n" * 500)
        with pytest.raises(CsvRefused) as refused:
            records(path)
    finally:
        csv.field_size_limit(limit)
    assert str(refused.value) == (
        "Line 3: the file cannot be read as CSV (field larger than field limit (1000)). "
        'Look for a quote (") that opens a cell and never closes.'
    )


def test_records_are_streamed(tmp_path):
    path = write(tmp_path, "SKU\n" + "".join(f"A{i}\n" for i in range(100)))

    stream = iter_records(path)
    assert next(stream) == (1, ["SKU"])
    assert next(stream) == (2, ["A0"])
    stream.close()


# A program writing these encodings: the name, and the characters it can write.
WRITERS = {
    "utf-8": None,
    "utf-8+bom": None,
    "utf-16-le+bom": None,
    "utf-16-be+bom": None,
    "utf-16-le": None,
    "utf-16-be": None,
    "cp1252": "cp1252",
}
header_cells = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCXYZ0123456789 _", min_size=1).filter(
    str.strip
)


@st.composite
def spreadsheets(draw):
    encoding = draw(st.sampled_from(sorted(WRITERS)))
    cell = st.text(
        alphabet=st.characters(codec=WRITERS[encoding], exclude_categories=["Cs"]).filter(
            lambda char: char != "\x00"
        ),
        max_size=12,
    )
    header = draw(st.lists(header_cells, min_size=2, max_size=5))
    rows = draw(st.lists(st.lists(cell, min_size=1, max_size=6), max_size=12))
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    return encoding, delimiter, header, rows


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spreadsheet=spreadsheets())
def test_any_rows_written_by_the_csv_module_read_back_cell_for_cell(tmp_path, spreadsheet):
    encoding, delimiter, header, rows = spreadsheet
    data = encode(csv_text([header, *rows], delimiter), encoding)
    if encoding == "cp1252" and not data.isascii():
        # cp1252 bytes that also happen to be valid UTF-8 ("Ã©") cannot be told apart.
        assume(not _valid_utf8(data))
    path = write(tmp_path, data)

    read = [cells for _, cells in iter_records(path)]

    assert read == [header] + [row for row in rows if any(cell.strip() for cell in row)]


def _valid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
