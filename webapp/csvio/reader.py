"""The one CSV reader: spreadsheet files as people really save them, read as a stream.

Encodings: UTF-8 with or without BOM, UTF-16 LE/BE (Excel's "Unicode text", with or without a
BOM) and cp1252. Delimiters: `,` `;` or tab, sniffed from the first lines. Quoted multi-line
cells and CRLF are handled by the `csv` module; every cell is read as text, so `0017` stays
`0017`. Files that are not text at all (an Excel workbook uploaded by mistake, anything with NUL
bytes) are refused with a message that says what to do instead.

A file whose first 64 KB are valid UTF-8 is read as UTF-8, but a byte further on that is not
valid UTF-8 is read as cp1252 rather than replaced: a spreadsheet saved as "CSV" on Windows is
often plain ASCII until its first `é`, long after the part we sniff.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from webapp.domain import DomainError

SNIFF_BYTES = 64 * 1024
SNIFF_RECORDS = 50
DELIMITERS = (",", ";", "\t")
csv.field_size_limit(16 * 1024 * 1024)  # product descriptions can be long HTML

_UTF8_THEN_CP1252 = "skubridge-utf8-then-cp1252"
_ZIP_MAGIC = b"PK\x03\x04"  # .xlsx, .ods, .numbers are zip archives
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls


class CsvRefused(DomainError):
    """The whole file cannot be read; the message says why and what was found."""


@dataclass(frozen=True)
class CsvDialect:
    encoding: str
    delimiter: str


def _decode_as_cp1252(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    byte = error.object[error.start : error.start + 1]
    return byte.decode("cp1252", errors="replace"), error.start + 1


codecs.register_error(_UTF8_THEN_CP1252, _decode_as_cp1252)


def detect_encoding(head: bytes, *, whole_file: bool = False) -> str:
    """The encoding of a file from its first bytes. Unless `head` is the `whole_file`, it may
    end in the middle of a multi-byte character: that alone never makes a UTF-8 file cp1252."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if len(head) >= 4 and head[1] == 0 and head[3] == 0 and head[0] and head[2]:
        return "utf-16-le"  # UTF-16 without a BOM, as some exports write it
    if len(head) >= 4 and head[0] == 0 and head[2] == 0 and head[1] and head[3]:
        return "utf-16-be"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        cut_at_the_end = error.reason == "unexpected end of data" and error.end == len(head)
        if whole_file or not cut_at_the_end:
            return "cp1252"
    return "utf-8"


def detect_delimiter(text: str) -> str:
    """The delimiter that splits the header into several cells and agrees best with the rows
    under it; then the one giving the most header cells; commas win ties."""

    def score(delimiter: str) -> tuple[bool, int, int, bool]:
        records = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        sample = [record for _, record in zip(range(SNIFF_RECORDS), records, strict=False)]
        sample = [record for record in sample if any(cell.strip() for cell in record)]
        if not sample:
            return (False, 0, 0, delimiter == ",")
        width = len(sample[0])
        agreeing = sum(1 for record in sample[1:] if len(record) == width)
        return (width > 1, agreeing, width, delimiter == ",")

    try:
        return max(DELIMITERS, key=score)
    except csv.Error:
        return ","


def sniff(path: Path) -> CsvDialect:
    """Encoding and delimiter of a file, from its first 64 KB. Refuses an empty file and one
    that is not text."""
    with path.open("rb") as raw:
        head = raw.read(SNIFF_BYTES)
    _refuse_binary(head)
    encoding = detect_encoding(head, whole_file=len(head) < SNIFF_BYTES)
    text = head.decode(encoding, errors="replace").lstrip("\ufeff")
    if "\x00" in text:
        raise CsvRefused("This is not a text file; save it as CSV and upload that.")
    if not text.strip():
        raise CsvRefused("The file is empty.")
    if len(head) == SNIFF_BYTES:  # the last line may be cut anywhere
        text = text[: max(text.rfind("\n"), 0)] or text
    return CsvDialect(encoding=encoding, delimiter=detect_delimiter(text))


def _refuse_binary(head: bytes) -> None:
    if head.startswith(_ZIP_MAGIC) or head.startswith(_OLE_MAGIC):
        raise CsvRefused(
            "This looks like an Excel workbook; save it as CSV (File › Save As › CSV UTF-8) "
            "and upload that."
        )
    if head.startswith(b"%PDF"):
        raise CsvRefused("This is a PDF, not a CSV file; upload the spreadsheet saved as CSV.")


def iter_records(path: Path, dialect: CsvDialect | None = None) -> Iterator[tuple[int, list[str]]]:
    """Every non-blank record with the line number it starts on, streaming. The first one is
    the header. Trailing empty cells are kept; callers ignore what they do not need. A record
    the `csv` module cannot read (a cell over 16 MB: an unclosed quote) refuses the file."""
    dialect = dialect or sniff(path)
    errors = _UTF8_THEN_CP1252 if dialect.encoding == "utf-8" else "replace"
    with path.open("r", encoding=dialect.encoding, errors=errors, newline="") as text:
        _skip_bom(text)
        reader = csv.reader(text, delimiter=dialect.delimiter)
        line = 1
        try:
            for record in reader:
                start, line = line, reader.line_num + 1
                if record and (record[0].strip() or any(cell.strip() for cell in record)):
                    yield start, record
        except csv.Error as error:
            raise CsvRefused(
                f"Line {line}: the file cannot be read as CSV ({error}). "
                'Look for a quote (") that opens a cell and never closes.'
            ) from error


def _skip_bom(text: io.TextIOWrapper) -> None:
    start = text.tell()
    if text.read(1) != "\ufeff":
        text.seek(start)
