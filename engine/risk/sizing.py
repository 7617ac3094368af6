"""ATR-based sizing (PRODUCT.md §8.3), rounded to the exchange's filters.

sl_distance = max(k × ATR(5m), distance to the structural swing level)
risk_usdt   = equity × risk_percent% × size multiplier (mode × rules)
quantity    = risk_usdt / sl_distance, notional capped at equity × max leverage,
              rounded DOWN to the step size; refused below the minimum notional.
TP1/TP2     = entry ± tp1_r / tp2_r × sl_distance; prices rounded to the tick size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engine.exchange.filters import (
    BTCUSDT_PERP,
    FilterError,
    SymbolFilters,
    check_order,
    round_price,
    round_quantity,
)


@dataclass(frozen=True)
class TradePlan:
    side: str
    entry: Decimal
    entry_zone: tuple[Decimal, Decimal]
    sl: Decimal
    tp1: Decimal
    tp2: Decimal
    sl_distance: float
    quantity: Decimal
    notional: Decimal
    leverage: int
    risk_usdt: float
    capped_by_leverage: bool


class SizingRefused(ValueError):
    """No trade: `reason` is a snake_case label for the decision, `detail` for humans."""

    def __init__(self, reason: str, detail: str):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


def plan_trade(side: str, price: float | None, atr: float | None, swing_level: float | None, equity: float | None,
               settings: dict[str, Any], size_mult: float, max_leverage: int,
               filters: SymbolFilters = BTCUSDT_PERP, stop_distance: float | None = None,
               tp_distances: tuple[float | None, float | None] = (None, None),
               tp_r: tuple[float | None, float | None] = (None, None)) -> TradePlan:
    """`stop_distance`, `tp_distances` (price distances) and `tp_r` (R multiples): set by the
    rules (action `levels`, engine/risk/levels.py) in place of the config's k x ATR / swing
    stop and tp1_r / tp2_r."""
    if side not in ("long", "short"):
        raise ValueError(f"side must be long or short, got {side!r}")
    for name, v in (("price", price), ("atr", atr), ("equity", equity)):
        if v is None or not math.isfinite(v) or v <= 0:
            raise SizingRefused("missing_sizing_inputs", f"{name} is {v!r} (expected a positive number)")
    if max_leverage <= 0:
        raise SizingRefused("leverage_zero", "the risk mode allows no leverage")
    if size_mult <= 0:
        raise SizingRefused("size_zero", "the size multiplier is 0")
    assert price is not None and atr is not None and equity is not None
    sign = 1 if side == "long" else -1
    entry = round_price(price, filters)
    # The swing level only counts when it is on the stop side of the entry.
    structural = 0.0
    # sl_structure false: a fixed k × ATR stop (simple strategies, the backtesting.py cross-check).
    if settings.get("sl_structure", True) and swing_level is not None and math.isfinite(swing_level) and sign * (float(entry) - swing_level) > 0:
        structural = abs(float(entry) - swing_level)
    sl_distance = max(settings["sl_atr_k"] * atr, structural) if stop_distance is None else stop_distance
    half_zone = settings["entry_zone_atr"] * atr
    zone = (round_price(float(entry) - half_zone, filters, "down"), round_price(float(entry) + half_zone, filters, "up"))
    # A stop the rules set (levels) goes on the tick toward the price, the tighter side (as
    # freqtrade rounds its stoploss); the config's stop keeps its nearest-tick rounding.
    sl = round_price(float(entry) - sign * sl_distance, filters,
                     "nearest" if stop_distance is None else ("up" if sign > 0 else "down"))
    r1 = settings["tp1_r"] if tp_r[0] is None else tp_r[0]
    r2 = settings["tp2_r"] if tp_r[1] is None else tp_r[1]
    d1 = r1 * sl_distance if tp_distances[0] is None else tp_distances[0]
    d2 = r2 * sl_distance if tp_distances[1] is None else tp_distances[1]
    tp1 = round_price(float(entry) + sign * d1, filters)
    tp2 = round_price(float(entry) + sign * d2, filters)
    if sl <= 0 or tp1 <= 0 or tp2 <= 0:
        raise SizingRefused("invalid_levels", f"stop {sl} / targets {tp1}, {tp2} not positive")
    risk_usdt = equity * settings["risk_percent"] / 100.0 * size_mult
    qty = risk_usdt / sl_distance
    cap = equity * max_leverage
    capped = qty * float(entry) > cap
    if capped:
        qty = cap / float(entry)
    quantity = round_quantity(qty, filters)
    notional = (quantity * entry).quantize(Decimal("0.01"))
    try:
        check_order(entry, quantity, filters)
    except FilterError as exc:
        raise SizingRefused("below_min_notional", str(exc)) from exc
    leverage = min(max_leverage, max(1, math.ceil(float(notional) / equity)))
    return TradePlan(side=side, entry=entry, entry_zone=zone, sl=sl, tp1=tp1, tp2=tp2, sl_distance=sl_distance,
                     quantity=quantity, notional=notional, leverage=leverage, risk_usdt=risk_usdt,
                     capped_by_leverage=capped)
