"""engine/candles.py: aggregation as Binance does it, gaps, row checks (pure, no DB)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.candles import aggregate, check_klines, find_gaps, timeframe_ms

DAY = 86_400_000
BASE = 20_000 * DAY  # 2024-10-03 00:00 UTC


def minutes(n: int, start: int = BASE, seed: int = 1, extras: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 60_000 + np.cumsum(rng.normal(0, 20, n)).round(1)
    open_ = np.r_[60_000, close[:-1]][:n]
    high = np.maximum(open_, close) + rng.uniform(0, 10, n).round(1)
    low = np.minimum(open_, close) - rng.uniform(0, 10, n).round(1)
    vol = rng.uniform(1, 100, n).round(3)
    df = pd.DataFrame({"open_time_ms": start + np.arange(n) * 60_000, "open": open_, "high": high,
                       "low": low, "close": close, "volume": vol})
    if extras:
        df["quote_volume"] = (vol * close).round(4)
        df["trade_count"] = rng.integers(10, 1000, n).astype(float)
        df["taker_buy_volume"] = (vol * rng.uniform(0, 1, n)).round(3)
    return df


def brute_force(df: pd.DataFrame, minutes_per: int) -> list[tuple]:
    out = []
    step = minutes_per * 60_000
    for b in sorted({t - t % step for t in df.open_time_ms}):
        grp = df[(df.open_time_ms >= b) & (df.open_time_ms < b + step)]
        if len(grp) != minutes_per:
            continue
        out.append((b, grp.open.iloc[0], grp.high.max(), grp.low.min(), grp.close.iloc[-1], round(grp.volume.sum(), 8)))
    return out


@settings(max_examples=25, deadline=None)
@given(n=st.integers(0, 400), offset=st.integers(0, 300), drop=st.lists(st.integers(0, 399), max_size=5),
       tf=st.sampled_from(["5m", "15m", "1h"]))
def test_aggregate_matches_brute_force(n: int, offset: int, drop: list[int], tf: str) -> None:
    df = minutes(n, start=BASE + offset * 60_000)
    df = df.drop(index=[i for i in set(drop) if i < n]).reset_index(drop=True)
    got = aggregate(df, tf)
    expected = brute_force(df, timeframe_ms(tf) // 60_000)
    assert [tuple(r) for r in got[["open_time_ms", "open", "high", "low", "close", "volume"]].itertuples(index=False)] \
        == expected


def test_buckets_align_to_utc_epoch_and_skip_incomplete() -> None:
    df = minutes(2 * 24 * 60, start=BASE - 90 * 60_000)  # starts 22:30 the day before
    four = aggregate(df, "4h")
    assert (four.open_time_ms % (4 * 3_600_000) == 0).all()
    assert four.open_time_ms.iloc[0] == BASE  # 20:00 bucket lacks 20:00–22:29: skipped
    day = aggregate(df, "1d")
    assert list(day.open_time_ms) == [BASE]  # the second day ends at 22:29: incomplete


def test_extras_summed_only_when_all_known() -> None:
    df = minutes(10)
    df.loc[7, "taker_buy_volume"] = np.nan
    five = aggregate(df, "5m")
    assert five.taker_buy_volume.iloc[0] == pytest.approx(df.taker_buy_volume[:5].sum())
    assert np.isnan(five.taker_buy_volume.iloc[1])
    assert five.trade_count.iloc[1] == df.trade_count[5:].sum()
    bare = aggregate(minutes(10, extras=False), "5m")
    assert bare[["quote_volume", "trade_count", "taker_buy_volume"]].isna().all().all()


def test_aggregate_refuses_impossible_timeframes() -> None:
    with pytest.raises(ValueError, match="cannot build 1m from 5m"):
        aggregate(minutes(10), "1m", "5m")
    with pytest.raises(ValueError, match="timeframe '7m' unknown"):
        aggregate(minutes(10), "7m")


def test_find_gaps() -> None:
    t = BASE + np.array([0, 1, 2, 6, 7, 9]) * 60_000
    gaps = find_gaps(t, 60_000)
    assert [(g.first_missing_ms, g.last_missing_ms, g.missing) for g in gaps] == [
        (BASE + 3 * 60_000, BASE + 5 * 60_000, 3), (BASE + 8 * 60_000, BASE + 8 * 60_000, 1)]
    assert find_gaps([], 60_000) == [] and find_gaps(t[:3], 60_000) == []


def test_check_klines_names_each_problem() -> None:
    df = minutes(6, extras=True)
    df.loc[0, "high"] = df.loc[0, "low"] - 1
    df.loc[1, "open"] = df.loc[1, "high"] + 1
    df.loc[2, "close"] = 0
    df.loc[3, "open_time_ms"] += 1
    df.loc[4, "taker_buy_volume"] = df.loc[4, "volume"] * 2
    reasons = check_klines(df, 60_000).tolist()
    assert reasons == ["high below low", "open outside [low, high]", "non-positive price",
                       "open time not aligned to 1-minute boundaries", "taker-buy volume outside [0, volume]", ""]
