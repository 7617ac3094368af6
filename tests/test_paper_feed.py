"""Paper trading on live prices: the simulated exchange sees the 1m candles the collector
stores, only once closed, and fills our resting orders on them."""

from __future__ import annotations

from decimal import Decimal

import peewee

from connectors.db.candles import upsert_candles
from connectors.market.paper_feed import DbCandleFeed
from engine.clock import SimClock
from engine.exchange.sim.exchange import SimExchange
from engine.exchange.types import OrderRequest

T0 = 1_764_979_200_000  # 2025-12-06T00:00Z
MIN = 60_000


def _store(t: int, o: float, h: float, low: float, c: float) -> None:
    upsert_candles([{"open_time_ms": t, "open": o, "high": h, "low": low, "close": c, "volume": 5.0}],
                   symbol="BTCUSDT", timeframe="1m")


def test_feed_grows_with_stored_candles_and_fills_orders(db: peewee.Database) -> None:
    for i in range(3):
        _store(T0 + i * MIN, 90_000, 90_050, 89_950, 90_000)
    clock = SimClock(T0 + 3 * MIN)
    feed = DbCandleFeed("BTCUSDT", T0)
    ex = SimExchange(feed, clock)
    assert feed.times == [T0, T0 + MIN, T0 + 2 * MIN]
    order = ex.place_order(OrderRequest("BTCUSDT", "BUY", "LIMIT", quantity=Decimal("0.010"),
                                        price=Decimal("89800.0"), client_order_id="capi_entry_1"))
    assert order.status == "NEW"
    # the collector stores a candle that trades through our bid; it is still open at T0+4m
    _store(T0 + 3 * MIN, 90_000, 90_010, 89_700, 89_750)
    clock.advance(30_000)
    assert ex.order("BTCUSDT", "capi_entry_1").status == "NEW"  # not closed yet: not fed
    clock.advance(30_000)
    filled = ex.order("BTCUSDT", "capi_entry_1")
    assert filled.status == "FILLED" and filled.filled_qty == Decimal("0.010") and filled.avg_price == Decimal("89800.0")
    assert ex.positions("BTCUSDT")[0].quantity == Decimal("0.010")
    assert feed.times[-1] == T0 + 3 * MIN and len(feed.rows) == 4  # each candle read once
