"""The backtest's 1m candles for the simulated exchange, as columns (issue 16: bounded memory).

SimExchange reads a CandleFeed: rows as Python tuples, ~250 bytes a candle (a tuple, an
int and five floats): 130 MB for a year of 1m candles, on top of the DataFrame they come
from. Here the same candles are five float arrays and one int array (48 bytes a candle);
a row is made as a tuple only when the exchange asks for it (a minute's candle when the
clock passes it), with the same values.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Sequence
from typing import Any, overload

import numpy as np
import pandas as pd

from engine.exchange.sim.exchange import MINUTE, CandleFeed, Row


class Candles:
    """open time, open, high, low, close, volume as arrays (index: open time ms)."""

    def __init__(self, df: pd.DataFrame):
        self.times = array("q", df.index.to_numpy(dtype=np.int64).tobytes())
        self.open, self.high, self.low, self.close, self.volume = (
            array("d", df[c].to_numpy(dtype=np.float64).tobytes()) for c in ("open", "high", "low", "close", "volume"))

    def __len__(self) -> int:
        return len(self.times)

    def range_pct(self) -> array:  # type: ignore[type-arg]
        """(high - low) / close per candle (0 when the close is not positive)."""
        h, low, c = (np.frombuffer(a, dtype=np.float64) for a in (self.high, self.low, self.close))
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(c > 0, (h - low) / c, 0.0)
        return array("d", r.tobytes())


class _Rows(Sequence[Row]):
    """The candles as a read-only sequence of rows, made on demand."""

    def __init__(self, c: Candles):
        self.c = c

    def __len__(self) -> int:
        return len(self.c)

    @overload
    def __getitem__(self, i: int) -> Row: ...

    @overload
    def __getitem__(self, i: slice) -> list[Row]: ...

    def __getitem__(self, i: int | slice) -> Any:
        c = self.c
        if isinstance(i, slice):
            return list(zip(c.times[i], c.open[i], c.high[i], c.low[i], c.close[i], c.volume[i], strict=True))
        return (c.times[i], c.open[i], c.high[i], c.low[i], c.close[i], c.volume[i])


class ColumnFeed(CandleFeed):
    """A CandleFeed over Candles: the same answers (times, rows, closed_between)."""

    def __init__(self, candles: Candles):
        self.candles = candles
        self.times = candles.times   # type: ignore[assignment]
        self.rows = _Rows(candles)   # type: ignore[assignment]

    def closed_between(self, after_open_ms: int, now_ms: int) -> list[Row]:
        lo = bisect_right(self.times, after_open_ms)
        hi = bisect_right(self.times, now_ms - MINUTE)
        return self.rows[lo:hi] if hi > lo else []
