"""Matching rules shared by auto-map and the link editor's suggestions. Pure: no database.

Rules run in a fixed order — exact SKU, normalized SKU, barcode — and the first rule that finds
any store catalog entry decides (DESIGN.md, complaints 2–5):

- one sellable variant: a match by that rule;
- several sellable variants: ambiguous, never guessed;
- only parent (configurable) products: refused, a parent is never a link target.

A parent found beside exactly one variant does not make the match ambiguous: it could never be
chosen, so the variant is the only candidate.
"""

from __future__ import annotations

import enum
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

# Characters that separate parts of a SKU and carry no meaning of their own. Unicode dashes
# (category Pd), spaces (Z*) and invisible format characters (Cf, e.g. zero-width space) go too.
SEPARATORS = frozenset("-_./\\")
_DROPPED_CATEGORIES = frozenset({"Pd", "Zs", "Zl", "Zp", "Cc", "Cf"})
# The same for plain ASCII, the usual case, where NFKC changes nothing and casefold is lower().
_ASCII_DROP = str.maketrans("", "", "".join(SEPARATORS) + "".join(map(chr, range(33))) + "\x7f")
BARCODE_LENGTHS = range(8, 15)  # EAN-8, UPC-A (12), EAN-13, GTIN-14


def _is_separator(char: str) -> bool:
    return char in SEPARATORS or char.isspace() or unicodedata.category(char) in _DROPPED_CATEGORIES


def _without_leading_zeros(text: str) -> str:
    stripped = text.lstrip("0")
    return stripped if stripped or not text else "0"


def _normalize_once(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(char for char in text if not _is_separator(char))
    return _without_leading_zeros(unicodedata.normalize("NFKC", text))


def normalize_unicode_sku(text: str) -> str:
    """`normalize_sku` for any text. Case folding and removing characters can each make a new
    NFKC composition possible, so it repeats until nothing changes (one or two rounds)."""
    for _ in range(8):
        normalized = _normalize_once(text)
        if normalized == text:
            break
        text = normalized
    return text


def normalize_sku(text: str) -> str:
    """The key two SKUs share when they differ only by case, spaces, separators, full-width
    forms or leading zeros: "TS Classic_blk-M" and "ts-classic-blk-m" → "tsclassicblkm",
    "0042017" and "42017" → "42017". Empty stays empty; all zeros become "0"."""
    if text.isascii():
        return _without_leading_zeros(text.translate(_ASCII_DROP).lower())
    return normalize_unicode_sku(text)


def normalize_barcode(text: str | None) -> str:
    """A GTIN as digits without spaces, dashes or the zeros that pad it to 14 digits; "" when it
    is not a plausible barcode — notably one a spreadsheet turned into "3.65275E+11"."""
    if not text:
        return ""
    digits = "".join(
        char
        for char in unicodedata.normalize("NFKC", text)
        if not (char.isspace() or unicodedata.category(char) == "Pd")
    )
    if not digits.isascii() or not digits.isdigit() or len(digits) not in BARCODE_LENGTHS:
        return ""
    return digits.lstrip("0")


class MatchRule(enum.StrEnum):
    EXACT = "exact"
    NORMALIZED = "normalized"
    BARCODE = "barcode"

    @property
    def label(self) -> str:
        return MATCH_RULE_LABELS[self]


MATCH_RULE_LABELS = {
    MatchRule.EXACT: "Exact SKU",
    MatchRule.NORMALIZED: "Normalized SKU",
    MatchRule.BARCODE: "Barcode",
}


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """What matching needs of one store catalog entry."""

    id: int
    sku: str
    barcode: str | None = None
    is_parent: bool = False
    name: str = ""
    variant: str = ""


class CatalogIndex:
    """The store catalog indexed by exact SKU, normalized SKU and barcode, built once per run.

    Every lookup returns all entries that share the key, so duplicates stay visible.
    """

    def __init__(self, entries: Iterable[CatalogEntry]):
        self._exact: dict[str, list[CatalogEntry]] = defaultdict(list)
        self._normalized: dict[str, list[CatalogEntry]] = defaultdict(list)
        self._barcode: dict[str, list[CatalogEntry]] = defaultdict(list)
        self._entries: list[CatalogEntry] = []
        self._keys: dict[int, str] = {}
        for entry in entries:
            self._entries.append(entry)
            if entry.sku:
                self._exact[entry.sku].append(entry)
                key = self._keys[entry.id] = normalize_sku(entry.sku)
                if key:
                    self._normalized[key].append(entry)
            barcode = normalize_barcode(entry.barcode)
            if barcode:
                self._barcode[barcode].append(entry)

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self) -> tuple[CatalogEntry, ...]:
        return tuple(self._entries)

    def normalized_keys(self) -> dict[int, str]:
        """{entry id: normalized SKU} of every entry with a SKU."""
        return dict(self._keys)

    def by_exact(self, sku: str) -> tuple[CatalogEntry, ...]:
        return tuple(self._exact.get(sku, ())) if sku else ()

    def by_normalized(self, sku: str) -> tuple[CatalogEntry, ...]:
        key = normalize_sku(sku) if sku else ""
        return tuple(self._normalized.get(key, ())) if key else ()

    def by_barcode(self, barcode: str | None) -> tuple[CatalogEntry, ...]:
        key = normalize_barcode(barcode)
        return tuple(self._barcode.get(key, ())) if key else ()

    def lookup(
        self, rule: MatchRule, seller_sku: str, barcode: str | None
    ) -> tuple[CatalogEntry, ...]:
        if rule is MatchRule.EXACT:
            return self.by_exact(seller_sku)
        if rule is MatchRule.NORMALIZED:
            return self.by_normalized(seller_sku)
        return self.by_barcode(barcode)


class MatchKind(enum.StrEnum):
    MATCHED = "matched"
    AMBIGUOUS = "ambiguous"
    PARENT_ONLY = "parent_only"
    UNMATCHED = "unmatched"


@dataclass(frozen=True, slots=True)
class MatchOutcome:
    kind: MatchKind
    rule: MatchRule | None = None  # the rule that decided; None when unmatched
    target: CatalogEntry | None = None  # the one sellable variant, when matched
    candidates: tuple[CatalogEntry, ...] = ()  # everything the deciding rule found
    reason: str = ""  # for ambiguous, parent-only and unmatched outcomes, in a user's words

    @property
    def is_match(self) -> bool:
        return self.kind is MatchKind.MATCHED

    @property
    def is_refusal(self) -> bool:
        """Ambiguous or parent-only: a mapping was possible to try and must be refused."""
        return self.kind in (MatchKind.AMBIGUOUS, MatchKind.PARENT_ONLY)


RULE_ORDER = (MatchRule.EXACT, MatchRule.NORMALIZED, MatchRule.BARCODE)


def match_sku(index: CatalogIndex, seller_sku: str, barcode: str | None = None) -> MatchOutcome:
    """Apply the rules in order; the first one that finds candidates decides."""
    seller_sku = seller_sku or ""
    for rule in RULE_ORDER:
        candidates = index.lookup(rule, seller_sku, barcode)
        if candidates:
            return _decide(rule, candidates)
    return MatchOutcome(
        kind=MatchKind.UNMATCHED,
        reason=unmatched_reason(seller_sku, has_barcode=bool(normalize_barcode(barcode))),
    )


NOT_FOUND = "Store SKU not found: no store product has SKU "
NO_SELLER_SKU = "Store SKU not found: this TikTok SKU has no seller SKU."


def unmatched_reason(seller_sku: str, *, has_barcode: bool) -> str:
    """Why no rule found a store product (auto-map writes the same text in SQL from these
    parts)."""
    if not seller_sku:
        return NO_SELLER_SKU
    return NOT_FOUND + seller_sku + (" or its barcode." if has_barcode else ".")


def _decide(rule: MatchRule, candidates: tuple[CatalogEntry, ...]) -> MatchOutcome:
    sellable = [entry for entry in candidates if not entry.is_parent]
    if len(sellable) == 1:
        return MatchOutcome(MatchKind.MATCHED, rule, sellable[0], candidates)
    what = "Barcode" if rule is MatchRule.BARCODE else "SKU"
    if sellable:
        return MatchOutcome(
            MatchKind.AMBIGUOUS,
            rule,
            None,
            candidates,
            f"{what} is ambiguous: {len(sellable)} store products share it "
            f"({'; '.join(entry.name or f'#{entry.id}' for entry in sellable[:5])}"
            f"{'; …' if len(sellable) > 5 else ''}). Choose one by hand.",
        )
    parent = candidates[0]
    described = f"{parent.sku} ({parent.name})" if parent.name else parent.sku
    return MatchOutcome(
        MatchKind.PARENT_ONLY,
        rule,
        None,
        candidates,
        f"Parent product chosen instead of a variant: store SKU {described} is a "
        "configurable product. Link one of its variants.",
    )
