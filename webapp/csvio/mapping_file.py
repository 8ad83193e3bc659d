"""Mapping CSV files: operations people's spreadsheets of TikTok SKU → store SKU, read as a stream.

Columns (header names matched ignoring case, spaces and punctuation, under the aliases people
use): `marketplace_sku` (a seller SKU or a TikTok SKU id) and `store_sku` are required,
`quantity` (pack size, 1–999) and `action` (`link`, the default, or `unlink`) are optional.
Our own export writes exactly `marketplace_sku,store_sku,quantity,action`.

`open_mapping_file` reads the header and refuses the whole file (`CsvRefused`) when it cannot be
used at all. `MappingFile.rows()` then streams one `MappingRow` per data row; a row with a
problem carries an `error` and the rows after it go on. Cells are stripped of surrounding
whitespace and otherwise kept as text, so `0017` stays `0017`; only a leading apostrophe that
our export added to stop a spreadsheet running a cell as a formula is taken off again.

The row limit is enforced while streaming: `rows()` raises `CsvRefused` when it reads the first
row past `max_rows`, after it has yielded `max_rows` rows. Callers therefore validate the whole
stream before applying anything (the dry run does), and treat the refusal as "nothing changes".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from webapp.csvio.reader import CsvDialect, CsvRefused, iter_records, sniff
from webapp.csvio.writer import looks_like_formula

LINK = "link"
UNLINK = "unlink"
ACTIONS = (LINK, UNLINK)
MAX_QUANTITY = 999
SHOWN_COLUMNS = 20


@dataclass(frozen=True)
class Column:
    name: str  # canonical, as our export writes it
    label: str  # in messages
    aliases: tuple[str, ...]  # as people write them, besides the canonical name
    required: bool

    def accepts(self, header_cell: str) -> bool:
        key = header_key(header_cell)
        return key == header_key(self.name) or key in {header_key(a) for a in self.aliases}


COLUMNS = (
    Column(
        "marketplace_sku",
        "marketplace SKU",
        (
            "Seller SKU",
            "TikTok SKU",
            "TikTok Seller SKU",
            "SKU ID",
            "TikTok SKU ID",
        ),
        required=True,
    ),
    Column(
        "store_sku",
        "store SKU",
        (
            "Magento SKU",
            "Shopify SKU",
            "WooCommerce SKU",
            "BigCommerce SKU",
            "PrestaShop SKU",
            "Etsy SKU",
            "Amazon SKU",
            "Variant SKU",
            "ERP SKU",
        ),
        required=True,
    ),
    Column("quantity", "quantity", ("Qty", "Pack size", "Units", "Store units"), required=False),
    Column("action", "action", (), required=False),
)

_SCIENTIFIC = re.compile(r"[+-]?\d+(?:[.,]\d*)?[eE]\+\d+")  # as spreadsheets show big numbers
_WHOLE_NUMBER = re.compile(r"\d+(?:\.0+)?")


class MappingRow(NamedTuple):
    """One data row. `quantity` is None when the file gives none (a new link is then 1 unit).
    `raw` is the record exactly as read, for the error report. A row with an `error` must not
    be applied; `warnings` do not stop it."""

    line: int
    marketplace_sku: str
    store_sku: str
    quantity: int | None
    action: str
    raw: list[str]
    error: str | None
    warnings: tuple[str, ...]


class MappingFile:
    """A mapping CSV whose header has been read and accepted. `rows()` may be called more than
    once (a dry run, then the real run); each call reads the file again from disk."""

    def __init__(
        self,
        path: Path,
        dialect: CsvDialect,
        header: list[str],
        columns: dict[str, int],
        max_rows: int,
    ):
        self.path = path
        self.dialect = dialect
        self.header = header
        self.columns = columns
        self.max_rows = max_rows

    def rows(self) -> Iterator[MappingRow]:
        """One row per data record, streaming; see the module's docstring for the row limit.
        This is the import's hot path: the common row (two plain SKUs, a quantity of 1–999 or
        none, action link or none) is built here; every other row goes to `_check_row`."""
        records = iter_records(self.path, self.dialect)
        next(records, None)  # the header
        columns = self.columns
        marketplace_at, store_at = columns["marketplace_sku"], columns["store_sku"]
        quantity_at, action_at = columns.get("quantity", -1), columns.get("action", -1)
        needed = max(columns.values()) + 1
        max_rows, count = self.max_rows, 0
        new_row, pack_sizes, check_first = tuple.__new__, _QUANTITIES.get, _CHECK_FIRST
        for line, record in records:
            count += 1
            if count > max_rows:
                raise CsvRefused(too_many_rows(max_rows))
            cells = record if len(record) >= needed else record + [""] * (needed - len(record))
            marketplace_sku = cells[marketplace_at].strip()
            store_sku = cells[store_at].strip()
            quantity = cells[quantity_at].strip() if quantity_at >= 0 else ""
            action = cells[action_at].strip() if action_at >= 0 else ""
            if (
                marketplace_sku
                and store_sku
                and (not action or action == LINK)
                and marketplace_sku[0] not in check_first
                and store_sku[0] not in check_first
                and "+" not in marketplace_sku
                and "+" not in store_sku
                and marketplace_sku.isprintable()
                and store_sku.isprintable()
            ):
                pack_size = pack_sizes(quantity, 0)
                if pack_size != 0:
                    yield new_row(
                        MappingRow,
                        (line, marketplace_sku, store_sku, pack_size, LINK, record, None, ()),
                    )
                    continue
            yield _check_row(line, record, marketplace_sku, store_sku, quantity, action)


_CHECK_FIRST = frozenset("#'")  # "#####", and a cell our export neutralized
_QUANTITIES: dict[str, int | None] = {"": None} | {str(n): n for n in range(1, MAX_QUANTITY + 1)}


def _check_row(
    line: int, record: list[str], marketplace_sku: str, store_sku: str, quantity: str, action: str
) -> MappingRow:
    """The slow path of `rows()`: every rule, for rows the fast path could not vouch for."""
    problems: list[str] = []
    warnings: list[str] = []
    marketplace_sku = _unneutralize(marketplace_sku)
    store_sku = _unneutralize(store_sku)
    action_name = action.casefold() or LINK
    if action_name not in ACTIONS:
        problems.append(f'Action "{action}" is not one of: link, unlink.')
    if not marketplace_sku:
        problems.append("Marketplace SKU is empty.")
    else:
        _check_sku("Marketplace SKU", marketplace_sku, problems, warnings)
    if store_sku:
        _check_sku("Store SKU", store_sku, problems, warnings)
    elif action_name == LINK:
        problems.append("Store SKU is empty; to remove a link, set the action to unlink.")
    pack_size = _quantity(quantity, problems)
    if pack_size is not None and action_name == UNLINK:
        warnings.append("Quantity is ignored on an unlink row.")
        pack_size = None
    error = " ".join(problems) or None
    return MappingRow(
        line,
        marketplace_sku,
        store_sku,
        None if error else pack_size,
        action_name if action_name in ACTIONS else action,
        record,
        error,
        tuple(warnings),
    )


def _unneutralize(cell: str) -> str:
    """Undo `writer.neutralize`: our export puts `'` before a cell a spreadsheet would run."""
    if cell[:1] == "'" and looks_like_formula(cell[1:]):
        return cell[1:].strip()
    return cell


def _check_sku(label: str, sku: str, problems: list[str], warnings: list[str]) -> None:
    if _SCIENTIFIC.fullmatch(sku):
        problems.append(
            f'{label} "{sku}" looks damaged by a spreadsheet (scientific notation): '
            "re-export the column as text."
        )
    elif sku.strip("#") == "":
        problems.append(
            f'{label} "{sku}" looks damaged by a spreadsheet (the column was too narrow): '
            "re-export the column as text."
        )
    elif not sku.isprintable():
        odd = next(char for char in sku if not char.isprintable())
        if unicodedata.category(odd) == "Cc":
            problems.append(
                f"{label} contains a line break or control character ({_codepoint(odd)}); "
                'check for a quote (") that is not closed.'
            )
        else:
            warnings.append(f"{label} contains an invisible character ({_codepoint(odd)}).")


def _codepoint(char: str) -> str:
    return f"U+{ord(char):04X}"


def _quantity(cell: str, problems: list[str]) -> int | None:
    if not cell:
        return None
    if cell.isascii() and _WHOLE_NUMBER.fullmatch(cell):
        number = int(cell.split(".")[0])
        if 1 <= number <= MAX_QUANTITY:
            return number
    problems.append(f'Quantity "{cell}" is not a whole number from 1 to {MAX_QUANTITY}.')
    return None


def header_key(cell: str) -> str:
    """A header cell as compared: lower case, letters and digits only."""
    return "".join(char for char in cell.casefold() if char.isalnum())


def too_many_rows(max_rows: int) -> str:
    return (
        f"The file has more than {max_rows:,} rows; split it into smaller files "
        "or ask us to raise the limit."
    )


def open_mapping_file(path: Path, *, max_rows: int) -> MappingFile:
    """Sniff the file, read and check its header and make sure it has at least one data row.
    Raises `CsvRefused` with a message for the user when the file cannot be used at all."""
    dialect = sniff(path)
    records = iter_records(path, dialect)
    try:
        first = next(records, None)
        has_rows = next(records, None) is not None
    finally:
        records.close()
    if first is None:
        raise CsvRefused("The file is empty.")
    header = first[1]
    columns = _match_columns(header)
    if not has_rows:
        raise CsvRefused("The file has column names but no rows.")
    return MappingFile(path, dialect, header, columns, max_rows)


def _match_columns(header: list[str]) -> dict[str, int]:
    columns: dict[str, int] = {}
    problems: list[str] = []
    for column in COLUMNS:
        found = [index for index, cell in enumerate(header) if column.accepts(cell)]
        if len(found) > 1:
            names = " and ".join(f'"{header[index].strip()}"' for index in found)
            problems.append(f"Two columns could be the {column.label}: {names}; keep one.")
        elif found:
            columns[column.name] = found[0]
    missing = [c for c in COLUMNS if c.required and not any(map(c.accepts, header))]
    if missing:
        listed = "; ".join(f"{c.label} (also accepted: {', '.join(c.aliases)})" for c in missing)
        noun = "column" if len(missing) == 1 else "columns"
        problems.insert(0, f"Missing {noun}: {listed}.")
    if problems:
        found_names = _found(header)
        if not columns:
            found_names += " The first line must name the columns."
        raise CsvRefused(" ".join(problems) + " " + found_names)
    return columns


def _found(header: list[str]) -> str:
    names = [cell.strip() for cell in header if cell.strip()]  # never none: blank lines are skipped
    shown = ", ".join(f'"{name}"' for name in names[:SHOWN_COLUMNS])
    if len(names) > SHOWN_COLUMNS:
        shown += f" and {len(names) - SHOWN_COLUMNS} more"
    return f"Found: {shown}."
