"""Declared indicators and expressions -> the `indicators` and `expressions` facts. Pure.

One function does the work for both modes: `_day` samples every declared series at a
list of cycle times from candles starting at one anchor, evaluates the expressions over
those columns (numpy) and returns the values at the cycle times asked for.

- Live (`cycle_facts`): the times are the cycle T and the `history` cycles before it.
- Backtest (`batch_facts`): all the cycles of one UTC day at once, with the same
  lead-in of `history` cycles before the first one, per day (never per cycle).

Both read every timeframe from the anchor of T's UTC day (declared.py), and every
operation is element-wise or a fixed-order windowed add, so a cycle's values are the
same in both (tests/test_rules_declared.py holds it to that).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from engine.analytics import declared as D
from engine.rules import expressions as X
from engine.rules.conditions import get_path
from engine.rules.declarations import Declared

Frames = Mapping[str, pd.DataFrame]   # timeframe ("1h") -> candles indexed by open_time_ms


def _closed_from(frame: pd.DataFrame, tf: str, last_t: int, start: int) -> pd.DataFrame:
    ot = frame.index.to_numpy(dtype=np.int64)
    end = int(np.searchsorted(ot, last_t - D.TIMEFRAME_MS[tf], side="right"))
    begin = int(np.searchsorted(ot, start, side="left"))
    return frame.iloc[begin:max(begin, end)]


def _day(declared: Declared, frames: Frames, times: Sequence[int], anchor_t: int, cycle_ms: int,
         docs: Mapping[int, Mapping[str, Any]] | None = None,
         ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Columns of every declared field and expression at `times` (oldest first), every
    timeframe computed from the anchor of `anchor_t`'s day. `docs`: {T: {"snapshot", "flow"}}
    for the fact fields the expressions read (read at their own cycle only)."""
    anchors = declared.anchor_days(cycle_ms)
    cols: dict[str, np.ndarray] = {}
    for tf in declared.timeframes():
        frame = frames.get(tf)
        if frame is None:
            frame = pd.DataFrame(columns=list(D.OHLCV), index=pd.Index([], dtype=np.int64))
        rows = _closed_from(frame, tf, int(times[-1]), D.anchor_ms(anchor_t, anchors[tf]))
        cols.update(D.timeframe_samples(declared.indicators, tf, rows, times, declared.candles))
    for name in declared.fields:
        cols[name] = _field_column(name, times, docs or {})
    exprs: dict[str, np.ndarray] = {}
    size = len(times)
    for e in declared.expressions:
        exprs[e.name] = X.evaluate(e.node, {**cols, **exprs}, size)
    return cols, exprs


def _field_column(name: str, times: Sequence[int], docs: Mapping[int, Mapping[str, Any]]) -> np.ndarray:
    """A snapshot / flow field at each time (NaN where unknown, not a number, or no document)."""
    fact, _, path = name.partition(".")
    out = np.full(len(times), np.nan)
    for i, t in enumerate(times):
        doc = (docs.get(int(t)) or {}).get(fact)
        v = get_path(doc, path) if isinstance(doc, Mapping) else None
        if isinstance(v, bool):
            out[i] = 1.0 if v else 0.0
        elif isinstance(v, int | float) and math.isfinite(v):
            out[i] = float(v)
    return out


def _facts_at(declared: Declared, cols: Mapping[str, np.ndarray], exprs: Mapping[str, np.ndarray],
              idx: Sequence[int]) -> list[dict[str, Any]]:
    """Per index: {"indicators": {...nested...}, "expressions": {...}} as plain values."""
    ind_vals = {fld: cols[fld][list(idx)].tolist() for s in declared.indicators for fld in s.fields}
    exp_vals = {e.name: exprs[e.name][list(idx)].tolist() for e in declared.expressions}
    types = {e.name: e.type for e in declared.expressions}
    out = []
    for i in range(len(idx)):
        ind: dict[str, Any] = {}
        for fld, vals in ind_vals.items():
            v = X.plain_value(vals[i], "number")
            name, _, sub = fld.partition(".")
            if sub:
                ind.setdefault(name, {})[sub] = v
            else:
                ind[name] = v
        out.append({"indicators": ind,
                    "expressions": {n: X.plain_value(vals[i], types[n]) for n, vals in exp_vals.items()}})
    return out


def cycle_facts(declared: Declared, frames: Frames, t_ms: int, cycle_ms: int,
                facts: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The live cycle at T: {"indicators", "expressions"} ({} when nothing is declared).
    `frames`: per declared timeframe, candles covering [anchor, T) (more is fine);
    `facts`: this cycle's snapshot and flow (for expressions reading their fields)."""
    if declared.empty:
        return {}
    times = [int(t_ms) - k * cycle_ms for k in range(declared.history, -1, -1)]
    cols, exprs = _day(declared, frames, times, int(t_ms), cycle_ms, {int(t_ms): facts or {}})
    return _facts_at(declared, cols, exprs, [len(times) - 1])[0]


def batch_facts(declared: Declared, frames: Frames, times: Sequence[int], cycle_ms: int,
                docs: Mapping[int, Mapping[str, Any]] | None = None) -> dict[int, dict[str, Any]]:
    """Every cycle of a backtest: {T: {"indicators", "expressions"}}, one pass per UTC day.
    `docs`: {T: {"snapshot", "flow"}} of the cycles (for expressions reading their fields)."""
    if declared.empty or not times:
        return {}
    days: dict[int, list[int]] = {}
    for t in times:
        days.setdefault(int(t) // D.DAY_MS, []).append(int(t))
    out: dict[int, dict[str, Any]] = {}
    h = declared.history
    for day_times in days.values():
        lead = [day_times[0] - k * cycle_ms for k in range(h, 0, -1)]
        # Lead-in and day times on the cycle grid (the day's times are consecutive cycles).
        grid = lead + day_times
        # The lead-in cycles' fields stay unknown, as live (a field is read at its cycle only).
        day_docs = {t: docs[t] for t in day_times if t in docs} if docs else None
        cols, exprs = _day(declared, frames, grid, day_times[0], cycle_ms, day_docs)
        for t, facts in zip(day_times, _facts_at(declared, cols, exprs, list(range(h, len(grid)))), strict=True):
            out[t] = facts
    return out


def frames_from_1m(declared: Declared, candles_1m: pd.DataFrame,
                   aggregate: Callable[[pd.DataFrame, str], pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The declared timeframes built from 1m candles (the backtest's source)."""
    return {tf: candles_1m if tf == "1m" else aggregate(candles_1m, tf) for tf in declared.timeframes()}


def with_text(declared: Declared, values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The expressions as the trace shows them: name, formula, value."""
    ex = values.get("expressions") or {}
    return [{"name": e.name, "expression": e.text, "value": ex.get(e.name)} for e in declared.expressions]
