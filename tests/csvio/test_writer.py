"""CSV out: formula neutralisation, streaming lines, the template, and the writer → reader
round trip."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webapp.csvio.reader import iter_records, sniff
from webapp.csvio.writer import (
    BOM,
    MAPPING_HEADER,
    csv_lines,
    mapping_template,
    neutralize,
)

# What spreadsheets run as a formula (Excel, LibreOffice, Google Sheets), written down here
# independently of the writer: a cell starting with one of these, also after leading spaces.
RUN_AS_FORMULA = tuple("=+-@\t\r\n") + ("\uff1d", "\uff0b", "\uff0d", "\uff20")


def spreadsheet_would_run(cell: str) -> bool:
    return cell.startswith(RUN_AS_FORMULA) or cell.lstrip().startswith(RUN_AS_FORMULA)


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+1+1", "'+1+1"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("  =1+1", "'  =1+1"),
        ("\uff1d1+1", "'\uff1d1+1"),
        ("TS-1", "TS-1"),
        ("0017", "0017"),
        ("a=b", "a=b"),
        ("'quoted", "'quoted"),
        ("", ""),
        (" ", " "),
    ],
)
def test_neutralize(cell, written):
    assert neutralize(cell) == written


@given(st.text())
def test_neutralize_always_yields_text_a_spreadsheet_will_not_run(cell):
    written = neutralize(cell)

    assert not spreadsheet_would_run(written)
    assert written in (cell, "'" + cell)


def test_lines_end_in_crlf_start_with_a_bom_and_are_quoted():
    lines = list(
        csv_lines(MAPPING_HEADER, [["A,1", 'say "hi"', "2", "link"], ["a\nb", "=1", "", ""]])
    )

    assert lines == [
        f"{BOM}marketplace_sku,store_sku,quantity,action\r\n",
        '"A,1","say ""hi""",2,link\r\n',
        '"a\nb",\'=1,,\r\n',
    ]


def test_lines_without_a_bom():
    assert next(csv_lines(["a", "b"], [], bom=False)) == "a,b\r\n"


def test_lines_are_made_as_the_rows_come():
    def rows():
        yield ["A", "B"]
        raise AssertionError("read ahead")

    lines = csv_lines(["x", "y"], rows())

    assert next(lines) == f"{BOM}x,y\r\n"
    assert next(lines) == "A,B\r\n"


def test_the_template_shows_each_kind_of_row():
    assert mapping_template() == (
        f"{BOM}marketplace_sku,store_sku,quantity,action\r\n"
        "TS-TEE-RED-M,MAG-TEE-RED-M,1,link\r\n"
        "TS-TEE-RED-M-3PACK,MAG-TEE-RED-M,3,link\r\n"
        "TS-MUG-OLD,,,unlink\r\n"
        "0017,0017-BLUE,1,link\r\n"
    )


def test_the_lines_are_what_the_csv_module_reads():
    text = "".join(csv_lines(["h1", "h2"], [["x\r\ny", "z"]], bom=False))

    assert list(csv.reader(io.StringIO(text, newline=""))) == [["h1", "h2"], ["x\r\ny", "z"]]


cells = st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"))


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(cells, min_size=1, max_size=5), max_size=10))
def test_what_the_writer_writes_the_reader_reads_back(tmp_path: Path, rows):
    path = tmp_path / "export.csv"
    with path.open("w", encoding="utf-8", newline="") as file:
        file.writelines(csv_lines(MAPPING_HEADER, rows))

    read = [record for _, record in iter_records(path)]

    assert sniff(path).encoding == "utf-8-sig"
    expected = [[neutralize(cell) for cell in row] for row in rows]
    assert read == [list(MAPPING_HEADER)] + [
        row for row in expected if any(cell.strip() for cell in row)
    ]


tricky_cells = st.text(
    alphabet=st.sampled_from(list('=+-@ \t\r\n,";a0\u3000\uff1d')) | st.characters(codec="utf-8"),
    max_size=8,
)


@given(rows=st.lists(st.lists(tricky_cells | st.none(), max_size=5), max_size=8))
def test_lines_are_the_csv_module_writing_neutralised_cells(rows):
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(
        [[neutralize(cell or "") for cell in row] for row in rows]
    )

    assert "".join(csv_lines(["h"], rows, bom=False)) == "h\r\n" + buffer.getvalue()
