"""Candles in the database: bulk upsert and the reads analytics and backtests use.

Every function works on the database the models are bound to (`open_database`).
Frames use open_time_ms as index and float columns open high low close volume
quote_volume trade_count taker_buy_volume; NaN means unknown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import peewee as pw

from connectors.db import database_proxy, is_sqlite
from connectors.db.models import Candle
from engine.candles import COLUMNS, EXTRAS, OHLCV, TIMEFRAME_MS, Gap, find_gaps, timeframe_ms

_KEY = ("symbol", "timeframe", "open_time_ms")
_INSERT_COLUMNS = (*_KEY, *COLUMNS)
CHUNK_ROWS = 5000  # rows per executemany: progress granularity


def _frame_rows(rows: pd.DataFrame | Iterable[Mapping[str, Any]], symbol: str | None,
                timeframe: str | None) -> list[tuple[Any, ...]]:
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if df.empty:
        return []
    if "open_time_ms" not in df.columns:
        df = df.reset_index()
    df = df.copy()
    for name, given in (("symbol", symbol), ("timeframe", timeframe)):
        if given is not None:
            df[name] = given
        elif name not in df.columns:
            raise ValueError(f"upsert_candles: rows carry no {name!r} and none was given")
    for col in EXTRAS:
        if col not in df.columns:
            df[col] = np.nan
    missing = [c for c in ("open_time_ms", *OHLCV) if c not in df.columns]
    if missing:
        raise ValueError(f"upsert_candles: rows lack column(s) {missing}")
    cols: list[list[Any]] = [
        df["symbol"].astype(str).tolist(),
        df["timeframe"].astype(str).tolist(),
        df["open_time_ms"].astype(np.int64).tolist(),
    ]
    for c in COLUMNS:
        values = df[c].astype("float64").tolist()
        # NaN is "unknown": NULL in the table (MySQL refuses NaN, SQLite would store it).
        if c == "trade_count":
            cols.append([None if v != v else int(v) for v in values])
        else:
            cols.append([None if v != v else v for v in values])
    return list(zip(*cols, strict=True))


def _incoming(f: pw.Field, sqlite: bool) -> Any:
    """The value the conflicting INSERT tried to write, in each backend's syntax."""
    return getattr(pw.EXCLUDED, f.column_name) if sqlite else pw.fn.VALUES(f)


def upsert_candles(rows: pd.DataFrame | Iterable[Mapping[str, Any]], symbol: str | None = None,
                   timeframe: str | None = None, on_chunk: Callable[[int], None] | None = None) -> int:
    """Insert candles; an existing candle (same symbol, timeframe, open time) takes the new
    OHLCV, and its extras only where the new row knows them. Returns rows sent.

    Runs in one transaction: callers see all rows or none.
    """
    data = _frame_rows(rows, symbol, timeframe)
    if not data:
        return 0
    db = database_proxy
    sqlite = is_sqlite(db)
    fields = [getattr(Candle, c) for c in _INSERT_COLUMNS]
    update: dict[pw.Field, Any] = {getattr(Candle, c): _incoming(getattr(Candle, c), sqlite) for c in OHLCV}
    for c in EXTRAS:
        f = getattr(Candle, c)
        update[f] = pw.fn.COALESCE(_incoming(f, sqlite), f)
    conflict = {"conflict_target": [Candle.symbol, Candle.timeframe, Candle.open_time_ms]} if sqlite else {}
    # peewee renders the statement once; the driver's executemany then streams the rows
    # (building a 94k-row insert through peewee's query builder costs seconds).
    query = Candle.insert_many(data[:1], fields=fields).on_conflict(update=update, **conflict)
    sql, params = query.sql()
    if len(params) != len(_INSERT_COLUMNS):
        raise RuntimeError(f"upsert_candles: unexpected parameters in {sql!r}")
    with db.atomic():
        cursor = db.cursor()
        for i in range(0, len(data), CHUNK_ROWS):
            chunk = data[i:i + CHUNK_ROWS]
            cursor.executemany(sql, chunk)
            if on_chunk:
                on_chunk(len(chunk))
    return len(data)


def _frame(query: pw.Query) -> pd.DataFrame:
    cursor = database_proxy.execute(query)
    df = pd.DataFrame(cursor.fetchall(), columns=["open_time_ms", *COLUMNS])
    df = df.astype({"open_time_ms": np.int64, **{c: "float64" for c in COLUMNS}})
    return df.set_index("open_time_ms")


def _select(symbol: str, timeframe: str) -> Any:
    timeframe_ms(timeframe)  # clear error for an unknown timeframe
    cols = [Candle.open_time_ms, *(getattr(Candle, c) for c in COLUMNS)]
    return Candle.select(*cols).where((Candle.symbol == symbol) & (Candle.timeframe == timeframe))


def latest_candles(symbol: str, timeframe: str, n: int, before_ms: int | None = None) -> pd.DataFrame:
    """The last `n` candles, oldest first.

    before_ms: the clock "now" (backtests): only candles already closed then, i.e.
    open_time_ms + timeframe <= before_ms — no look-ahead into a candle still forming.
    """
    q = _select(symbol, timeframe)
    if before_ms is not None:
        q = q.where(Candle.open_time_ms <= before_ms - timeframe_ms(timeframe))
    q = q.order_by(Candle.open_time_ms.desc()).limit(n)
    return _frame(q).sort_index()


def candles_between(symbol: str, timeframe: str, start_ms: int, end_ms: int) -> pd.DataFrame:
    """Candles with start_ms <= open_time_ms < end_ms, oldest first."""
    q = _select(symbol, timeframe).where(
        (Candle.open_time_ms >= start_ms) & (Candle.open_time_ms < end_ms)).order_by(Candle.open_time_ms)
    return _frame(q)


@dataclass(frozen=True)
class Coverage:
    timeframe: str
    first_ms: int
    last_ms: int
    count: int
    gaps: list[Gap] = field(default_factory=list)

    @property
    def missing(self) -> int:
        return sum(g.missing for g in self.gaps)


def coverage(symbol: str) -> dict[str, Coverage]:
    """Per stored timeframe (shortest first): first and last open time, count, gaps."""
    tfs = [str(r[0]) for r in database_proxy.execute(
        Candle.select(Candle.timeframe).where(Candle.symbol == symbol).group_by(Candle.timeframe)).fetchall()]
    out: dict[str, Coverage] = {}
    for tf in sorted(tfs, key=lambda t: TIMEFRAME_MS.get(t, 0)):
        cursor = database_proxy.execute(
            Candle.select(Candle.open_time_ms)
            .where((Candle.symbol == symbol) & (Candle.timeframe == tf)).order_by(Candle.open_time_ms))
        t = np.fromiter((r[0] for r in cursor.fetchall()), dtype=np.int64)
        gaps = find_gaps(t, timeframe_ms(tf)) if tf in TIMEFRAME_MS else []
        out[tf] = Coverage(tf, int(t[0]), int(t[-1]), int(t.size), gaps)
    return out

