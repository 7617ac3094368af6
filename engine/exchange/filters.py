"""Symbol filters and exact Decimal rounding to them (Binance's PRICE_FILTER, LOT_SIZE,
MIN_NOTIONAL). Every price and quantity sent to an exchange passes through here."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal
from typing import Any


class FilterError(ValueError):
    """An order would break the symbol's filters (e.g. below minimum notional)."""


@dataclass(frozen=True)
class SymbolFilters:
    symbol: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    min_notional: Decimal
    market_step_size: Decimal | None = None

    @classmethod
    def from_exchange_info(cls, info: dict[str, Any]) -> SymbolFilters:
        """From one entry of Binance's /fapi/v1/exchangeInfo `symbols` list."""
        by_type = {f["filterType"]: f for f in info.get("filters", [])}
        try:
            market = by_type.get("MARKET_LOT_SIZE")
            return cls(
                symbol=info["symbol"],
                tick_size=Decimal(by_type["PRICE_FILTER"]["tickSize"]),
                step_size=Decimal(by_type["LOT_SIZE"]["stepSize"]),
                min_qty=Decimal(by_type["LOT_SIZE"]["minQty"]),
                min_notional=Decimal(by_type["MIN_NOTIONAL"]["notional"]),
                market_step_size=Decimal(market["stepSize"]) if market else None,
            )
        except KeyError as exc:
            raise FilterError(f"exchangeInfo for {info.get('symbol')!r} lacks filter field {exc}") from exc


# Binance's BTCUSDT perpetual filters (exchangeInfo, 2025): the defaults for paper mode.
BTCUSDT_PERP = SymbolFilters(
    symbol="BTCUSDT",
    tick_size=Decimal("0.10"),
    step_size=Decimal("0.001"),
    min_qty=Decimal("0.001"),
    min_notional=Decimal("100"),
)


def to_decimal(value: Decimal | float | int | str) -> Decimal:
    # str() first: Decimal(0.1) would carry the float's binary error into the order.
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _quantize(value: Decimal, step: Decimal, rounding: str) -> Decimal:
    if step <= 0:
        raise FilterError(f"step must be positive, got {step}")
    units = (value / step).to_integral_value(rounding=rounding)
    return (units * step).quantize(step)


def round_price(price: Decimal | float | str, filters: SymbolFilters, mode: str = "nearest") -> Decimal:
    """Round a price to the tick size: 'nearest', 'down' or 'up'."""
    rounding = {"nearest": ROUND_HALF_UP, "down": ROUND_DOWN, "up": ROUND_UP}[mode]
    return _quantize(to_decimal(price), filters.tick_size, rounding)


def round_quantity(qty: Decimal | float | str, filters: SymbolFilters, market: bool = False) -> Decimal:
    """Round a quantity DOWN to the step size: never more exposure than was sized."""
    step = filters.market_step_size if market and filters.market_step_size else filters.step_size
    return _quantize(to_decimal(qty), step, ROUND_DOWN)


def check_order(price: Decimal, qty: Decimal, filters: SymbolFilters, reduce_only: bool = False) -> None:
    """Refuse what Binance would refuse: below min quantity or (for opening orders) min notional."""
    if qty < filters.min_qty:
        raise FilterError(f"quantity {qty} below minimum {filters.min_qty} for {filters.symbol}")
    notional = price * qty
    if not reduce_only and notional < filters.min_notional:
        raise FilterError(
            f"notional {notional} USDT below minimum {filters.min_notional} for {filters.symbol}"
        )
