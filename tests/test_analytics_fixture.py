"""Real data at 2025-12-07T12:00:00Z (1m Nov–Dec file, per-fund ETF, liquidation snapshots):
snapshot and flow equal the reviewed fixture; ATR is TA-Lib's; the swing points are these raw candles.

Swing points (open time UTC → the candle's extreme), reviewable in the 1m file:
  5m : high 89359.3 @ 10:45 (1m 10:45–10:49),  low 89134.8 @ 11:25  → 5m "transition"
       (HH-HL, but the last close 89109.4 is below the last swing low)
  15m: high 89359.3 @ 10:45,  low 89012.9 @ 09:45                 → "LL-LH"
  1h : high 89697.7 @ 07:00,  low 89012.9 @ 09:00                 → "range"
"""

from __future__ import annotations

import json

import pytest
import talib

from engine.analytics.batch import timeframe_frame
from engine.facts import FLOW, SNAPSHOT, conformance_problems
from tests.analytics_data import FILE_NOV, candles_1m
from tests.fixture_2025_12_07 import FIXTURE, T_MS, build

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def built():
    return json.loads(json.dumps(build()))  # through JSON, as the fixture was stored


def test_matches_reviewed_fixture(built):
    want = json.loads(FIXTURE.read_text(encoding="utf-8"))
    assert conformance_problems(built["snapshot"], SNAPSHOT) == []
    assert conformance_problems(built["flow"], FLOW) == []
    assert built["snapshot"] == want["snapshot"]
    assert built["flow"] == want["flow"]


def test_atr_equals_talib_on_the_same_series(built):
    df = candles_1m(FILE_NOV)
    for tf, days in (("tf_5m", 3), ("tf_15m", 7), ("tf_1h", 26)):
        agg = timeframe_frame(df, tf)
        start = (T_MS // 86_400_000 - days) * 86_400_000
        dur = agg.index[1] - agg.index[0]
        rows = agg[(agg.index >= start) & (agg.index + dur <= T_MS)]
        atr = talib.ATR(rows["high"].to_numpy(), rows["low"].to_numpy(), rows["close"].to_numpy(), timeperiod=14)
        assert built["snapshot"]["volatility"]["atr"][tf] == atr[-1]


def test_swing_points_are_these_candles(built):
    df = candles_1m(FILE_NOV)
    sw = built["snapshot"]["swings"]
    expected = {"tf_5m": (89359.3, "10:45", 89134.8, "11:25"), "tf_15m": (89359.3, "10:45", 89012.9, "09:45"),
                "tf_1h": (89697.7, "07:00", 89012.9, "09:00")}
    day = T_MS - 12 * 3_600_000
    for tf, (hi, hi_at, lo, lo_at) in expected.items():
        def at(hhmm):
            h, m = map(int, hhmm.split(":"))
            return day + (h * 60 + m) * 60_000
        assert (sw[tf]["high"], sw[tf]["high_open_time_ms"]) == (hi, at(hi_at))
        assert (sw[tf]["low"], sw[tf]["low_open_time_ms"]) == (lo, at(lo_at))
        frame = timeframe_frame(df, tf)
        assert frame.loc[at(hi_at), "high"] == hi and frame.loc[at(lo_at), "low"] == lo
    assert built["snapshot"]["market_structure"] == {"tf_5m": "transition", "tf_15m": "LL-LH", "tf_1h": "range"}
    # The ETF totals are recomputed from the per-fund history (last 7 / 3 trading days to 2025-12-05).
    assert built["flow"]["etp_summary"]["last_3d_total"] == -122_200_000
