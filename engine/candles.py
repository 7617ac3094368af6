"""Candles as arrays: timeframes, validation, gap detection and aggregation (no I/O).

Aggregation follows Binance: buckets aligned to the UTC epoch (so 4h starts at 00:00,
04:00… and 1d at 00:00 UTC), open = first, high = max, low = min, close = last, volumes
and trade counts summed. A bucket is produced only when every 1m candle in it exists:
a partial bucket would be a different candle than the exchange's. An extra column
(quote volume, trade count, taker-buy volume) is summed only when known for every
minute, else it stays unknown (NaN) — never estimated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MINUTE_MS = 60_000
TIMEFRAME_MS: dict[str, int] = {
    "1m": MINUTE_MS, "3m": 3 * MINUTE_MS, "5m": 5 * MINUTE_MS, "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS, "1h": 60 * MINUTE_MS, "2h": 120 * MINUTE_MS, "4h": 240 * MINUTE_MS,
    "6h": 360 * MINUTE_MS, "8h": 480 * MINUTE_MS, "12h": 720 * MINUTE_MS, "1d": 1440 * MINUTE_MS,
}
DERIVED_FROM_1M = ("5m", "15m", "1h", "4h", "1d")
OHLCV = ("open", "high", "low", "close", "volume")
EXTRAS = ("quote_volume", "trade_count", "taker_buy_volume")
COLUMNS = OHLCV + EXTRAS

# Earliest and latest plausible open times: catches seconds or µs mistaken for ms.
_MIN_MS = 1_230_768_000_000  # 2009-01-01
_MAX_MS = 4_102_444_800_000  # 2100-01-01


def timeframe_ms(timeframe: str) -> int:
    try:
        return TIMEFRAME_MS[timeframe]
    except KeyError:
        raise ValueError(f"timeframe {timeframe!r} unknown (known: {', '.join(TIMEFRAME_MS)})") from None


@dataclass(frozen=True)
class Gap:
    """Missing candles: first_missing_ms … last_missing_ms inclusive, `missing` of them."""

    first_missing_ms: int
    last_missing_ms: int
    missing: int

    def describe(self) -> str:
        return f"{ms_to_iso(self.first_missing_ms)} → {ms_to_iso(self.last_missing_ms)} ({self.missing} missing)"


def ms_to_iso(ms: int) -> str:
    return pd.Timestamp(int(ms), unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M")


def find_gaps(open_times_ms: np.ndarray | pd.Series | list[int], step_ms: int) -> list[Gap]:
    """Holes in a sorted, unique series of open times."""
    t = np.asarray(open_times_ms, dtype=np.int64)
    if t.size < 2:
        return []
    d = np.diff(t)
    idx = np.nonzero(d > step_ms)[0]
    return [Gap(int(t[i] + step_ms), int(t[i + 1] - step_ms), int(d[i] // step_ms - 1)) for i in idx]


def check_klines(frame: pd.DataFrame, step_ms: int) -> pd.Series:
    """Why each row is not a valid candle ('' when it is).

    `frame` has numeric columns open_time_ms, OHLCV (NaN = unparseable, reported by the
    reader before this), optional extras and optional close_time_ms.
    """
    t = frame["open_time_ms"].to_numpy(dtype="float64")
    o, h, lo, c, v = (frame[k].to_numpy(dtype="float64") for k in OHLCV)
    checks: list[tuple[np.ndarray, str]] = [
        ((t < _MIN_MS) | (t > _MAX_MS), "open time out of range (not epoch ms/µs of 2009–2100)"),
        (np.fmod(t, step_ms) != 0, f"open time not aligned to {step_ms // MINUTE_MS}-minute boundaries"),
        ((o <= 0) | (h <= 0) | (lo <= 0) | (c <= 0), "non-positive price"),
        (h < lo, "high below low"),
        ((o < lo) | (o > h), "open outside [low, high]"),
        ((c < lo) | (c > h), "close outside [low, high]"),
        (v < 0, "negative volume"),
    ]
    if "close_time_ms" in frame:
        ct = frame["close_time_ms"].to_numpy(dtype="float64")
        checks.append((~np.isnan(ct) & (ct - t != step_ms - 1),
                       "close time does not match the timeframe (wrong --timeframe?)"))
    if "quote_volume" in frame:
        checks.append((frame["quote_volume"].to_numpy(dtype="float64") < 0, "negative quote volume"))
    if "trade_count" in frame:
        n = frame["trade_count"].to_numpy(dtype="float64")
        checks.append(((n < 0) | (np.fmod(n, 1) != 0), "trade count not a non-negative integer"))
    if "taker_buy_volume" in frame:
        tb = frame["taker_buy_volume"].to_numpy(dtype="float64")
        checks.append(((tb < 0) | (tb > v * (1 + 1e-9)), "taker-buy volume outside [0, volume]"))
    conds = [m for m, _ in checks]
    reasons = [r for _, r in checks]
    return pd.Series(np.select(conds, reasons, default=""), index=frame.index)


def aggregate(candles: pd.DataFrame, timeframe: str, source_timeframe: str = "1m") -> pd.DataFrame:
    """Complete `timeframe` candles from sorted, unique, aligned `source_timeframe` ones.

    `candles` has column (or index) open_time_ms and OHLCV, extras optional. Returns a
    frame with column open_time_ms and COLUMNS, one row per complete bucket.
    """
    step, src = timeframe_ms(timeframe), timeframe_ms(source_timeframe)
    if step % src or step <= src:
        raise ValueError(f"cannot build {timeframe} from {source_timeframe}")
    per = step // src
    df = candles.reset_index() if "open_time_ms" not in candles.columns else candles
    if df.empty:
        return pd.DataFrame(columns=["open_time_ms", *COLUMNS])
    t = df["open_time_ms"].to_numpy(dtype=np.int64)
    bucket = t - np.mod(t, step)
    g = df.groupby(bucket, sort=True)
    out = pd.DataFrame({
        "open": g["open"].first(),
        "high": g["high"].max(),
        "low": g["low"].min(),
        "close": g["close"].last(),
        # Rounded to 1e-8 so summing floats gives the exchange's own figure back.
        "volume": g["volume"].sum().round(8),
    })
    for col in EXTRAS:
        if col in df:
            out[col] = g[col].sum(min_count=per).round(8)
        else:
            out[col] = np.nan
    complete = g.size() == per
    out = out[complete.to_numpy()]
    out.index.name = "open_time_ms"
    return out.reset_index().astype({"open_time_ms": np.int64})
