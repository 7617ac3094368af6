"""The market snapshot at cycle time T (PRODUCT.md §5, fields of engine.facts.SNAPSHOT).

Only candles closed at T count: open_time + duration <= T. Each analysed timeframe is
computed over [anchor, T) where the anchor is a fixed UTC day start (params.anchor_ms),
so the batch builder can compute a whole day's cycles at once and read identical
values (see features.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from engine.analytics.features import Arrays, timeframe_features
from engine.analytics.orderbook import orderbook_metrics
from engine.analytics.params import TF_MS, anchor_ms, plain, section, tf_key
from engine.analytics.session import session_at
from engine.facts import TIMEFRAMES_ANALYSED, TIMEFRAMES_SNAPSHOT

STRUCTURE_NAMES = {1: "HH-HL", 2: "LL-LH", 3: "range", 4: "transition"}
MOMENTUM_NAMES = {1: "impulse_up", 2: "impulse_down", 3: "fading", 4: "choppy", 5: "neutral"}
ROW_FLOATS = ("open", "high", "low", "close", "volume", "atr", "atr_pct", "atr_pct_rank", "rsi",
              "macd", "macd_signal", "macd_hist", "ema_20", "ema_50", "ema_200",
              "swing_high", "swing_low", "momentum_score")

Row = dict[str, Any]


def _ema_spread(r: Row | None) -> float | None:
    """(EMA20 - EMA50) / EMA50 in %, None while either is unknown (element-wise: batch == per-cycle)."""
    if not r or r["ema_20"] is None or r["ema_50"] is None or not r["ema_50"]:
        return None
    return (r["ema_20"] - r["ema_50"]) / r["ema_50"] * 100.0


def iso_utc(t_ms: int) -> str:
    dt = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(t_ms))
    # Formatted by hand: strftime is a visible share of a batch's 14,000 cycles.
    text = f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
    return f"{text}.{t_ms % 1000:03d}Z" if t_ms % 1000 else text + "Z"


def num(x: Any) -> float | None:
    """A finite Python float, or None (unknown) for NaN / inf / missing."""
    if x is None:
        return None
    f = float(x)
    return f if math.isfinite(f) else None


def closed_rows(frame: pd.DataFrame, tf: str, t_ms: int, start_ms: int | None = None) -> pd.DataFrame:
    """Rows of `frame` closed at T (open_time + tf <= T), from `start_ms` on."""
    ot = frame.index.to_numpy(dtype=np.int64)
    end = int(np.searchsorted(ot, t_ms - TF_MS[tf], side="right"))
    begin = 0 if start_ms is None else int(np.searchsorted(ot, start_ms, side="left"))
    return frame.iloc[begin:max(begin, end)]


def _values(arr: np.ndarray, idx: np.ndarray) -> list[Any]:
    """Python floats of arr[idx], None (unknown) where NaN / inf — the same values as num()."""
    picked = np.asarray(arr[idx], dtype=np.float64)
    out: list[Any] = picked.tolist()
    for pos in np.flatnonzero(~np.isfinite(picked)).tolist():
        out[pos] = None
    return out


def feature_rows(feats: Arrays, rows: list[int]) -> list[Row]:
    """Plain-Python values of the given rows (None where unknown), one column at a time:
    the batch reads every cycle of a day this way, a single cycle reads one row."""
    idx = np.asarray(rows, dtype=np.int64)
    cols = {k: _values(feats[k], idx) for k in ROW_FLOATS}
    ot = feats["open_time"]
    open_time = ot[idx].tolist()
    swing_rows = {k: feats[k][idx].tolist() for k in ("swing_high_row", "swing_low_row")}
    structure = feats["structure"][idx].tolist()
    momentum = feats["momentum_state"][idx].tolist()
    out: list[Row] = []
    for n in range(len(rows)):
        row: Row = {k: cols[k][n] for k in ROW_FLOATS}
        row["open_time"] = int(open_time[n])
        for k, vals in swing_rows.items():
            r = int(vals[n])
            row[k.replace("_row", "_open_time")] = int(ot[r]) if r >= 0 else None
        row["structure"] = STRUCTURE_NAMES.get(int(structure[n]))
        row["momentum_state"] = MOMENTUM_NAMES.get(int(momentum[n]))
        out.append(row)
    return out


def feature_row(feats: Arrays, j: int) -> Row:
    """Plain-Python values of row j (None where unknown)."""
    return feature_rows(feats, [j])[0]


CANDLE_KEYS = ("open", "high", "low", "close", "volume")


def candle_rows(frame: pd.DataFrame | None, tf: str, times: list[int]) -> list[Row | None]:
    """For each T in `times`, the last candle of `frame` closed at T, as a row (OHLCV + open_time)."""
    if frame is None or frame.empty:
        return [None] * len(times)
    ot = frame.index.to_numpy(dtype=np.int64)
    pos = np.searchsorted(ot, np.asarray(times, dtype=np.int64) - TF_MS[tf], side="right") - 1
    idx = np.maximum(pos, 0)
    cols = {k: _values(frame[k].to_numpy(dtype=np.float64), idx) for k in CANDLE_KEYS}
    open_time = ot[idx].tolist()
    out: list[Row | None] = []
    for n, p in enumerate(pos.tolist()):
        if p < 0:
            out.append(None)
            continue
        row: Row = {k: cols[k][n] for k in CANDLE_KEYS}
        row["open_time"] = int(open_time[n])
        out.append(row)
    return out


def candle_row(frame: pd.DataFrame | None, tf: str, t_ms: int) -> Row | None:
    """The last candle of `frame` closed at T, as a row (OHLCV + open_time)."""
    return candle_rows(frame, tf, [t_ms])[0]


def analyse_timeframe(frame: pd.DataFrame | None, tf: str, t_ms: int, config: Any) -> Row | None:
    """Features of the last candle closed at T, computed from the anchor on."""
    if frame is None:
        return None
    a = section(config, "analytics")
    rows = closed_rows(frame, tf, t_ms, anchor_ms(t_ms, tf, a))
    if rows.empty:
        return None
    return feature_row(timeframe_features(rows, int(a["swing_bars"][tf]), a), len(rows) - 1)


def build_snapshot(candles: Mapping[str, pd.DataFrame], t_ms: int, config: Any,
                   depth: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Snapshot at T from candle frames keyed by timeframe ("1m"/"tf_1m", ... "1h")."""
    frames = {tf_key(k): v for k, v in candles.items()}
    rows: dict[str, Row | None] = {tf: analyse_timeframe(frames.get(tf), tf, t_ms, config)
                                   for tf in TIMEFRAMES_ANALYSED}
    last_1m = candle_row(frames.get("tf_1m"), "tf_1m", t_ms)
    return assemble_snapshot(t_ms, rows, last_1m, config, depth)


def _ohlcv(row: Row | None) -> dict[str, float | None]:
    keys = {"o": "open", "h": "high", "l": "low", "c": "close", "v": "volume"}
    return {k: (row[v] if row else None) for k, v in keys.items()}


def assemble_snapshot(t_ms: int, rows: Mapping[str, Row | None], last_1m: Row | None, config: Any,
                      depth: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The snapshot document from per-timeframe rows (shared by per-cycle and batch)."""
    a = section(config, "analytics")
    by_tf: dict[str, Row | None] = {"tf_1m": last_1m, **rows}
    # The freshest closed candle gives the price and the data age.
    fresh = [(r["open_time"] + TF_MS[tf], r) for tf, r in by_tf.items() if r and r.get("close") is not None]
    close_ms, fresh_row = max(fresh, key=lambda x: x[0]) if fresh else (None, None)
    price = fresh_row["close"] if fresh_row else None
    dt = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(t_ms))
    current, restricted = session_at(dt.hour, section(config, "sessions"))
    regime_row = rows.get(a["volatility_regime"]["timeframe"])
    rank = regime_row["atr_pct_rank"] if regime_row else None
    vr = a["volatility_regime"]
    regime = None if rank is None else (
        "low" if rank < vr["low_percentile"] else "high" if rank > vr["high_percentile"] else "normal")
    ob = a["orderbook"]

    def per_tf(fn: Any) -> dict[str, Any]:
        return {tf: fn(rows.get(tf)) for tf in TIMEFRAMES_ANALYSED}

    return {
        "symbol": plain(config).get("symbol", "BTCUSDT"),
        "timestamp_iso": iso_utc(t_ms),
        "timestamp_ms": int(t_ms),
        "price": price,
        "candles": {tf: _ohlcv(by_tf.get(tf)) for tf in TIMEFRAMES_SNAPSHOT},
        "candle_open_time_ms": {tf: (by_tf[tf] or {}).get("open_time") for tf in TIMEFRAMES_SNAPSHOT},
        "market_structure": per_tf(lambda r: r["structure"] if r else None),
        "swings": per_tf(lambda r: {
            "high": r["swing_high"] if r else None, "low": r["swing_low"] if r else None,
            "high_open_time_ms": r["swing_high_open_time"] if r else None,
            "low_open_time_ms": r["swing_low_open_time"] if r else None}),
        "momentum": per_tf(lambda r: {"state": r["momentum_state"] if r else None,
                                      "score": r["momentum_score"] if r else None}),
        "volatility": {
            "atr": per_tf(lambda r: r["atr"] if r else None),
            "atr_pct": per_tf(lambda r: r["atr_pct"] if r else None),
            "atr_pct_rank": per_tf(lambda r: r["atr_pct_rank"] if r else None),
        },
        "session": {
            "current": current,
            "time_utc": f"{dt.hour:02d}:{dt.minute:02d}",
            "volatility_regime": regime,
            "restricted": restricted,
        },
        "indicators": per_tf(lambda r: {**{k: (r[k] if r else None) for k in (
            "macd", "macd_signal", "macd_hist", "rsi", "ema_20", "ema_50", "ema_200")},
            "ema_20_50_pct": _ema_spread(r)}),
        "orderbook": orderbook_metrics(depth, int(ob["top_n"]), float(ob["typical_order_usdt"])),
        "data_age_s": None if close_ms is None else (t_ms - close_ms) / 1000.0,
    }
