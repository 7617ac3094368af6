"""Cross-check against backtesting.py on 5 days of the real 51-day file (the whole file runs
in tests/bench/bench_backtest.py). The fill models are aligned as tests/backtest_peer.py
explains; every trade must then be the same on both sides: side, size, entry and exit
time and price, stop and target."""

from __future__ import annotations

import pandas as pd
import pytest

from engine.paths import shared_data_dir
from tests import backtest_peer as P
from tests.rules_support import config

FILE = "btcusdt-perp-1m-2025-05-04_2025-06-24.csv.gz"
DAY = 86_400_000
T_FROM = 1746921600000  # 2025-05-11


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    pytest.importorskip("backtesting", reason="backtesting.py (dev extra) not installed")
    path = shared_data_dir() / FILE
    if not path.exists():
        pytest.skip(f"shared data absent: {path}")
    return pd.read_csv(path).set_index("open_time_ms").loc[:T_FROM + 5 * DAY]


def test_same_trades_as_backtesting_py(candles):
    cfg = P.peer_config(config())
    t_to = T_FROM + 5 * DAY
    cycles = P.cycles_for(candles, T_FROM, t_to, cfg)
    ours = P.ours_normalised(P.run_ours(candles, T_FROM, t_to, cfg, cycles))
    peer = P.run_peer(candles, T_FROM, t_to, cycles)
    rep = P.compare(ours, peer)
    assert len(ours) > 50, "the period must trade a lot, or the comparison proves little"
    assert {t["exit_reason"] for t in ours} >= {"sl", "tp2"}, "both stops and targets exercised"
    assert rep["matching"] == len(ours) == len(peer), (rep["differing"][:3], rep["only_ours"][:3],
                                                       rep["only_peer"][:3])


def test_the_comparison_sees_a_shifted_exit(candles):
    """The check itself can fail: one exit moved by a minute is a difference."""
    ours = [{"side": "long", "quantity": "0.010", "entry_ms": 0, "entry_price": 1, "exit_ms": 60_000,
             "exit_price": 2, "sl": 0, "tp": 2}]
    peer = [dict(ours[0], exit_ms=120_000)]
    rep = P.compare(ours, peer)
    assert rep["matching"] == 0 and len(rep["differing"]) == 1


def test_unmatched_trades_are_explained_by_the_limits_only_ours_applies():
    """A peer trade below the minimum notional or above the leverage cap is counted under
    that limit; one within both is unexplained."""
    base = {"side": "long", "entry_ms": 0, "entry_price": 50_000, "exit_ms": 60_000, "exit_price": 1,
            "sl": 0, "tp": 2}
    rep = {"differing": [], "only_ours": [],
           "only_peer": [dict(base, quantity="0.001"), dict(base, quantity="1.000"), dict(base, quantity="0.010")]}
    assert P.explain(rep, equity=10_000, max_leverage=3) == {"min_notional": 1, "leverage_cap": 1, "unexplained": 1}
