"""Declared indicators: any TA-Lib function a rule file names, computed over whole columns.

A rule file's `indicators:` block names TA-Lib functions with their parameters, a
timeframe and the input series. Everything is checked against TA-Lib's own metadata
(talib.abstract: function names, parameter names and types, input and output names;
TA-Lib's lookback function refuses out-of-range parameters) — nothing is hand-listed.

Computation is columnar and causal, like features.py: one TA-Lib call over a
timeframe's closed candles from an anchor (a fixed UTC day start), then the value
at a cycle time T is read at the row of the last candle closed by T. The live cycle
(candles [anchor, T)) and the backtest (one pass per UTC day over [anchor, last T of
the day)) run the same function on the same prefix, so the values are bit-identical.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd
import talib
from talib import abstract

from engine.candles import TIMEFRAME_MS

# talib's stubs do not list its abstract API and metadata calls: typed as Any here, once.
_Function: Any = cast(Any, abstract).Function
_opt_input_info: Any = cast(Any, talib)._ta_lib._ta_getOptInputParameterInfo
MA_TYPES: dict[int, str] = dict(cast(Any, talib.MA_Type)._lookup)   # TA-Lib's moving-average types

DAY_MS = 86_400_000
# Timeframes a declared indicator may use: the ones the storage keeps (1m and those built from it).
TIMEFRAMES = ("1m", "5m", "15m", "1h", "4h", "1d")
OHLCV = ("open", "high", "low", "close", "volume")
# Warm-up: recursive indicators (EMA, RSI, ADX...) depend on where they start; reading them
# only after WARMUP_LOOKBACKS x their lookback makes the start's effect negligible.
WARMUP_LOOKBACKS = 4
MIN_WARMUP_BARS = 50


@functools.lru_cache(maxsize=1)
def function_names() -> tuple[str, ...]:
    return tuple(sorted(talib.get_functions()))


@functools.lru_cache(maxsize=1)
def derived_series() -> tuple[str, ...]:
    """Price series TA-Lib itself computes from a candle (typical, median, weighted, average):
    its 'Price Transform' group, named in lowercase (typprice, medprice, wclprice, avgprice)."""
    return tuple(sorted(n.lower() for n in talib.get_function_groups().get("Price Transform", ())))


def series_names() -> tuple[str, ...]:
    return OHLCV + derived_series()


@functools.lru_cache(maxsize=512)
def function_info(name: str) -> dict[str, Any]:
    """TA-Lib's metadata of one function: inputs, parameters (name -> (type, default)), outputs."""
    f = _Function(name)
    info = f.info
    params: dict[str, tuple[str, Any]] = {}
    for i, pname in enumerate(info["parameters"]):
        meta = _opt_input_info(name.encode(), i)
        # TA-Lib's TA_OptInputParameterType: 0 real range, 1 real list, 2 integer range, 3 integer list
        kind = "number" if meta["type"] in (0, 1) else "integer"
        params[str(pname)] = (kind, meta["default_value"])
    inputs: dict[str, Any] = {}
    for iname, series in info["input_names"].items():
        inputs[str(iname)] = list(series) if isinstance(series, list) else str(series)
    return {"name": name, "group": info["group"], "display_name": info["display_name"], "inputs": inputs,
            "parameters": params, "outputs": tuple(str(o) for o in info["output_names"]),
            "integer_output": "Output is a candlestick" in (info.get("function_flags") or [])}


@dataclass(frozen=True)
class IndicatorSpec:
    """One declared indicator, validated. `inputs`: (TA-Lib input name, series name)."""
    name: str
    function: str
    timeframe: str
    params: tuple[tuple[str, Any], ...]
    inputs: tuple[tuple[str, str], ...]
    outputs: tuple[str, ...]
    lookback: int
    where: str

    @property
    def fields(self) -> tuple[str, ...]:
        """The fact fields it gives: its name, or name.output for each of several outputs."""
        if len(self.outputs) == 1:
            return (self.name,)
        return tuple(f"{self.name}.{o}" for o in self.outputs)


def check_params(function: str, params: Mapping[str, Any]) -> tuple[int | None, str | None]:
    """(lookback, None) when TA-Lib accepts the parameters, else (None, why): TA-Lib's own
    lookback function returns -1 for a parameter out of its range; MA types are TA-Lib's list."""
    f = _Function(function)
    for k, v in params.items():
        if k == "matype" and int(v) not in MA_TYPES:
            known = ", ".join(f"{i} {n}" for i, n in sorted(MA_TYPES.items()))
            return None, f"matype {v} is not a TA-Lib moving-average type (expected one of {known})"
    try:
        f.set_parameters(dict(params))
        lookback = int(f.lookback)
    except Exception as exc:           # TA-Lib's own type check
        return None, str(exc)
    if lookback < 0:
        return None, "TA-Lib refuses these parameters: a value is out of its range"
    return lookback, None


def warmup_bars(specs: Sequence[IndicatorSpec], window: int = 1) -> dict[str, int]:
    """Bars each timeframe needs before a value is read (per timeframe, the longest need)."""
    out: dict[str, int] = {}
    for s in specs:
        need = max(MIN_WARMUP_BARS, WARMUP_LOOKBACKS * (s.lookback + 1)) + window
        out[s.timeframe] = max(out.get(s.timeframe, 0), need)
    return out


def anchor_days(specs: Sequence[IndicatorSpec], cycle_ms: int, window: int = 1) -> dict[str, int]:
    """Days of candles before T's day each timeframe is computed from (the anchor)."""
    out: dict[str, int] = {}
    for tf, bars in warmup_bars(specs).items():
        span = bars * TIMEFRAME_MS[tf] + window * cycle_ms
        out[tf] = int(math.ceil(span / DAY_MS)) + 1
    return out


def anchor_ms(t_ms: int, days: int) -> int:
    return (int(t_ms) // DAY_MS - int(days)) * DAY_MS


def _f64(frame: pd.DataFrame, col: str) -> np.ndarray:
    return np.ascontiguousarray(frame[col].to_numpy(dtype=np.float64))


def series_columns(frame: pd.DataFrame, derived: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """OHLCV and TA-Lib's price transforms (`derived`: those needed; None: all) of a
    timeframe's candles, as float64 columns."""
    cols = {c: _f64(frame, c) for c in OHLCV}
    for name in derived_series() if derived is None else derived:
        f = _Function(name.upper())
        cols[name] = np.asarray(f.run({k: cols[k] for k in OHLCV}), dtype=np.float64)
    return cols


def compute(spec: IndicatorSpec, cols: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The indicator's outputs over whole columns (one TA-Lib call): field -> float64 array."""
    f = _Function(spec.function)
    f.set_parameters(dict(spec.params))
    data = {k: cols[k] for k in OHLCV}
    names = {}
    for iname, series in spec.inputs:
        if series not in OHLCV:                 # a single-series input fed by a price transform
            data[series] = cols[series]
        names[iname] = series
    if names:
        f.set_input_names(names)
    size = len(cols["close"])
    if size == 0:
        return {fld: np.empty(0) for fld in spec.fields}
    try:
        out = f.run(data)
    except Exception:
        # Too few rows for TA-Lib: unknown everywhere, as in a fresh series.
        return {fld: np.full(size, np.nan) for fld in spec.fields}
    outs = out if isinstance(out, list) else [out]
    return {fld: np.asarray(o, dtype=np.float64) for fld, o in zip(spec.fields, outs, strict=True)}


def rows_at(open_times: np.ndarray, tf: str, times: Sequence[int] | np.ndarray) -> np.ndarray:
    """Row of the last candle closed by each time (open + tf <= T), -1 where none."""
    t = np.asarray(times, dtype=np.int64)
    return np.searchsorted(open_times, t - TIMEFRAME_MS[tf], side="right") - 1


def sample(column: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """column[rows] with NaN where a row is -1 (no candle closed yet)."""
    if len(column) == 0:
        return np.full(len(rows), np.nan)
    out = column[np.maximum(rows, 0)].astype(np.float64, copy=True)
    out[rows < 0] = np.nan
    return out


def timeframe_samples(specs: Sequence[IndicatorSpec], tf: str, frame: pd.DataFrame,
                      times: Sequence[int] | np.ndarray, candle_names: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """Every declared field of timeframe `tf` (and the candle series asked for, like
    close_1h) sampled at `times`, from one pass over `frame` (closed candles from the anchor)."""
    needed = {series for s in specs if s.timeframe == tf for _, series in s.inputs}
    needed |= {n.rpartition("_")[0] for n in candle_names if n.rpartition("_")[2] == tf}
    cols = series_columns(frame, sorted(needed & set(derived_series())))
    rows = rows_at(frame.index.to_numpy(dtype=np.int64), tf, times)
    out: dict[str, np.ndarray] = {}
    for s in specs:
        if s.timeframe != tf:
            continue
        for fld, col in compute(s, cols).items():
            out[fld] = sample(col, rows)
    for name in candle_names:
        series, _, ctf = name.rpartition("_")
        if ctf == tf:
            out[name] = sample(cols[series], rows)
    return out
