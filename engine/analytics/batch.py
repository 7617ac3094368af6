"""Batch mode: every cycle of a period at once, identical to the per-cycle builder.

Cycles are grouped by UTC day: all cycles of one day share each timeframe's anchor,
so one vectorised pass over [anchor, last cycle of the day) per timeframe gives every
cycle's values (read at the row of its last closed candle). The indicators are
causal, so this is the per-cycle computation, done once per day instead of once per
cycle (features.py explains why the values are bit-identical).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from engine.analytics.features import timeframe_features
from engine.analytics.params import DAY_MS, TF_MS, anchor_ms, plain, section
from engine.analytics.snapshot import Row, assemble_snapshot, candle_rows, closed_rows, feature_rows
from engine.candles import aggregate
from engine.facts import TIMEFRAMES_ANALYSED


def cycle_times(t_from: int, t_to: int, cycle_ms: int) -> list[int]:
    """Cycle times T (multiples of the cycle length, UTC-aligned) with t_from <= T <= t_to."""
    first = -(-int(t_from) // cycle_ms) * cycle_ms
    return list(range(first, int(t_to) + 1, cycle_ms))


def timeframe_frame(candles_1m: pd.DataFrame, tf: str) -> pd.DataFrame:
    """`tf` ("tf_5m" or "5m") candles from 1m, indexed by open_time_ms.

    The storage's aggregation (engine.candles.aggregate: Binance-exact, complete buckets
    only) so derived frames equal the 5m/15m/1h rows the importer stores.
    """
    return aggregate(candles_1m, tf.removeprefix("tf_")).set_index("open_time_ms")


def derive_timeframes(candles_1m: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """{tf_1m, tf_5m, tf_15m, tf_1h} from 1m candles (complete UTC buckets only)."""
    return {"tf_1m": candles_1m, **{tf: timeframe_frame(candles_1m, tf) for tf in TIMEFRAMES_ANALYSED}}


def build_cycles(candles_1m: pd.DataFrame, t_from: int, t_to: int, config: Any,
                 derivatives: Mapping[str, Any] | None = None,
                 inputs: Mapping[str, Any] | Callable[[int], Mapping[str, Any]] | None = None,
                 with_flow: bool = False,
                 frames: Mapping[str, pd.DataFrame] | None = None,
                 cycle_minutes: int | None = None) -> list[dict[str, Any]]:
    """Snapshots (and flows when `with_flow`) of every cycle in [t_from, t_to].

    Returns [{"t_ms", "snapshot", "flow"}] in time order. `derivatives` and `inputs`
    are the whole period's histories: build_flow keeps only what is known at each T.
    `inputs` may also be a function of T giving the versions in force at T (a backtest
    over a period in which the operator sent new ones).
    `frames` may pass already-derived timeframes (derive_timeframes) to skip that step.
    `cycle_minutes`: the ruleset's own cadence (its `cycle:`), else engine.cycle_minutes.
    """
    from engine.analytics.flow import build_flow  # flow imports snapshot helpers

    a = section(config, "analytics")
    minutes = cycle_minutes or int(plain(config).get("engine", {}).get("cycle_minutes", 5))
    cycle_ms = int(minutes) * 60_000
    tfs = dict(frames) if frames is not None else derive_timeframes(candles_1m)
    times = cycle_times(t_from, t_to, cycle_ms)
    out: list[dict[str, Any]] = []
    days: dict[int, list[int]] = {}
    for t in times:
        days.setdefault(t // DAY_MS, []).append(t)
    for day_times in days.values():
        rows_by_tf: dict[str, list[Row | None]] = {}
        for tf in TIMEFRAMES_ANALYSED:
            frame = tfs[tf]
            start = anchor_ms(day_times[0], tf, a)
            rows = closed_rows(frame, tf, day_times[-1], start)
            if rows.empty:
                rows_by_tf[tf] = [None] * len(day_times)
                continue
            feats = timeframe_features(rows, int(a["swing_bars"][tf]), a)
            ot = feats["open_time"]
            ends = np.searchsorted(ot, np.asarray(day_times, dtype=np.int64) - TF_MS[tf], side="right") - 1
            found = feature_rows(feats, [int(j) for j in ends if j >= 0])
            # ends is non-decreasing: the unknown (-1) ones come first.
            rows_by_tf[tf] = [None] * (len(ends) - len(found)) + list(found)
        last_1m = candle_rows(tfs["tf_1m"], "tf_1m", day_times)
        for i, t in enumerate(day_times):
            rows_t = {tf: rows_by_tf[tf][i] for tf in TIMEFRAMES_ANALYSED}
            snap = assemble_snapshot(t, rows_t, last_1m[i], config)
            inp = inputs(t) if callable(inputs) else inputs
            flow = build_flow(snap, derivatives, inp, t, config) if with_flow else None
            out.append({"t_ms": t, "snapshot": snap, "flow": flow})
    return out


def per_cycle_frames(candles_1m: pd.DataFrame, t_ms: int, config: Any,
                     derive: Callable[[pd.DataFrame], dict[str, pd.DataFrame]] = derive_timeframes,
                     ) -> dict[str, pd.DataFrame]:
    """What one live cycle would load: 1m candles from the earliest anchor up to T, and the
    timeframes derived from them (for tests comparing batch with per-cycle)."""
    a = section(config, "analytics")
    start = min(anchor_ms(t_ms, tf, a) for tf in TIMEFRAMES_ANALYSED)
    ot = candles_1m.index.to_numpy(dtype=np.int64)
    lo = int(np.searchsorted(ot, start, side="left"))
    hi = int(np.searchsorted(ot, t_ms, side="left"))
    return derive(candles_1m.iloc[lo:hi])
