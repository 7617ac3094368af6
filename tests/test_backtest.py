"""Backtester: determinism, no look-ahead, metrics, parity replay (a short period of the
51-day file; the full file runs in tests/bench/bench_backtest.py)."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from engine.backtest.compare import parity
from engine.backtest.export import equity_csv, trades_csv
from engine.backtest.loop import run_backtest
from engine.backtest.metrics import compute_metrics
from engine.backtest.params import BacktestParams, parse_fees, parse_slippage
from engine.decision import decide
from engine.paths import shared_data_dir
from tests.rules_support import config, default_rules

FILE = "btcusdt-perp-1m-2025-05-04_2025-06-24.csv.gz"
DAY = 86_400_000


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    path = shared_data_dir() / FILE
    if not path.exists():
        pytest.skip(f"shared data absent: {path}")
    df = pd.read_csv(path).set_index("open_time_ms")
    return df.loc[:1748736000000 - 60_000]  # up to 2025-06-01: warm-up + ~10 days


def _run(df: pd.DataFrame, t_from: int, t_to: int, **kw):
    compiled, _ = default_rules()
    funding = [(t, "0.0001") for t in range(t_from - t_from % (8 * 3_600_000), t_to, 8 * 3_600_000)]
    return run_backtest(df, t_from, t_to, config(), compiled, BacktestParams(**kw), "python", funding=funding)


def test_two_runs_give_byte_identical_csvs(candles):
    t_from = 1747872000000  # 2025-05-22
    t_to = t_from + 5 * DAY
    a, b = _run(candles, t_from, t_to), _run(candles, t_from, t_to)
    assert a.trades, "the period must trade, or the comparison proves little"
    assert trades_csv(a.trades) == trades_csv(b.trades)
    assert equity_csv(a.equity).encode() == equity_csv(b.equity).encode()
    assert len(a.equity) == 5 * 288 + 1
    assert a.funding, "funding applied at funding times while a position was open"


def test_truncating_after_t_changes_nothing_before_t(candles):
    t_from = 1747872000000
    t_cut = t_from + 3 * DAY + 7 * 3_600_000
    full = _run(candles, t_from, t_from + 5 * DAY)
    cut = _run(candles.loc[:t_cut - 60_000], t_from, t_cut)
    before = [d for d in full.decisions if d["t_ms"] <= t_cut]
    assert [d["decision"] for d in before] == [d["decision"] for d in cut.decisions]
    assert [e for e in full.equity if e[0] <= t_cut] == cut.equity
    closed = [t for t in full.trades if t["exit_ms"] < t_cut]
    assert closed == cut.trades[:len(closed)]
    # What was still open at the cut is closed there, marked, and nothing else is added.
    rest = cut.trades[len(closed):]
    assert [t["exit_reason"] for t in rest] in ([], ["end_of_period"])
    assert cut.open_position is None


def test_fill_models_and_slippage_change_the_fills(candles):
    t_from = 1747872000000
    ideal = _run(candles, t_from, t_from + 5 * DAY)
    slipped = _run(candles, t_from, t_from + 5 * DAY, fill="market", slippage_kind="bps", slippage_value=5.0)
    assert ideal.trades and slipped.trades
    assert slipped.final_equity < ideal.final_equity


def test_metrics_over_known_trades():
    trades = [{"pnl": "100", "r_multiple": 2.0, "entry_ms": 0, "exit_ms": 600_000, "session": "EU"},
              {"pnl": "-50", "r_multiple": -1.0, "entry_ms": 0, "exit_ms": 1_200_000, "session": "US"}]
    equity = [(0, 1000.0, 1000.0), (DAY // 2, 1100.0, 1100.0), (DAY, 990.0, 990.0), (2 * DAY, 1050.0, 1050.0)]
    m = compute_metrics(trades, equity, 1000)
    assert m["net_profit"] == 50.0 and m["return_pct"] == 5.0
    assert m["max_dd_pct"] == pytest.approx(-10.0)
    assert m["win_rate"] == 50.0 and m["profit_factor"] == 2.0
    assert m["avg_r"] == 0.5 and m["median_r"] == 0.5
    assert m["duration_min"]["avg"] == 15.0
    assert m["by_session"]["EU"]["trades"] == 1 and m["r_distribution"]["[2.0,3.0)"] == 1


def test_params_parsing():
    assert parse_slippage("bps:3") == ("bps", 3.0) and parse_slippage("atr:0.1") == ("atr", 0.1)
    with pytest.raises(ValueError):
        parse_slippage("fixed:2")
    assert parse_fees("0.02%,0.04%") == parse_fees("0.0002,0.0004")


def test_parity_replay_of_recorded_durable_decisions_has_no_difference(candles):
    """Live cycles decide with durable_rules and store the trace with the facts; the
    backtest path (reference evaluator) replays a few hundred of them identically."""
    compiled, durable = default_rules()
    t_from = 1747872000000
    run = _run(candles, t_from, t_from + 2 * DAY)
    from engine.analytics.batch import build_cycles
    cycles = {c["t_ms"]: c for c in build_cycles(candles, t_from, t_from + 2 * DAY, config(), with_flow=True)}
    recs = []
    for d in run.decisions[:400]:
        c = cycles[d["t_ms"]]
        facts = {"snapshot": c["snapshot"], "flow": c["flow"], "account": d["account"], "position": d["position"]}
        doc, trace = decide(compiled, facts, durable)
        recs.append({"id": d["id"], "facts": trace["facts"], "decision": doc, "trace": trace})
    rep = parity(recs, compiled, "python")
    assert rep["cycles"] == 400 and rep["differences"] == 0
    tampered = [dict(recs[0], decision={**recs[0]["decision"], "action": "long"})]
    assert parity(tampered, compiled, "python")["differences"] == 1


def test_position_open_at_the_end_is_closed_at_the_last_close(candles):
    t_from = 1747872000000
    # Cut where the 5-day run is in a trade (entered before, exited after).
    full = _run(candles, t_from, t_from + 5 * DAY)
    spanning = next(t for t in full.trades if (t["exit_ms"] + 1) - t["entry_ms"] > 20 * 60_000)
    t_cut = (spanning["entry_ms"] // 300_000 + 2) * 300_000
    cut = _run(candles.loc[:t_cut - 60_000], t_from, t_cut)
    last = cut.trades[-1]
    assert last["exit_reason"] == "end_of_period" and last["decision_id"] == spanning["decision_id"]
    assert last["exit_price"] == f"{candles.loc[t_cut - 60_000, 'close']:.2f}"
    assert last["exit_ms"] == t_cut and cut.open_position is None
    assert cut.final_equity == cut.initial_equity + sum(Decimal(t["pnl"]) for t in cut.trades)

