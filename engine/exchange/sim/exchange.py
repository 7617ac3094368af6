"""SimExchange: the Exchange interface over SimCore, in-process (paper mode, backtester).

Market data comes from a feed of 1m candles, time from a Clock: before every call the
candles closed by `clock.now_ms()` are fed to the core, so resting orders fill exactly
as the price stream says, and nothing here reads the wall clock. Prices and quantities
are rounded to the filters as the Binance connector rounds them, so the same worker
code sees the same orders on either side.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from decimal import Decimal

from engine.clock import Clock
from engine.exchange.errors import MinNotional, OrderRejected, UnknownOrder
from engine.exchange.filters import FilterError, SymbolFilters, check_order, round_price, round_quantity
from engine.exchange.sim.core import SimConfig, SimCore
from engine.exchange.sim.history import account_trades, income_history
from engine.exchange.types import (
    AccountTrade,
    Balance,
    Depth,
    FundingRate,
    Income,
    Kline,
    MarginType,
    OpenInterest,
    Order,
    OrderRequest,
    Position,
    PremiumIndex,
)

MINUTE = 60_000
INTERVAL_MIN = {"1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "2h": 120, "4h": 240, "1d": 1440}
Row = tuple[int, float, float, float, float, float]  # open ms, o, h, l, c, volume


class CandleFeed:
    """1m candles by open time (ascending), e.g. from a replay file or the candles table."""

    def __init__(self, rows: Sequence[Row]):
        self.rows = list(rows)
        self.times = [r[0] for r in self.rows]

    def closed_between(self, after_open_ms: int, now_ms: int) -> list[Row]:
        """Candles with open time > after_open_ms that have closed by now_ms."""
        return self.rows[bisect_right(self.times, after_open_ms):bisect_right(self.times, now_ms - MINUTE)]


class SimExchange:
    def __init__(self, feed: CandleFeed, clock: Clock, config: SimConfig | None = None,
                 funding: Sequence[tuple[int, str]] = ()):
        self.feed = feed
        self.clock = clock
        self.core = SimCore(config or SimConfig())
        if funding:
            self.core.set_funding_schedule(funding)
        self.symbol = self.core.config.filters.symbol
        self._fed = -1
        self.sync()

    def sync(self) -> None:
        """Feed the core every candle closed by now."""
        rows = self.feed.closed_between(self._fed, self.clock.now_ms())
        for t, o, h, low, c, v in rows:
            self.core.on_candle(t, o, h, low, c, v)
        if rows:
            self._fed = rows[-1][0]

    # --- market data -------------------------------------------------------------
    def klines(self, symbol: str, interval: str, start_ms: int | None = None, end_ms: int | None = None,
               limit: int = 500) -> list[Kline]:
        self.sync()
        step = INTERVAL_MIN[interval] * MINUTE
        now = self.clock.now_ms()
        hi = bisect_right(self.feed.times, now - MINUTE)
        lo = bisect_left(self.feed.times, start_ms) if start_ms is not None else max(
            0, hi - limit * INTERVAL_MIN[interval] - INTERVAL_MIN[interval])
        out: dict[int, list[float]] = {}
        for t, o, h, low, c, v in self.feed.rows[lo:hi]:
            if end_ms is not None and t > end_ms:
                break
            b = t - t % step
            k = out.get(b)
            if k is None:
                out[b] = [o, h, low, c, v]
            else:
                k[1], k[2], k[3], k[4] = max(k[1], h), min(k[2], low), c, k[4] + v
        ks = [Kline(b, k[0], k[1], k[2], k[3], k[4], b + step - 1) for b, k in sorted(out.items())]
        return ks[:limit] if start_ms is not None else ks[-limit:]

    def premium_index(self, symbol: str) -> PremiumIndex:
        self.sync()
        mark = self.core.mark_price or Decimal(0)
        return PremiumIndex(self.symbol, mark, mark, Decimal("0.0001"), 0, self.clock.now_ms())

    def funding_history(self, symbol: str, start_ms: int | None = None, end_ms: int | None = None,
                        limit: int = 100) -> list[FundingRate]:
        return [FundingRate(t, r) for t, r, _ in self.core.funding_events][-limit:]

    def open_interest(self, symbol: str) -> OpenInterest:
        return OpenInterest(self.clock.now_ms(), 0.0)

    def open_interest_history(self, symbol: str, period: str = "5m", start_ms: int | None = None,
                              end_ms: int | None = None, limit: int = 30) -> list[OpenInterest]:
        return []

    def depth(self, symbol: str, limit: int = 20) -> Depth:
        """A one-tick-wide ladder around the last price (the core has no book)."""
        self.sync()
        tick = self.core.config.filters.tick_size
        last = self.core.last_price or Decimal(0)
        mid = last.quantize(tick)
        n = min(limit, 20)
        return Depth(self.clock.now_ms(), [(mid - tick * i, Decimal(1)) for i in range(n)],
                     [(mid + tick * (i + 1), Decimal(1)) for i in range(n)])

    def symbol_filters(self, symbol: str) -> SymbolFilters:
        return self.core.config.filters

    def server_time_ms(self) -> int:
        return self.clock.now_ms()

    # --- account -----------------------------------------------------------------
    def balance(self, asset: str = "USDT") -> Balance:
        self.sync()
        pos = self.core.position()
        return Balance(asset, self.core.ledger.wallet, pos.unrealized_pnl, self.core.available_balance())

    def positions(self, symbol: str | None = None) -> list[Position]:
        self.sync()
        return [self.core.position()]

    def open_orders(self, symbol: str) -> list[Order]:
        self.sync()
        return [dataclasses.replace(o) for o in self.core.open_orders()]

    def order(self, symbol: str, client_order_id: str) -> Order:
        self.sync()
        return dataclasses.replace(self.core.order(client_order_id))

    # --- trading -----------------------------------------------------------------
    def account_trades(self, symbol: str, start_ms: int | None = None, limit: int = 500) -> list[AccountTrade]:
        self.sync()
        return account_trades(self.core, start_ms, limit)

    def income_history(self, symbol: str, start_ms: int | None = None, limit: int = 100) -> list[Income]:
        self.sync()
        return income_history(self.core, start_ms, limit)

    def place_order(self, request: OrderRequest) -> Order:
        self.sync()
        f = self.core.config.filters
        req = request
        if not req.close_position:
            assert req.quantity is not None
            price = round_price(req.price, f) if req.price is not None else None
            stop = round_price(req.stop_price, f) if req.stop_price is not None else None
            qty = round_quantity(req.quantity, f, market=req.type != "LIMIT")
            ref = price or stop or self.core.last_price or Decimal(0)
            try:
                check_order(ref, qty, f, reduce_only=req.reduce_only)
            except FilterError as exc:
                kind = MinNotional if "notional" in str(exc) else OrderRejected
                raise kind(str(exc), None, req.client_order_id or "") from None
            req = dataclasses.replace(req, quantity=qty, price=price, stop_price=stop)
        elif req.stop_price is not None:
            req = dataclasses.replace(req, stop_price=round_price(req.stop_price, f))
        return dataclasses.replace(self.core.place(req))

    def cancel_order(self, symbol: str, client_order_id: str) -> Order:
        self.sync()
        try:
            return dataclasses.replace(self.core.cancel(client_order_id))
        except UnknownOrder:
            known = self.core.orders.get(client_order_id)
            if known is not None and known.status == "CANCELED":  # a retry: already done
                return dataclasses.replace(known)
            raise

    def cancel_all(self, symbol: str) -> None:
        self.sync()
        self.core.cancel_all()

    def set_leverage(self, symbol: str, leverage: int) -> None:
        self.core.set_leverage(leverage)

    def set_margin_type(self, symbol: str, margin_type: MarginType) -> None:
        self.core.set_margin_type(margin_type)

    def ensure_one_way_mode(self) -> None:
        """The core is one-way only."""
