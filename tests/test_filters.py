from decimal import Decimal

import pytest

from engine.exchange.filters import (
    BTCUSDT_PERP,
    FilterError,
    SymbolFilters,
    check_order,
    round_price,
    round_quantity,
)


def test_quantity_rounds_down_exactly() -> None:
    assert round_quantity(0.0129999, BTCUSDT_PERP) == Decimal("0.012")
    assert round_quantity("0.1", BTCUSDT_PERP) == Decimal("0.100")
    # 0.1 + 0.2 in float is 0.30000000000000004: still 0.300, never 0.301
    assert round_quantity(0.1 + 0.2, BTCUSDT_PERP) == Decimal("0.300")


def test_price_rounds_to_tick() -> None:
    assert round_price(97123.456, BTCUSDT_PERP) == Decimal("97123.50")
    assert round_price(97123.456, BTCUSDT_PERP, "down") == Decimal("97123.40")
    assert round_price("97123.41", BTCUSDT_PERP, "up") == Decimal("97123.50")


def test_min_notional_refused_for_opening_orders_only() -> None:
    with pytest.raises(FilterError, match="below minimum 100"):
        check_order(Decimal("90000"), Decimal("0.001"), BTCUSDT_PERP)
    check_order(Decimal("90000"), Decimal("0.001"), BTCUSDT_PERP, reduce_only=True)
    with pytest.raises(FilterError, match="quantity 0.000 below minimum"):
        check_order(Decimal("90000"), Decimal("0.000"), BTCUSDT_PERP, reduce_only=True)


def test_from_exchange_info() -> None:
    info = {"symbol": "BTCUSDT", "filters": [
        {"filterType": "PRICE_FILTER", "tickSize": "0.10"},
        {"filterType": "LOT_SIZE", "stepSize": "0.001", "minQty": "0.001"},
        {"filterType": "MIN_NOTIONAL", "notional": "100"}]}
    assert SymbolFilters.from_exchange_info(info) == BTCUSDT_PERP
    with pytest.raises(FilterError, match="lacks filter field"):
        SymbolFilters.from_exchange_info({"symbol": "X", "filters": []})
