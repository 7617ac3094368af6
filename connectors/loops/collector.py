"""The live collector: every minute, what is new on the exchange goes into the database.

Per cycle (`Collector.cycle()`):
- klines 1m / 5m / 15m / 1h: from the last stored open time onwards, paged; the newest
  kline of the newest page is still forming and is NOT stored;
- gaps: stored series are scanned over the last `gap_scan_days`; each hole is fetched
  again (the exchange may have been down, or we were); a hole the exchange still does
  not fill after `max_gap_attempts` tries is reported and left alone (real exchange
  maintenance gaps exist — never interpolated);
- funding history from the last stored funding time; premium index (mark, index,
  predicted funding, next funding time); open interest now and its 5m history;
- the order book: the top `depth_levels` levels each side, one row a pass (kind `depth`,
  value = mid price, details = {bids, asks}), kept `depth_keep_ms` (a day) — the analytics
  cycle turns the freshest one before T into the snapshot's order-book metrics (spread,
  imbalance, walls, slippage).
Upserts are idempotent (same key → same row), so a cycle that died half-way is simply
run again; restart resumes from what the database holds. Weight and rate limits are the
transport's job (connectors/binance/transport.py): it slows down before the limit and
waits Retry-After on 429/418.

The store is a small protocol (`MarketStore`) so the collector does not care whether
it is the peewee database (connectors/stores/collector_db.py) or anything else.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from connectors.stores.collector_db import DerivativeRow
from engine.exchange.interface import Exchange
from engine.exchange.types import Kline

log = logging.getLogger("showdown.collector")

MINUTE = 60_000
STEP_MS = {"1m": MINUTE, "5m": 5 * MINUTE, "15m": 15 * MINUTE, "1h": 60 * MINUTE, "4h": 240 * MINUTE,
           "1d": 1440 * MINUTE}
PAGE = 1000  # klines per request (weight 5) when catching up: fewest requests per candle
PROBE = 99  # first request of a pass (weight 1): in steady state one minute is new
BOOK_LIMITS = (5, 10, 20, 50, 100, 500, 1000)  # the only depth sizes Binance accepts


class MarketStore(Protocol):
    def last_open_time(self, symbol: str, timeframe: str) -> int | None: ...

    def open_times(self, symbol: str, timeframe: str, start_ms: int, end_ms: int) -> list[int]:
        """Stored open times in [start_ms, end_ms), ascending."""
        ...

    def upsert_klines(self, symbol: str, timeframe: str, klines: Sequence[Kline]) -> int: ...

    def last_derivative_time(self, symbol: str, kind: str) -> int | None: ...

    def upsert_derivatives(self, symbol: str, rows: Sequence[DerivativeRow]) -> int: ...

    def delete_derivatives_before(self, symbol: str, kind: str, before_ms: int) -> int: ...


@dataclass
class CycleReport:
    candles: dict[str, int] = field(default_factory=dict)
    backfilled: dict[str, int] = field(default_factory=dict)
    derivatives: int = 0
    unfillable_gaps: list[tuple[str, int, int]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class Collector:
    exchange: Exchange
    store: MarketStore
    symbol: str = "BTCUSDT"
    timeframes: tuple[str, ...] = ("1m", "5m", "15m", "1h")
    initial_lookback_ms: int = 24 * 60 * MINUTE  # first run on an empty database
    gap_scan_days: float = 7.0
    max_gap_attempts: int = 3
    depth_levels: int = 20  # 0: no order book (a replay's simulated book is not a market's)
    # A book a minute is ~1 MB a day: only the cycles' look-back needs them, and each
    # decision's trace keeps the metrics it used. One day is kept for looking into.
    depth_keep_ms: int = 24 * 60 * MINUTE
    _gap_attempts: dict[tuple[str, int], int] = field(default_factory=dict)
    # Per timeframe, the open time up to which stored history is known to be whole (or
    # its holes given up on): later scans start there instead of re-reading days of rows.
    _whole_until: dict[str, int] = field(default_factory=dict)

    def cycle(self) -> CycleReport:
        """One collection pass. A failing part is reported and the others still run."""
        report = CycleReport()
        for tf in self.timeframes:
            self._guard(report, f"klines {tf}", lambda tf=tf: self._new_klines(tf, report))
            self._guard(report, f"gaps {tf}", lambda tf=tf: self._backfill(tf, report))
        self._guard(report, "funding", lambda: self._funding(report))
        self._guard(report, "premium index", lambda: self._premium(report))
        self._guard(report, "open interest", lambda: self._open_interest(report))
        self._guard(report, "order book", lambda: self._depth(report))
        return report

    @staticmethod
    def _guard(report: CycleReport, what: str, fn) -> None:  # type: ignore[no-untyped-def]
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - one part failing must not stop the others
            log.warning("collector %s failed: %s", what, exc)
            report.errors.append(f"{what}: {exc}")

    # --- klines -------------------------------------------------------------------
    def _fetch(self, tf: str, start_ms: int, end_ms: int | None) -> tuple[list[Kline], bool]:
        """Klines from start_ms (to end_ms), paged; returns (klines, reached the live end)."""
        out: list[Kline] = []
        cursor = start_ms
        limit = PROBE
        while True:
            page = self.exchange.klines(self.symbol, tf, start_ms=cursor, end_ms=end_ms, limit=limit)
            out.extend(page)
            if len(page) < limit:
                return out, end_ms is None
            limit = PAGE
            cursor = page[-1].open_time_ms + STEP_MS[tf]
            if end_ms is not None and cursor > end_ms:
                return out, False

    def _new_klines(self, tf: str, report: CycleReport) -> None:
        last = self.store.last_open_time(self.symbol, tf)
        if last is None:
            head = self.exchange.klines(self.symbol, tf, limit=1)
            if not head:
                return
            start = head[-1].open_time_ms - self.initial_lookback_ms
            start -= start % STEP_MS[tf]
        else:
            start = last + STEP_MS[tf]
        klines, live_end = self._fetch(tf, start, None)
        if live_end and klines:
            klines = klines[:-1]  # the newest one is still forming
        report.candles[tf] = self.store.upsert_klines(self.symbol, tf, klines) if klines else 0

    def _backfill(self, tf: str, report: CycleReport) -> None:
        step = STEP_MS[tf]
        last = self.store.last_open_time(self.symbol, tf)
        if last is None:
            return
        since = last - int(self.gap_scan_days * 1440) * MINUTE
        if tf in self._whole_until:
            since = max(since, self._whole_until[tf])
        times = self.store.open_times(self.symbol, tf, since, last + step)
        filled = 0
        whole_until = last
        for prev, nxt in zip(times, times[1:], strict=False):
            if nxt - prev == step:
                continue
            first, final = prev + step, nxt - step
            key = (tf, first)
            if self._gap_attempts.get(key, 0) >= self.max_gap_attempts:
                continue  # given up on: the exchange has no data there
            self._gap_attempts[key] = self._gap_attempts.get(key, 0) + 1
            klines, _ = self._fetch(tf, first, final + step - 1)
            klines = [k for k in klines if first <= k.open_time_ms <= final]
            if klines:
                filled += self.store.upsert_klines(self.symbol, tf, klines)
                log.info("collector: backfilled %d %s candles in %d..%d", len(klines), tf, first, final)
            if len(klines) == (final - first) // step + 1:
                continue
            if self._gap_attempts[key] >= self.max_gap_attempts:
                report.unfillable_gaps.append((tf, first, final))
                log.warning("collector: %s gap %d..%d not served by the exchange; left as a gap", tf, first, final)
            else:
                whole_until = min(whole_until, prev)  # look at it again next cycle
        self._whole_until[tf] = whole_until
        report.backfilled[tf] = filled

    # --- derivatives -----------------------------------------------------------------
    def _funding(self, report: CycleReport) -> None:
        last = self.store.last_derivative_time(self.symbol, "funding_rate")
        start = last + 1 if last is not None else None
        rows = self.exchange.funding_history(self.symbol, start_ms=start, limit=1000 if start else 100)
        report.derivatives += self.store.upsert_derivatives(
            self.symbol, [DerivativeRow("funding_rate", r.funding_time_ms, float(r.rate)) for r in rows])

    def _premium(self, report: CycleReport) -> None:
        p = self.exchange.premium_index(self.symbol)
        details = {"next_funding_time_ms": p.next_funding_time_ms, "predicted_funding_rate": float(p.last_funding_rate)}
        report.derivatives += self.store.upsert_derivatives(self.symbol, [
            DerivativeRow("mark_price", p.time_ms, float(p.mark_price), details),
            DerivativeRow("index_price", p.time_ms, float(p.index_price)),
        ])

    def _open_interest(self, report: CycleReport) -> None:
        now = self.exchange.open_interest(self.symbol)
        rows = [DerivativeRow("open_interest_live", now.time_ms, now.open_interest)]
        last = self.store.last_derivative_time(self.symbol, "open_interest")
        hist = self.exchange.open_interest_history(self.symbol, "5m", start_ms=last + 1 if last else None,
                                                   limit=500 if last else 288)
        rows += [DerivativeRow("open_interest", h.time_ms, h.open_interest,
                               {"value_usdt": h.open_interest_value}) for h in hist]
        report.derivatives += self.store.upsert_derivatives(self.symbol, rows)

    def _depth(self, report: CycleReport) -> None:
        if self.depth_levels <= 0:
            return
        limit = next((n for n in BOOK_LIMITS if n >= self.depth_levels), BOOK_LIMITS[-1])
        book = self.exchange.depth(self.symbol, limit)
        if not book.bids or not book.asks:
            return  # a one-sided answer is no snapshot of the book: the cycle sees "unavailable"
        mid = (book.bids[0][0] + book.asks[0][0]) / 2
        levels = {"bids": [[float(p), float(q)] for p, q in book.bids[:self.depth_levels]],
                  "asks": [[float(p), float(q)] for p, q in book.asks[:self.depth_levels]]}
        report.derivatives += self.store.upsert_derivatives(
            self.symbol, [DerivativeRow("depth", book.time_ms, float(mid), levels)])
        self.store.delete_derivatives_before(self.symbol, "depth", book.time_ms - self.depth_keep_ms)
