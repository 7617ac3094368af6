"""Market data the simulator serves, replayed from a 1m klines file on a market clock.

The clock (`now_ms`) is the open time of the candle in progress: every 1m candle with
open time < now_ms is closed and known; the one at now_ms has just opened (served
with o = h = l = c = its open, volume 0, like a fresh candle on Binance). 5m / 15m /
1h candles are aggregated from the 1m file.

What the file does not hold is synthesised, deterministically, and flagged here:
quote volume = Σ volume × close, trade count 0, taker-buy volume = volume / 2 (neutral
delta); mark price = last price, index price = last × (1 − 0.0001); open interest is a
smooth function of time; the order book is a ladder around the last price. Funding
rates come from the funding file when it covers the time, else 0.0001.
"""

from __future__ import annotations

import csv
import gzip
import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from pathlib import Path

MINUTE = 60_000
INTERVALS = {"1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "2h": 120, "4h": 240, "1d": 1440}
FUNDING_PERIOD = 8 * 3600 * 1000


def read_klines(path: Path, start_ms: int | None = None, end_ms: int | None = None) -> list[tuple]:
    opener = gzip.open if path.suffix == ".gz" else open
    out = []
    with opener(path, "rt") as fh:  # type: ignore[operator]
        rows = csv.reader(fh)
        next(rows)
        for r in rows:
            t = int(r[0])
            if (start_ms is not None and t < start_ms) or (end_ms is not None and t >= end_ms):
                continue
            out.append((t, float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5])))
    return out


def read_funding(path: Path) -> list[tuple[int, str]]:
    with gzip.open(path, "rt") as fh:
        rows = csv.reader(fh)
        next(rows)
        return sorted((int(r[0]), r[1]) for r in rows)


@dataclass
class Market:
    rows: list[tuple]  # 1m: (open_ms, o, h, l, c, v), ascending, no gaps assumed
    funding: list[tuple[int, str]] = field(default_factory=list)
    now_ms: int = 0
    gap: tuple[int, int] | None = None  # [start, end) of hidden kline history

    def __post_init__(self) -> None:
        if not self.rows:
            raise ValueError("market replay needs at least one 1m candle")
        self.times = [r[0] for r in self.rows]
        self.funding_times = [t for t, _ in self.funding]
        if not self.now_ms:
            self.now_ms = self.times[0] + MINUTE  # first candle closed

    # --- clock ------------------------------------------------------------------
    @property
    def end_ms(self) -> int:
        return self.times[-1] + MINUTE

    def closed_after(self, after_open_ms: int) -> list[tuple]:
        """Closed 1m candles (open time < now_ms) with open time > after_open_ms."""
        lo = bisect_right(self.times, after_open_ms)
        hi = bisect_left(self.times, self.now_ms)
        return self.rows[lo:hi]

    def last_closed(self) -> tuple:
        i = max(bisect_left(self.times, self.now_ms) - 1, 0)
        return self.rows[i]

    def last_price(self) -> float:
        i = bisect_left(self.times, self.now_ms)
        if i < len(self.rows) and self.times[i] == self.now_ms:
            return self.rows[i][1]  # the candle in progress has just opened
        return self.last_closed()[4]

    # --- klines -----------------------------------------------------------------
    def klines(self, interval: str, start_ms: int | None, end_ms: int | None, limit: int) -> list[list]:
        step = INTERVALS[interval] * MINUTE
        now = self.now_ms
        last_open = now - now % step  # bucket in progress
        hi = last_open if end_ms is None else min(last_open, end_ms - end_ms % step)
        if start_ms is not None:
            lo = start_ms + (-start_ms) % step
        else:
            lo = max(self.times[0] - self.times[0] % step, hi - (limit - 1) * step)
        # Like Binance: a hidden (gap) bucket is skipped, the page still fills up to `limit`.
        out: list[list] = []
        for b in range(lo, hi + 1, step):
            if self.gap and self.gap[0] <= b < self.gap[1]:
                continue
            k = self._bucket(b, step)
            if k is not None:
                out.append(k)
                if len(out) == limit:
                    break
        return out

    def _bucket(self, b: int, step: int) -> list | None:
        times, now = self.times, self.now_ms
        closed = self.rows[bisect_left(times, b):bisect_left(times, min(b + step, now))]
        j = bisect_left(times, now)
        live = b <= now < b + step and j < len(times) and times[j] == now
        if not closed and not live:
            return None
        if closed:
            o, c = closed[0][1], closed[-1][4]
            h, low = max(r[2] for r in closed), min(r[3] for r in closed)
            v, qv = sum(r[5] for r in closed), sum(r[5] * r[4] for r in closed)
        if live:  # the 1m candle in progress has only its open price yet
            p = self.rows[j][1]
            if closed:
                h, low, c = max(h, p), min(low, p), p
            else:
                o = h = low = c = p
                v = qv = 0.0
        return [b, _f(o), _f(h), _f(low), _f(c), _f(v), b + step - 1, _f(qv), 0, _f(v / 2), _f(qv / 2), "0"]

    # --- derivatives -------------------------------------------------------------
    def next_funding_ms(self) -> int:
        return self.now_ms - self.now_ms % FUNDING_PERIOD + FUNDING_PERIOD

    def funding_rate_at(self, t: int) -> str:
        i = bisect_left(self.funding_times, t)
        if i < len(self.funding) and self.funding_times[i] == t:
            return self.funding[i][1]
        return "0.00010000"

    def funding_history(self, start_ms: int | None, end_ms: int | None, limit: int) -> list[tuple[int, str]]:
        hi = bisect_right(self.funding_times, min(end_ms if end_ms is not None else self.now_ms, self.now_ms))
        if start_ms is not None:
            lo = bisect_left(self.funding_times, start_ms)
            return self.funding[lo:hi][:limit]
        return self.funding[max(hi - limit, 0):hi]

    @staticmethod
    def open_interest_at(t: int) -> float:
        day = t / 86_400_000
        return round(80_000 + 6_000 * math.sin(day * 2 * math.pi / 7) + 1_500 * math.sin(day * 2 * math.pi), 3)

    def open_interest_hist(self, period: str, start_ms: int | None, end_ms: int | None, limit: int) -> list[dict]:
        step = INTERVALS[period] * MINUTE
        hi = min(end_ms if end_ms is not None else self.now_ms, self.now_ms)
        hi -= hi % step
        lo = start_ms + (-start_ms) % step if start_ms is not None else hi - (limit - 1) * step
        out = []
        for t in range(lo, hi + 1, step):
            oi = self.open_interest_at(t)
            price = self.price_at(t)
            out.append({"symbol": "BTCUSDT", "sumOpenInterest": _f(oi), "sumOpenInterestValue": _f(oi * price),
                        "CMCCirculatingSupply": "0", "timestamp": t})
        return out[:limit] if start_ms is not None else out[-limit:]

    def price_at(self, t: int) -> float:
        i = max(bisect_right(self.times, t - MINUTE) - 1, 0)
        return self.rows[i][4]


def _f(x: float) -> str:
    """Binance sends numbers as strings; trim float noise to 8 decimals."""
    s = f"{x:.8f}".rstrip("0")
    return s + "0" if s.endswith(".") else s
