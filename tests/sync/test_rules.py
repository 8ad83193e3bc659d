"""The arithmetic of a push: packs, kits, safety stock, reserve, threshold, prices, warehouses."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webapp.sync.rules import (
    Part,
    StockRules,
    offered_price,
    offered_quantity,
    warehouse_quantities,
)

NONE = StockRules()


@pytest.mark.parametrize(
    ("store", "units", "rules", "offered"),
    [
        (10, 1, NONE, 10),
        (10, 2, NONE, 5),  # a 2-pack
        (11, 2, NONE, 5),  # rounded down
        (1, 2, NONE, 0),  # not one whole pack
        (10, 1, StockRules(safety_stock=3), 7),
        (2, 1, StockRules(safety_stock=3), 0),  # never below zero
        (10, 1, StockRules(reserve_percent=15), 8),  # 1.5 units reserved, rounded up to 2
        (100, 1, StockRules(safety_stock=5, reserve_percent=10), 85),
        (10, 1, StockRules(out_of_stock_threshold=10), 0),  # at the threshold: out of stock
        (11, 1, StockRules(out_of_stock_threshold=10), 11),
        (0, 1, NONE, 0),
    ],
)
def test_a_single_sku(store, units, rules, offered):
    assert offered_quantity([Part("a", units)], {"a": store}, rules) == offered


def test_a_kit_offers_what_its_scarcest_part_allows():
    kit = [Part("a", 1), Part("b", 2)]
    assert offered_quantity(kit, {"a": 10, "b": 6}, NONE) == 3
    assert offered_quantity(kit, {"a": 2, "b": 60}, NONE) == 2
    assert offered_quantity(kit, {"a": 10, "b": 6}, StockRules(safety_stock=2)) == 2


def test_unknown_stock_leaves_the_row_alone():
    assert offered_quantity([Part("a", 1)], {"a": None}, NONE) is None
    assert offered_quantity([Part("a", 1), Part("b", 1)], {"a": 4}, NONE) is None


@given(
    store=st.integers(0, 10_000),
    units=st.integers(1, 50),
    safety=st.integers(0, 100),
    reserve=st.integers(0, 100),
)
def test_never_more_than_the_store_can_fill(store, units, safety, reserve):
    offered = offered_quantity([Part("a", units)], {"a": store}, StockRules(safety, reserve, 0))
    assert 0 <= offered * units <= max(store - safety, 0)


def test_prices_of_packs_and_kits():
    assert offered_price([Part("a", 2)], {"a": Decimal("4.99")}) == Decimal("9.98")
    kit = [Part("a", 1), Part("b", 3)]
    assert offered_price(kit, {"a": Decimal("10"), "b": Decimal("0.333")}) == Decimal("11.00")
    assert offered_price(kit, {"a": Decimal("10"), "b": None}) is None


def test_every_warehouse_is_listed_with_the_stock_in_the_first():
    assert warehouse_quantities(["w1", "w2", "w3"], 7) == (("w1", 7), ("w2", 0), ("w3", 0))
    assert warehouse_quantities([], 7) == ()
