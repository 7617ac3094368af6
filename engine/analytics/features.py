"""Per-timeframe features, vectorised and causal.

`timeframe_features(frame, ...)` returns one array per feature, aligned with the
frame's rows; the value in row j uses rows 0..j only (TA-Lib indicators are
recursive from the first row, swings need the N rows after them to be confirmed,
so row j only sees swings confirmed by row j). Hence the per-cycle builder (frame =
[anchor, T)) and the batch builder (one longer frame from the same anchor, read at
row j) get bit-identical values: the same operations on the same prefix.

Sums over windows are written as explicit adds in a fixed order and percentile ranks
as integer counts, so nothing depends on the length of the array around them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import talib
from numpy.lib.stride_tricks import sliding_window_view

Arrays = dict[str, np.ndarray]


def _f64(frame: pd.DataFrame, col: str) -> np.ndarray:
    return np.ascontiguousarray(frame[col].to_numpy(dtype=np.float64))


def swing_points(high: np.ndarray, low: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of fractal swing highs / lows with `n` bars each side.

    A swing high beats the n highs before it strictly and is >= the n after it (so of
    two equal tops the first one is the swing). Confirmed at row index + n.
    """
    size = len(high)
    if size < 2 * n + 1:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    wh = sliding_window_view(high, 2 * n + 1)
    wl = sliding_window_view(low, 2 * n + 1)
    ch, cl = wh[:, n], wl[:, n]
    is_high = (ch > wh[:, :n].max(axis=1)) & (ch >= wh[:, n + 1:].max(axis=1))
    is_low = (cl < wl[:, :n].min(axis=1)) & (cl <= wl[:, n + 1:].min(axis=1))
    return np.flatnonzero(is_high).astype(np.int64) + n, np.flatnonzero(is_low).astype(np.int64) + n


def _last_two(idx: np.ndarray, values: np.ndarray, n: int, size: int) -> tuple[np.ndarray, ...]:
    """For each row j: value and row of the last and previous swing confirmed by row j."""
    count = np.searchsorted(idx + n, np.arange(size), side="right")
    padded_val = np.concatenate(([np.nan, np.nan], values[idx]))
    padded_idx = np.concatenate(([-1, -1], idx))
    return (padded_val[count + 1], padded_idx[count + 1], padded_val[count], padded_idx[count])


def structure_codes(last_h, prev_h, last_l, prev_l, close) -> np.ndarray:
    """0 unknown, 1 HH-HL, 2 LL-LH, 3 range, 4 transition (see README)."""
    known = ~(np.isnan(last_h) | np.isnan(prev_h) | np.isnan(last_l) | np.isnan(prev_l))
    with np.errstate(invalid="ignore"):
        hh = last_h > prev_h
        hl = last_l > prev_l
        up = hh & hl
        down = ~hh & ~hl
        code = np.where(up, 1, np.where(down, 2, 3))
        code = np.where(up & (close < last_l), 4, code)
        code = np.where(down & (close > last_h), 4, code)
    return np.where(known, code, 0)


def _shift(a: np.ndarray, k: int) -> np.ndarray:
    out = np.full_like(a, np.nan)
    if k < len(a):
        out[k:] = a[: len(a) - k]
    return out


def momentum(o, h, low, c, atr, hist, p: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Score in [0, 1] and state code (0 unknown, 1 impulse_up, 2 impulse_down, 3 fading,
    4 choppy, 5 neutral) per row; formula in README."""
    k = int(p["lookback_bars"])
    with np.errstate(invalid="ignore", divide="ignore"):
        move = (c - _shift(c, k)) / atr
        direction = np.sign(move)
        strength = np.minimum(np.abs(move) / p["full_move_atr"], 1.0)
        slope = (hist - _shift(hist, 1)) / atr
        slope_agree = np.clip(direction * slope / p["full_slope_atr"], -1.0, 1.0)
        rng = h - low
        body = np.where(rng > 0, (c - o) / np.where(rng > 0, rng, 1.0), 0.0)
        body_agree = np.clip(direction * body, -1.0, 1.0)
        score = (p["weight_return"] * strength + p["weight_slope"] * np.maximum(slope_agree, 0.0)
                 + p["weight_body"] * np.maximum(body_agree, 0.0))
        score = np.clip(score, 0.0, 1.0)
        path = np.zeros_like(c)
        d = np.abs(c - _shift(c, 1))
        for i in range(k):  # fixed-order adds: the same value whatever the array length
            path = path + _shift(d, i)
        efficiency = np.where(path > 0, np.abs(c - _shift(c, k)) / np.where(path > 0, path, 1.0), 0.0)
        impulse = (score >= p["impulse_min_score"]) & (slope_agree >= 0) & (direction != 0)
        state = np.where(impulse & (direction > 0), 1, np.where(impulse & (direction < 0), 2, 0))
        fading = ~impulse & (strength >= p["fading_min_move"]) & (slope_agree < 0)
        choppy = ~impulse & ~fading & (efficiency < p["choppy_max_efficiency"])
        state = np.where(state == 0, np.where(fading, 3, np.where(choppy, 4, 5)), state)
        unknown = np.isnan(score) | np.isnan(move) | np.isnan(slope)
    return np.where(unknown, np.nan, score), np.where(unknown, 0, state)


def percentile_rank(x: np.ndarray, window: int) -> np.ndarray:
    """Percent of the previous `window` values strictly below x[j] (NaN until known)."""
    out = np.full(len(x), np.nan)
    if len(x) <= window:
        return out
    win = sliding_window_view(x[:-1], window)
    cur = x[window:]
    counts = (win < cur[:, None]).sum(axis=1)
    bad = np.isnan(win).any(axis=1) | np.isnan(cur)
    out[window:] = np.where(bad, np.nan, counts * 100.0 / window)
    return out


def timeframe_features(frame: pd.DataFrame, swing_n: int, a: Mapping[str, Any]) -> Arrays:
    """Every per-row feature of one timeframe's closed candles (index open_time_ms)."""
    o, h, low, c = (_f64(frame, col) for col in ("open", "high", "low", "close"))
    size = len(c)
    macd_p = a["macd"]
    if size:
        atr = talib.ATR(h, low, c, timeperiod=int(a["atr_period"]))
        rsi = talib.RSI(c, timeperiod=int(a["rsi_period"]))
        macd, macd_signal, macd_hist = talib.MACD(
            c, fastperiod=int(macd_p["fast"]), slowperiod=int(macd_p["slow"]), signalperiod=int(macd_p["signal"]))
        ema = {p: talib.EMA(c, timeperiod=p) for p in (20, 50, 200)}
    else:
        atr = rsi = macd = macd_signal = macd_hist = np.empty(0)
        ema = {p: np.empty(0) for p in (20, 50, 200)}
    with np.errstate(invalid="ignore", divide="ignore"):
        atr_pct = atr / c * 100.0
    hi_idx, lo_idx = swing_points(h, low, swing_n)
    last_h, last_h_row, prev_h, _ = _last_two(hi_idx, h, swing_n, size)
    last_l, last_l_row, prev_l, _ = _last_two(lo_idx, low, swing_n, size)
    score, state = momentum(o, h, low, c, atr, macd_hist, a["momentum"])
    vr = a["volatility_regime"]
    ot = frame.index.to_numpy(dtype=np.int64)
    return {
        "open_time": ot, "open": o, "high": h, "low": low, "close": c,
        "volume": _f64(frame, "volume"),
        "atr": atr, "atr_pct": atr_pct, "atr_pct_rank": percentile_rank(atr_pct, int(vr["window_bars"])),
        "rsi": rsi, "macd": macd, "macd_signal": macd_signal, "macd_hist": macd_hist,
        "ema_20": ema[20], "ema_50": ema[50], "ema_200": ema[200],
        "swing_high": last_h, "swing_high_row": last_h_row,
        "swing_low": last_l, "swing_low_row": last_l_row,
        "structure": structure_codes(last_h, prev_h, last_l, prev_l, c),
        "momentum_score": score, "momentum_state": state,
    }
