"""Importing market-data files into the database.

One file = one transaction: a refused or interrupted import writes nothing. Only new or
changed rows are written, so re-importing a file changes nothing and reports 0 new.
Gaps are reported, never filled. Importing 1m candles also (re)builds the complete
5m/15m/1h/4h/1d candles they cover, from the stored 1m (so a bucket straddling two
files is built once both are in).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from connectors.db import database_proxy
from connectors.db.candles import candles_between, upsert_candles
from connectors.db.derivatives import upsert_derivatives
from connectors.db.models import Derivative
from connectors.market.market_files import ParsedFile, read_funding, read_klines
from engine.candles import (
    COLUMNS,
    DERIVED_FROM_1M,
    EXTRAS,
    OHLCV,
    Gap,
    aggregate,
    find_gaps,
    timeframe_ms,
)

DAY_MS = 86_400_000


@dataclass
class Written:
    timeframe: str  # or the derivative kind
    new: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class ImportReport:
    path: Path
    symbol: str
    timeframe: str
    layout: str
    rows_read: int
    valid: int
    bad: list[str] = field(default_factory=list)  # "file:line: reason", capped
    bad_count: int = 0
    duplicates_dropped: int = 0
    written: list[Written] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        out = [f"{self.path.name}: {self.rows_read} rows read ({self.layout} layout), {self.valid} valid"]
        if self.duplicates_dropped:
            out.append(f"  {self.duplicates_dropped} identical repeated rows ignored")
        if self.bad_count:
            out.append(f"  {self.bad_count} bad lines skipped (--skip-bad):")
            out += ["    " + b for b in self.bad]
        for w in self.written:
            out.append(f"  {w.timeframe}: {w.new} new, {w.updated} updated, {w.unchanged} unchanged")
        if self.gaps:
            out.append(f"  {len(self.gaps)} gap(s) in the file, {sum(g.missing for g in self.gaps)} "
                       f"candles missing (not filled):")
            out += ["    " + g.describe() for g in self.gaps[:20]]
            if len(self.gaps) > 20:
                out.append(f"    … and {len(self.gaps) - 20} more")
        out.append(f"  {self.seconds:.1f} s")
        return out


class ImportRefused(Exception):
    """The file has bad rows (and --skip-bad was not given): nothing was written."""

    def __init__(self, parsed: ParsedFile):
        self.parsed = parsed
        lines = parsed.bad_summary()
        super().__init__(f"{parsed.path}: {len(parsed.bad)} bad line(s), nothing imported "
                         f"(fix them or use --skip-bad):\n  " + "\n  ".join(lines))


def _changes(frame: pd.DataFrame, existing: pd.DataFrame) -> tuple[pd.DataFrame, int, int, int]:
    """Rows of `frame` (open_time_ms column) to write, and counts new / updated / unchanged."""
    t = frame["open_time_ms"].to_numpy(np.int64)
    known = np.isin(t, existing.index.to_numpy(np.int64))
    if not known.any():
        return frame, len(frame), 0, 0
    old = existing.reindex(t)
    differs = np.zeros(len(frame), dtype=bool)
    for c in OHLCV:
        differs |= frame[c].to_numpy("float64") != old[c].to_numpy("float64")
    for c in EXTRAS:
        mine = frame[c].to_numpy("float64")
        theirs = old[c].to_numpy("float64")
        # A value we know and the table doesn't (or disagrees with) is a change; our
        # unknown never erases their known.
        differs |= ~np.isnan(mine) & ((mine != theirs) | np.isnan(theirs))
    write = ~known | (known & differs)
    new = int((~known).sum())
    updated = int((known & differs).sum())
    return frame[write], new, updated, int(len(frame) - new - updated)


def _bar(total: int, progress: bool, desc: str) -> tqdm:
    return tqdm(total=total, unit="rows", desc=desc, file=sys.stderr, leave=False,
                disable=not (progress and sys.stderr.isatty()))


def import_klines(path: Path | str, symbol: str = "BTCUSDT", timeframe: str = "1m", skip_bad: bool = False,
                  derive: Sequence[str] | None = None, progress: bool = False) -> ImportReport:
    """Import one kline file. derive: timeframes to build (default: 5m…1d when importing 1m)."""
    started = time.perf_counter()
    parsed = read_klines(path, timeframe)
    if parsed.bad and not skip_bad:
        raise ImportRefused(parsed)
    frame = parsed.frame
    report = ImportReport(path=parsed.path, symbol=symbol, timeframe=timeframe, layout=parsed.layout,
                          rows_read=parsed.rows_read, valid=len(frame), bad=parsed.bad_summary(),
                          bad_count=len(parsed.bad), duplicates_dropped=parsed.duplicates_dropped)
    if not skip_bad:
        report.bad = []
    step = timeframe_ms(timeframe)
    report.gaps = find_gaps(frame["open_time_ms"].to_numpy(), step)
    targets = list(DERIVED_FROM_1M if derive is None and timeframe == "1m" else derive or [])
    if frame.empty:
        report.written.append(Written(timeframe))
        report.seconds = time.perf_counter() - started
        return report
    first, last = int(frame["open_time_ms"].iloc[0]), int(frame["open_time_ms"].iloc[-1])
    with database_proxy.atomic():
        existing = candles_between(symbol, timeframe, first, last + 1)
        rows, new, upd, same = _changes(frame, existing)
        report.written.append(Written(timeframe, new, upd, same))
        with _bar(len(rows), progress, f"{parsed.path.name} {timeframe}") as bar:
            upsert_candles(rows, symbol=symbol, timeframe=timeframe, on_chunk=bar.update)
        if targets:
            # Every target divides a day: one read of whole days covers every bucket touched.
            lo, hi = first - first % DAY_MS, last - last % DAY_MS + DAY_MS
            # What the table now holds over those days, without re-reading the file's span:
            # the file's rows, completed by what was there (same rule as the upsert).
            middle = frame.set_index("open_time_ms")[list(COLUMNS)]
            if not existing.empty:
                middle = middle.combine_first(existing)
            source = pd.concat([candles_between(symbol, timeframe, lo, first), middle,
                                candles_between(symbol, timeframe, last + 1, hi)]).sort_index()
            for tf in targets:
                tf_step = timeframe_ms(tf)
                built = aggregate(source, tf, timeframe)
                built = built[(built["open_time_ms"] >= first - first % tf_step) &
                              (built["open_time_ms"] <= last)]
                existing = candles_between(symbol, tf, lo, hi)
                rows, new, upd, same = _changes(built, existing)
                upsert_candles(rows, symbol=symbol, timeframe=tf)
                report.written.append(Written(tf, new, upd, same))
    report.seconds = time.perf_counter() - started
    return report


def import_funding(path: Path | str, symbol: str = "BTCUSDT", skip_bad: bool = False) -> ImportReport:
    """Funding-rate history into `derivatives` (kind funding_rate, value = fraction per 8h)."""
    started = time.perf_counter()
    parsed = read_funding(path)
    if parsed.bad and not skip_bad:
        raise ImportRefused(parsed)
    frame = parsed.frame
    report = ImportReport(path=parsed.path, symbol=symbol, timeframe="funding", layout=parsed.layout,
                          rows_read=parsed.rows_read, valid=len(frame),
                          bad=parsed.bad_summary() if skip_bad else [], bad_count=len(parsed.bad),
                          duplicates_dropped=parsed.duplicates_dropped)
    kind = "funding_rate"
    written = Written(kind)
    if not frame.empty:
        with database_proxy.atomic():
            cursor = database_proxy.execute(
                Derivative.select(Derivative.time_ms, Derivative.value).where(
                    (Derivative.symbol == symbol) & (Derivative.kind == kind)))
            old = dict(cursor.fetchall())
            times = frame["time_ms"].astype(np.int64).tolist()
            rates = frame["rate"].astype("float64").tolist()
            todo = [(symbol, kind, t, r) for t, r in zip(times, rates, strict=True) if old.get(t) != r]
            written.new = sum(1 for t in times if t not in old)
            written.updated = len(todo) - written.new
            written.unchanged = len(times) - len(todo)
            upsert_derivatives(symbol, kind, [(t, r) for _, _, t, r in todo])
    report.written.append(written)
    report.seconds = time.perf_counter() - started
    return report
