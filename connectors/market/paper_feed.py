"""Paper trading on live prices: the simulated exchange is fed the 1m candles the
collector stores, as they arrive (a CandleFeed that grows from the candles table)."""

from __future__ import annotations

from connectors.db.candles import candles_between
from engine.exchange.sim.exchange import CandleFeed, Row

MINUTE = 60_000


class DbCandleFeed(CandleFeed):
    def __init__(self, symbol: str, start_ms: int):
        super().__init__([])
        self.symbol = symbol
        self._next = start_ms

    def refresh(self, now_ms: int) -> None:
        frame = candles_between(self.symbol, "1m", self._next, now_ms)
        if frame.empty:
            return
        rows: list[Row] = [
            (int(t), float(o), float(h), float(low), float(c), float(v))
            for t, o, h, low, c, v in zip(frame.index, frame["open"], frame["high"], frame["low"],
                                          frame["close"], frame["volume"], strict=True)
        ]
        self.rows.extend(rows)
        self.times.extend(r[0] for r in rows)
        self._next = rows[-1][0] + MINUTE

    def closed_between(self, after_open_ms: int, now_ms: int) -> list[Row]:
        self.refresh(now_ms)
        return super().closed_between(after_open_ms, now_ms)
