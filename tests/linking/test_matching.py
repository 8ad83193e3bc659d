"""Matching rules: SKU normalization, rule order, ambiguity, parents, damaged barcodes."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webapp.linking.matching import (
    CatalogEntry,
    CatalogIndex,
    MatchKind,
    MatchRule,
    match_sku,
    normalize_barcode,
    normalize_sku,
    normalize_unicode_sku,
)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        # case (complaint 2)
        ("TS-0001-BLK-M", "ts-0001-blk-m"),
        ("Straße-1", "STRASSE-1"),
        # spaces and separators
        ("TS Classic_blk-M", "ts-classic-blk-m"),
        ("TS - 0001 - BLK - M", "TS-0001-BLK-M"),
        ("TS_0001_BLK_M", "TS-0001-BLK-M"),
        ("  TS.0001/BLK\\M  ", "TS0001BLKM"),
        ("TS\t0001\nBLK M", "TS-0001-BLK-M"),
        # leading zeros, as TikTok pads numeric SKUs and spreadsheets strip them (complaint 3)
        ("0042017", "42017"),
        ("0017", "17"),
        ("00-42017", "42017"),
        # unicode dashes, full-width characters, invisible characters
        ("TS–0001—BLK‑M", "TS-0001-BLK-M"),
        ("ＴＳ－０００１－ＢＬＫ－Ｍ", "TS-0001-BLK-M"),
        ("TS\u200b0001\u00a0BLK M", "TS-0001-BLK-M"),
    ],
)
def test_skus_that_differ_only_in_form_share_a_key(left, right):
    assert normalize_sku(left) == normalize_sku(right)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("TS-0001-BLK-M", "TS-0001-BLK-L"),
        ("42017", "4201"),
        ("A0017", "A17"),  # only zeros that lead the whole SKU go
        ("TS-0001", "TS-0001-BLK"),
    ],
)
def test_different_skus_keep_different_keys(left, right):
    assert normalize_sku(left) != normalize_sku(right)


def test_empty_stays_empty_and_zeros_stay_a_zero():
    assert normalize_sku("") == ""
    assert normalize_sku("  - _ ") == ""
    assert normalize_sku("000") == normalize_sku("0") == "0"


SKU_ALPHABET = string.ascii_letters + string.digits + " -_./\\"


@given(st.text())
def test_normalize_never_raises_and_is_idempotent(text):
    key = normalize_sku(text)
    assert isinstance(key, str)
    assert normalize_sku(key) == key


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_the_ascii_shortcut_agrees_with_the_full_normalization(text):
    assert normalize_sku(text) == normalize_unicode_sku(text)


@given(st.text(alphabet=SKU_ALPHABET, max_size=30))
def test_normalize_ignores_case(text):
    assert normalize_sku(text.upper()) == normalize_sku(text.lower()) == normalize_sku(text)


@given(st.lists(st.text(alphabet=string.ascii_letters + string.digits, min_size=1), max_size=6))
def test_normalize_ignores_separators_between_parts(data_parts):
    joined = "".join(data_parts)
    for separator in (" ", "-", "_", " - ", ".", "/", "–"):
        assert normalize_sku(separator.join(data_parts)) == normalize_sku(joined)


@given(st.text(alphabet=string.ascii_letters + string.digits, min_size=1), st.integers(0, 5))
def test_normalize_ignores_leading_zeros(text, zeros):
    assert normalize_sku("0" * zeros + text) == normalize_sku(text)


def _entry(id, sku, *, barcode=None, parent=False, name=""):
    return CatalogEntry(id=id, sku=sku, barcode=barcode, is_parent=parent, name=name or sku)


def test_rules_run_in_order_and_the_first_with_candidates_decides():
    index = CatalogIndex(
        [
            _entry(1, "ABC-1"),
            _entry(2, "abc_1"),  # same normalized key as ABC-1
            _entry(3, "XYZ", barcode="4006381333931"),
        ]
    )
    exact = match_sku(index, "ABC-1", None)
    assert (exact.kind, exact.rule, exact.target.id) == (MatchKind.MATCHED, MatchRule.EXACT, 1)

    normalized = match_sku(index, "xyz", "0000000000000")
    assert (normalized.rule, normalized.target.id) == (MatchRule.NORMALIZED, 3)

    by_barcode = match_sku(index, "NOT-THERE", "4006381333931")
    assert (by_barcode.rule, by_barcode.target.id) == (MatchRule.BARCODE, 3)

    assert match_sku(index, "NOT-THERE", None).kind is MatchKind.UNMATCHED
    assert match_sku(index, "", None).kind is MatchKind.UNMATCHED


def test_a_key_two_store_products_share_is_ambiguous_never_a_match():
    index = CatalogIndex(
        [_entry(1, "TS-1", name="Tee"), _entry(2, "TS-1", name="Tee (old listing)")]
    )
    outcome = match_sku(index, "TS-1", None)
    assert outcome.kind is MatchKind.AMBIGUOUS and outcome.target is None
    assert outcome.reason.startswith("SKU is ambiguous: 2 store products share it")
    assert {c.id for c in outcome.candidates} == {1, 2}

    normalized = match_sku(index, "ts 1", None)
    assert normalized.kind is MatchKind.AMBIGUOUS and normalized.rule is MatchRule.NORMALIZED


def test_normalized_keys_can_be_ambiguous_too():
    index = CatalogIndex([_entry(1, "ts-0001-m"), _entry(2, "TS_0001_M"), _entry(3, "TS0001M")])
    outcome = match_sku(index, "TS 0001 M", None)
    assert outcome.kind is MatchKind.AMBIGUOUS
    assert "3 store products share it" in outcome.reason


def test_a_parent_alone_is_refused_and_named():
    index = CatalogIndex([_entry(10, "HD-0004", parent=True, name="Fleece Hoodie")])
    outcome = match_sku(index, "HD-0004", None)
    assert outcome.kind is MatchKind.PARENT_ONLY and outcome.is_refusal
    assert outcome.reason.startswith("Parent product chosen instead of a variant")
    assert "HD-0004 (Fleece Hoodie)" in outcome.reason


def test_a_parent_beside_one_variant_does_not_hide_the_variant():
    index = CatalogIndex([_entry(10, "100", parent=True), _entry(11, "100")])
    outcome = match_sku(index, "100", None)
    assert outcome.kind is MatchKind.MATCHED and outcome.target.id == 11


def test_leading_zero_padded_tiktok_sku_matches_the_store_sku():
    index = CatalogIndex([_entry(1, "4217"), _entry(2, "42170")])
    outcome = match_sku(index, "0004217", None)
    assert (outcome.rule, outcome.target.id) == (MatchRule.NORMALIZED, 1)


@pytest.mark.parametrize(
    ("barcode", "expected"),
    [
        ("4006381333931", "4006381333931"),
        ("400 6381 33393 1", "4006381333931"),
        ("036000291452", "36000291452"),  # UPC-A and its EAN-13 form compare equal
        ("0036000291452", "36000291452"),
        ("3.65275E+11", ""),  # spreadsheet damage (complaint 3)
        ("3,65275E+11", ""),
        ("365275E11", ""),
        ("12345", ""),  # too short to be a GTIN
        ("", ""),
        (None, ""),
    ],
)
def test_barcodes_compare_as_digits(barcode, expected):
    assert normalize_barcode(barcode) == expected


def test_a_damaged_barcode_never_matches():
    index = CatalogIndex([_entry(1, "A", barcode="3.65275E+11"), _entry(2, "B", barcode="")])
    assert match_sku(index, "X", "3.65275E+11").kind is MatchKind.UNMATCHED
    assert match_sku(index, "X", "365275000000").kind is MatchKind.UNMATCHED


def test_ambiguous_barcode_says_barcode():
    index = CatalogIndex(
        [_entry(1, "A", barcode="4006381333931"), _entry(2, "B", barcode="4006381333931")]
    )
    outcome = match_sku(index, "X", "4006381333931")
    assert outcome.kind is MatchKind.AMBIGUOUS
    assert outcome.reason.startswith("Barcode is ambiguous: 2 store products share it")


def test_lookups_return_every_candidate():
    index = CatalogIndex([_entry(1, "A-1"), _entry(2, "A-1"), _entry(3, "a1")])
    assert [e.id for e in index.by_exact("A-1")] == [1, 2]
    assert [e.id for e in index.by_normalized("A_1")] == [1, 2, 3]
    assert index.by_exact("") == index.by_normalized("") == index.by_barcode(None) == ()
    assert len(index) == 3


def test_rule_labels():
    assert [rule.label for rule in MatchRule] == ["Exact SKU", "Normalized SKU", "Barcode"]
