"""The `protections` fact (issue 11, item 4): stop-outs, losses, streaks and the last exit
from the trades closed by T — live from the trades table, in a backtest from its own trades —
so a cooldown or a loss limit is a rule."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from connectors.db.models import Trade
from connectors.stores.account_state import read_protections
from engine.backtest.loop import run_backtest
from engine.backtest.params import BacktestParams
from engine.paths import shared_data_dir
from engine.protections import protection_facts
from engine.rules.compiler import compile_texts
from tests.rules_support import config, rule_files

H = 3_600_000
TRADES = [  # newest first
    {"closed_ms": 10 * H, "exit_reason": "sl", "pnl": "-5", "side": "long"},
    {"closed_ms": 8 * H, "exit_reason": "sl", "pnl": "-2", "side": "short"},
    {"closed_ms": 7 * H, "exit_reason": "tp2", "pnl": "9", "side": "long"},
    {"closed_ms": 6 * H, "exit_reason": "sl_breakeven", "pnl": "-0.1", "side": "long"},
    {"closed_ms": 1 * H, "exit_reason": "sl", "pnl": "-1", "side": "long"},
]


def test_protection_facts_count_windows_streaks_and_the_last_exit():
    p = protection_facts(TRADES, 11 * H)
    assert (p["stop_outs_1h"], p["stop_outs_4h"], p["stop_outs_12h"], p["stop_outs_24h"]) == (1, 2, 3, 3)
    assert (p["losses_1h"], p["losses_4h"], p["losses_12h"], p["losses_24h"]) == (1, 2, 4, 4)
    assert p["trades_24h"] == 5 and p["losing_streak"] == 2 and p["winning_streak"] == 0
    assert p["minutes_since_last_exit"] == 60.0 and p["last_exit_reason"] == "sl" and p["last_exit_side"] == "long"
    assert p["last_pnl"] == -5.0
    # only trades closed by T count: at 9h the 10h trade does not exist yet
    q = protection_facts(TRADES, 9 * H)
    assert q["losing_streak"] == 1 and q["last_exit_side"] == "short" and q["stop_outs_4h"] == 1
    assert protection_facts(TRADES, 7 * H + 1)["winning_streak"] == 1
    empty = protection_facts([], 5)
    assert empty["losing_streak"] == 0 and empty["minutes_since_last_exit"] is None


def test_live_protections_come_from_the_trades_table(db):
    for i, t in enumerate(reversed(TRADES)):
        Trade.create(symbol="BTCUSDT", side=t["side"], quantity=Decimal("0.01"), entry_price=Decimal("100000"),
                     exit_price=Decimal("99000"), pnl=Decimal(t["pnl"]), exit_reason=t["exit_reason"],
                     opened_ms=t["closed_ms"] - 600_000, closed_ms=t["closed_ms"], r_multiple=-1.0 + i)
    Trade.create(symbol="ETHUSDT", side="long", quantity=Decimal("1"), entry_price=Decimal("1"),
                 exit_price=Decimal("1"), pnl=Decimal("-1"), exit_reason="sl", opened_ms=10 * H, closed_ms=10 * H + 1)
    for at in (11 * H, 9 * H, 30 * H):
        assert read_protections("BTCUSDT", at) == protection_facts(TRADES, at)


COOLDOWN = """
  - id: risk.cooldown_after_stop
    stage: risk
    when:
      protections: {stop_outs_4h: {gte: 1}}
    then:
      veto: {reason: cooldown_after_stop}
    why: no new entry for 4 hours after a stop-out
"""


def test_a_cooldown_rule_reads_the_backtest_own_trades():
    path = shared_data_dir() / "btcusdt-perp-1m-2025-05-04_2025-06-24.csv.gz"
    if not path.exists():
        pytest.skip(f"shared data absent: {path}")
    candles = pd.read_csv(path).set_index("open_time_ms").loc[:1748736000000 - 60_000]
    t_from = 1747872000000
    t_to = t_from + 5 * 86_400_000
    files = rule_files()
    plain = compile_texts(files, config())
    guarded = compile_texts({**files, "risk.yaml": files["risk.yaml"].rstrip("\n") + "\n" + COOLDOWN}, config())
    a = run_backtest(candles, t_from, t_to, config(), plain, BacktestParams(), "python")
    b = run_backtest(candles, t_from, t_to, config(), guarded, BacktestParams(), "python")
    stops = [t for t in b.trades if t["exit_reason"] == "sl" and Decimal(t["pnl"]) < 0]
    assert stops, "the period must have stop-outs, or the test proves little"
    cooled = [d for d in b.decisions if d["decision"]["reason"] == "cooldown_after_stop"]
    assert cooled
    for d in b.decisions:
        recent = [s for s in stops if d["t_ms"] - 4 * H <= s["exit_ms"] <= d["t_ms"]]
        if recent:
            assert d["decision"]["action"] == "flat", (d["t_ms"], recent)
    # without the rule the same cycles had a candidate side (stopped later, by other checks)
    a_at = {d["t_ms"]: d["decision"] for d in a.decisions}
    assert all(a_at[d["t_ms"]]["reason"] != "cooldown_after_stop" for d in cooled)
    assert all(d["t_ms"] - 4 * H <= max(s["exit_ms"] for s in stops if s["exit_ms"] <= d["t_ms"]) for d in cooled)
