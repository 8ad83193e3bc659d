"""CSV out: mapping exports, error reports and the template, as lines for a streaming response.

Every cell is neutralised against CSV injection (OWASP): a cell a spreadsheet would run as a
formula gets a leading apostrophe, which spreadsheets take as "this is text". The mapping reader
takes that apostrophe off again, so export → edit → import round-trips.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Sequence

MAPPING_HEADER = ("marketplace_sku", "store_sku", "quantity", "action")
BOM = "\ufeff"

# OWASP's list (= + - @ tab CR), line feed, and their full-width forms, which some spreadsheets
# (Excel with East Asian input) turn into the ASCII ones.
FORMULA_TRIGGERS = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")


# Where a written line may hold a cell `looks_like_formula` is true for: a trigger or whitespace
# at the start of the line or after a comma, maybe behind an opening quote. Never misses one;
# the rare false alarm (a comma inside a quoted cell) only costs writing that row twice. The
# start of the line is matched by prefixing a comma: a pattern starting with a literal is
# searched several times faster than one starting with `(?:^|,)`.
_SUSPECT_CELL_START = re.compile(r',"?[\s=+\-@\uff1d\uff0b\uff0d\uff20]')


def looks_like_formula(cell: str) -> bool:
    """Whether a spreadsheet could run `cell`: it starts with a trigger, also after leading
    whitespace (some spreadsheets trim cells on import)."""
    if not cell:
        return False
    first = cell[0]
    if first in FORMULA_TRIGGERS:
        return True
    return first.isspace() and cell.lstrip()[:1] in FORMULA_TRIGGERS


def neutralize(cell: str) -> str:
    """`cell`, with a leading `'` when a spreadsheet would otherwise run it as a formula.
    Every cell is treated the same, numbers like "-5" included: in our files they are SKUs."""
    return "'" + cell if looks_like_formula(cell) else cell


class _LastLine:
    """A file-like target for `csv.writer` that keeps only the line written last."""

    __slots__ = ("line",)

    def __init__(self) -> None:
        self.line = ""

    def write(self, line: str) -> int:
        self.line = line
        return len(line)


def csv_lines(
    header: Sequence[str], rows: Iterable[Sequence[str]], *, bom: bool = True
) -> Iterator[str]:
    """The header and every row as CSV text lines, each ending in CRLF, quoted where needed and
    neutralised, one at a time for a streaming response. Encode them as UTF-8. Cells are
    strings (None is written as an empty cell). The first line
    starts with a byte order mark unless `bom` is False: without it, Excel reads UTF-8 as
    cp1252 and turns `é` into `Ã©`."""
    target = _LastLine()
    writer = csv.writer(target, lineterminator="\r\n")
    write = writer.writerow
    write([neutralize(cell) for cell in header])
    yield (BOM if bom else "") + target.line
    suspect = _SUSPECT_CELL_START.search
    for row in rows:
        write(row)
        line = target.line
        if suspect("," + line, 0, len(line) - 1):  # rare: write the row again, neutralised
            write([neutralize("" if cell is None else str(cell)) for cell in row])
            line = target.line
        yield line


TEMPLATE_ROWS = (
    ("TS-TEE-RED-M", "MAG-TEE-RED-M", "1", "link"),
    ("TS-TEE-RED-M-3PACK", "MAG-TEE-RED-M", "3", "link"),
    ("TS-MUG-OLD", "", "", "unlink"),
    ("0017", "0017-BLUE", "1", "link"),
)


def mapping_template() -> str:
    """An example mapping file: a plain link, a 3-pack of one store SKU, an unlink, and a SKU
    with leading zeros (kept, because every cell is read as text)."""
    return "".join(csv_lines(MAPPING_HEADER, TEMPLATE_ROWS))
