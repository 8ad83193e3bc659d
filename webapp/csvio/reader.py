"""The one CSV reader: spreadsheet files as people really save them, read as a stream.

Encodings: UTF-8 with or without BOM, UTF-16 (Excel's "Unicode text") and cp1252. Delimiters:
`,` `;` or tab, sniffed from the header line. Quoted multi-line cells and CRLF are handled by the
`csv` module; every cell is read as text, so `0017` stays `0017`.
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
DELIMITERS = (",", ";", "\t")
csv.field_size_limit(16 * 1024 * 1024)  # product descriptions can be long HTML


class CsvRefused(DomainError):
    """The whole file cannot be read; the message says why and what was found."""


@dataclass(frozen=True)
class CsvDialect:
    encoding: str
    delimiter: str


def detect_encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if len(head) >= 4 and head[1] == 0 and head[3] == 0:
        return "utf-16-le"  # UTF-16 without a BOM, as some exports write it
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 3:  # not just a character cut at the sniff boundary
            return "cp1252"
    return "utf-8"


def detect_delimiter(header_line: str) -> str:
    """The delimiter that splits the header into the most cells (commas win ties)."""
    counts = {d: len(next(csv.reader([header_line], delimiter=d), [])) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: (counts[d], d == ","))
    return best


def sniff(path: Path) -> CsvDialect:
    with path.open("rb") as raw:
        head = raw.read(SNIFF_BYTES)
    if not head.strip():
        raise CsvRefused("The file is empty.")
    encoding = detect_encoding(head)
    text = head.decode(encoding, errors="replace").lstrip("\ufeff")
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    return CsvDialect(encoding=encoding, delimiter=detect_delimiter(first_line))


def iter_records(path: Path, dialect: CsvDialect | None = None) -> Iterator[tuple[int, list[str]]]:
    """Every non-blank record with the line number it starts on, streaming. The first one is
    the header. Trailing empty cells are kept; callers ignore what they do not need."""
    dialect = dialect or sniff(path)
    with path.open("r", encoding=dialect.encoding, errors="replace", newline="") as text:
        reader = csv.reader(_without_bom(text), delimiter=dialect.delimiter)
        line = 1
        for record in reader:
            start, line = line, reader.line_num + 1
            if any(cell.strip() for cell in record):
                yield start, record


def _without_bom(text: io.TextIOBase) -> Iterator[str]:
    first = True
    for chunk in text:
        if first:
            chunk, first = chunk.lstrip("\ufeff"), False
        yield chunk
