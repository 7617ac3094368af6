"""Batch == per-cycle for EVERY 5-minute cycle of the 51-day 1m file (the suite checks a sample).

Per-cycle here = build_snapshot on the 5m/15m/1h frames with the cycle's own T (it slices
[anchor, T) itself), compared with build_cycles' result for the same T; a further 1-in-50
sample re-derives the timeframes from only the 1m candles a live cycle would load.
The columnar analytics of the fast backtest (engine/analytics/columns.py) are compared with
the batch too: every cycle's document and every snapshot field's column.
"""

from __future__ import annotations

import sys
import time

import _path  # noqa: F401
import pandas as pd
from candles import shared_file

from engine.analytics.batch import build_cycles, derive_timeframes, per_cycle_frames
from engine.analytics.columns import build_columns
from engine.analytics.snapshot import build_snapshot
from engine.config import load_config
from engine.facts import FACTS, leaf_types


def main() -> int:
    f51 = shared_file()
    if f51 is None:
        return 0
    cfg = load_config(env={})
    df = pd.read_csv(f51, index_col=0)
    frames = derive_timeframes(df)
    t0 = time.perf_counter()
    batch = build_cycles(df, int(df.index[0]), int(df.index[-1]) + 60_000, cfg, frames=frames)
    t_batch = time.perf_counter() - t0
    diffs = 0
    strict = 0
    t0 = time.perf_counter()
    for i, r in enumerate(batch):
        if build_snapshot(frames, r["t_ms"], cfg) != r["snapshot"]:
            diffs += 1
            print("DIFF", r["snapshot"]["timestamp_iso"])
        if i % 50 == 0:
            strict += 1
            if build_snapshot(per_cycle_frames(df, r["t_ms"], cfg), r["t_ms"], cfg) != r["snapshot"]:
                diffs += 1
                print("DIFF (from 1m)", r["snapshot"]["timestamp_iso"])
    print(f"{len(batch)} cycles compared (batch {t_batch:.2f} s, per-cycle {time.perf_counter() - t0:.1f} s), "
          f"{strict} of them re-derived from 1m: {diffs} differences")
    t0 = time.perf_counter()
    cols = build_columns(df, int(df.index[0]), int(df.index[-1]) + 60_000, cfg, frames=frames, with_flow=False)
    t_cols = time.perf_counter() - t0
    col_diffs = sum(1 for i, r in enumerate(batch) if cols.snapshot.doc(i) != r["snapshot"])
    for path in leaf_types(FACTS["snapshot"]):
        want = []
        for r in batch:
            node = r["snapshot"]
            for part in path.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            want.append(node)
        if cols.snapshot.column(path) != want:
            col_diffs += 1
            print("DIFF (column)", path)
    print(f"columnar snapshot ({t_cols:.2f} s): {col_diffs} differences in documents and columns")
    diffs += col_diffs
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
