"""Snapshot: contract, no look-ahead, batch == per-cycle, algorithms on known inputs."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
import talib

from engine.analytics.batch import build_cycles, derive_timeframes, per_cycle_frames, timeframe_frame
from engine.analytics.features import percentile_rank, structure_codes, swing_points
from engine.analytics.orderbook import orderbook_metrics
from engine.analytics.session import session_at
from engine.analytics.snapshot import build_snapshot
from engine.facts import SNAPSHOT, conformance_problems
from tests.analytics_data import FILE_51D, candles_1m, config, synthetic_1m

DAY = 86_400_000


def test_snapshot_conforms_to_fact_contract():
    df = synthetic_1m(days=30)
    t = int(df.index[0]) + 29 * DAY + 12 * 3_600_000
    snap = build_snapshot(derive_timeframes(df), t, config())
    assert conformance_problems(snap, SNAPSHOT) == []
    for tf in ("tf_5m", "tf_15m", "tf_1h"):
        assert snap["market_structure"][tf] in ("HH-HL", "LL-LH", "range", "transition")
        assert 0.0 <= snap["momentum"][tf]["score"] <= 1.0
        assert snap["indicators"][tf]["ema_200"] is not None
    assert snap["timestamp_iso"].endswith("Z") and snap["session"]["time_utc"] == "12:00"
    assert snap["orderbook"]["available"] is False and snap["orderbook"]["spread_pct"] is None


def test_only_closed_candles_and_no_look_ahead():
    df = synthetic_1m(days=30)
    t = int(df.index[0]) + 28 * DAY + 7 * 3_600_000 + 35 * 60_000  # mid-hour, mid-15m
    full = build_snapshot(derive_timeframes(df), t, config())
    cut = build_snapshot(derive_timeframes(df[df.index < t]), t, config())
    assert full == cut
    # The 1h candle shown is the last one closed at T, not the running one.
    assert full["candle_open_time_ms"]["tf_1h"] == t - 35 * 60_000 - 3_600_000
    assert full["candle_open_time_ms"]["tf_1m"] == t - 60_000
    # Changing every candle after T changes nothing.
    shaken = df.copy()
    shaken.loc[shaken.index >= t, ["high", "close"]] *= 1.5
    assert build_snapshot(derive_timeframes(shaken), t, config()) == full


def test_batch_equals_per_cycle_synthetic():
    df = synthetic_1m(days=6)
    t0 = int(df.index[0]) + 4 * DAY - 3_600_000
    batch = build_cycles(df, t0, t0 + 2 * 3_600_000, config())
    assert len(batch) == 25
    for r in batch:
        assert build_snapshot(per_cycle_frames(df, r["t_ms"], config()), r["t_ms"], config()) == r["snapshot"]


@pytest.mark.shared_data
def test_batch_equals_per_cycle_on_51_day_file_sample():
    """A sample of cycles here; tests/bench/bench_batch_equivalence.py checks every one."""
    df = candles_1m(FILE_51D)
    start, end = int(df.index[0]), int(df.index[-1]) + 60_000
    cfg = config()
    frames = derive_timeframes(df)
    rng = random.Random(20250504)
    days = sorted(rng.sample(range(1, 50), 6))
    for d in days:
        t_from = (start // DAY + d) * DAY - 10 * 60_000  # straddles a day boundary (anchor change)
        batch = build_cycles(df, t_from, min(end, t_from + 20 * 60_000), cfg, frames=frames)
        for r in batch:
            one = build_snapshot(per_cycle_frames(df, r["t_ms"], cfg), r["t_ms"], cfg)
            assert one == r["snapshot"], f"cycle {r['snapshot']['timestamp_iso']} differs"


def test_aggregation_is_utc_aligned_and_drops_incomplete_buckets():
    df = synthetic_1m(days=1)
    agg = timeframe_frame(df, "tf_5m")
    assert len(agg) == 288 and (agg.index % 300_000 == 0).all()
    first = df.iloc[:5]
    row = agg.iloc[0]
    assert row["open"] == first["open"].iloc[0] and row["close"] == first["close"].iloc[-1]
    assert row["high"] == first["high"].max() and row["low"] == first["low"].min()
    gap = df.drop(df.index[7])  # minute 7 missing → bucket 5..9 incomplete
    agg_gap = timeframe_frame(gap, "tf_5m")
    assert len(agg_gap) == 287 and int(df.index[5]) not in agg_gap.index
    no_taker = df.copy()
    no_taker.loc[no_taker.index[2], "taker_buy_volume"] = np.nan
    assert np.isnan(timeframe_frame(no_taker, "tf_5m")["taker_buy_volume"].iloc[0])


def test_swing_points_fractal_and_confirmation():
    high = np.array([1, 2, 3, 9, 4, 3, 2, 5, 8, 9.0, 7, 6, 5])
    low = high - 1
    hi, lo = swing_points(high, low, 2)
    # Rows of the swing bars; each is known only at row + 2 (its confirmation).
    assert list(hi) == [3, 9]
    assert list(lo) == [6]
    from engine.analytics.features import _last_two
    last, last_row, prev, _ = _last_two(hi, high, 2, len(high))
    assert np.isnan(last[4]) and last[5] == 9 and last_row[10] == 3 and last[11] == 9.0 and prev[11] == 9.0
    codes = structure_codes(np.array([10.0]), np.array([9.0]), np.array([5.0]), np.array([4.0]), np.array([6.0]))
    assert codes[0] == 1  # HH-HL
    assert structure_codes(np.array([10.0]), np.array([9.0]), np.array([5.0]), np.array([4.0]), np.array([4.5]))[0] == 4
    assert structure_codes(np.array([8.0]), np.array([9.0]), np.array([3.0]), np.array([4.0]), np.array([5.0]))[0] == 2
    assert structure_codes(np.array([10.0]), np.array([9.0]), np.array([3.0]), np.array([4.0]), np.array([5.0]))[0] == 3


def test_percentile_rank_counts_trailing_window():
    x = np.array([1.0, 2, 3, 4, 2.5])
    r = percentile_rank(x, 4)
    assert np.isnan(r[:4]).all() and r[4] == 50.0


def test_orderbook_metrics():
    depth = {"bids": [[100, 1], [99, 5], [98, 1]], "asks": [[101, 2], [102, 1], [103, 10]]}
    m = orderbook_metrics(depth, top_n=2, order_usdt=250)
    assert m["available"] is True
    assert m["spread_pct"] == pytest.approx(1 / 100.5 * 100)
    assert m["bid_volume"] == 6 and m["ask_volume"] == 3
    assert m["imbalance_pct"] == pytest.approx(100 / 3)
    assert m["largest_bid_wall_price"] == 99 and m["largest_ask_wall_price"] == 101
    # Buying 250 USDT: 2 @ 101 = 202, then 48/102 @ 102 → avg ≈ 101.19; selling: 100 then 99.
    buy_avg = 250 / (2 + 48 / 102)
    sell_avg = 250 / (1 + 150 / 99)
    assert m["slippage_pct"] == pytest.approx(max(buy_avg - 100.5, 100.5 - sell_avg) / 100.5 * 100)
    assert orderbook_metrics(depth, 1, 10_000)["slippage_pct"] is None  # book too thin → unknown
    assert orderbook_metrics({"bids": [], "asks": [[1, 1]]}, 5, 10)["available"] is False
    assert orderbook_metrics({"bids": [["x", 1]], "asks": [[1, 1]]}, 5, 10)["available"] is False


def test_sessions_and_restricted_hours():
    s = config().get("sessions")
    assert session_at(3, s) == ("ASIA", False)
    assert session_at(7, s) == ("EU", False)
    assert session_at(13, s)[0] == "US" and session_at(21, s) == ("US", True)
    assert session_at(23, s) == ("US", False)
    wrap = {**s, "restricted_hours_utc": [[22, 2]]}
    assert session_at(1, wrap)[1] and session_at(23, wrap)[1] and not session_at(2, wrap)[1]


def test_atr_is_talib_atr_on_the_same_series():
    df = synthetic_1m(days=30)
    t = int(df.index[0]) + 29 * DAY
    snap = build_snapshot(derive_timeframes(df), t, config())
    h1 = timeframe_frame(df, "tf_1h")
    rows = h1[(h1.index >= t - 26 * DAY) & (h1.index + 3_600_000 <= t)]
    want = talib.ATR(rows["high"].to_numpy(), rows["low"].to_numpy(), rows["close"].to_numpy(), timeperiod=14)[-1]
    assert snap["volatility"]["atr"]["tf_1h"] == want


def test_missing_timeframe_is_unknown_not_invented():
    df = synthetic_1m(days=3)
    frames = derive_timeframes(df)
    del frames["tf_1h"]
    snap = build_snapshot(frames, int(df.index[-1]) + 60_000, config())
    assert snap["market_structure"]["tf_1h"] is None and snap["volatility"]["atr"]["tf_1h"] is None
    assert conformance_problems(snap, SNAPSHOT) == []
    empty = build_snapshot({"1m": df.iloc[0:0]}, int(df.index[-1]), config())
    assert empty["price"] is None and empty["data_age_s"] is None
    assert pd.isna(empty["candles"]["tf_1m"]["c"]) or empty["candles"]["tf_1m"]["c"] is None
