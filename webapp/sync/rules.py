"""The arithmetic of a push, free of I/O: what TikTok Shop should offer for one linked row.

- Stock: the store's quantity less the safety stock and the reserve, divided by the pack size,
  rounded down, never below zero; a kit offers the least any of its parts allows. At or below
  the out-of-stock threshold the row offers 0.
- Warehouses: the store's stock is offered from the SKU's first warehouse; its other
  warehouses are listed with 0, so TikTok Shop never counts the same units twice (every
  warehouse of a SKU must be in each inventory update).
- Price: a pack costs its units' store price; a kit the sum of its parts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


@dataclass(frozen=True)
class StockRules:
    safety_stock: int = 0
    reserve_percent: int = 0
    out_of_stock_threshold: int = 0

    def sellable(self, store_quantity: int) -> int:
        """Store units that may be offered: what is left after the safety stock and the
        reserve (a percentage of the store's stock, rounded up)."""
        reserve = -(-store_quantity * self.reserve_percent // 100)
        return max(store_quantity - self.safety_stock - reserve, 0)


@dataclass(frozen=True)
class Part:
    """One store SKU of a link and the units of it one TikTok unit takes."""

    remote_id: str
    units: int


def offered_quantity(
    parts: Sequence[Part], store_quantities: Mapping[str, int | None], rules: StockRules
) -> int | None:
    """TikTok units to offer, or None when a part's stock is not known (not tracked by the
    store, or the variant is gone): then the row's stock is left as it is."""
    offers = []
    for part in parts:
        quantity = store_quantities.get(part.remote_id)
        if quantity is None:
            return None
        offers.append(rules.sellable(quantity) // part.units)
    offered = min(offers)
    return 0 if offered <= rules.out_of_stock_threshold else offered


def offered_price(
    parts: Sequence[Part], store_prices: Mapping[str, Decimal | None]
) -> Decimal | None:
    """The price of one TikTok unit, or None when a part has no price."""
    total = Decimal(0)
    for part in parts:
        price = store_prices.get(part.remote_id)
        if price is None:
            return None
        total += price * part.units
    return total.quantize(CENT, rounding=ROUND_HALF_UP)


def warehouse_quantities(warehouses: Sequence[str], quantity: int) -> tuple[tuple[str, int], ...]:
    """Every warehouse of the SKU with its quantity: all of it in the first."""
    return tuple((warehouse, quantity if i == 0 else 0) for i, warehouse in enumerate(warehouses))
